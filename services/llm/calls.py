"""The call log: one row per attempt or outcome, feedback on outputs, retention purge."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, update
from sqlalchemy.engine import Connection
from sqlmodel import col, select

from services.auth.errors import ValidationError
from services.db import connection_scope, session_scope
from services.db.models import LLMCall, LLMFeedback
from services.db.models.base import new_id, utcnow
from services.llm.costs import Usage
from services.llm.plugins import RedactPIIPlugin

_KEYS_ONLY = RedactPIIPlugin(("api_keys",))


def scrub(text: str) -> str:
    """Registered secrets and anything shaped like an API key never reach the database,
    whatever the prompt plugins are set to."""
    return _KEYS_ONLY.redact(text)


@dataclass
class CallRecord:
    request_id: str
    status: str
    feature: str
    task: str = ""
    project: str = ""
    user_id: int | None = None
    attempt: int = 1
    provider: str = ""
    model: str = ""
    system_prompt: str = ""
    user_prompt: str = ""
    response: str = ""
    usage: Usage = Usage()
    cost_nanos: int = 0
    saved_nanos: int = 0
    unpriced: bool = False
    latency_ms: int = 0
    error_class: str = ""
    error_message: str = ""
    created_at: datetime | None = None
    template_id: int | None = None
    task_text: str = ""
    context: str = ""


_INSERT = insert(LLMCall.__table__)  # type: ignore[attr-defined]


def add(conn: Connection, record: CallRecord) -> str:
    """Writes one row inside the caller's transaction (the budget settles in the same one)."""
    call_id = new_id()
    conn.execute(_INSERT, dict(
        id=call_id, request_id=record.request_id, attempt=record.attempt, created_at=record.created_at or utcnow(),
        user_id=record.user_id, feature=record.feature, task=record.task, project=record.project,
        provider=record.provider, model=record.model, system_prompt=scrub(record.system_prompt),
        user_prompt=scrub(record.user_prompt), response=scrub(record.response),
        input_tokens=record.usage.input_tokens, output_tokens=record.usage.output_tokens,
        cached_tokens=record.usage.cached_tokens, reasoning_tokens=record.usage.reasoning_tokens,
        cost_nanos=record.cost_nanos, saved_nanos=record.saved_nanos, unpriced=record.unpriced,
        latency_ms=record.latency_ms, status=record.status, error_class=record.error_class,
        error_message=scrub(record.error_message)[:4000], content_purged=False, template_id=record.template_id,
        task_text=scrub(record.task_text), context=record.context[:200], validation="",
    ))
    return call_id


def log(record: CallRecord) -> str:
    with connection_scope(durable=False) as conn:
        return add(conn, record)


@dataclass(frozen=True)
class CallView:
    id: str
    request_id: str
    attempt: int
    created_at: datetime
    user_id: int | None
    feature: str
    project: str
    provider: str
    model: str
    status: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost_nanos: int
    saved_nanos: int
    unpriced: bool
    latency_ms: int
    error_class: str
    error_message: str

    def as_json(self) -> dict:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["cost_usd"] = self.cost_nanos / 1e9
        return data


def _view(row: LLMCall) -> CallView:
    return CallView(row.id, row.request_id, row.attempt, row.created_at, row.user_id, row.feature, row.project,
                    row.provider, row.model, row.status, row.input_tokens, row.output_tokens, row.cached_tokens,
                    row.reasoning_tokens, row.cost_nanos, row.saved_nanos, row.unpriced, row.latency_ms,
                    row.error_class, row.error_message)


def recent(limit: int = 20, *, request_id: str | None = None) -> list[CallView]:
    with session_scope() as session:
        query = select(LLMCall)
        if request_id:
            query = query.where(LLMCall.request_id == request_id)
        rows = session.exec(query.order_by(col(LLMCall.created_at).desc(), col(LLMCall.attempt).desc())
                            .limit(limit)).all()
        return [_view(row) for row in rows]


def add_feedback(call_id: str, *, user_id: int | None, rating: int, comment: str = "") -> int:
    """Rating 1-5 and an optional comment on any output, kept with the call that made it."""
    if not 1 <= rating <= 5:
        raise ValidationError("Rating must be from 1 to 5.")
    with session_scope() as session:
        if session.get(LLMCall, call_id) is None:
            raise ValidationError("That LLM call does not exist (or its log was deleted).")
        row = LLMFeedback(call_id=call_id, user_id=user_id, rating=rating, comment=comment.strip()[:4000])
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def feedback_for(call_id: str) -> list[tuple[int, str, int | None]]:
    with session_scope() as session:
        rows = session.exec(select(LLMFeedback).where(LLMFeedback.call_id == call_id)
                            .order_by(col(LLMFeedback.id))).all()
        return [(r.rating, r.comment, r.user_id) for r in rows]


def purge_content(retention_days: int, now: datetime | None = None) -> int:
    """Deletes prompts and responses past retention; tokens and costs stay for accounting."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    with session_scope() as session:
        return session.exec(
            update(LLMCall).where(col(LLMCall.created_at) < cutoff, col(LLMCall.content_purged).is_(False))
            .values(system_prompt="", user_prompt="", response="", error_message="", task_text="",
                    content_purged=True)
        ).rowcount  # type: ignore[call-overload]
