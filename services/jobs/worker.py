"""The RQ worker class the pool runs: prepares the process once, before any job."""

from __future__ import annotations

import importlib
import logging

from rq import Worker

from services import startup
from services.db import get_engine
from services.jobs import registry
from services.jobs.execute import fail_lost_job

log = logging.getLogger(__name__)


def forget_inherited_db_connections() -> None:
    """In a forked child: drop the pooled connections inherited from the parent without
    closing them (they still belong to the parent), so the child opens its own. Two
    processes sharing one database socket corrupt each other's transactions."""
    get_engine().dispose(close=False)


class PreparedWorker(Worker):
    """Loads logging, redaction, every job module and the LLM gateway (litellm takes seconds
    to import) up front: the pool forks every work horse from this process."""

    def __init__(self, *args, **kwargs) -> None:
        startup.prepare(migrate_db=False)
        registry.load_all()
        importlib.import_module("services.llm.gateway")
        super().__init__(*args, **kwargs)

    def main_work_horse(self, job, queue):
        # Each job runs in a work horse forked from this worker.
        forget_inherited_db_connections()
        return super().main_work_horse(job, queue)

    def handle_job_failure(self, job, queue, started_job_registry=None, exc_string=""):
        """RQ calls this when the horse died or was killed (run_job never got to record an
        outcome): mark the JobRun row so it does not stay "running" forever."""
        try:
            super().handle_job_failure(job, queue, started_job_registry=started_job_registry, exc_string=exc_string)
        finally:
            try:
                fail_lost_job(job.id, exc_string or "the work horse failed")
            except Exception:  # the database may be what failed; RQ's own records stand
                log.exception("Could not record the failure of job %s", job.id)
