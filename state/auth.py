"""First-run admin creation, sign-in and sign-out."""

from __future__ import annotations

import reflex as rx

from llmcoder_app import routes
from services.auth import sessions, users
from services.auth.errors import AuthError
from state.session import SessionState, navigate_backend

EXPIRED = "That sign-in took too long or was already used. Please sign in again."


class AuthState(SessionState):
    error: str = ""

    @rx.event
    def load_login(self):
        """Public page: first run goes to setup; a live session goes home."""
        self.error = EXPIRED if self.router.url.query_parameters.get("expired") else ""
        if users.needs_first_admin():
            return rx.redirect(routes.SETUP)
        if sessions.resolve(self._session_token()):
            return rx.redirect(routes.HOME)

    @rx.event
    def load_setup(self):
        self.error = ""
        if not users.needs_first_admin():
            return rx.redirect(routes.LOGIN)

    @rx.event
    def create_first_admin(self, form: dict):
        password, confirm = form.get("password", ""), form.get("confirm", "")
        if password != confirm:
            self.error = "The two passwords differ."
            return
        try:
            users.create_first_admin(
                email=form.get("email", ""), password=password, display_name=form.get("name", "")
            )
            token, user = sessions.sign_in(form.get("email", ""), password, self._user_agent())
        except AuthError as exc:
            self.error = str(exc)
            return
        self.error = ""
        return self._deliver_session(token)

    @rx.event
    def sign_in(self, form: dict):
        try:
            token, user = sessions.sign_in(form.get("email", ""), form.get("password", ""), self._user_agent())
        except AuthError as exc:
            self.error = str(exc)
            return
        self.error = ""
        return self._deliver_session(token)

    @rx.event
    def sign_out(self):
        """Revoked here at once; the route then clears the HttpOnly cookie."""
        sessions.sign_out(self._session_token())
        self.user_email = self.user_name = self.user_role = ""
        return navigate_backend("/api/auth/sign-out")

    def _user_agent(self) -> str:
        return self.router.headers.user_agent or ""
