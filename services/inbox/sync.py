"""The inbox sync job: one loop for every kind of account, continuing from the stored cursor.

The source yields pages (services.integrations.base.ChangePage); each is stored in its own
transaction and the cursor is saved with the last one, so a failed or killed sync simply
runs again from the previous cursor: pages stored twice are upserts and change nothing.
After the messages, the user's writing style is updated from their newly synced sent ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import select

from services.auth.errors import ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import InboxAccount, JobRun, JobStatus, User
from services.db.models.base import utcnow
from services.inbox import accounts, store, styles
from services.integrations.base import HoldsConnection, IntegrationAuthError, IntegrationError
from services.jobs import service as jobs
from services.jobs.progress import ProgressReporter
from services.jobs.registry import job_type

log = logging.getLogger(__name__)

JOB_TYPE = "inbox_sync"
ACTIVE = ("queued", "syncing")
CLAIM_GRACE = timedelta(minutes=2)


def _set(account_id: int, **values: Any) -> None:
    with session_scope() as session:
        session.exec(update(InboxAccount).where(InboxAccount.id == account_id)  # type: ignore[call-overload]
                     .values(updated_at=utcnow(), **values))


def run_sync(account_id: int, progress: ProgressReporter) -> dict[str, Any]:
    row = accounts.account_row(account_id)
    _set(account_id, status="syncing", error="")
    progress.update(2, f"Connecting to {accounts.LABELS[row.kind]}")
    pages = new = 0
    try:
        source = accounts.open_source(row)
        with source.connected() if isinstance(source, HoldsConnection) else nullcontext():
            for page in source.changes(row.cursor or None):
                new += store.apply(account_id, page)
                pages += 1
                progress.update(min(90, 5 + pages * 3), f"{new} new message{'s' if new != 1 else ''} so far")
            progress.update(92, "Learning your writing style")
            learned = styles.learn_from_sent(account_id, source)
    except IntegrationAuthError as exc:
        _set(account_id, status="error", error=f"{exc} Reconnect the account on the Inbox accounts page.")
        raise
    except (IntegrationError, ValidationError) as exc:
        _set(account_id, status="error", error=str(exc))
        raise
    except Exception as exc:
        _set(account_id, status="error", error=f"The sync failed unexpectedly ({type(exc).__name__}); "
                                                "the Jobs page has the details.")
        raise
    _set(account_id, status="ready", error="", last_sync_at=utcnow())
    progress.update(100, f"{new} new message{'s' if new != 1 else ''}")
    return {"account_id": account_id, "new": new, "pages": pages, "style_samples": learned}


@job_type(JOB_TYPE, title="Sync an inbox account")
def sync_job(progress: ProgressReporter, params: dict[str, Any]) -> dict[str, Any]:
    return run_sync(int(params["account_id"]), progress)


def _claim(account_id: int) -> bool:
    """Atomic: a double click, the scheduler and another web process never start two syncs."""
    with session_scope() as session:
        claimed = session.exec(update(InboxAccount)  # type: ignore[call-overload]
                               .where(InboxAccount.id == account_id,
                                      InboxAccount.status.not_in(ACTIVE))  # type: ignore[attr-defined]
                               .values(status="queued", error="", updated_at=utcnow())).rowcount
    return bool(claimed)


def _lost(row: InboxAccount) -> bool:
    """Its last sync's process died without saying so (a killed worker, a stopped app)."""
    job = None
    if row.last_job_id:
        with session_scope() as session:
            job = session.get(JobRun, row.last_job_id)
    if job is not None:
        return JobStatus(job.status).finished
    return utcnow() - row.updated_at > CLAIM_GRACE


def start(user: AuthedUser, account_id: int) -> str:
    """Queues a sync of the account; returns the job id."""
    row = accounts.user_account(user, account_id)
    if not _claim(account_id):
        if not _lost(row):
            raise ValidationError("This account is already syncing; its progress is on the Jobs page.")
        _set(account_id, status="error", error="The last sync was interrupted.")
        if not _claim(account_id):
            raise ValidationError("This account is already syncing; its progress is on the Jobs page.")
    try:
        job_id = jobs.submit(user, JOB_TYPE, {"account_id": account_id})
    except Exception as exc:
        _set(account_id, status="error", error=f"Could not start the sync: {exc}")
        raise
    _set(account_id, last_job_id=job_id)
    return job_id


def iter_due(now: datetime) -> Iterator[tuple[int, int]]:
    """(account id, owner id) of the accounts whose interval has passed."""
    with session_scope() as session:
        rows = session.exec(select(InboxAccount).where(
            InboxAccount.sync_interval_minutes > 0, InboxAccount.status.not_in(ACTIVE),  # type: ignore[attr-defined]
            or_(InboxAccount.last_sync_at == None, InboxAccount.last_sync_at  # noqa: E711
                <= now - timedelta(minutes=5)))).all()
    for row in rows:
        if row.last_sync_at is None or (now - row.last_sync_at).total_seconds() >= row.sync_interval_minutes * 60:
            assert row.id is not None
            yield row.id, row.owner_id


def submit_due(now: datetime) -> int:
    """Starts the scheduled sync of every due account (as its owner); returns how many started."""
    started = 0
    for account_id, owner_id in iter_due(now):
        with session_scope() as session:
            owner = session.get(User, owner_id)
            if owner is None or not owner.is_active:
                continue
            user = AuthedUser.from_row(owner)
        try:
            start(user, account_id)
            started += 1
        except ValidationError:
            continue  # another process claimed it first
    return started
