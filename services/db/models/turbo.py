"""Turbo mode: whether it is on for a user, and the live suggestions it made."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.db.models.base import utcnow


class TurboSession(SQLModel, table=True):
    """One row per user who ever switched turbo on; `next_run_at` is claimed by a conditional
    UPDATE, so however many events arrive at once, one suggestion run starts per interval."""

    __tablename__ = "turbo_session"

    user_id: int = Field(primary_key=True, foreign_key="user.id", ondelete="CASCADE")
    enabled: bool = Field(default=False)
    changed_at: datetime = Field(default_factory=utcnow)
    next_run_at: datetime | None = None
    last_run_at: datetime | None = None
    context_hash: str = Field(default="", max_length=64)  # the context last sent: unchanged -> no call
    notice: str = Field(default="", max_length=500)  # why it stopped, or what it could not do


class TurboSuggestion(SQLModel, table=True):
    """A suggestion shown in the Live page's side panel; `fingerprint` de-duplicates it."""

    __tablename__ = "turbo_suggestion"
    __table_args__ = (
        UniqueConstraint("user_id", "fingerprint"),
        Index("ix_turbo_suggestion_user_created", "user_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)
    kind: str = Field(max_length=10)  # doc | step | idea
    title: str = Field(max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    url: str = Field(default="", max_length=1000)  # a doc suggestion's link
    source: str = Field(default="", max_length=200)  # a doc suggestion's source name
    fingerprint: str = Field(max_length=64)
    call_id: str = Field(default="", max_length=32)
    dismissed_at: datetime | None = None
