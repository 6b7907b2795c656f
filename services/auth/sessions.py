"""Sign-in with lockout, server-side sessions, and the access check every handler uses."""

from __future__ import annotations

import math
from datetime import timedelta

from sqlmodel import select

from services import runtime_settings
from services.auth import passwords, tokens
from services.auth.errors import AccessDenied, AccountLocked, InvalidCredentials, ValidationError
from services.auth.users import AuthedUser, normalise_email
from services.db import session_scope
from services.db.models import AuthSession, Role, User
from services.db.models.base import utcnow
from services.settings import get_settings


def sign_in(email: str, password: str, user_agent: str = "") -> tuple[str, AuthedUser]:
    """Returns a new session token (shown to the browser once) and the user."""
    try:
        email = normalise_email(email)
    except ValidationError:
        raise InvalidCredentials() from None
    max_failed = runtime_settings.get_int("auth.max_failed_logins")
    lock_minutes = runtime_settings.get_int("auth.lockout_minutes")
    now = utcnow()
    with session_scope() as session:
        user = session.exec(select(User).where(User.email == email)).first()
        if user is not None and user.locked_until and user.locked_until > now:
            remaining = math.ceil((user.locked_until - now).total_seconds() / 60)
            raise AccountLocked(remaining)
        ok = passwords.verify_password(user.password_hash if user else None, password)
        if user is None or not user.is_active:
            raise InvalidCredentials()
        if not ok:
            user.failed_logins += 1
            locked = user.failed_logins >= max_failed
            if locked:
                user.locked_until = now + timedelta(minutes=lock_minutes)
                user.failed_logins = 0
            session.add(user)
            session.commit()
            if locked:
                raise AccountLocked(lock_minutes)
            raise InvalidCredentials()
        if passwords.needs_rehash(user.password_hash):
            user.password_hash = passwords.hash_password(password)
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = now
        session.add(user)
        token = tokens.new_token()
        session.add(
            AuthSession(
                user_id=user.id,
                token_hash=tokens.digest(token),
                expires_at=now + timedelta(days=get_settings().session_days),
                user_agent=user_agent[:400],
            )
        )
        return token, AuthedUser.from_row(user)


def resolve(token: str | None) -> AuthedUser | None:
    """The user behind a browser session token, if it is live."""
    if not token:
        return None
    now = utcnow()
    with session_scope() as session:
        row = session.exec(select(AuthSession).where(AuthSession.token_hash == tokens.digest(token))).first()
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            return None
        user = session.get(User, row.user_id)
        if user is None or not user.is_active:
            return None
        # Touch at most once a minute: a write per event would serialise SQLite.
        if (now - row.last_seen_at).total_seconds() > 60:
            row.last_seen_at = now
            session.add(row)
        return AuthedUser.from_row(user)


def sign_out(token: str | None) -> None:
    if not token:
        return
    with session_scope() as session:
        row = session.exec(select(AuthSession).where(AuthSession.token_hash == tokens.digest(token))).first()
        if row is not None and row.revoked_at is None:
            row.revoked_at = utcnow()
            session.add(row)


def require(token: str | None, role: Role | None = None) -> AuthedUser:
    """The one access check: a live session, and the role when one is named."""
    user = resolve(token)
    if user is None:
        raise AccessDenied("Please sign in.")
    if role is Role.admin and not user.is_admin:
        raise AccessDenied("Only admins can do that.", signed_in=True)
    return user
