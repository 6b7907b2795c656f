"""Writing synced tickets into the board's tables.

Each search page is one transaction: tickets are upserted by (connection, key), so a page stored
twice changes nothing. With a ticket come the user's own comments (style learning) and its
status changes (workflow learning), both inserted once whatever how often the ticket is seen.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, select

from services.db import session_scope
from services.db.models import JiraComment, JiraFilterIssue, JiraIssue, JiraStatusChange
from services.db.models.base import utcnow
from services.db.upsert import insert_ignore
from services.integrations.tickets import Ticket

CHUNK = 500  # keys or ids per IN (...) query


def ticket_values(ticket: Ticket) -> dict[str, Any]:
    """The cached columns of a ticket (also used when the board changes one, e.g. a transition)."""
    return {
        "jira_id": ticket.id[:50], "project": ticket.project[:50], "issue_type": ticket.type[:100],
        "subtask": ticket.subtask, "status": ticket.status.name[:100], "status_category": ticket.status.category,
        "priority": ticket.priority[:50], "summary": ticket.summary[:1000], "assignee": ticket.assignee[:300],
        "assignee_id": ticket.assignee_id[:200], "reporter": ticket.reporter[:300], "description": ticket.description,
        "parent": ticket.parent[:50], "epic": ticket.epic[:50], "labels": " ".join(ticket.labels)[:1000],
        "story_points": ticket.story_points, "url": ticket.url[:600], "comment_total": ticket.comment_total,
        "created": ticket.created, "updated": ticket.updated, "synced_at": utcnow(),
    }


def _existing(session: Session, connection_id: int, keys: list[str]) -> dict[str, JiraIssue]:
    found: dict[str, JiraIssue] = {}
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start:start + CHUNK]
        rows = session.exec(select(JiraIssue).where(JiraIssue.connection_id == connection_id,
                                                    JiraIssue.key.in_(chunk)))  # type: ignore[attr-defined]
        found.update((row.key, row) for row in rows)
    return found


def upsert_tickets(session: Session, connection_id: int, owner_id: int,
                   tickets: Iterable[Ticket]) -> dict[str, JiraIssue]:
    """The stored rows by key, created or refreshed from the tickets (flushed, so ids are set)."""
    tickets = list(tickets)
    rows = _existing(session, connection_id, [t.key for t in tickets])
    for ticket in tickets:
        row = rows.get(ticket.key)
        if row is None:
            row = rows[ticket.key] = JiraIssue(connection_id=connection_id, owner_id=owner_id, key=ticket.key,
                                              created=ticket.created, updated=ticket.updated)
        for name, value in ticket_values(ticket).items():
            setattr(row, name, value)
        session.add(row)
    session.flush()
    return rows


def _remember_history(session: Session, connection_id: int, own_id: str, ticket: Ticket, row: JiraIssue) -> None:
    assert row.id is not None
    for comment in ticket.comments:
        if own_id and comment.author_id == own_id:
            insert_ignore(session, JiraComment, {"issue_id": row.id, "jira_id": comment.id, "body": comment.body,
                                                 "created": comment.created, "learned": False},
                          ("issue_id", "jira_id"))
    for change in ticket.status_changes:
        insert_ignore(session, JiraStatusChange, {
            "issue_id": row.id, "connection_id": connection_id, "issue_type": ticket.type[:100],
            "from_status": change.from_status[:100], "to_status": change.to_status[:100], "at": change.at},
            ("issue_id", "at", "from_status", "to_status"))


def store_page(connection_id: int, owner_id: int, own_id: str, tickets: Iterable[Ticket],
               filter_id: int | None = None) -> list[int]:
    """Stores one page; with `filter_id` the tickets also join that filter. Returns their row ids."""
    tickets = list(tickets)
    with session_scope() as session:
        rows = upsert_tickets(session, connection_id, owner_id, tickets)
        for ticket in tickets:
            _remember_history(session, connection_id, own_id, ticket, rows[ticket.key])
        ids = [row.id for row in rows.values() if row.id is not None]
        if filter_id is not None:
            for issue_id in ids:
                insert_ignore(session, JiraFilterIssue, {"filter_id": filter_id, "issue_id": issue_id},
                              ("filter_id", "issue_id"))
    return ids


def member_keys(filter_id: int) -> list[str]:
    with session_scope() as session:
        return list(session.exec(select(JiraIssue.key).join(JiraFilterIssue, JiraFilterIssue.issue_id == JiraIssue.id)
                                 .where(JiraFilterIssue.filter_id == filter_id)))


def leave_filter(filter_id: int, keys: Iterable[str]) -> int:
    """Tickets the filter no longer finds leave its board; returns how many left."""
    keys = list(keys)
    left = 0
    with session_scope() as session:
        for start in range(0, len(keys), CHUNK):
            ids = select(JiraIssue.id).join(JiraFilterIssue, JiraFilterIssue.issue_id == JiraIssue.id).where(
                JiraFilterIssue.filter_id == filter_id,
                JiraIssue.key.in_(keys[start:start + CHUNK]))  # type: ignore[attr-defined]
            left += session.exec(delete(JiraFilterIssue).where(  # type: ignore[call-overload]
                JiraFilterIssue.filter_id == filter_id, JiraFilterIssue.issue_id.in_(ids))).rowcount  # type: ignore[attr-defined]
    return left


def keep_only(filter_id: int, issue_ids: set[int]) -> int:
    """After a full sync: the filter's board is exactly what JIRA found. Returns how many left."""
    with session_scope() as session:
        current = set(session.exec(select(JiraFilterIssue.issue_id).where(JiraFilterIssue.filter_id == filter_id)))
        gone = sorted(current - issue_ids)
        for start in range(0, len(gone), CHUNK):
            session.exec(delete(JiraFilterIssue).where(  # type: ignore[call-overload]
                JiraFilterIssue.filter_id == filter_id,
                JiraFilterIssue.issue_id.in_(gone[start:start + CHUNK])))  # type: ignore[attr-defined]
    return len(gone)


def count(filter_id: int) -> int:
    with session_scope() as session:
        return session.exec(select(func.count()).select_from(JiraFilterIssue)
                            .where(JiraFilterIssue.filter_id == filter_id)).one()
