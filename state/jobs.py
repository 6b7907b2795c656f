"""Jobs page: the user's jobs (all jobs for admins) with live progress."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import reflex as rx

from llmcoder_app import routes
from services.auth.errors import AccessDenied, AuthError
from services.auth.users import AuthedUser
from services.jobs import downloads, service
from services.jobs.export import JOB_TYPE as EXPORT_JOB
from services.jobs.runners import JobQueueUnavailable
from state.formatting import when
from state.session import SessionState

POLL_MS = 1000


def job_progress(user: AuthedUser, job_id: str | None, hidden: str) -> tuple[int, str]:
    """(percent, message) of a running job for a row that shows it; `hidden` when the job is
    someone else's (another user's sync of a shared source: its progress is theirs)."""
    if not job_id:
        return 0, ""
    try:
        job = service.get(user, job_id)
    except AccessDenied:
        return 0, hidden
    return job.progress, job.message


@dataclasses.dataclass
class JobRow:
    id: str
    title: str
    owner: str
    status: str
    progress: int
    message: str
    error: str
    traceback: str
    created: str
    finished: str
    has_file: bool
    active: bool


class JobsState(SessionState):
    jobs: list[JobRow] = []
    show_all: bool = False
    any_active: bool = False
    error: str = ""

    def _reload(self) -> None:
        user = self._require()
        views = service.list_jobs(user, everyone=self.show_all and user.is_admin)
        self.jobs = [
            JobRow(
                id=j.id,
                title=j.title,
                owner=j.owner_email,
                status=j.status,
                progress=j.progress,
                message=j.message,
                error=j.error,
                traceback=j.traceback,
                created=when(j.created_at),
                finished=when(j.finished_at),
                has_file=bool(j.result.get("file")),
                active=j.active,
            )
            for j in views
        ]
        self.any_active = any(j.active for j in views)

    @rx.event
    def load(self):
        self.error = ""
        self._reload()

    @rx.event
    def refresh(self, _tick: str = ""):
        self._reload()

    @rx.event
    def toggle_all(self, value: bool):
        self._require_admin()
        self.show_all = value
        self._reload()

    def _act(self, action: Callable[[], object]) -> None:
        """Run one job action; a refusal or a missing queue becomes the page's error."""
        self.error = ""
        try:
            action()
        except (AuthError, JobQueueUnavailable) as exc:
            self.error = str(exc)
        self._reload()

    @rx.event
    def start_export(self):
        user = self._require()
        self._act(lambda: service.submit(user, EXPORT_JOB, {"user_id": user.id}))

    @rx.event
    def cancel(self, job_id: str):
        user = self._require()
        self._act(lambda: service.cancel(user, job_id))

    @rx.event
    def retry(self, job_id: str):
        user = self._require()
        self._act(lambda: service.retry(user, job_id))

    @rx.event
    def download(self, job_id: str):
        user = self._require()
        try:
            path = downloads.signed_path(user, job_id)
        except (AuthError, downloads.DownloadRefused) as exc:
            self.error = str(exc)
            return
        # Served by the backend's API route; a Var skips Reflex's check that the URL is a
        # path, which an absolute URL fails in dev mode's two-port set-up.
        return rx.download(url=rx.Var.create(routes.backend_href(path)))
