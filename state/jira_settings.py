"""The JIRA settings page: connecting (URL and a personal access token, or e-mail + API token;
tested before it is saved), the connection's state and sync interval, disconnecting, and what
was learned: the user's comment style and their team's workflow."""

from __future__ import annotations

import asyncio
from typing import TypedDict

import reflex as rx

from services.auth.errors import AuthError
from services.integrations.base import IntegrationError
from services.jira import comment_style, connection, styles, sync, tickets
from services.jobs.runners import JobQueueUnavailable
from state.formatting import when
from state.session import SessionState

USER_ERRORS = (AuthError, IntegrationError, JobQueueUnavailable)
INTERVALS = ("0", "5", "15", "30", "60", "240", "1440")


class Figure(TypedDict):
    label: str
    value: str


class WorkflowRow(TypedDict):
    issue_type: str
    from_status: str
    to_status: str
    count: int
    share: str


class JiraSettingsState(SessionState):
    connected: bool = False
    url: str = ""
    deployment: str = ""
    server: str = ""
    account: str = ""
    auth: str = ""
    status: str = ""
    status_error: str = ""
    last_sync: str = ""
    interval: str = "15"
    default_url: str = ""
    form_error: str = ""
    notice: str = ""
    testing: bool = False
    saved: int = 0  # counts successful connects: the token field is remounted empty after each
    style: list[Figure] = rx.field(default_factory=list)
    workflow: list[WorkflowRow] = rx.field(default_factory=list)
    workflow_types: list[str] = rx.field(default_factory=list)
    workflow_type: str = "all"

    def _reload(self) -> None:
        user = self._require()
        view = connection.get(user)
        self.connected = view is not None
        self.default_url = view.url if view is not None else connection.default_url()
        if view is None:
            self.style, self.workflow = [], []
            return
        self.url, self.deployment, self.server = view.url, view.deployment_label, \
            f"{view.server_title} {view.server_version}".strip()
        self.account, self.auth, self.status, self.status_error = view.account_name, view.auth, view.status, view.error
        self.last_sync, self.interval = when(view.last_sync_at), str(view.sync_interval_minutes)
        self.style = [{"label": label, "value": value}
                      for label, value in comment_style.summary(styles.profile(view.id))]
        rows = tickets.workflow_table(user, None if self.workflow_type == "all" else self.workflow_type)
        self.workflow = [{"issue_type": r.issue_type, "from_status": r.from_status, "to_status": r.to_status,
                          "count": r.count, "share": f"{r.share:.0%}"} for r in rows]
        self.workflow_types = sorted({r.issue_type for r in tickets.workflow_table(user)})

    @rx.event
    def load(self):
        self.notice = self.form_error = ""
        self._reload()

    @rx.event
    async def check_connection(self):
        """Signs in with the stored credentials: is the token still good, and who are we there."""
        user = self._require()
        self.form_error, self.notice, self.testing = "", "", True
        yield
        try:
            server, me = await asyncio.to_thread(connection.check, user)
            kind = "JIRA Cloud" if server.deployment == "cloud" else "JIRA Server / Data Center"
            self.notice = f"Connection works: {server.title or server.base_url} ({kind} {server.version}), " \
                          f"signed in as {me.name}."
        except USER_ERRORS as exc:
            self.form_error = str(exc)
        finally:
            self.testing = False

    @rx.event
    async def save_connection(self, form: dict):
        user = self._require()
        self.form_error, self.notice, self.testing = "", "", True
        yield
        try:
            await asyncio.to_thread(connection.connect, user, url=str(form.get("url", "")),
                                    token=str(form.get("token", "")), email=str(form.get("email", "")))
            self.saved += 1
            sync.start(user)
            self.notice = "Connected. The first sync is running: the board fills in as it finishes."
        except USER_ERRORS as exc:
            self.form_error = str(exc)
        finally:
            self.testing = False
        self._reload()

    @rx.event
    def set_interval(self, value: str):
        user = self._require()
        try:
            connection.set_interval(user, int(value))
        except (USER_ERRORS + (ValueError,)) as exc:
            self.form_error = str(exc)
            return
        self.interval = str(value)

    @rx.event
    def set_workflow_type(self, value: str):
        self._require()
        self.workflow_type = str(value)
        self._reload()

    @rx.event
    def disconnect(self):
        user = self._require()
        connection.disconnect(user)
        self.notice = "Disconnected: the synced tickets, drafts and learned data of this connection are deleted."
        self._reload()
