"""The board: a saved filter's synced tickets in columns by status, grouped by status category,
with local search and quick filters; and the saved filters themselves.

The board is read from the synced tables only, so it draws in one query however slow JIRA is.
Columns are the statuses of the board's tickets plus those its projects' tickets were seen
moving to, so an empty status can still take a drop; a category without any known status
shows one column for the category itself, and a drop there takes the transition into it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from services.auth.errors import AccessDenied, ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import JiraFilter, JiraFilterIssue, JiraIssue, JiraStatusChange, JiraTracked
from services.db.models.base import utcnow
from services.integrations.tickets import CATEGORIES, Ticket
from services.jira import connection, jql

CATEGORY_LABELS = {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}
MAX_FILTERS = 20
MAX_NAME = 100
RECENT = timedelta(days=1)
CARD_COLUMNS = (JiraIssue.key, JiraIssue.summary, JiraIssue.issue_type, JiraIssue.priority, JiraIssue.assignee,
                JiraIssue.status, JiraIssue.status_category, JiraIssue.story_points, JiraIssue.parent, JiraIssue.epic,
                JiraIssue.url, JiraIssue.updated, JiraIssue.project)


@dataclass(frozen=True)
class Card:
    key: str
    summary: str
    issue_type: str
    priority: str
    assignee: str
    status: str
    category: str
    story_points: float | None
    parent: str
    url: str
    updated: datetime
    tracked: bool


@dataclass(frozen=True)
class Column:
    id: str  # "status:<name>" or "category:<key>" (a drop target)
    title: str
    category: str
    cards: tuple[Card, ...]


@dataclass(frozen=True)
class QuickFilters:
    issue_type: str = ""
    priority: str = ""
    assignee: str = ""  # a display name, or "-" for unassigned
    recent: bool = False  # updated in the last day
    tracked: bool = False


@dataclass(frozen=True)
class Board:
    filter_id: int
    columns: tuple[Column, ...]
    total: int  # tickets on the board before search and quick filters
    shown: int
    types: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    error: str = ""  # the filter's last sync error (JIRA's words for a bad query)
    synced_at: datetime | None = None


@dataclass(frozen=True)
class FilterView:
    id: int
    name: str
    jql: str
    tickets: int
    error: str
    synced_at: datetime | None


# ---------------------------------------------------------------------- filters


def filters(user: AuthedUser) -> list[FilterView]:
    with session_scope() as session:
        row = connection.required(session, user)
        rows = session.exec(select(JiraFilter).where(JiraFilter.connection_id == row.id)
                            .order_by(JiraFilter.position, JiraFilter.id)).all()
        return [FilterView(id=f.id or 0, name=f.name, jql=f.jql, tickets=f.tickets, error=f.error,
                           synced_at=f.synced_at) for f in rows]


def _owned_filter(session: Session, user: AuthedUser, filter_id: int) -> JiraFilter:
    row = connection.required(session, user)
    flt = session.get(JiraFilter, filter_id)
    if flt is None or flt.connection_id != row.id:
        raise AccessDenied("That filter does not exist or is not yours.", signed_in=True)
    return flt


def _checked(name: str, query: str) -> tuple[str, str]:
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_NAME:
        raise ValidationError(f"Give the filter a name of 1 to {MAX_NAME} characters.")
    try:
        query = jql.check_length(query)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    return name, query


def validate_jql(user: AuthedUser, query: str) -> None:
    """Asks JIRA for one ticket of the query: a query it rejects raises `JqlError` in JIRA's words."""
    _, tracker = connection.tracker_for(user)
    next(iter(tracker.search(query, page_size=1)), None)


def save_filter(user: AuthedUser, *, name: str, query: str, filter_id: int | None = None) -> int:
    """Creates or changes a filter once JIRA accepted its query; a changed query syncs afresh."""
    name, query = _checked(name, query)
    validate_jql(user, query)
    with session_scope() as session:
        row = connection.required(session, user)
        clash = session.exec(select(JiraFilter.id).where(JiraFilter.connection_id == row.id,
                                                         JiraFilter.name == name)).first()
        if clash is not None and clash != filter_id:
            raise ValidationError(f"You already have a filter called “{name}”.")
        if filter_id is None:
            count = session.exec(select(func.count()).select_from(JiraFilter)
                                 .where(JiraFilter.connection_id == row.id)).one()
            if count >= MAX_FILTERS:
                raise ValidationError(f"You can keep at most {MAX_FILTERS} filters; delete one first.")
            assert row.id is not None
            flt = JiraFilter(connection_id=row.id, name=name, jql=query, position=count)
        else:
            flt = _owned_filter(session, user, filter_id)
            if flt.jql != query:
                flt.synced_at = flt.full_at = None
                flt.error = ""
            flt.name, flt.jql = name, query
        session.add(flt)
        session.flush()
        assert flt.id is not None
        return flt.id


