"""The Inbox page: the unified list with filters, search and pages; a thread with its summary;
the reply draft the user edits and sends with an explicit click."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypedDict, TypeVar

import reflex as rx

from services.auth.errors import AuthError
from services.auth.users import AuthedUser
from services.inbox import accounts, listing, replies, sending
from services.integrations.base import IntegrationError
from services.jobs.runners import JobQueueUnavailable
from services.llm.types import LLMError
from state.background import reported
from state.formatting import when
from state.session import SessionState

T = TypeVar("T")

POLL_MS = 3000
TONES, LENGTHS = replies.TONES, replies.LENGTHS
USER_ERRORS = (AuthError, IntegrationError, JobQueueUnavailable, LLMError)


class MessageRow(TypedDict):
    id: int
    kind: str
    account: str
    sender: str
    subject: str
    snippet: str
    when: str
    unread: bool
    needs_reply: bool
    reason: str


class ThreadRow(TypedDict):
    id: int
    sender: str
    to: str
    when: str
    from_me: bool
    text: str
    html: str
    blocked_images: int
    error: str


class Option(TypedDict):
    value: str
    label: str


def _row(item: listing.ListItem) -> MessageRow:
    return {"id": item.id, "kind": item.kind, "account": item.account_name, "sender": item.sender,
            "subject": item.subject, "snippet": item.snippet, "when": when(item.sent_at), "unread": item.unread,
            "needs_reply": item.needs_reply, "reason": item.reason}


def _thread_row(message: listing.ThreadMessage) -> ThreadRow:
    return {"id": message.id, "sender": "You" if message.from_me else message.sender,
            "to": ", ".join(message.to), "when": when(message.sent_at), "from_me": message.from_me,
            "text": message.text, "html": message.html, "blocked_images": message.blocked_images,
            "error": message.error}


class InboxState(SessionState):
    items: list[MessageRow] = rx.field(default_factory=list)
    total: int = 0
    page: int = 1
    pages: int = 1
    kind: str = "all"
    account: str = "all"
    unread_only: bool = False
    needs_reply_only: bool = False
    search: str = ""
    account_options: list[Option] = rx.field(default_factory=list)
    has_accounts: bool = True
    error: str = ""
    # The open thread (0: none).
    selected: int = 0
    thread_subject: str = ""
    thread_kind: str = ""
    thread: list[ThreadRow] = rx.field(default_factory=list)
    allow_images: bool = False
    loading_thread: bool = False
    summary: str = ""
    summary_notice: str = ""
    summarizing: bool = False
    # The reply draft of the open thread (0: none yet).
    draft_id: int = 0
    draft_text: str = ""
    draft_key: str = "0"  # changes whenever the server replaces the text (a new draft, a reload)
    draft_status: str = ""
    draft_error: str = ""
    draft_notice: str = ""
    draft_to: str = ""
    tone: str = "neutral"
    length: str = "medium"
    instruction: str = ""
    drafting: bool = False
    _revision: str = ""

    # ------------------------------------------------------------ the list

    def _filters(self) -> listing.Filters:
        return listing.Filters(kind="" if self.kind == "all" else self.kind,
                               account_id=None if self.account == "all" else int(self.account),
                               unread=self.unread_only, needs_reply=self.needs_reply_only, search=self.search)

    def _reload(self, user: AuthedUser) -> None:
        result = listing.list_page(user, self._filters(), page=self.page)
        self.items = [_row(item) for item in result.items]
        self.total, self.page, self.pages = result.total, result.page, result.pages
        self._revision = listing.revision(user)

    @rx.event
    def load(self):
        user = self._require()
        views = accounts.list_accounts(user)
        self.has_accounts = bool(views)
        self.account_options = [{"value": str(v.id), "label": f"{v.label}: {v.name}"} for v in views]
        self.error, self.page = "", 1
        self._reload(user)

    @rx.event
    async def poll(self, _tick: str = ""):
        """New messages (a sync, a Slack event) appear without a reload; nothing is redrawn otherwise."""
        user = self._require()
        if listing.revision(user) != self._revision:
            self._reload(user)
            if self.selected and self.draft_status == "sending":
                await self._follow_send(user)

    @rx.event
    def set_kind(self, value: str):
        self.kind, self.page = value, 1
        self._reload(self._require())

    @rx.event
    def set_account(self, value: str):
        self.account, self.page = value, 1
        self._reload(self._require())

    @rx.event
    def set_unread_only(self, value: bool):
        self.unread_only, self.page = bool(value), 1
        self._reload(self._require())

    @rx.event
    def set_needs_reply_only(self, value: bool):
        self.needs_reply_only, self.page = bool(value), 1
        self._reload(self._require())

    @rx.event
    def run_search(self, form: dict):
        self.search, self.page = str(form.get("search", "")).strip(), 1
        self._reload(self._require())

    @rx.event
    def go_to_page(self, page: int):
        self.page = int(page)
        self._reload(self._require())

    # ------------------------------------------------------------ a thread

    def _clear_thread(self) -> None:
        self.thread, self.thread_subject, self.summary, self.summary_notice = [], "", "", ""
        self.draft_id, self.draft_status, self.draft_error = 0, "", ""
        self._set_text("")
        self.draft_notice, self.draft_to, self.instruction, self.allow_images = "", "", "", False

    def _try(self, action: Callable[[], T]) -> T | None:
        self.error = ""
        try:
            return action()
        except USER_ERRORS as exc:
            self.error = str(exc)
            return None

    def _load_draft(self, user: AuthedUser) -> None:
        view = replies.open_draft(user, self.selected)
        if view is None:
            self.draft_id, self.draft_status, self.draft_error = 0, "", ""
            self._set_text("")
            return
        self.draft_id, self.draft_status, self.draft_error = view.id, view.status, view.error
        self._set_text(view.text)
        self.draft_to = ", ".join(view.to)

    def _set_text(self, text: str) -> None:
        self.draft_text = text
        self.draft_key = f"{self.draft_id}-{abs(hash(text))}"

    async def _show_thread(self, user: AuthedUser) -> None:
        thread = await asyncio.to_thread(listing.thread, user, self.selected, allow_images=self.allow_images)
        self.thread_subject, self.thread_kind = thread.subject, thread.kind
        self.thread = [_thread_row(message) for message in thread.messages]

    @rx.event
    async def open(self, message_id: int):
        user = self._require()
        self._clear_thread()
        self.selected, self.error = int(message_id), ""
        try:
            await self._show_thread(user)
        except USER_ERRORS as exc:
            self.error, self.selected = str(exc), 0
            return
        self._load_draft(user)
        self._reload(user)

    @rx.event
    def close(self):
        self._require()
        self.selected = 0
        self._clear_thread()

    @rx.event
    async def show_images(self):
        user = self._require()
        if self.selected:
            self.allow_images = True
            await self._show_thread(user)

    @rx.event(background=True)
    async def summarise(self):
        async with self:
            user = self._require()
            message_id, self.summarizing, self.summary, self.error = self.selected, True, "", ""
        async with reported(self, busy="summarizing", error="error", what="Summarising", user_errors=USER_ERRORS,
                            prefix="The thread could not be summarised: "):
            text, notice = await replies.summarise(user, message_id)
            async with self:
                if self.selected == message_id:
                    self.summary, self.summary_notice = text, notice

    # ------------------------------------------------------------ the reply

    @rx.event
    def set_tone(self, value: str):
        self._require()
        self.tone = value if value in replies.TONES else "neutral"

    @rx.event
    def set_length(self, value: str):
        self._require()
        self.length = value if value in replies.LENGTHS else "medium"

    @rx.event
    def set_instruction(self, value: str):
        self._require()
        self.instruction = value[: replies.MAX_FEEDBACK]

    @rx.event(background=True)
    async def write_draft(self, regenerate: bool = False):
        async with self:
            user = self._require()
            if self.drafting or not self.selected:
                return
            message_id, tone, length, instruction = self.selected, self.tone, self.length, self.instruction
            self.drafting, self.draft_error, self.draft_notice = True, "", ""
        async with reported(self, busy="drafting", error="draft_error", what="Drafting", user_errors=USER_ERRORS):
            view = await replies.draft(user, message_id, tone=tone, length=length, feedback=instruction,
                                       regenerate=bool(regenerate))
            async with self:
                if self.selected == message_id:
                    self.draft_id, self.draft_status = view.id, view.status
                    self._set_text(view.text)
                    self.draft_notice, self.draft_to, self.instruction = view.notice, ", ".join(view.to), ""

    @rx.event
    def edit_draft(self, value: str):
        """Edits are kept on the server as the user types: a reload or a second tab shows them."""
        user = self._require()
        self.draft_text = value
        if self._ensure_draft(user):
            self._try(lambda: replies.save_text(user, self.draft_id, value))

    def _ensure_draft(self, user: AuthedUser) -> bool:
        """A reply typed without "Draft reply" gets its draft row at the first keystroke."""
        if not self.draft_id and self.selected:
            view = self._try(lambda: replies.own_draft(user, self.selected))
            if view is not None:
                self.draft_id, self.draft_status, self.draft_to = view.id, view.status, ", ".join(view.to)
        return bool(self.draft_id)

    @rx.event
    def send(self, form: dict):
        """The text comes with the click (the form), never from a save that may still be on its way."""
        user = self._require()
        if not self._ensure_draft(user):
            self.draft_error = "Open a message to reply to first."
            return
        self.draft_error, self.draft_text = "", str(form.get("text", self.draft_text))
        try:
            self.draft_status = sending.send(user, self.draft_id, self.draft_text)
        except USER_ERRORS as exc:
            self.draft_error = str(exc)
            return
        self._load_draft(user)

    @rx.event
    async def check_sending(self, _tick: str = ""):
        """While a reply is on its way, its fate shows as soon as the job knows it; once sent, it
        shows in the thread."""
        user = self._require()
        if self.draft_status == "sending" and self.draft_id:
            await self._follow_send(user)

    async def _follow_send(self, user: AuthedUser) -> None:
        self._load_draft(user)
        if self.draft_status == "sent":
            await self._show_thread(user)

    @rx.event
    def rate(self, rating: int):
        user = self._require()
        decision = self._try(lambda: replies.rate(user, self.draft_id, int(rating)))
        if decision is not None:
            self.draft_notice = "Thanks: noted." + (f" {decision.reason}" if decision.reason else "")
