"""Random bearer tokens, their stored digests, and finding the live row a token names."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlmodel import Session, select

from services.auth.errors import ValidationError
from services.db import session_scope
from services.db.models import User
from services.db.models.base import utcnow


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def live_row(session: Session, model: Any, token: str | None, prefix: str) -> tuple[Any, User] | None:
    """The row of `model` (API token, capture device) a bearer token names, and its owner;
    None when the token is unknown or revoked, or its owner deactivated."""
    if not token or not token.startswith(prefix):
        return None
    row = session.exec(select(model).where(model.token_hash == digest(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    owner = session.get(User, row.user_id)
    if owner is None or not owner.is_active:
        return None
    return row, owner


def revoke_own(model: Any, row_id: int, user_id: int, missing: str) -> None:
    """Marks the user's own token row revoked (once); `missing` is the refusal for any other row."""
    with session_scope() as session:
        row = session.get(model, row_id)
        if row is None or row.user_id != user_id:
            raise ValidationError(missing)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            session.add(row)

