"""Hands a new session to the browser as an HttpOnly cookie.

Sign-in runs over the websocket, which cannot set an HttpOnly cookie. So the
server seals the new session's token into a ticket that the browser carries, in
one full page load, to /api/auth/session; that route sets the cookie. A ticket
is valid for TICKET_SECONDS and works once.
"""

from __future__ import annotations

from sqlalchemy import update

from services import crypto
from services.auth import tokens
from services.db import session_scope
from services.db.models import AuthSession
from services.db.models.base import utcnow

TICKET_SECONDS = 60


def issue(session_token: str) -> str:
    return crypto.encrypt(session_token)


def redeem(ticket: str) -> str | None:
    """The session token, the first time a fresh, genuine ticket is shown; else None."""
    token = crypto.decrypt_fresh(ticket, TICKET_SECONDS) if ticket else None
    if token is None:
        return None
    with session_scope() as session:
        result = session.execute(
            update(AuthSession)
            .where(
                AuthSession.token_hash == tokens.digest(token),
                AuthSession.delivered_at.is_(None),  # type: ignore[union-attr]
                AuthSession.revoked_at.is_(None),  # type: ignore[union-attr]
            )
            .values(delivered_at=utcnow())
        )
        if result.rowcount != 1:
            return None
    return token
