"""The signed-in browser. Every page state inherits the access check from here."""

from __future__ import annotations

import reflex as rx

from llmcoder_app import routes
from services.auth import sessions
from services.auth.errors import AccessDenied
from services.auth.users import AuthedUser
from services.db.models import Role
from services.settings import get_settings

SESSION_COOKIE = "llmcoder_session"


class SessionState(rx.State):
    # Only a random token; the server keeps its hash, expiry and revocation.
    session_token: str = rx.Cookie(
        "", name=SESSION_COOKIE, same_site="strict", max_age=get_settings().session_days * 86400
    )
    user_email: str = ""
    user_name: str = ""
    user_role: str = ""

    @rx.var
    def is_admin(self) -> bool:
        return self.user_role == Role.admin.value

    def _require(self, role: Role | None = None) -> AuthedUser:
        """Every handler that touches private data starts here (raises AccessDenied)."""
        user = sessions.require(self.session_token, role)
        self.user_email, self.user_name, self.user_role = user.email, user.display_name, user.role
        return user

    def _require_admin(self) -> AuthedUser:
        return self._require(Role.admin)

    def _forget_user(self) -> None:
        self.session_token = ""
        self.user_email = self.user_name = self.user_role = ""


def access_denied_events(exc: AccessDenied) -> list:
    """Signed-out users go to sign-in; signed-in users stay and see why."""
    events = [rx.toast.error(str(exc), id="access-denied-toast")]
    if not exc.signed_in:
        events.append(rx.redirect(routes.LOGIN))
    else:
        events.append(rx.redirect(routes.HOME))
    return events
