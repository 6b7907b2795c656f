"""The JIRA sync job: every saved filter of a connection, incrementally.

A filter's first sync (and one a day after that, to forget deleted tickets) reads everything
the JQL finds. After that only `(JQL) AND updated >= "-N m"`, N being the minutes since the last
sync plus a margin for clock skew: relative times, because JIRA reads absolute ones in the
user's JIRA time zone. Tickets that changed but no longer match (closed elsewhere, reassigned)
are found by asking for everything updated in that window in the board's projects: a board
ticket that comes back there and not from the filter has left the board. So an incremental sync
is two searches (and their pages) however large the board. Every page is its own transaction,
and a filter's cursor moves only when its sync completed, so a failed sync repeats the window.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import select

from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import JiraConnection, JiraFilter
from services.db.models.base import utcnow
from services.integrations.tickets import JqlError, Ticket, TicketTracker
from services.jira import connection, jql, store, styles
from services.jobs import synced
from services.jobs.progress import ProgressReporter
from services.jobs.registry import job_type

JOB_TYPE = "jira_sync"
FULL_EVERY = timedelta(days=1)
SKEW_MINUTES = 2


def _minutes_since(then: datetime, now: datetime) -> int:
    return max(1, math.ceil((now - then).total_seconds() / 60)) + SKEW_MINUTES


def _full(tracker: TicketTracker, row: JiraConnection, flt: JiraFilter) -> tuple[int, int]:
    assert row.id is not None and flt.id is not None
    found: set[int] = set()
    for page in tracker.search(flt.jql, comments=True, changelog=True):
        found.update(store.store_page(row.id, row.owner_id, row.account_id, page.tickets, flt.id))
    return len(found), store.keep_only(flt.id, found)


def _incremental(tracker: TicketTracker, row: JiraConnection, flt: JiraFilter, minutes: int) -> tuple[int, int]:
    assert row.id is not None and flt.id is not None
    matched: set[str] = set()
    for page in tracker.search(jql.updated_since(flt.jql, minutes), comments=True, changelog=True):
        store.store_page(row.id, row.owner_id, row.account_id, page.tickets, flt.id)
        matched.update(ticket.key for ticket in page.tickets)
    others = set(store.member_keys(flt.id)) - matched
    left: list[Ticket] = []
    if others:  # one query over the board's projects finds the members that changed but left the filter
        for page in tracker.search(jql.updated_since(jql.in_projects(others), minutes), comments=True,
                                   changelog=True):
            left.extend(ticket for ticket in page.tickets if ticket.key in others)
        store.store_page(row.id, row.owner_id, row.account_id, left)
    return len(matched), store.leave_filter(flt.id, [ticket.key for ticket in left])


def sync_filter(tracker: TicketTracker, row: JiraConnection, flt: JiraFilter, now: datetime) -> dict[str, Any]:
    """One filter; a query JIRA rejects is kept on the filter as JIRA's message, not raised, so
    the other filters still sync."""
    full = flt.synced_at is None or flt.full_at is None or now - flt.full_at >= FULL_EVERY
    try:
        if full:
            seen, left = _full(tracker, row, flt)
        else:
            assert flt.synced_at is not None
            try:
                seen, left = _incremental(tracker, row, flt, _minutes_since(flt.synced_at, now))
            except JqlError:  # e.g. a board project deleted since: `project in (...)` refuses it
                full = True
                seen, left = _full(tracker, row, flt)
    except JqlError as exc:
        _save_filter(flt.id, error=str(exc))
        return {"filter": flt.name, "error": str(exc)}
    values: dict[str, Any] = {"synced_at": now, "error": "", "tickets": store.count(flt.id)}  # type: ignore[arg-type]
    if full:
        values["full_at"] = now
    _save_filter(flt.id, **values)
    return {"filter": flt.name, "full": full, "seen": seen, "left": left}


def _save_filter(filter_id: int | None, **values: Any) -> None:
    with session_scope() as session:
        flt = session.get(JiraFilter, filter_id)
        if flt is None:
            return  # deleted while syncing
        for name, value in values.items():
            setattr(flt, name, value)
        session.add(flt)


def _connection(connection_id: int) -> tuple[JiraConnection, list[JiraFilter]]:
    with session_scope() as session:
        row = session.get(JiraConnection, connection_id)
        if row is None:
            raise LookupError(f"JIRA connection {connection_id} no longer exists")
        filters = list(session.exec(select(JiraFilter).where(JiraFilter.connection_id == connection_id)
                                    .order_by(JiraFilter.position, JiraFilter.id)))
        session.expunge_all()
    return row, filters


def run_sync(connection_id: int, progress: ProgressReporter) -> dict[str, Any]:
    row, filters = _connection(connection_id)
    progress.update(2, "Connecting to JIRA")
    results: list[dict[str, Any]] = []
    learned = 0
    with synced.syncing(JiraConnection, connection_id, "Reconnect on the JIRA settings page."):
        tracker = connection.open_tracker(row)
        for number, flt in enumerate(filters):
            progress.update(5 + 85 * number // max(1, len(filters)), f"Syncing filter “{flt.name}”")
            results.append(sync_filter(tracker, row, flt, utcnow()))
        progress.update(92, "Learning your comment style")
        learned = styles.learn(connection_id)
    seen = sum(result.get("seen", 0) for result in results)
    progress.update(100, f"{seen} ticket{'s' if seen != 1 else ''} updated")
    return {"connection_id": connection_id, "filters": results, "style_comments": learned}


@job_type(JOB_TYPE, title="Sync JIRA tickets")
def sync_job(progress: ProgressReporter, params: dict[str, Any]) -> dict[str, Any]:
    return run_sync(int(params["connection_id"]), progress)


def start(user: AuthedUser, connection_id: int | None = None) -> str:
    """Queues a sync of the user's connection; returns the job id."""
    with session_scope() as session:
        row = connection.required(session, user) if connection_id is None else \
            connection.owned(session, user, connection_id)
        session.expunge(row)
    return synced.start(user, JiraConnection, row, JOB_TYPE, {"connection_id": row.id},
                        "JIRA is already syncing; its progress is on the Jobs page.")


def submit_due(now: datetime) -> int:
    return synced.submit_due(JiraConnection, now, start)
