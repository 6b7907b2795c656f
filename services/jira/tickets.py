"""One ticket: the drawer's live view, moving it on the board (a JIRA transition), and the
workflow learned from changelogs that suggests its next step.

A drop names a status column ("status:In Review") or, for a category without known statuses,
the category ("category:done"). The move takes the transition JIRA offers into that status (or
category); when none leads there, nothing changes and the user is told which ones exist. A move
JIRA accepted is written into the synced ticket at once, so the board shows it before the next
sync.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, update
from sqlmodel import select

from services.auth.errors import ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import JiraIssue, JiraStatusChange, JiraTracked
from services.db.models.base import utcnow
from services.integrations.tickets import Status, TicketDetail, Transition
from services.jira import board, connection, jql, store, workflow

CATEGORY_PREFIX, STATUS_PREFIX = "category:", "status:"


@dataclass(frozen=True)
class MoveResult:
    moved: bool
    message: str
    status: str = ""


def detail(user: AuthedUser, key: str) -> TicketDetail:
    """The ticket as JIRA has it now; the synced copy is refreshed on the way."""
    key = jql.checked_key(key)
    connection_id, tracker = connection.tracker_for(user)
    found = tracker.detail(key)
    with session_scope() as session:
        row = board.find_cached(session, connection_id, key)
        if row is not None:
            for name, value in store.ticket_values(found.ticket).items():
                setattr(row, name, value)
            session.add(row)
    return found


def _target(transitions: list[Transition], target: str) -> Transition | None:
    if target.startswith(STATUS_PREFIX):
        name = target[len(STATUS_PREFIX):].strip().lower()
        return next((t for t in transitions if t.to.name.lower() == name), None)
    if target.startswith(CATEGORY_PREFIX):
        category = target[len(CATEGORY_PREFIX):]
        return next((t for t in transitions if t.to.category == category), None)
    raise ValidationError("Drop the card on a column of the board.")


def _column_title(target: str) -> str:
    if target.startswith(CATEGORY_PREFIX):
        return board.CATEGORY_LABELS.get(target[len(CATEGORY_PREFIX):], target)
    return target[len(STATUS_PREFIX):]


def move(user: AuthedUser, key: str, target: str) -> MoveResult:
    """Performs the JIRA transition that leads to the drop target, if one does."""
    key = jql.checked_key(key)
    connection_id, tracker = connection.tracker_for(user)
    with session_scope() as session:
        row = board.find_cached(session, connection_id, key)
        current = row.status if row is not None else ""
    title = _column_title(target)
    if current and current.lower() == title.lower():
        return MoveResult(False, f"{key} is already in {title}.", current)
    transitions = tracker.transitions(key)
    chosen = _target(transitions, target)
    if chosen is None:
        offered = ", ".join(sorted({t.to.name for t in transitions})) or "none"
        return MoveResult(False, f"JIRA's workflow has no transition from “{current or 'its status'}” to "
                                 f"“{title}” for {key}. From here it can go to: {offered}.", current)
    tracker.transition(key, chosen.id)
    _moved(connection_id, key, current, chosen.to)
    return MoveResult(True, f"{key} moved to {chosen.to.name}.", chosen.to.name)


def _moved(connection_id: int, key: str, previous: str, status: Status) -> None:
    now = utcnow()
    with session_scope() as session:
        row = board.find_cached(session, connection_id, key)
        if row is None:
            return
        row.status, row.status_category, row.updated = status.name, status.category, now
        session.add(row)
        session.exec(update(JiraTracked).where(JiraTracked.connection_id == connection_id,  # type: ignore[call-overload]
                                               JiraTracked.key == key).values(status=status.name))
        if previous:
            assert row.id is not None
            session.add(JiraStatusChange(issue_id=row.id, connection_id=connection_id, issue_type=row.issue_type,
                                         from_status=previous, to_status=status.name, at=now))


# ---------------------------------------------------------------------- workflow learning


def learned_counts(connection_id: int) -> workflow.TransitionCounts:
    with session_scope() as session:
        rows = session.exec(select(JiraStatusChange.issue_type, JiraStatusChange.from_status,
                                   JiraStatusChange.to_status, func.count())
                            .where(JiraStatusChange.connection_id == connection_id)
                            .group_by(JiraStatusChange.issue_type, JiraStatusChange.from_status,
                                      JiraStatusChange.to_status)).all()
    return workflow.TransitionCounts.from_rows(rows)


def workflow_table(user: AuthedUser, issue_type: str | None = None) -> list[workflow.TransitionRow]:
    return learned_counts(connection.connection_id(user)).table(issue_type)


def suggestion(user: AuthedUser, found: TicketDetail) -> Transition | None:
    """The transition this user's tickets of this type most often took from this status."""
    counts = learned_counts(connection.connection_id(user))
    return counts.suggest(found.ticket.type, found.ticket.status.name, list(found.transitions))


def cached_issue(user: AuthedUser, key: str) -> JiraIssue | None:
    key = jql.checked_key(key)
    with session_scope() as session:
        row = board.find_cached(session, connection.connection_id(user), key)
        if row is not None:
            session.expunge(row)
        return row
