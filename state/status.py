"""Admin Status page: the same report as /api/health."""

from __future__ import annotations

import json

import reflex as rx

from services import health
from state.session import SessionState


class StatusState(SessionState):
    overall: str = ""
    database: dict[str, str] = {}
    jobs: dict[str, str] = {}
    workers: list[dict[str, str]] = []
    raw: str = ""

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