def live_search(user: AuthedUser, query: str, *, limit: int = 200) -> list[Ticket]:
    """Tickets JIRA finds for the query now (not synced); JIRA's words for a query it rejects."""
    try:
        query = jql.check_length(query)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    _, tracker = connection.tracker_for(user)
    found: list[Ticket] = []
    for page in tracker.search(query, page_size=min(100, max(1, limit))):
        found.extend(page.tickets)
        if len(found) >= limit:
            break
    return found[:limit]


def delete_filter(user: AuthedUser, filter_id: int) -> None:
    with session_scope() as session:
        session.delete(_owned_filter(session, user, filter_id))


# ---------------------------------------------------------------------- the board


def _card(row: Any, tracked: set[str]) -> Card:
    """From a row of CARD_COLUMNS."""
    return Card(key=row.key, summary=row.summary, issue_type=row.issue_type, priority=row.priority,
                assignee=row.assignee, status=row.status, category=row.status_category,
                story_points=row.story_points, parent=row.parent or row.epic, url=row.url, updated=row.updated,
                tracked=row.key in tracked)


def _matches(card: Card, search: str, quick: QuickFilters, since: datetime) -> bool:
    if search and search not in card.key.lower() and search not in card.summary.lower():
        return False
    if quick.issue_type and card.issue_type != quick.issue_type:
        return False
    if quick.priority and card.priority != quick.priority:
        return False
    if quick.assignee and (card.assignee or "-") != quick.assignee:
        return False
    if quick.recent and card.updated < since:
        return False
    return not quick.tracked or card.tracked


def _known_statuses(session: Session, connection_id: int, rows: list[Any]) -> dict[str, str]:
    """Status -> category for the board's statuses and those its projects' tickets moved to."""
    categories: dict[str, str] = {}
    for row in rows:
        categories.setdefault(row.status, row.status_category)
    projects = {row.project for row in rows}
    if not projects:
        return categories
    moved_to = session.exec(select(JiraStatusChange.to_status).distinct()
                            .join(JiraIssue, JiraIssue.id == JiraStatusChange.issue_id)
                            .where(JiraStatusChange.connection_id == connection_id,
                                   JiraIssue.project.in_(projects))).all()  # type: ignore[attr-defined]
    unknown = [status for status in moved_to if status not in categories]
    if unknown:
        seen = session.exec(select(JiraIssue.status, JiraIssue.status_category).distinct().where(
            JiraIssue.connection_id == connection_id, JiraIssue.status.in_(unknown))).all()  # type: ignore[attr-defined]
        categories.update({status: category for status, category in seen})
    return categories


def _columns(cards: list[Card], statuses: dict[str, str]) -> tuple[Column, ...]:
    lanes: dict[str, list[Card]] = defaultdict(list)
    for card in cards:
        lanes[card.status].append(card)
    columns: list[Column] = []
    for category in CATEGORIES:
        names = sorted((name for name, cat in statuses.items() if cat == category), key=str.lower)
        if not names:
            columns.append(Column(id=f"category:{category}", title=CATEGORY_LABELS[category], category=category,
                                  cards=()))
        columns.extend(Column(id=f"status:{name}", title=name, category=category, cards=tuple(lanes[name]))
                       for name in names)
    return tuple(columns)


def board(user: AuthedUser, filter_id: int, *, search: str = "",
          quick: QuickFilters = QuickFilters()) -> Board:
    with session_scope() as session:
        flt = _owned_filter(session, user, filter_id)
        tracked = set(session.exec(select(JiraTracked.key).where(JiraTracked.connection_id == flt.connection_id)))
        rows = list(session.exec(select(*CARD_COLUMNS)  # only what a card shows: descriptions can be long
                                 .join(JiraFilterIssue, JiraFilterIssue.issue_id == JiraIssue.id)
                                 .where(JiraFilterIssue.filter_id == filter_id)
                                 .order_by(JiraIssue.updated.desc())))  # type: ignore[attr-defined]
        statuses = _known_statuses(session, flt.connection_id, rows)
        error, synced_at = flt.error, flt.synced_at
    every = [_card(row, tracked) for row in rows]
    needle, since = " ".join(search.split()).lower(), utcnow() - RECENT
    shown = [card for card in every if _matches(card, needle, quick, since)]
    people = Counter(card.assignee or "-" for card in every)
    return Board(filter_id=filter_id, columns=_columns(shown, statuses), total=len(every), shown=len(shown),
                 types=tuple(sorted({c.issue_type for c in every if c.issue_type})),
                 priorities=tuple(sorted({c.priority for c in every if c.priority})),
                 assignees=tuple(name for name, _ in people.most_common()), error=error, synced_at=synced_at)


def find_cached(session: Session, connection_id: int, key: str) -> JiraIssue | None:
    return session.exec(select(JiraIssue).where(JiraIssue.connection_id == connection_id,
                                                JiraIssue.key == key)).first()

