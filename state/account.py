"""Account page: change password, personal API/device tokens."""

from __future__ import annotations

import reflex as rx

from services.auth import api_tokens, tokens, users
from services.auth.errors import AuthError
from state.formatting import when
from state.session import SessionState


class AccountState(SessionState):
    password_error: str = ""
    password_done: str = ""
    token_error: str = ""
    new_token: str = ""
    token_rows: list[dict[str, str]] = []

    def _load_tokens(self, user_id: int) -> None:
        self.token_rows = [
            {
                "id": str(t.id),
                "name": t.name,
                "prefix": t.prefix,
                "created": when(t.created_at),
                "last_used": when(t.last_used_at) or "never",
                "revoked": "yes" if t.revoked else "",
            }
            for t in api_tokens.list_for(user_id)
        ]

    @rx.event
    def load(self):
        user = self._require()
        self.password_error = self.password_done = self.token_error = self.new_token = ""
        self._load_tokens(user.id)

    @rx.event
    def change_password(self, form: dict):
        user = self._require()
        self.password_error = self.password_done = ""
        if form.get("new_password", "") != form.get("confirm", ""):
            self.password_error = "The two new passwords differ."
            return
        try:
            users.change_password(
                user.id, form.get("current", ""), form.get("new_password", ""), tokens.digest(self._session_token())
            )
        except AuthError as exc:
            self.password_error = str(exc)
            return
        self.password_done = "Password changed. Your other sessions were signed out."

    @rx.event
    def create_token(self, form: dict):
        user = self._require()
        self.token_error = self.new_token = ""
        try:
            self.new_token = api_tokens.create(user.id, form.get("name", ""))
        except AuthError as exc:
            self.token_error = str(exc)
        self._load_tokens(user.id)

    @rx.event
    def revoke_token(self, token_id: str):
        user = self._require()
        try:
            api_tokens.revoke(user.id, int(token_id))
        except AuthError as exc:
            self.token_error = str(exc)
        self._load_tokens(user.id)
