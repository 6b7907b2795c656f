"""The Inbox Accounts page: connected accounts with live sync progress; connecting Gmail and
Outlook (OAuth), Slack (OAuth or a pasted token, then the channels to follow) and any IMAP +
SMTP mailbox; and the "Your style" card of each account."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import TypedDict, TypeVar

import reflex as rx

from llmcoder_app import routes
from services.auth.errors import AuthError
from services.auth.users import AuthedUser
from services.inbox import accounts, connect, style, styles, sync
from services.integrations.base import IntegrationError
from services.jobs import synced
from services.jobs.runners import JobQueueUnavailable
from state.formatting import when
from state.jobs import job_progress
from state.session import SessionState

T = TypeVar("T")
POLL_MS = 2000
USER_ERRORS = (AuthError, IntegrationError, JobQueueUnavailable)
FORMS = ("accounts", "imap", "slack", "channels", "style")
OVERRIDE_FIELDS = ("greeting", "sign_off", "formality", "length", "notes")


class AccountRow(TypedDict):
    id: int
    kind: str
    label: str
    name: str
    address: str
    detail: str
    status: str
    error: str
    messages: int
    last_sync: str
    interval: int
    active: bool
    progress: int
    message: str


class ChannelOption(TypedDict):
    id: str
    name: str
    chosen: bool


class Figure(TypedDict):
    label: str
    value: str


def _figures(summary: dict) -> list[Figure]:
    """The card's lines, in words."""
    def shares(items) -> str:
        return ", ".join(f"“{text}” ({round(share * 100)}%)" for text, share in items) or "none yet"

    low, high = summary.get("length_range", (0, 0))
    formality = summary.get("formality", ("neutral", 0.5))
    return [
        {"label": "Messages learned from", "value": str(summary.get("messages", 0))},
        {"label": "Typical length", "value": f"{summary.get('typical_length_words', 0)} words ({low}–{high})"},
        {"label": "Sentence length", "value": f"{summary.get('sentence_length_words', 0)} words"},
        {"label": "Greetings", "value": shares(summary.get("greetings", []))},
        {"label": "Sign-offs", "value": shares(summary.get("sign_offs", []))},
        {"label": "Formality", "value": f"{formality[0]} ({formality[1]:.2f})"},
        {"label": "Emoji per message", "value": f"{summary.get('emoji_per_message', 0):.2f} "
                                                 f"{' '.join(summary.get('favourite_emoji', []))}".strip()},
        {"label": "Mentions per message", "value": f"{summary.get('mentions_per_message', 0):.2f}"},
        {"label": "Questions per message", "value": f"{summary.get('questions_per_message', 0):.2f}"},
    ]


