"""The JIRA board page: a saved filter's tickets in status columns, search and quick filters,
drag to transition, the sync with its progress, and the saved filters themselves."""

from __future__ import annotations

import asyncio
from typing import TypedDict

import reflex as rx

from services.auth.errors import AccessDenied, AuthError
from services.auth.users import AuthedUser
from services.integrations.base import IntegrationError
from services.jira import board, connection, sync, tickets
from services.jobs import service as jobs
from services.jobs.runners import JobQueueUnavailable
from state.formatting import when
from state.session import SessionState

POLL_MS = 2000
PER_COLUMN = 50  # cards drawn per column until "Show more": 1,000 cards take the browser ~2 s to draw
USER_ERRORS = (AuthError, IntegrationError, JobQueueUnavailable)


class CardRow(TypedDict):
    key: str
    summary: str
    issue_type: str
    priority: str
    assignee: str
    points: str
    parent: str
    url: str
    tracked: bool


class ColumnRow(TypedDict):
    id: str
    title: str
    category: str
    count: int
    more: int  # cards not drawn yet
    cards: list[CardRow]


class FilterRow(TypedDict):
    id: int
    name: str
    jql: str
    tickets: int
    error: str
    synced: str


def _card(card: board.Card) -> CardRow:
    points = "" if card.story_points is None else f"{card.story_points:g}"
    return {"key": card.key, "summary": card.summary, "issue_type": card.issue_type, "priority": card.priority,
            "assignee": card.assignee, "points": points, "parent": card.parent, "url": card.url,
            "tracked": card.tracked}


def _column(column: board.Column, limit: int) -> ColumnRow:
    return {"id": column.id, "title": column.title, "category": column.category, "count": len(column.cards),
            "more": max(0, len(column.cards) - limit), "cards": [_card(card) for card in column.cards[:limit]]}


def _filter(view: board.FilterView) -> FilterRow:
    return {"id": view.id, "name": view.name, "jql": view.jql, "tickets": view.tickets, "error": view.error,
            "synced": when(view.synced_at)}


