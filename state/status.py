"""Admin Status page: the same report as /api/health."""

from __future__ import annotations

import json

import reflex as rx

from services import health
from services.auth.errors import AuthError
from services.jobs import service as jobs
from services.jobs.runners import JobQueueUnavailable
from state.session import SessionState


class StatusState(SessionState):
    overall: str = ""
    database: dict[str, str] = {}
    jobs: dict[str, str] = {}
    workers: list[dict[str, str]] = []
    raw: str = ""
    check_message: str = ""

    @rx.event
    def load(self):
        self._require_admin()
        report = health.report()
        self.overall = report["status"]
        self.database = {k: str(v) for k, v in report["database"].items()}
        self.jobs = {k: (json.dumps(v) if isinstance(v, dict) else str(v)) for k, v in report["jobs"].items()}
        self.workers = [
            {"name": w["name"], "state": str(w["state"]), "queues": ", ".join(w["queues"])} for w in report["workers"]
        ]
        self.raw = json.dumps(report, indent=2, default=str)

    @rx.event
    def run_worker_check(self):
        """Queues the diagnostic job, so an admin sees a worker really execute work."""
        admin = self._require_admin()
        try:
            jobs.submit(admin, "worker_check", {"seconds": 1})
        except (AuthError, JobQueueUnavailable) as exc:
            self.check_message = f"Could not queue the worker check: {exc}"
            return
        self.check_message = "Worker check queued: follow it on the Jobs page."
