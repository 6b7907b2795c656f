"""Turning service results into the plain strings the UI binds to."""

from __future__ import annotations

from datetime import UTC, datetime


def when(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")
