"""Case-insensitive "contains" filters for search boxes, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from services.db.engine import get_engine


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with the user's %, _ and \\ taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def any_contains(columns: Sequence[Any], text: str) -> ColumnElement[bool]:
    """Any of the columns contains the text. SQLite's LIKE already ignores (ASCII) case;
    PostgreSQL needs ILIKE."""
    pattern = contains_pattern(text)
    if get_engine().dialect.name == "postgresql":
        return or_(*[col(c).ilike(pattern, escape="\\") for c in columns])
    return or_(*[col(c).like(pattern, escape="\\") for c in columns])
