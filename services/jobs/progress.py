"""Progress written to the JobRun row, which is what the UI polls."""

from __future__ import annotations

from services.db import session_scope
from services.db.models import JobRun


class JobCancelled(Exception):
    """Raised inside a job when the user asked to cancel it."""


class ProgressReporter:
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id

    def update(self, percent: int, message: str = "") -> None:
        """Record progress; raises JobCancelled if a cancel was requested meanwhile."""
        percent = max(0, min(100, int(percent)))
        with session_scope() as session:
            row = session.get(JobRun, self.job_id)
            if row is None:
                raise JobCancelled("The job record was deleted.")
            if row.cancel_requested:
                raise JobCancelled("Cancelled by the user.")
            row.progress = percent
            if message:
                row.message = message[:500]
            session.add(row)
