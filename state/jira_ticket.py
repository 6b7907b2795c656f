"""The ticket drawer on the board: the ticket as JIRA has it now (rendered description, comments,
changelog, transitions), the suggested next step, tracking, the comment draft the user edits and
posts with an explicit click, and the breakdown into child tickets."""

from __future__ import annotations

import asyncio
import html
from typing import TypedDict

import reflex as rx

from services.auth.errors import AuthError
from services.auth.users import AuthedUser
from services.inbox.sanitize import clean_html
from services.integrations.base import IntegrationError
from services.integrations.tickets import TicketDetail
from services.jira import breakdown, comments, tickets, tracking
from services.llm.types import LLMError
from state.background import reported
from state.formatting import when
from state.jira_board import JiraBoardState
from state.session import SessionState

USER_ERRORS = (AuthError, IntegrationError, LLMError)


class CommentRow(TypedDict):
    id: str
    author: str
    when: str
    html: str


class HistoryRow(TypedDict):
    when: str
    author: str
    field: str
    change: str


class TransitionRow(TypedDict):
    id: str
    name: str
    to: str
    target: str  # the board column it leads to


class ChildRow(TypedDict):
    summary: str
    description: str
    keep: bool


def _comment(comment) -> CommentRow:  # noqa: ANN001 - a TicketComment
    return {"id": comment.id, "author": comment.author, "when": when(comment.created),
            "html": clean_html(comment.html).html if comment.html else _plain(comment.body)}


def _plain(text: str) -> str:
    """Markup without the server's rendering (an offline copy), shown as the text it is."""
    return f"<pre>{html.escape(text)}</pre>"


