"""User accounts: first-run admin, admin management and self-service password change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, func, select

from services.auth import passwords
from services.auth.errors import ValidationError
from services.db import session_scope
from services.db.models import AuthSession, Role, User
from services.db.models.base import utcnow


@dataclass(frozen=True)
class AuthedUser:
    """Who is acting; what state handlers and services receive instead of a row."""

    id: int
    email: str
    display_name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin.value

    @classmethod
    def from_row(cls, user: User) -> AuthedUser:
        assert user.id is not None
        return cls(id=user.id, email=user.email, display_name=user.display_name, role=user.role)


@dataclass(frozen=True)
class UserSummary:
    id: int
    email: str
    display_name: str
    role: str
    is_active: bool
    locked: bool
    created_at: datetime
    last_login_at: datetime | None


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or " " in email or len(email) > 320:
        raise ValidationError("Enter a valid email address, such as ada@example.com.")
    return email


def _check_role(role: str) -> str:
    if role not in {r.value for r in Role}:
        raise ValidationError(f"Unknown role {role!r}: use admin or member.")
    return role


def user_count(session: Session | None = None) -> int:
    if session is not None:
        return session.exec(select(func.count()).select_from(User)).one()
    with session_scope() as own:
        return own.exec(select(func.count()).select_from(User)).one()


def needs_first_admin() -> bool:
    return user_count() == 0


def create_user(*, email: str, password: str, role: str = Role.member.value, display_name: str = "") -> AuthedUser:
    email = normalise_email(email)
    _check_role(role)
    display_name = display_name.strip()
    if len(display_name) > 200:
        raise ValidationError("Display names can have at most 200 characters.")
    password_hash = passwords.hash_password(password)
    with session_scope() as session:
        if session.exec(select(User).where(User.email == email)).first():
            raise ValidationError(f"An account for {email} already exists.")
        user = User(
            email=email,
            display_name=display_name or email.split("@")[0][:200],
            password_hash=password_hash,
            role=role,
        )
        session.add(user)
        session.flush()
        return AuthedUser.from_row(user)


def create_first_admin(*, email: str, password: str, display_name: str = "") -> AuthedUser:
    """Only while there are no users; afterwards an admin creates accounts."""
    if not needs_first_admin():
        raise ValidationError("LLMCoder already has an admin. Sign in instead.")
    return create_user(email=email, password=password, role=Role.admin.value, display_name=display_name)


def list_users() -> list[UserSummary]:
    now = utcnow()
    with session_scope() as session:
        rows = session.exec(select(User).order_by(User.created_at)).all()
        return [
            UserSummary(
                id=u.id or 0,
                email=u.email,
                display_name=u.display_name,
                role=u.role,
                is_active=u.is_active,
                locked=bool(u.locked_until and u.locked_until > now),
                created_at=u.created_at,
                last_login_at=u.last_login_at,
            )
            for u in rows
        ]


def _get(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise ValidationError("That user no longer exists.")
    return user


def _active_admins(session: Session) -> int:
    query = select(func.count()).select_from(User).where(User.role == Role.admin.value, User.is_active)
    return session.exec(query).one()


def active_admin_ids() -> list[int]:
    """Who hears about system-wide events such as budget alerts."""
    with session_scope() as session:
        query = select(User.id).where(User.role == Role.admin.value, User.is_active).order_by(User.id)
        return [user_id for user_id in session.exec(query).all() if user_id is not None]


def _revoke_sessions(session: Session, user_id: int, keep_hash: str | None = None) -> None:
    now = utcnow()
    for row in session.exec(
        select(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))  # type: ignore[union-attr]
    ):
        if row.token_hash != keep_hash:
            row.revoked_at = now
            session.add(row)


def set_role(user_id: int, role: str) -> None:
    _check_role(role)
    with session_scope() as session:
        user = _get(session, user_id)
        # Only demoting an *active* admin can leave none; a disabled admin is not counted.
        if (user.role == Role.admin.value and role != Role.admin.value and user.is_active
                and _active_admins(session) <= 1):
            raise ValidationError("LLMCoder needs at least one active admin.")
        user.role = role
        session.add(user)


def set_active(user_id: int, active: bool) -> None:
    with session_scope() as session:
        user = _get(session, user_id)
        if not active and user.role == Role.admin.value and user.is_active and _active_admins(session) <= 1:
            raise ValidationError("LLMCoder needs at least one active admin.")
        user.is_active = active
        session.add(user)
        if not active:
            _revoke_sessions(session, user_id)


def reset_password(user_id: int, new_password: str) -> None:
    """Admin reset: also unlocks the account and signs it out everywhere."""
    password_hash = passwords.hash_password(new_password)
    with session_scope() as session:
        user = _get(session, user_id)
        user.password_hash = password_hash
        user.password_changed_at = utcnow()
        user.failed_logins = 0
        user.locked_until = None
        session.add(user)
        _revoke_sessions(session, user_id)


def change_password(user_id: int, current: str, new_password: str, keep_token_hash: str | None) -> None:
    """Self-service: every other session of the user is revoked."""
    with session_scope() as session:
        user = _get(session, user_id)
        if not passwords.verify_password(user.password_hash, current):
            raise ValidationError("The current password is wrong.")
        if current == new_password:
            raise ValidationError("Choose a password different from the current one.")
        user.password_hash = passwords.hash_password(new_password)
        user.password_changed_at = utcnow()
        session.add(user)
        _revoke_sessions(session, user_id, keep_hash=keep_token_hash)

