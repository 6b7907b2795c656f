"""The app shell: who is signed in, and the notifications bell (polled live)."""

from __future__ import annotations

import reflex as rx

from llmcoder_app import routes
from services.notifications import service as notifications
from state.formatting import when
from state.session import SessionState


def notification_rows(user_id: int, limit: int) -> list[dict[str, str]]:
    return [
        {
            "id": str(n.id),
            "title": n.title,
            "body": n.body,
            "link": routes.backend_href(n.link) if n.link.startswith("/api/") else n.link,
            # Backend routes (downloads) need a full page load, not the SPA router.
            "external": "yes" if n.link.startswith("/api/") else "",
            "kind": n.kind,
            "created": when(n.created_at),
            "read": "yes" if n.read else "",
        }
        for n in notifications.recent(user_id, limit)
    ]


class ShellState(SessionState):
    unread: int = 0
    recent: list[dict[str, str]] = []

    @rx.event
    def load_shell(self):
        """on_load of every signed-in page: refuses without a session."""
        user = self._require()
        self.unread = notifications.unread_count(user.id)

    @rx.event
    def poll(self, _tick: str = ""):
        user = self._require()
        self.unread = notifications.unread_count(user.id)

    @rx.event
    def open_bell(self, is_open: bool):
        if is_open:
            user = self._require()
            self.recent = notification_rows(user.id, 8)

    @rx.event
    def mark_read(self, notification_id: str):
        user = self._require()
        notifications.mark_read(user.id, int(notification_id))
        self.recent = notification_rows(user.id, 8)
        self.unread = notifications.unread_count(user.id)

    @rx.event
    def mark_all_read(self):
        user = self._require()
        notifications.mark_all_read(user.id)
        self.recent = notification_rows(user.id, 8)
        self.unread = 0
