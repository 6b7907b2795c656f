"""Sign-in with lockout, server-side sessions, and the access check every handler uses."""

from __future__ import annotations

import math
from http.cookies import CookieError, SimpleCookie
from datetime import timedelta

from sqlalchemy import or_, update
from sqlmodel import select

from services import runtime_settings
from services.auth import passwords, tokens
from services.auth.errors import AccessDenied, AccountLocked, InvalidCredentials, ValidationError
from services.auth.users import AuthedUser, normalise_email
from services.db import session_scope
from services.db.models import AuthSession, Role, User
from services.db.models.base import utcnow
from services.settings import get_settings


def _remaining_minutes(locked_until, now) -> int:
    return max(1, math.ceil((locked_until - now).total_seconds() / 60))


def _claim_attempt(user_id: int, now, max_failed: int) -> int | None:
    """Counts the attempt before the password is checked, in one atomic UPDATE, so
    parallel guesses cannot slip past the limit. None when the account is locked."""
    not_locked = or_(User.locked_until.is_(None), User.locked_until <= now)  # type: ignore[union-attr]
    with session_scope() as session:
        row = session.execute(
            update(User)
            .where(User.id == user_id, not_locked)
            .values(failed_logins=User.failed_logins + 1)
            .returning(User.failed_logins)
        ).first()
    if row is None or row[0] > max_failed:
        return None
    return row[0]


def _lock(user_id: int, until) -> None:
    with session_scope() as session:
        session.execute(update(User).where(User.id == user_id).values(locked_until=until, failed_logins=0))


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
        user_id = user.id if user else None
        stored_hash = user.password_hash if user else None
        active = bool(user and user.is_active)
        locked_until = user.locked_until if user else None
    if user_id is None or not active:
        passwords.verify_password(None, password)  # same cost as a real check
        raise InvalidCredentials()
    if locked_until and locked_until > now:
        raise AccountLocked(_remaining_minutes(locked_until, now))
    attempt = _claim_attempt(user_id, now, max_failed)
    if attempt is None:
        with session_scope() as session:
            current = session.get(User, user_id)
            until = current.locked_until if current else None
        if until is None or until <= now:
            until = now + timedelta(minutes=lock_minutes)
            _lock(user_id, until)
        raise AccountLocked(_remaining_minutes(until, now))
    if not passwords.verify_password(stored_hash, password):
        if attempt >= max_failed:
            _lock(user_id, now + timedelta(minutes=lock_minutes))
            raise AccountLocked(lock_minutes)
        raise InvalidCredentials()
    with session_scope() as session:
        user = session.get(User, user_id)
        assert user is not None
        if passwords.needs_rehash(user.password_hash):
            # Not hash_password: a password set under an older policy must still sign in.
            user.password_hash = passwords.rehash(password)
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


SESSION_COOKIE = "llmcoder_session"


def token_from_cookie_header(header: str | None) -> str:
    """The session token in a raw Cookie header ('' when absent or unparsable)."""
    if not header:
        return ""
    jar = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return ""
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel else ""


def resolve(token: str | None) -> AuthedUser | None:
    """The user behind a browser session token, if it is live."""
    if not token:
        return None
    now = utcnow()
    with session_scope() as session:
        # One round trip per event: this runs before every handler.
        found = session.exec(
            select(AuthSession, User)
            .join(User, User.id == AuthSession.user_id)
            .where(AuthSession.token_hash == tokens.digest(token))
        ).first()
        if found is None:
            return None
        row, user = found
        if row.revoked_at is not None or row.expires_at <= now or not user.is_active:
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
    # Compared by value: require(token, "admin") must not skip the check.
    if role is not None and Role(role) is Role.admin and not user.is_admin:
        raise AccessDenied("Only admins can do that.", signed_in=True)
    return user
