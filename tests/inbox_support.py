"""Helpers for the inbox tests: a sync run in this process with a real JobRun row, and what it stored."""

from __future__ import annotations

from sqlmodel import select

from services.db import session_scope
from services.db.models import InboxMessage, JobRun
from services.inbox import sync
from services.jobs.progress import ProgressReporter


def run_sync(account_id: int) -> dict:
    row = JobRun(type=sync.JOB_TYPE, status="running")
    with session_scope() as session:
        session.add(row)
    return sync.run_sync(account_id, ProgressReporter(row.id))


def stored(account_id: int) -> list[InboxMessage]:
    """The account's messages, oldest first."""
    with session_scope() as session:
        return list(session.exec(select(InboxMessage).where(InboxMessage.account_id == account_id)
                                 .order_by(InboxMessage.sent_at)).all())
