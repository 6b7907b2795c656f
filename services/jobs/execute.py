"""The one function every runner executes: run_job(job_id).

RQ jobs carry only the JobRun id (JSON serializer, no pickled objects); the
row holds the type and params, and receives status, progress, result, error
and traceback.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import traceback

from services.db import session_scope
from services.db.models import JobRun, JobStatus
from services.db.models.base import utcnow
from services.jobs import registry
from services.jobs.progress import JobCancelled, ProgressReporter

log = logging.getLogger(__name__)


def _finish(job_id: str, **fields) -> None:
    with session_scope() as session:
        row = session.get(JobRun, job_id)
        if row is None:
            return
        for name, value in fields.items():
            setattr(row, name, value)
        row.finished_at = utcnow()
        session.add(row)


def run_job(job_id: str) -> str:
    """Runs the job and records the outcome; returns the final status."""
    with session_scope() as session:
        row = session.get(JobRun, job_id)
        if row is None:
            log.warning("Job %s vanished before it ran", job_id)
            return "missing"
        if row.cancel_requested or row.status != JobStatus.queued.value:
            if row.status == JobStatus.queued.value:
                row.status = JobStatus.cancelled.value
                row.finished_at = utcnow()
                session.add(row)
            return row.status
        row.status = JobStatus.running.value
        row.started_at = utcnow()
        row.worker = f"{socket.gethostname()}:{os.getpid()}"
        session.add(row)
        job_type, params = row.type, json.loads(row.params_json or "{}")
    try:
        result = registry.get(job_type).run(ProgressReporter(job_id), params)
    except JobCancelled as exc:
        _finish(job_id, status=JobStatus.cancelled.value, message=str(exc))
        return JobStatus.cancelled.value
    except Exception as exc:
        log.exception("Job %s (%s) failed", job_id, job_type)
        _finish(
            job_id,
            status=JobStatus.failed.value,
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
            message="Failed",
        )
        return JobStatus.failed.value
    _finish(
        job_id,
        status=JobStatus.succeeded.value,
        progress=100,
        message="Done",
        result_json=json.dumps(result or {}),
    )
    return JobStatus.succeeded.value
