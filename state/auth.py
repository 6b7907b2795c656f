"""First-run admin creation, sign-in and sign-out."""

from __future__ import annotations

import reflex as rx

from llmcoder_app import routes
from services.auth import sessions, users
from services.auth.errors import AuthError
from state.session import SessionState


class AuthState(SessionState):
    error: str = ""
    busy: bool = False

    @rx.event
    def load_login(self):
        """Public page: first run goes to setup; a live session goes home."""
        self.error = ""
        if users.needs_first_admin():
            return rx.redirect(routes.SETUP)
        if sessions.resolve(self.session_token):
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
        self._signed_in(token, user)
        return [rx.toast.success("Welcome to LLMCoder. Your admin account is ready."), rx.redirect(routes.HOME)]

    @rx.event
    def sign_in(self, form: dict):
        try:
            token, user = sessions.sign_in(form.get("email", ""), form.get("password", ""), self._user_agent())
        except AuthError as exc:
            self.error = str(exc)
            return
        self._signed_in(token, user)
        return rx.redirect(routes.HOME)

    @rx.event
    def sign_out(self):
        sessions.sign_out(self.session_token)
        self._forget_user()
        return rx.redirect(routes.LOGIN)

    def _signed_in(self, token: str, user) -> None:
        self.error = ""
        self.session_token = token
        self.user_email, self.user_name, self.user_role = user.email, user.display_name, user.role

    def _user_agent(self) -> str:
        return self.router.headers.user_agent or ""
