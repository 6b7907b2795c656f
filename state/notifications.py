"""Notifications page: the full list, mark read."""

from __future__ import annotations

import reflex as rx

from services.notifications import service as notifications
from state.session import SessionState
from state.shell import notification_rows


class NotificationsState(SessionState):
    items: list[dict[str, str]] = []

    @rx.event
    def load(self):
        user = self._require()
        self.items = notification_rows(user.id, 200)

    @rx.event
    def mark_read(self, notification_id: str):
        user = self._require()
        notifications.mark_read(user.id, int(notification_id))
        self.items = notification_rows(user.id, 200)

    @rx.event
    def mark_all_read(self):
        user = self._require()
        notifications.mark_all_read(user.id)
        self.items = notification_rows(user.id, 200)
