"""Turbo mode: the switch, the side panel's suggestions, and when a suggestion run starts.

Runs are started by what the agent streams (the ingest calls `maybe_start` after storing an
event), not by a timer: with no new context there is nothing new to suggest. A conditional
UPDATE of `next_run_at` lets one run start per interval however many events arrive, in
however many processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import col, select

from services import runtime_settings
from services.auth.errors import ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import TurboSession, TurboSuggestion, User
from services.db.models.base import utcnow
from services.jobs import service as jobs

JOB_TYPE = "turbo_suggest"
PANEL_SIZE = 20


@dataclass(frozen=True)
class SuggestionView:
    id: int
    created_at: datetime
    kind: str  # doc | step | idea
    title: str
    body: str
    url: str
    source: str


@dataclass(frozen=True)
class TurboView:
    enabled: bool
    notice: str
    last_run_at: datetime | None
    suggestions: list[SuggestionView]


def interval() -> timedelta:
    return timedelta(seconds=int(runtime_settings.get("capture.turbo_interval_seconds")))


def set_enabled(user: AuthedUser, enabled: bool) -> None:
    """Switching on clears the last notice and lets the next event start a run at once."""
    now = utcnow()
    with session_scope() as session:
        row = session.get(TurboSession, user.id) or TurboSession(user_id=user.id)
        row.enabled, row.changed_at, row.notice = enabled, now, ""
        row.next_run_at = None
        row.context_hash = "" if enabled else row.context_hash
        session.add(row)


def stop(user_id: int, notice: str) -> None:
    """Turns turbo off from a run (the budget is spent), saying why in the panel."""
    with session_scope() as session:
        session.exec(update(TurboSession).where(col(TurboSession.user_id) == user_id)
                     .values(enabled=False, changed_at=utcnow(), notice=notice[:500]))


def view(user: AuthedUser, *, limit: int = PANEL_SIZE) -> TurboView:
    with session_scope() as session:
        row = session.get(TurboSession, user.id)
        rows = session.exec(
            select(TurboSuggestion)
            .where(TurboSuggestion.user_id == user.id, col(TurboSuggestion.dismissed_at).is_(None))
            .order_by(col(TurboSuggestion.created_at).desc(), col(TurboSuggestion.id).desc()).limit(limit)).all()
        suggestions = [SuggestionView(r.id or 0, r.created_at, r.kind, r.title, r.body, r.url, r.source)
                       for r in rows]
    if row is None:
        return TurboView(False, "", None, suggestions)
    return TurboView(row.enabled, row.notice, row.last_run_at, suggestions)


def dismiss(user: AuthedUser, suggestion_id: int) -> None:
    with session_scope() as session:
        row = session.get(TurboSuggestion, suggestion_id)
        if row is None or row.user_id != user.id:
            raise ValidationError("That suggestion does not exist.")
        row.dismissed_at = row.dismissed_at or utcnow()
        session.add(row)


def _claim(user_id: int, now: datetime) -> bool:
    with session_scope() as session:
        claimed = session.exec(
            update(TurboSession)
            .where(col(TurboSession.user_id) == user_id, col(TurboSession.enabled).is_(True),
                   or_(col(TurboSession.next_run_at).is_(None), col(TurboSession.next_run_at) <= now))
            .values(next_run_at=now + interval())).rowcount
    return bool(claimed)


def maybe_start(user_id: int, now: datetime | None = None) -> str | None:
    """Starts a suggestion run (high-priority queue) when turbo is on and the interval has
    passed; returns its job id, or None."""
    if not _claim(user_id, now or utcnow()):
        return None
    with session_scope() as session:
        user = session.get(User, user_id)
        owner = AuthedUser.from_row(user) if user is not None else None
    return jobs.submit(owner, JOB_TYPE, {"user_id": user_id}) if owner is not None else None