class JiraTicketState(SessionState):
    key: str = ""  # the open ticket ("" : the drawer is closed)
    summary: str = ""
    url: str = ""
    issue_type: str = ""
    status: str = ""
    priority: str = ""
    assignee: str = ""
    reporter: str = ""
    points: str = ""
    description_html: str = ""
    comments: list[CommentRow] = rx.field(default_factory=list)
    history: list[HistoryRow] = rx.field(default_factory=list)
    transitions: list[TransitionRow] = rx.field(default_factory=list)
    suggestion: str = ""
    tracked: bool = False
    loading: bool = False
    error: str = ""
    notice: str = ""
    # The comment draft.
    draft_text: str = ""
    draft_key: str = "0"  # changes whenever the server replaces the text, to remount the editor
    draft_status: str = ""
    draft_notice: str = ""
    draft_error: str = ""
    instruction: str = ""
    drafting: bool = False
    posting: bool = False
    # The breakdown.
    children: list[ChildRow] = rx.field(default_factory=list)
    child_kind: str = ""
    child_type: str = ""
    breakdown_open: bool = False
    breaking_down: bool = False
    breakdown_notice: str = ""
    breakdown_error: str = ""
    _next_step: str = ""
    _posted_text: str = ""

    def _show(self, user: AuthedUser, found: TicketDetail) -> None:
        ticket = found.ticket
        self.summary, self.url, self.issue_type = ticket.summary, ticket.url, ticket.type
        self.status, self.priority = ticket.status.name, ticket.priority
        self.assignee, self.reporter = ticket.assignee or "Unassigned", ticket.reporter
        self.points = "" if ticket.story_points is None else f"{ticket.story_points:g}"
        self.description_html = clean_html(found.description_html).html if found.description_html else \
            (_plain(ticket.description) if ticket.description else "")
        self.comments = [_comment(comment) for comment in found.comments]
        self.history = [{"when": when(item.at), "author": item.author, "field": item.field,
                         "change": f"{item.from_text or '–'} → {item.to_text or '–'}"} for item in found.history]
        self.transitions = [{"id": t.id, "name": t.name, "to": t.to.name, "target": f"status:{t.to.name}"}
                            for t in found.transitions]
        suggested = tickets.suggestion(user, found)
        self.suggestion = suggested.to.name if suggested is not None else ""
        self._next_step = f"moving it to {suggested.to.name}" if suggested is not None else ""
        self.tracked = tracking.is_tracked(user, ticket.key)

    def _set_text(self, text: str) -> None:
        self.draft_text = text
        self.draft_key = f"{self.key}-{abs(hash(text))}"

    def _load_draft(self, user: AuthedUser) -> None:
        view = comments.open_draft(user, self.key)
        self.draft_status = view.status if view is not None else ""
        self.draft_error = view.error if view is not None else ""
        self._set_text(view.text if view is not None and view.status != "posted" else "")

    def _clear(self) -> None:
        self.summary = self.url = self.issue_type = self.status = self.priority = ""
        self.assignee = self.reporter = self.points = self.description_html = self.suggestion = ""
        self.comments, self.history, self.transitions, self.children = [], [], [], []
        self.error = self.notice = self.draft_status = self.draft_notice = self.draft_error = ""
        self.instruction, self.breakdown_open, self.breakdown_notice, self.breakdown_error = "", False, "", ""
        self._set_text("")

    @rx.event
    async def open(self, key: str):
        user = self._require()
        self._clear()
        self.key, self.loading = str(key), True
        yield
        try:
            found = await asyncio.to_thread(tickets.detail, user, self.key)
            self._show(user, found)
            self._load_draft(user)
        except USER_ERRORS as exc:
            self.error = f"{self.key} could not be loaded: {exc}"
        finally:
            self.loading = False

    @rx.event
    def close(self):
        self._require()
        self.key = ""
        self._clear()

    async def _refresh(self, user: AuthedUser) -> None:
        found = await asyncio.to_thread(tickets.detail, user, self.key)
        self._show(user, found)

    @rx.event
    async def take_transition(self, target: str):
        """The drawer's "Move to" does what a drop on that column does."""
        user = self._require()
        if not self.key:
            return
        self.error = self.notice = ""
        try:
            result = await asyncio.to_thread(tickets.move, user, self.key, str(target))
            if result.moved:
                self.notice = result.message
                await self._refresh(user)
            else:
                self.error = result.message
        except USER_ERRORS as exc:
            self.error = str(exc)
        yield JiraBoardState.load

    @rx.event
    async def toggle_tracked(self):
        user = self._require()
        if not self.key:
            return
        self.error = ""
        try:
            if self.tracked:
                await asyncio.to_thread(tracking.untrack, user, self.key)
                self.tracked, self.notice = False, f"No longer tracking {self.key}."
            else:
                await asyncio.to_thread(tracking.track, user, self.key)
                self.tracked, self.notice = True, f"Tracking {self.key}: you will be told about status changes " \
                                                  "and new comments."
        except USER_ERRORS as exc:
            self.error = str(exc)
        yield JiraBoardState.load

    # ------------------------------------------------------------ the comment

    @rx.event
    def set_instruction(self, value: str):
        self._require()
        self.instruction = str(value)[: comments.MAX_INSTRUCTION]

    @rx.event(background=True)
    async def write_draft(self, regenerate: bool = False):
        async with self:
            user = self._require()
            if self.drafting or not self.key:
                return
            key, instruction, next_step = self.key, self.instruction, self._next_step
            self.drafting, self.draft_error, self.draft_notice = True, "", ""
        async with reported(self, busy="drafting", error="draft_error", what="Drafting", user_errors=USER_ERRORS):
            found = await asyncio.to_thread(tickets.detail, user, key)
            view = await comments.draft(user, found, next_step=next_step, instruction=instruction,
                                        regenerate=bool(regenerate))
            async with self:
                if self.key == key:
                    self.draft_status, self.draft_notice, self.instruction = view.status, view.notice, ""
                    self._set_text(view.text)

    @rx.event
    def edit_draft(self, value: str):
        """Edits are kept on the server as the user types: a reload or a second tab shows them."""
        user = self._require()
        value = str(value)
        if self.draft_status == "posted" and value.strip() == self._posted_text.strip():
            return  # the editor's late echo of what was just posted
        self.draft_text = value
        if self.key:
            try:
                comments.save_text(user, self.key, value)
                if self.draft_status == "posted":
                    self.draft_status = "draft"
            except USER_ERRORS as exc:
                self.draft_error = str(exc)

    @rx.event
    async def post(self, form: dict):
        """The text comes with the click (the form), never from a save that may still be on its way."""
        user = self._require()
        if not self.key or self.posting:
            return
        self.posting, self.draft_error, self.draft_notice = True, "", ""
        text = str(form.get("text", self.draft_text))
        yield
        try:
            view = await asyncio.to_thread(comments.post, user, self.key, text)
            self.draft_status, self.draft_error = view.status, view.error
            if view.status == "posted":
                self.draft_notice, self._posted_text = f"Posted to {self.key}.", text
                self._set_text("")
                await self._refresh(user)
        except USER_ERRORS as exc:
            self.draft_error = str(exc)
            self._load_draft(user)
        finally:
            self.posting = False

    @rx.event
    def rate(self, rating: int):
        user = self._require()
        try:
            decision = comments.rate(user, self.key, int(rating))
        except USER_ERRORS as exc:
            self.draft_error = str(exc)
            return
        self.draft_notice = "Thanks: noted." + (f" {decision.reason}" if decision.reason else "")

    # ------------------------------------------------------------ the breakdown

    @rx.event(background=True)
    async def propose_children(self):
        async with self:
            user = self._require()
            if self.breaking_down or not self.key:
                return
            key = self.key
            self.breaking_down, self.breakdown_open, self.breakdown_error, self.breakdown_notice = True, True, "", ""
            self.children = []
        async with reported(self, busy="breaking_down", error="breakdown_error", what="The breakdown",
                            user_errors=USER_ERRORS):
            proposal = await breakdown.propose(user, key)
            async with self:
                if self.key == key:
                    self.child_kind, self.child_type, self.breakdown_notice = (
                        proposal.child_kind, proposal.child_type, proposal.notice)
                    self.children = [{"summary": c.summary, "description": c.description, "keep": True}
                                     for c in proposal.children]

    @rx.event
    def set_child_summary(self, index: int, value: str):
        self._require()
        if 0 <= int(index) < len(self.children):
            self.children[int(index)]["summary"] = str(value)[: breakdown.MAX_SUMMARY]

    @rx.event
    def set_child_kept(self, index: int, value: bool):
        self._require()
        if 0 <= int(index) < len(self.children):
            self.children[int(index)]["keep"] = bool(value)

    @rx.event
    def add_child(self):
        self._require()
        if len(self.children) < breakdown.MAX_CHILDREN:
            self.children.append({"summary": "", "description": "", "keep": True})

    @rx.event
    def close_breakdown(self):
        self._require()
        self.breakdown_open, self.children, self.breakdown_error = False, [], ""

    @rx.event
    async def create_children(self):
        user = self._require()
        if not self.key or self.breaking_down:
            return
        chosen = [breakdown.Child(c["summary"], c["description"]) for c in self.children if c["keep"]]
        self.breaking_down, self.breakdown_error = True, ""
        yield
        try:
            created = await asyncio.to_thread(breakdown.create_children, user, self.key, chosen)
        except USER_ERRORS as exc:
            self.breakdown_error = str(exc)
        else:
            made = set(created.keys)
            self.breakdown_notice = f"Created {', '.join(created.keys)}." if made else ""
            self.breakdown_error = created.error
            done = len(made)
            kept = [c for c in self.children if c["keep"]]
            self.children = [c for c in self.children if not c["keep"]] + kept[done:]
            if not created.error:
                self.breakdown_open = False
                self.notice = f"Created {len(made)} child ticket{'s' if len(made) != 1 else ''}: " \
                              f"{', '.join(created.keys)}."
        finally:
            self.breaking_down = False
        yield JiraBoardState.load