class JiraBoardState(SessionState):
    connected: bool = True
    filters: list[FilterRow] = rx.field(default_factory=list)
    filter_id: int = 0
    columns: list[ColumnRow] = rx.field(default_factory=list)
    total: int = 0
    shown: int = 0
    search: str = ""
    issue_type: str = ""
    priority: str = ""
    assignee: str = ""
    recent_only: bool = False
    tracked_only: bool = False
    types: list[str] = rx.field(default_factory=list)
    priorities: list[str] = rx.field(default_factory=list)
    assignees: list[str] = rx.field(default_factory=list)
    filter_error: str = ""
    synced: str = ""
    error: str = ""
    notice: str = ""
    moving: str = ""  # the key of the card whose transition is under way
    # The sync: its job and progress.
    sync_job: str = ""
    sync_progress: int = 0
    sync_message: str = ""
    # The filter editor (0: a new filter).
    editing: bool = False
    edit_id: int = 0
    edit_name: str = ""
    edit_jql: str = ""
    edit_error: str = ""
    _dragging: str = ""
    _revision: str = ""
    _limits: dict[str, int] = rx.field(default_factory=dict)  # column id -> cards drawn after "Show more"

    # ------------------------------------------------------------ the board

    def _quick(self) -> board.QuickFilters:
        return board.QuickFilters(issue_type=self.issue_type, priority=self.priority, assignee=self.assignee,
                                  recent=self.recent_only, tracked=self.tracked_only)

    def _reload(self, user: AuthedUser) -> None:
        self.filters = [_filter(view) for view in board.filters(user)]
        if self.filters and self.filter_id not in {f["id"] for f in self.filters}:
            self.filter_id = self.filters[0]["id"]
        if not self.filters:
            self.filter_id, self.columns, self.total, self.shown = 0, [], 0, 0
            return
        found = board.board(user, self.filter_id, search=self.search, quick=self._quick())
        self.columns = [_column(column, self._limits.get(column.id, PER_COLUMN)) for column in found.columns]
        self.total, self.shown = found.total, found.shown
        self.types, self.priorities = list(found.types), list(found.priorities)
        self.assignees = list(found.assignees)
        self.filter_error, self.synced = found.error, when(found.synced_at)
        self._revision = self._current_revision(user)

    def _current_revision(self, user: AuthedUser) -> str:
        view = connection.get(user)
        return f"{view.last_sync_at}/{view.status}" if view is not None else ""

    @rx.event
    def load(self):
        user = self._require()
        view = connection.get(user)
        self.connected, self.error, self.notice = view is not None, "", ""
        if view is None:
            return
        if view.last_job_id and view.status in ("queued", "syncing"):
            self.sync_job = view.last_job_id
        self._reload(user)

    @rx.event
    def poll(self, _tick: str = ""):
        """A finished sync (the user's or the scheduler's) redraws the board; nothing else does."""
        user = self._require()
        if not self.connected:
            return
        if self.sync_job:
            try:
                job = jobs.get(user, self.sync_job)
            except AccessDenied:  # cleaned up since: the revision check below still redraws
                self.sync_job = ""
                return
            self.sync_progress, self.sync_message = job.progress, job.message
            if not job.active:
                self.sync_job = ""
                if job.status == "failed":
                    self.error = f"The sync failed: {job.error}"
                self._reload(user)
                return
        if self._current_revision(user) != self._revision:
            self._reload(user)

    @rx.event
    def choose_filter(self, value: str):
        user = self._require()
        self.filter_id, self._limits = int(value), {}
        self._reload(user)

    @rx.event
    def run_search(self, form: dict):
        user = self._require()
        self.search = str(form.get("search", "")).strip()[:200]
        self._reload(user)

    @rx.event
    def set_quick(self, name: str, value: str):
        user = self._require()
        value = "" if value == "all" else str(value)
        if name == "issue_type":
            self.issue_type = value
        elif name == "priority":
            self.priority = value
        elif name == "assignee":
            self.assignee = value
        self._reload(user)

    @rx.event
    def set_recent_only(self, value: bool):
        user = self._require()
        self.recent_only = bool(value)
        self._reload(user)

    @rx.event
    def set_tracked_only(self, value: bool):
        user = self._require()
        self.tracked_only = bool(value)
        self._reload(user)

    @rx.event
    def clear_filters(self):
        user = self._require()
        self.search, self.issue_type, self.priority, self.assignee = "", "", "", ""
        self.recent_only = self.tracked_only = False
        self._reload(user)

    @rx.event
    def show_more(self, column_id: str):
        user = self._require()
        self._limits = {**self._limits, str(column_id): self._limits.get(str(column_id), PER_COLUMN) + 4 * PER_COLUMN}
        self._reload(user)

    @rx.event
    def start_sync(self):
        user = self._require()
        self.error = ""
        try:
            self.sync_job = sync.start(user)
        except USER_ERRORS as exc:
            self.error = str(exc)
            return
        self.sync_progress, self.sync_message = 0, "Queued"

    # ------------------------------------------------------------ drag and drop

    @rx.event
    def drag_start(self, key: str):
        self._require()
        self._dragging = str(key)

    @rx.event
    async def drop(self, column_id: str):
        """The card moves at once; if JIRA has no transition there, it goes back and the user is told why."""
        user = self._require()
        key, self._dragging = self._dragging, ""
        if not key or self.moving:
            return
        self.moving, self.error, self.notice = key, "", ""
        self._show_moved(key, column_id)
        yield
        try:
            result = await asyncio.to_thread(tickets.move, user, key, column_id)
        except USER_ERRORS as exc:
            self.error = f"{key} was not moved: {exc}"
        else:
            if result.moved:
                self.notice = result.message
            else:
                self.error = result.message
        finally:
            self.moving = ""
        self._reload(user)

    def _show_moved(self, key: str, column_id: str) -> None:
        card = next((c for column in self.columns for c in column["cards"] if c["key"] == key), None)
        if card is None:
            return
        for column in self.columns:
            column["cards"] = [c for c in column["cards"] if c["key"] != key]
            if column["id"] == column_id:
                column["cards"] = [card, *column["cards"]]
            column["count"] = len(column["cards"])

    # ------------------------------------------------------------ saved filters

    @rx.event
    def new_filter(self):
        self._require()
        self.editing, self.edit_id, self.edit_name, self.edit_error = True, 0, "", ""
        self.edit_jql = "project = ABC AND statusCategory != Done ORDER BY updated DESC"

    @rx.event
    def edit_filter(self):
        self._require()
        current = next((f for f in self.filters if f["id"] == self.filter_id), None)
        if current is None:
            return
        self.editing, self.edit_id, self.edit_error = True, current["id"], ""
        self.edit_name, self.edit_jql = current["name"], current["jql"]

    @rx.event
    def cancel_edit(self):
        self._require()
        self.editing, self.edit_error = False, ""

    @rx.event
    async def save_filter(self, form: dict):
        """JIRA checks the query before it is saved: a bad one shows JIRA's own message."""
        user = self._require()
        name, query = str(form.get("name", "")), str(form.get("jql", ""))
        self.edit_name, self.edit_jql, self.edit_error = name, query, ""
        try:
            filter_id = await asyncio.to_thread(board.save_filter, user, name=name, query=query,
                                                filter_id=self.edit_id or None)
        except USER_ERRORS as exc:
            self.edit_error = str(exc)
            return
        self.editing, self.filter_id = False, filter_id
        self._reload(user)
        try:
            self.sync_job = sync.start(user)
        except USER_ERRORS as exc:
            self.notice = f"Saved. The sync could not start yet: {exc}"

    @rx.event
    def delete_filter(self):
        user = self._require()
        try:
            board.delete_filter(user, self.filter_id)
        except USER_ERRORS as exc:
            self.error = str(exc)
            return
        self.filter_id, self.editing = 0, False
        self._reload(user)
