"""Tracked tickets: the user flags a ticket, and a scheduled job tells them when its status
changes or someone else comments on it: in the app, and as a Slack DM when they connected Slack.

The scheduler claims a connection's check by moving the `checked_at` of its due rows with one
conditional UPDATE, so several web processes submit one job per round. The job reads all tracked
tickets of the connection with one search (`key in (...)`, in chunks) and compares them with
what it saw last time; the user's own comments and moves never notify them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import select

from services.auth.errors import ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import InboxAccount, JiraConnection, JiraTracked, User
from services.db.models.base import utcnow
from services.inbox import accounts as inbox_accounts
from services.integrations.base import IntegrationError
from services.integrations.slack.client import SlackSource
from services.integrations.tickets import Ticket
from services.jira import connection, jql
from services.jobs import service as jobs
from services.jobs.progress import ProgressReporter
from services.jobs.registry import job_type
from services.notifications import channels
from services.notifications.service import notify

log = logging.getLogger(__name__)

JOB_TYPE = "jira_track"
KIND = "jira"
INTERVAL = timedelta(minutes=5)
MAX_TRACKED = 200
KEYS_PER_QUERY = 100


@dataclass(frozen=True)
class TrackedView:
    key: str
    summary: str
    status: str
    checked_at: datetime | None
    error: str


def tracked(user: AuthedUser) -> list[TrackedView]:
    with session_scope() as session:
        row = connection.required(session, user)
        rows = session.exec(select(JiraTracked).where(JiraTracked.connection_id == row.id)
                            .order_by(JiraTracked.key)).all()
        return [TrackedView(r.key, r.summary, r.status, r.checked_at, r.error) for r in rows]


def track(user: AuthedUser, key: str) -> None:
    """Flags the ticket; its current status and comments are the baseline (no notification for them)."""
    key = jql.checked_key(key)
    connection_id, tracker = connection.tracker_for(user)
    page = next(iter(tracker.search(jql.with_keys([key]), page_size=1, comments=True)), None)
    if page is None or not page.tickets:
        raise ValidationError(f"JIRA has no ticket {key} that you can see.")
    ticket = page.tickets[0]
    with session_scope() as session:
        count = len(session.exec(select(JiraTracked.id).where(JiraTracked.connection_id == connection_id)).all())
        row = session.exec(select(JiraTracked).where(JiraTracked.connection_id == connection_id,
                                                     JiraTracked.key == key)).first()
        if row is None:
            if count >= MAX_TRACKED:
                raise ValidationError(f"You can track at most {MAX_TRACKED} tickets; stop tracking one first.")
            row = JiraTracked(connection_id=connection_id, key=key)
        row.summary, row.status, row.comment_total = ticket.summary[:1000], ticket.status.name, ticket.comment_total
        row.last_comment_id = _last_comment(ticket)
        row.checked_at, row.error = utcnow(), ""
        session.add(row)


def untrack(user: AuthedUser, key: str) -> None:
    key = jql.checked_key(key)
    with session_scope() as session:
        row = connection.required(session, user)
        found = session.exec(select(JiraTracked).where(JiraTracked.connection_id == row.id,
                                                       JiraTracked.key == key)).first()
        if found is not None:
            session.delete(found)


def is_tracked(user: AuthedUser, key: str) -> bool:
    with session_scope() as session:
        row = connection.required(session, user)
        return session.exec(select(JiraTracked.id).where(JiraTracked.connection_id == row.id,
                                                         JiraTracked.key == key)).first() is not None


# ---------------------------------------------------------------------- the check


def _number(comment_id: str) -> int:
    return int(comment_id) if comment_id.isdigit() else 0


def _last_comment(ticket: Ticket) -> int:
    return max((_number(c.id) for c in ticket.comments), default=0)


def _changes(row: JiraTracked, ticket: Ticket, own_id: str) -> list[tuple[str, str]]:
    """(title, body) of what changed since the last check, leaving out the user's own doing."""
    found: list[tuple[str, str]] = []
    if ticket.status.name != row.status:
        found.append((f"{ticket.key} moved to {ticket.status.name}",
                      f"{ticket.summary}\nStatus: {row.status or '?'} → {ticket.status.name}"))
    others = [c for c in ticket.comments if c.author_id != own_id and _number(c.id) > row.last_comment_id]
    if others:
        last = others[-1]
        excerpt = " ".join(last.body.split())[:300]
        count = len(others)
        found.append((f"{count} new comment{'s' if count != 1 else ''} on {ticket.key}",
                      f"{ticket.summary}\n{last.author}: {excerpt}"))
    return found