class InboxAccountsState(SessionState):
    accounts: list[AccountRow] = rx.field(default_factory=list)
    any_active: bool = False
    errors: dict[str, str] = rx.field(default_factory=lambda: dict.fromkeys(FORMS, ""))
    notes: dict[str, str] = rx.field(default_factory=lambda: dict.fromkeys(FORMS, ""))
    redirect_uris: dict[str, str] = rx.field(default_factory=dict)
    webhook_url: str = ""
    imap_security: str = "tls"
    smtp_security: str = "starttls"
    # The Slack channel picker (0: closed).
    channels_for: int = 0
    channel_options: list[ChannelOption] = rx.field(default_factory=list)
    # The style card.
    style_account: str = ""
    style_scope: str = ""
    style_scopes: list[str] = rx.field(default_factory=list)
    style_figures: list[Figure] = rx.field(default_factory=list)
    style_described: str = ""
    overrides: dict[str, str] = rx.field(default_factory=lambda: dict.fromkeys(OVERRIDE_FIELDS, ""))

    def _row(self, user: AuthedUser, view: accounts.AccountView) -> AccountRow:
        active = view.status in synced.ACTIVE
        progress, message = job_progress(user, view.last_job_id if active else None, "Syncing…")
        return {"id": view.id, "kind": view.kind, "label": view.label, "name": view.name, "address": view.address,
                "detail": view.detail, "status": view.status, "error": view.error, "messages": view.messages,
                "last_sync": when(view.last_sync_at) or "never", "interval": view.sync_interval_minutes,
                "active": active, "progress": progress, "message": message}

    def _reload(self, user: AuthedUser) -> None:
        self.accounts = [self._row(user, view) for view in accounts.list_accounts(user)]
        self.any_active = any(row["active"] for row in self.accounts)

    def _try(self, form: str, action: Callable[[], T]) -> T | None:
        self.errors[form], self.notes[form] = "", ""
        try:
            return action()
        except USER_ERRORS as exc:
            self.errors[form] = str(exc)
            return None

    @rx.event
    def load(self):
        user = self._require()
        self.errors, self.notes = dict.fromkeys(FORMS, ""), dict.fromkeys(FORMS, "")
        self.channels_for = 0
        self.redirect_uris = {p: routes.backend_url(connect.callback_path(p)) for p in connect.PROVIDERS}
        self.webhook_url = routes.backend_url("/api/webhooks/slack")
        params = self.router.page.params
        if params.get("error"):
            self.errors["accounts"] = str(params["error"])
        elif params.get("connected"):
            self.notes["accounts"] = "Account connected. Its first sync has started."
            self._start_sync(user, int(params["connected"]))
        self._reload(user)
        if self.accounts and not self.style_account:
            self.style_account = str(self.accounts[0]["id"])
        self._load_style(user)

    @rx.event
    def refresh(self, _tick: str = ""):
        """Polled while a sync runs; when the last one ends, the style card shows what it learned."""
        user = self._require()
        was_active = self.any_active
        self._reload(user)
        if was_active and not self.any_active:
            self._load_style(user)

    def _start_sync(self, user: AuthedUser, account_id: int) -> None:
        self._try("accounts", partial(sync.start, user, account_id))

    # ------------------------------------------------------------ the list

    @rx.event
    def sync_now(self, account_id: int):
        user = self._require()
        self._start_sync(user, int(account_id))
        self._reload(user)

    @rx.event
    def disconnect(self, account_id: int):
        user = self._require()
        notice = self._try("accounts", partial(accounts.disconnect, user, int(account_id)))
        if notice is not None:
            self.notes["accounts"] = notice or "Account disconnected; its messages were removed from LLMCoder."
        if self.style_account == str(account_id):
            self.style_account = ""
        self._reload(user)

    @rx.event
    def set_interval(self, account_id: int, minutes: str):
        user = self._require()
        self._try("accounts", partial(accounts.set_interval, user, int(account_id), int(minutes or 0)))
        self._reload(user)

    # ------------------------------------------------------------ connecting

    @rx.event
    def begin_oauth(self, provider: str):
        user = self._require()
        url = self._try("accounts", partial(connect.begin, user, provider, self.redirect_uris.get(provider, "")))
        return rx.redirect(url, is_external=True) if url else None

    @rx.event
    def set_security(self, which: str, value: str):
        self._require()
        if which == "imap":
            self.imap_security = value
        else:
            self.smtp_security = value

    @rx.event
    async def connect_imap(self, form: dict):
        user = self._require()
        self.errors["imap"], self.notes["imap"] = "", ""
        try:
            account_id = await asyncio.to_thread(
                accounts.connect_imap, user, address=str(form.get("address", "")),
                password=str(form.get("password", "")), username=str(form.get("username", "")),
                imap_host=str(form.get("imap_host", "")), imap_port=str(form.get("imap_port", "") or 993),
                imap_security=self.imap_security, smtp_host=str(form.get("smtp_host", "")),
                smtp_port=str(form.get("smtp_port", "") or 587), smtp_security=self.smtp_security,
                sent_folder=str(form.get("sent_folder", "")), name=str(form.get("name", "")))
        except USER_ERRORS as exc:
            self.errors["imap"] = str(exc)
            return None
        self.notes["imap"] = "Connected. The first sync has started; its progress shows above."
        self._start_sync(user, account_id)
        self._reload(user)
        self.style_account = str(account_id)
        self._load_style(user)
        return rx.set_value("inbox-imap-password", "")

    @rx.event
    async def connect_slack(self, form: dict):
        user = self._require()
        self.errors["slack"], self.notes["slack"] = "", ""
        try:
            account_id = await asyncio.to_thread(accounts.connect_slack_token, user,
                                                 token=str(form.get("token", "")))
        except USER_ERRORS as exc:
            self.errors["slack"] = str(exc)
            return None
        self.notes["slack"] = "Slack connected. Choose the channels and DMs to follow."
        self._reload(user)
        await self._open_channels(user, account_id)
        return rx.set_value("inbox-slack-token", "")

    # ------------------------------------------------------------ Slack channels

    async def _open_channels(self, user: AuthedUser, account_id: int) -> None:
        self.errors["channels"] = ""
        try:
            found = await asyncio.to_thread(accounts.slack_conversations, user, account_id)
        except USER_ERRORS as exc:
            self.errors["slack"] = str(exc)
            return
        chosen = set(accounts.get(user, account_id).channels)
        self.channel_options = [{"id": c.id, "name": c.name, "chosen": c.id in chosen} for c in found]
        self.channels_for = account_id

    @rx.event
    async def open_channels(self, account_id: int):
        await self._open_channels(self._require(), int(account_id))

    @rx.event
    def toggle_channel(self, channel_id: str, chosen: bool):
        self._require()
        self.channel_options = [{**o, "chosen": bool(chosen)} if o["id"] == channel_id else o
                                for o in self.channel_options]

    @rx.event
    def save_channels(self):
        user = self._require()
        chosen = [o["id"] for o in self.channel_options if o["chosen"]]
        if self._try("channels", partial(accounts.set_channels, user, self.channels_for, chosen)) is None \
                and self.errors["channels"]:
            return
        self._start_sync(user, self.channels_for)
        self.channels_for = 0
        self._reload(user)

    @rx.event
    def close_channels(self):
        self._require()
        self.channels_for = 0

    # ------------------------------------------------------------ your style

    def _load_style(self, user: AuthedUser) -> None:
        if not self.style_account:
            self.style_figures, self.style_described, self.style_scopes = [], "", []
            return
        account_id = int(self.style_account)
        card = self._try("style", lambda: (styles.scopes(user, account_id),
                                           styles.card(user, account_id, self.style_scope)))
        if card is None:
            return
        self.style_scopes, found = card[0], card[1]
        self.style_figures, self.style_described = _figures(found.figures), found.described
        self.overrides = {name: str(getattr(found.overrides, name, "") or "") for name in OVERRIDE_FIELDS}

    @rx.event
    def choose_style(self, account_id: str):
        user = self._require()
        self.style_account, self.style_scope = account_id, ""
        self._load_style(user)

    @rx.event
    def choose_scope(self, scope: str):
        user = self._require()
        self.style_scope = "" if scope == "all" else scope
        self._load_style(user)

    @rx.event
    def save_style(self, form: dict):
        user = self._require()
        values = {name: str(form.get(name, "")).strip() for name in OVERRIDE_FIELDS}
        overrides = style.StyleOverrides(**values)
        if self._try("style", partial(styles.save_overrides, user, int(self.style_account), self.style_scope,
                                      overrides)) is None and self.errors["style"]:
            return
        self._load_style(user)
        self.notes["style"] = "Saved: the next drafts follow it."
