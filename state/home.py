"""Home page: what is waiting for the user."""

from __future__ import annotations

import reflex as rx

from services.jobs import service as jobs
from services.notifications import service as notifications
from state.session import SessionState


class HomeState(SessionState):
    unread: int = 0
    active_jobs: int = 0
    failed_jobs: int = 0

    @rx.event
    def load(self):
        user = self._require()
        self.unread = notifications.unread_count(user.id)
        views = jobs.list_jobs(user, limit=50)
        self.active_jobs = sum(1 for j in views if j.active)
        self.failed_jobs = sum(1 for j in views if j.status == "failed")
