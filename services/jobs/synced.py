"""Rows that a job syncs, on demand and on a schedule (inbox accounts, JIRA connections): claiming
one so that a double click, the scheduler and another web process never start two syncs, starting
its job, recognising a sync whose process died, and finding the rows whose interval has passed.

A synced table has `id`, `owner_id`, `status` (ACTIVE while claimed), `error`, `updated_at`,
`last_job_id`, `last_sync_at` and `sync_interval_minutes` (0: only when asked).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import select

from services.auth.errors import ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import JobRun, JobStatus, User
from services.db.models.base import utcnow
from services.integrations.base import IntegrationAuthError, IntegrationError
from services.jobs import service as jobs

ACTIVE = ("queued", "syncing")
CLAIM_GRACE = timedelta(minutes=2)
MIN_GAP = timedelta(minutes=5)  # the shortest interval the scheduler honours


def set_values(model: Any, row_id: int, **values: Any) -> None:
    with session_scope() as session:
        session.exec(update(model).where(model.id == row_id).values(updated_at=utcnow(), **values))


@contextmanager
def syncing(model: Any, row_id: int, reconnect: str) -> Iterator[None]:
    """Marks the row syncing for the body, then ready, or error with a message the user can act
    on (`reconnect` says where to renew refused credentials). The exception still propagates,
    so the job fails with its traceback on the Jobs page."""
    set_values(model, row_id, status="syncing", error="")
    try:
        yield
    except IntegrationAuthError as exc:
        set_values(model, row_id, status="error", error=f"{exc} {reconnect}")
        raise
    except (IntegrationError, ValidationError) as exc:
        set_values(model, row_id, status="error", error=str(exc))
        raise
    except Exception as exc:
        set_values(model, row_id, status="error", error=f"The sync failed unexpectedly ({type(exc).__name__}); "
                                                         "the Jobs page has the details.")
        raise
    set_values(model, row_id, status="ready", error="", last_sync_at=utcnow())


def _claim(model: Any, row_id: int) -> bool:
    with session_scope() as session:
        claimed = session.exec(update(model).where(model.id == row_id, model.status.not_in(ACTIVE))
                               .values(status="queued", error="", updated_at=utcnow())).rowcount
    return bool(claimed)


def _lost(row: Any) -> bool:
    """Its last sync's process died without saying so (a killed worker, a stopped app)."""
    job = None
    if row.last_job_id:
        with session_scope() as session:
            job = session.get(JobRun, row.last_job_id)
    if job is not None:
        return JobStatus(job.status).finished
    return utcnow() - row.updated_at > CLAIM_GRACE


def start(user: AuthedUser, model: Any, row: Any, job_type: str, params: dict[str, Any], busy: str) -> str:
    """Claims the row and queues its sync job; returns the job id. `busy` is the message when
    a sync of it is already running."""
    if not _claim(model, row.id):
        if not _lost(row):
            raise ValidationError(busy)
        set_values(model, row.id, status="error", error="The last sync was interrupted.")
        if not _claim(model, row.id):
            raise ValidationError(busy)
    try:
        job_id = jobs.submit(user, job_type, params)
    except Exception as exc:
        set_values(model, row.id, status="error", error=f"Could not start the sync: {exc}")
        raise
    set_values(model, row.id, last_job_id=job_id)
    return job_id


def iter_due(model: Any, now: datetime) -> Iterator[tuple[int, int]]:
    """(row id, owner id) of the rows whose interval has passed."""
    with session_scope() as session:
        rows = session.exec(select(model).where(
            model.sync_interval_minutes > 0, model.status.not_in(ACTIVE),
            or_(model.last_sync_at == None, model.last_sync_at <= now - MIN_GAP))).all()  # noqa: E711
    for row in rows:
        if row.last_sync_at is None or (now - row.last_sync_at).total_seconds() >= row.sync_interval_minutes * 60:
            yield row.id, row.owner_id


def submit_due(model: Any, now: datetime, start_one: Callable[[AuthedUser, int], str]) -> int:
    """Starts the scheduled sync of every due row (as its owner); returns how many started."""
    started = 0
    for row_id, owner_id in iter_due(model, now):
        with session_scope() as session:
            owner = session.get(User, owner_id)
            if owner is None or not owner.is_active:
                continue
            user = AuthedUser.from_row(owner)
        try:
            start_one(user, row_id)
            started += 1
        except ValidationError:
            continue  # another process claimed it first
    return started
