"""Admin Users page: create, disable, reset password, change role."""

from __future__ import annotations

import reflex as rx

from services.auth import users
from services.auth.errors import AuthError
from services.db.models import Role
from state.formatting import when
from state.session import SessionState


class UsersState(SessionState):
    rows: list[dict[str, str]] = []
    error: str = ""
    notice: str = ""
    reset_user_id: str = ""
    reset_user_email: str = ""

    def _reload(self) -> None:
        self.rows = [
            {
                "id": str(u.id),
                "email": u.email,
                "name": u.display_name,
                "role": u.role,
                "active": "yes" if u.is_active else "",
                "locked": "yes" if u.locked else "",
                "created": when(u.created_at),
                "last_login": when(u.last_login_at) or "never",
            }
            for u in users.list_users()
        ]

    def _run(self, action, notice: str) -> None:
        try:
            action()
        except AuthError as exc:
            self.error, self.notice = str(exc), ""
        else:
            self.error, self.notice = "", notice
        self._reload()

    @rx.event
    def load(self):
        self._require_admin()
        self.error = self.notice = ""
        self._reload()

    @rx.event
    def create(self, form: dict):
        self._require_admin()
        email = form.get("email", "")
        self._run(
            lambda: users.create_user(
                email=email, password=form.get("password", ""), role=form.get("role", Role.member.value),
                display_name=form.get("name", ""),
            ),
            f"Created {email.strip().lower()}.",
        )

    @rx.event
    def set_role(self, user_id: str, role: str):
        self._require_admin()
        self._run(lambda: users.set_role(int(user_id), role), f"Role changed to {role}.")

    @rx.event
    def set_active(self, user_id: str, active: bool):
        admin = self._require_admin()
        if not active and int(user_id) == admin.id:
            self.error = "You cannot disable your own account."
            return
        self._run(lambda: users.set_active(int(user_id), active), "Account enabled." if active else "Account disabled.")

    @rx.event
    def open_reset(self, user_id: str, email: str):
        self._require_admin()
        self.reset_user_id, self.reset_user_email = user_id, email

    @rx.event
    def close_reset(self):
        self._require_admin()
        self.reset_user_id = self.reset_user_email = ""

    @rx.event
    def reset_password(self, form: dict):
        self._require_admin()
        user_id, email = self.reset_user_id, self.reset_user_email
        if not user_id:
            return
        self._run(lambda: users.reset_password(int(user_id), form.get("password", "")),
                  f"Password reset for {email}; their sessions were signed out.")
        if not self.error:
            self.reset_user_id = self.reset_user_email = ""
