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

from sqlalchemy import update

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
    # Claim the row with one conditional UPDATE, not read-then-write: a cancel committed
    # between our read and our write would otherwise be overwritten with "running".
    with session_scope() as session:
        claimed = session.exec(
            update(JobRun)
            .where(
                JobRun.id == job_id,
                JobRun.status == JobStatus.queued.value,
                JobRun.cancel_requested == False,  # noqa: E712 (SQL expression)
            )
            .values(status=JobStatus.running.value, started_at=utcnow(),
                    worker=f"{socket.gethostname()}:{os.getpid()}")
        ).rowcount
    with session_scope() as session:
        row = session.get(JobRun, job_id)
        if row is None:
            log.warning("Job %s vanished before it ran", job_id)
            return "missing"
        if not claimed:
            # Cancelled before it started, or already run/failed elsewhere: never run it.
            if row.status == JobStatus.queued.value and row.cancel_requested:
                session.exec(
                    update(JobRun)
                    .where(JobRun.id == job_id, JobRun.status == JobStatus.queued.value)
                    .values(status=JobStatus.cancelled.value, message="Cancelled by the user.", finished_at=utcnow())
                )
                session.refresh(row)
            return row.status
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


def fail_lost_job(job_id: str, reason: str) -> bool:
    """The process running the job died or was killed before run_job could record an outcome
    (out of memory, a hard timeout, a killed worker): finish the row instead of leaving it
    "running" forever. Rows run_job already finished are left alone. True if it changed the row."""
    with session_scope() as session:
        row = session.get(JobRun, job_id)
        if row is None or JobStatus(row.status).finished:
            return False
        if row.cancel_requested:
            row.status = JobStatus.cancelled.value
            row.message = "Cancelled by the user."
        else:
            row.status = JobStatus.failed.value
            row.message = "Failed"
            detail = reason.strip().rstrip(";").strip()
            row.error = (
                "Interrupted: the worker process running this job stopped before it finished"
                + (f" ({detail})" if detail else "")
                + ". Retry it."
            )
        row.finished_at = utcnow()
        session.add(row)
    log.warning("Job %s was lost by its worker: %s", job_id, reason)
    return True


def on_rq_failure(job, connection, exc_type=None, exc_value=None, tb=None) -> None:
    """RQ failure callback: also runs when RQ's registry cleanup finds a job whose worker vanished."""
    reason = f"{exc_type.__name__}: {exc_value}" if exc_type is not None else "the RQ worker died"
    try:
        fail_lost_job(job.id, reason)
    except Exception:  # never let bookkeeping break the worker
        log.exception("Could not record the failure of job %s", job.id)
