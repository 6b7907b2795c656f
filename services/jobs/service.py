"""What the UI and CLI do with jobs: start, list, cancel, retry. Owner-scoped;
admins see everyone's jobs and the tracebacks of failed ones."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import select

from services.auth.errors import AccessDenied, ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import JobRun, JobStatus, User
from services.db.models.base import utcnow
from services.jobs import registry
from services.jobs.runners import InProcessRunner, JobQueueUnavailable, get_runner


@dataclass(frozen=True)
class JobView:
    id: str
    type: str
    title: str
    owner_email: str
    status: str
    progress: int
    message: str
    error: str
    traceback: str  # empty unless the viewer is an admin
    result: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    worker: str

    @property
    def active(self) -> bool:
        return self.status in (JobStatus.queued.value, JobStatus.running.value)


def _view(row: JobRun, owner_email: str, viewer: AuthedUser) -> JobView:
    try:
        title = registry.get(row.type).title
    except KeyError:
        title = row.type
    return JobView(
        id=row.id,
        type=row.type,
        title=title,
        owner_email=owner_email,
        status=row.status,
        progress=row.progress,
        message=row.message,
        error=row.error,
        traceback=row.traceback if viewer.is_admin else "",
        result=json.loads(row.result_json or "{}"),
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        worker=row.worker,
    )


def submit(user: AuthedUser, job_type: str, params: dict[str, Any] | None = None, *, retry_of: str | None = None) -> str:
    """Create the JobRun row, then hand its id to the runner. Returns the job id."""
    try:
        spec = registry.get(job_type)
    except KeyError:
        raise ValidationError(f"There is no job called {job_type!r}.") from None
    runner = get_runner()
    row = JobRun(
        type=spec.name,
        owner_id=user.id,
        queue=spec.queue,
        params_json=json.dumps(params or {}),
        runner=runner.name,
        message="Waiting for a worker",
        retry_of=retry_of,
    )
    if runner.name == InProcessRunner.name:
        row.worker = f"{socket.gethostname()}:{os.getpid()}"
    with session_scope() as session:
        session.add(row)
    try:
        runner.submit(row.id, spec.queue)
    except Exception as exc:
        # Whatever stopped the hand-over, the row must not wait for a worker forever.
        with session_scope() as session:
            stored = session.get(JobRun, row.id)
            if stored is not None:
                stored.status = JobStatus.failed.value
                stored.error = str(exc) if isinstance(exc, JobQueueUnavailable) else f"{type(exc).__name__}: {exc}"
                stored.message = "Not started"
                stored.finished_at = utcnow()
                session.add(stored)
        raise
    return row.id


def _owned(session, user: AuthedUser, job_id: str) -> JobRun:
    row = session.get(JobRun, job_id)
    if row is None or (row.owner_id != user.id and not user.is_admin):
        raise AccessDenied("That job does not exist or is not yours.", signed_in=True)
    return row


def get(user: AuthedUser, job_id: str) -> JobView:
    with session_scope() as session:
        row = _owned(session, user, job_id)
        owner = session.get(User, row.owner_id) if row.owner_id else None
        return _view(row, owner.email if owner else "", user)


def list_jobs(user: AuthedUser, *, everyone: bool = False, limit: int = 100) -> list[JobView]:
    """The user's jobs; an admin may ask for everyone's."""
    if everyone and not user.is_admin:
        raise AccessDenied("Only admins can see other users' jobs.", signed_in=True)
    with session_scope() as session:
        query = select(JobRun, User.email).join(User, User.id == JobRun.owner_id, isouter=True)
        if not everyone:
            query = query.where(JobRun.owner_id == user.id)
        query = query.order_by(JobRun.created_at.desc()).limit(limit)  # type: ignore[attr-defined]
        return [_view(row, email or "", user) for row, email in session.exec(query).all()]


def list_all_for_cli(limit: int = 50) -> list[tuple[JobRun, str]]:
    with session_scope() as session:
        query = (
            select(JobRun, User.email)
            .join(User, User.id == JobRun.owner_id, isouter=True)
            .order_by(JobRun.created_at.desc())  # type: ignore[attr-defined]
            .limit(limit)
        )
        return [(row, email or "") for row, email in session.exec(query).all()]


def cancel(user: AuthedUser, job_id: str) -> None:
    """A queued job is cancelled at once; a running one stops at its next progress update."""
    active = (JobStatus.queued.value, JobStatus.running.value)
    with session_scope() as session:
        _owned(session, user, job_id)  # refuses other users' jobs
        # Conditional UPDATEs, not read-then-write: a worker claiming the job (queued ->
        # running, see execute.run_job) at the same moment must not be overwritten.
        flagged = session.exec(
            update(JobRun)
            .where(JobRun.id == job_id, JobRun.status.in_(active))  # type: ignore[attr-defined]
            .values(cancel_requested=True)
        ).rowcount
        if not flagged:
            raise ValidationError("That job has already finished.")
        session.exec(
            update(JobRun)
            .where(JobRun.id == job_id, JobRun.status == JobStatus.queued.value)
            .values(status=JobStatus.cancelled.value, message="Cancelled by the user.", finished_at=utcnow())
        )
    get_runner().cancel(job_id)


def retry(user: AuthedUser, job_id: str) -> str:
    """A new run with the same type and params; the old row stays as history."""
    with session_scope() as session:
        row = _owned(session, user, job_id)
        if row.status not in (JobStatus.failed.value, JobStatus.cancelled.value):
            raise ValidationError("Only failed or cancelled jobs can be retried.")
        job_type, params = row.type, json.loads(row.params_json or "{}")
        owner_id = row.owner_id
    owner = user
    if owner_id != user.id:
        with session_scope() as session:
            owner_row = session.get(User, owner_id)
            if owner_row is None:
                raise ValidationError("The owner of that job no longer exists.")
            owner = AuthedUser.from_row(owner_row)
    return submit(owner, job_type, params, retry_of=job_id)
