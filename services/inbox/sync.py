"""The inbox sync job: one loop for every kind of account, continuing from the stored cursor.

The source yields pages (services.integrations.base.ChangePage); each is stored in its own
transaction and the cursor is saved with the last one, so a failed or killed sync simply
runs again from the previous cursor: pages stored twice are upserts and change nothing.
After the messages, the user's writing style is updated from their newly synced sent ones.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime
from typing import Any

from services.auth.users import AuthedUser
from services.db.models import InboxAccount
from services.inbox import accounts, store, styles
from services.integrations.base import HoldsConnection
from services.jobs import synced
from services.jobs.progress import ProgressReporter
from services.jobs.registry import job_type

JOB_TYPE = "inbox_sync"


def run_sync(account_id: int, progress: ProgressReporter) -> dict[str, Any]:
    row = accounts.account_row(account_id)
    progress.update(2, f"Connecting to {accounts.LABELS[row.kind]}")
    pages = new = learned = 0
    with synced.syncing(InboxAccount, account_id, "Reconnect the account on the Inbox accounts page."):
        source = accounts.open_source(row)
        with source.connected() if isinstance(source, HoldsConnection) else nullcontext():
            for page in source.changes(row.cursor or None):
                new += store.apply(account_id, page)
                pages += 1
                progress.update(min(90, 5 + pages * 3), f"{new} new message{'s' if new != 1 else ''} so far")
            progress.update(92, "Learning your writing style")
            learned = styles.learn_from_sent(account_id, source)
    progress.update(100, f"{new} new message{'s' if new != 1 else ''}")
    return {"account_id": account_id, "new": new, "pages": pages, "style_samples": learned}


@job_type(JOB_TYPE, title="Sync an inbox account")
def sync_job(progress: ProgressReporter, params: dict[str, Any]) -> dict[str, Any]:
    return run_sync(int(params["account_id"]), progress)


def start(user: AuthedUser, account_id: int) -> str:
    """Queues a sync of the account; returns the job id."""
    row = accounts.user_account(user, account_id)
    return synced.start(user, InboxAccount, row, JOB_TYPE, {"account_id": account_id},
                        "This account is already syncing; its progress is on the Jobs page.")


def submit_due(now: datetime) -> int:
    """Starts the scheduled sync of every due account (as its owner); returns how many started."""
    return synced.submit_due(InboxAccount, now, start)
