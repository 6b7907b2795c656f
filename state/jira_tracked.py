"""The Tracked tickets page: what the user flagged, when it was last checked, and checking now."""

from __future__ import annotations

import asyncio
from typing import TypedDict

import reflex as rx

from services.auth.errors import AuthError
from services.integrations.base import IntegrationError
from services.jira import connection, tracking
from services.jobs.runners import JobQueueUnavailable
from state.formatting import when
from state.session import SessionState

USER_ERRORS = (AuthError, IntegrationError, JobQueueUnavailable)


class TrackedRow(TypedDict):
    key: str
    summary: str
    status: str
    checked: str
    error: str


class JiraTrackedState(SessionState):
    connected: bool = True
    rows: list[TrackedRow] = rx.field(default_factory=list)
    error: str = ""
    notice: str = ""
    busy: bool = False

    def _reload(self) -> None:
        user = self._require()
        self.connected = connection.get(user) is not None
        self.rows = [{"key": t.key, "summary": t.summary, "status": t.status, "checked": when(t.checked_at),
                      "error": t.error} for t in tracking.tracked(user)] if self.connected else []

    @rx.event
    def load(self):
        self.error = self.notice = ""
        self._reload()

    @rx.event
    async def track(self, form: dict):
        user = self._require()
        key = str(form.get("key", "")).strip().upper()
        self.error, self.notice, self.busy = "", "", True
        yield
        try:
            await asyncio.to_thread(tracking.track, user, key)
            self.notice = f"Tracking {key}."
        except USER_ERRORS as exc:
            self.error = str(exc)
        finally:
            self.busy = False
        self._reload()

    @rx.event
    def untrack(self, key: str):
        user = self._require()
        try:
            tracking.untrack(user, str(key))
        except USER_ERRORS as exc:
            self.error = str(exc)
        self._reload()

    @rx.event
    def check_now(self):
        user = self._require()
        self.error = self.notice = ""
        try:
            tracking.check_now(user)
            self.notice = "Checking: changes arrive as notifications (the bell)."
        except USER_ERRORS as exc:
            self.error = str(exc)
