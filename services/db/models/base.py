"""Shared column helpers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def utcnow() -> datetime:
    """Aware UTC: sqlmodel's UTCDateTime columns refuse naive values and return UTC."""
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex
