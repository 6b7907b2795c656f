"""Runtime settings an admin edits in the app; secrets are stored encrypted."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from services.db.models.base import utcnow


class Setting(SQLModel, table=True):
    key: str = Field(primary_key=True, max_length=120)
    value: str = Field(default="")
    is_secret: bool = Field(default=False)
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
