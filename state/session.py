"""The signed-in browser. Every page state inherits the access check from here."""

from __future__ import annotations

import json

import reflex as rx

from llmcoder_app import routes
from services.auth import sessions, tickets
from services.auth.errors import AccessDenied
from services.auth.users import AuthedUser
from services.db.models import Role


def navigate_backend(path: str) -> rx.event.EventSpec:
    """A full page load of a backend route (a Reflex redirect would route inside the SPA)."""
    return rx.call_script(f"window.location.assign({json.dumps(routes.backend_href(path))})")


class SessionState(rx.State):
    # Display only: every check reads the HttpOnly cookie and asks the database.
    user_email: str = ""
    user_name: str = ""
    user_role: str = ""

    @rx.var
    def is_admin(self) -> bool:
        return self.user_role == Role.admin.value

    def _session_token(self) -> str:
        """From the websocket handshake's Cookie header: page scripts cannot read or set it."""
        return sessions.token_from_cookie_header(self.router.headers.cookie)

    def _require(self, role: Role | None = None) -> AuthedUser:
        """Every handler that touches private data starts here (raises AccessDenied)."""
        user = sessions.require(self._session_token(), role)
        self.user_email, self.user_name, self.user_role = user.email, user.display_name, user.role
        return user

    def _require_admin(self) -> AuthedUser:
        return self._require(Role.admin)

    def _deliver_session(self, token: str) -> rx.event.EventSpec:
        """Send the browser to the route that turns a one-time ticket into its cookie."""
        return navigate_backend(f"/api/auth/session?ticket={tickets.issue(token)}")


def access_denied_events(exc: AccessDenied) -> list:
    """Signed-out users go to sign-in; signed-in users stay and see why."""
    events = [rx.toast.error(str(exc), id="access-denied-toast")]
    events.append(rx.redirect(routes.HOME if exc.signed_in else routes.LOGIN))
    return events
