"""Admin Settings page: runtime settings, secrets masked, .env import."""

from __future__ import annotations

import reflex as rx

from services import runtime_settings
from services.auth.errors import AuthError
from services.settings import REPO_ROOT
from state.session import SessionState


class SettingsState(SessionState):
    rows: list[dict[str, str]] = []
    error: str = ""
    notice: str = ""
    env_path: str = str(REPO_ROOT / ".env")

    def _reload(self) -> None:
        self.rows = [
            {
                "key": v.key,
                "label": v.label,
                "group": v.group,
                "secret": "yes" if v.secret else "",
                "display": v.display,
                "is_set": "yes" if v.is_set else "",
                "kind": v.kind,
                "help": v.help,
                "problem": v.problem,
            }
            for v in runtime_settings.list_views()
        ]

    def _report(self, error: str = "", notice: str = "") -> None:
        self.error, self.notice = error, notice
        self._reload()

    @rx.event
    def load(self):
        self._require_admin()
        self._report()

    @rx.event
    def save(self, form: dict):
        admin = self._require_admin()
        key, value = form.get("key", ""), form.get("value", "")
        if value == "":
            self._report(error="Type a new value first (leave secrets empty to keep them).")
            return
        try:
            saved = runtime_settings.set_value(key, value, updated_by=admin.id)
        except AuthError as exc:
            self._report(error=str(exc))
            return
        self._report(notice=f"Saved {saved.label}. It applies now, without a restart.")

    @rx.event
    def clear(self, key: str):
        self._require_admin()
        try:
            runtime_settings.unset(key)
        except AuthError as exc:
            self._report(error=str(exc))
            return
        self._report(notice=f"Cleared {key}.")

    @rx.event
    def set_env_path(self, value: str):
        self._require_admin()
        self.env_path = value

    @rx.event
    def import_env(self):
        admin = self._require_admin()
        try:
            report = runtime_settings.import_env_file(self.env_path, updated_by=admin.id)
        except AuthError as exc:
            self._report(error=str(exc))
            return
        notice = f"Imported {len(report.imported)} setting(s) from {self.env_path}; the file was left in place."
        if report.skipped:
            notice += " Skipped: " + "; ".join(report.skipped)
        self._report(notice=notice)
