"""Personal API/device tokens for the CLI and the capture agent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from services.auth import tokens
from services.auth.errors import ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import ApiToken
from services.db.models.base import utcnow

TOKEN_PREFIX = "llmc_"


@dataclass(frozen=True)
class TokenSummary:
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


def create(user_id: int, name: str) -> str:
    """Returns the token itself; it is never shown again."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationError("Give the token a name of 1 to 100 characters, such as 'laptop agent'.")
    token = tokens.new_token(TOKEN_PREFIX)
    with session_scope() as session:
        session.add(ApiToken(user_id=user_id, name=name, prefix=token[:12], token_hash=tokens.digest(token)))
    return token


def list_for(user_id: int) -> list[TokenSummary]:
    with session_scope() as session:
        rows = session.exec(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at)).all()
        return [
            TokenSummary(
                id=r.id or 0,
                name=r.name,
                prefix=r.prefix,
                created_at=r.created_at,
                last_used_at=r.last_used_at,
                revoked=r.revoked_at is not None,
            )
            for r in rows
        ]


def revoke(user_id: int, token_id: int) -> None:
    tokens.revoke_own(ApiToken, token_id, user_id, "That token does not exist.")


def resolve(token: str | None) -> AuthedUser | None:
    with session_scope() as session:
        found = tokens.live_row(session, ApiToken, token, TOKEN_PREFIX)
        if found is None:
            return None
        row, user = found
        row.last_used_at = utcnow()
        session.add(row)
        return AuthedUser.from_row(user)