def check(connection_id: int, progress: ProgressReporter | None = None) -> dict[str, Any]:
    with session_scope() as session:
        conn = session.get(JiraConnection, connection_id)
        if conn is None:
            return {"checked": 0, "notified": 0}
        rows = list(session.exec(select(JiraTracked).where(JiraTracked.connection_id == connection_id)))
        session.expunge_all()
    tracker = connection.open_tracker(conn)
    keys = [row.key for row in rows]
    seen: dict[str, Ticket] = {}
    for start in range(0, len(keys), KEYS_PER_QUERY):
        for page in tracker.search(jql.with_keys(keys[start:start + KEYS_PER_QUERY]), comments=True):
            seen.update((ticket.key, ticket) for ticket in page.tickets)
        if progress is not None:
            progress.update(min(95, 100 * (start + KEYS_PER_QUERY) // max(1, len(keys))), "Checking tracked tickets")
    notified = 0
    now = utcnow()
    for row in rows:
        ticket = seen.get(row.key)
        values: dict[str, Any] = {"checked_at": now}
        if ticket is None:
            values["error"] = "JIRA no longer shows this ticket (deleted, moved or no longer visible to you)."
        else:
            for title, body in _changes(row, ticket, conn.account_id):
                notify(conn.owner_id, title, body=body, kind=KIND, link=ticket.url[:400])
                notified += 1
            values.update(status=ticket.status.name, summary=ticket.summary[:1000], comment_total=ticket.comment_total,
                          last_comment_id=max(row.last_comment_id, _last_comment(ticket)), error="")
        with session_scope() as session:
            session.exec(update(JiraTracked).where(JiraTracked.id == row.id).values(**values))  # type: ignore[call-overload]
    return {"checked": len(rows), "notified": notified}


@job_type(JOB_TYPE, title="Check tracked JIRA tickets")
def check_job(progress: ProgressReporter, params: dict[str, Any]) -> dict[str, Any]:
    result = check(int(params["connection_id"]), progress)
    progress.update(100, f"{result['notified']} notification{'s' if result['notified'] != 1 else ''}")
    return result


def _due(now: datetime) -> Any:
    return or_(JiraTracked.claimed_at == None, JiraTracked.claimed_at <= now - INTERVAL)  # noqa: E711


def _claim_due(connection_id: int, now: datetime) -> bool:
    with session_scope() as session:
        return bool(session.exec(update(JiraTracked).where(  # type: ignore[call-overload]
            JiraTracked.connection_id == connection_id, _due(now)).values(claimed_at=now)).rowcount)


def check_now(user: AuthedUser) -> str:
    """Queues a check of the user's tracked tickets at once; returns the job id."""
    connection_id = connection.connection_id(user)
    return jobs.submit(user, JOB_TYPE, {"connection_id": connection_id})


def submit_due(now: datetime) -> int:
    """Queues a check for every connection with a tracked ticket not checked for INTERVAL."""
    with session_scope() as session:
        due = session.exec(select(JiraTracked.connection_id, JiraConnection.owner_id).distinct()
                           .join(JiraConnection, JiraConnection.id == JiraTracked.connection_id)
                           .where(_due(now))).all()
    started = 0
    for connection_id, owner_id in due:
        with session_scope() as session:
            owner = session.get(User, owner_id)
            if owner is None or not owner.is_active:
                continue
            user = AuthedUser.from_row(owner)
        if _claim_due(connection_id, now):
            jobs.submit(user, JOB_TYPE, {"connection_id": connection_id})
            started += 1
    return started


class SlackDirectMessages:
    """Delivers JIRA notifications as a Slack DM to the user themself, through each Slack
    account they connected to the inbox (none: nothing to do)."""

    name = "jira-slack-dm"

    def deliver(self, notification: channels.OutgoingNotification) -> None:
        if notification.kind != KIND:
            return
        with session_scope() as session:
            rows = list(session.exec(select(InboxAccount).where(InboxAccount.owner_id == notification.user_id,
                                                                InboxAccount.kind == "slack")))
            session.expunge_all()
        text = "\n".join(part for part in (f"*{notification.title}*", notification.body, notification.link) if part)
        for row in rows:
            source = inbox_accounts.open_source(row)
            if not isinstance(source, SlackSource):
                continue
            try:
                source.message_self(text)
            except IntegrationError as exc:
                log.warning("Slack DM for notification %s through account %s failed: %s", notification.id, row.id,
                            exc)


channels.register(SlackDirectMessages())
