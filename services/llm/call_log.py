"""The admin's view of the call log: a filtered, paginated list that stays fast with 100k
logged calls, one call's whole story (prompts, attempts, validation, outcomes), and the two
things an admin does with a logged call: re-run it on another provider, keep its answer as a
learned template.

The list reads only the narrow columns the table shows; the prompt and response texts are
read for one call at a time (detail) or scanned only when a text search asks for it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, func, literal_column
from sqlalchemy import text as sql_text
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from services.auth.errors import ValidationError
from services.db import get_engine, session_scope
from services.db.models import LLMCall, LLMOutcome, User
from services.db.models.base import utcnow
from services.db.text_match import any_contains, contains_pattern
from services.llm import calls, gateway, learned, providers
from services.llm.outcomes import KINDS
from services.llm.types import LLMRequest, LLMResult

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
RERUN_MIN_TOKENS = 1024
# The time range presets of the filter bar: key -> (label, how far back; None = everything).
RANGES: dict[str, tuple[str, timedelta | None]] = {
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
    "all": ("All time", None),
}
# What a text search looks through, in the order PostgreSQL's trigram index joins them.
SEARCHED = (LLMCall.task_text, LLMCall.user_prompt, LLMCall.response, LLMCall.error_message)
# That index (migration 0005); see _searched_text.
TEXT_INDEX = "ix_llm_call_text_search"
# SQLite's: an FTS5 trigram table over the same texts (migration 0007).
SQLITE_TEXT_INDEX = "llm_call_text"
# How many matches of a text search the index gives before the words count as common; see _text_conditions.
COMMON_MATCHES = 1000

log = logging.getLogger(__name__)
_text_index: dict[str, bool] = {}  # database URL -> whether it has its text index (looked up once)


@dataclass(frozen=True)
class LogRow:
    id: str
    created_at: datetime
    feature: str
    user_email: str  # "" for calls made without a user (CLI, jobs)
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_nanos: int
    latency_ms: int
    status: str


@dataclass(frozen=True)
class LogPage:
    rows: list[LogRow]
    page: int
    page_size: int
    has_next: bool
    total: int | None  # None with a text search: counting one means scanning every row's texts


def since_for(range_key: str, now: datetime | None = None) -> datetime | None:
    """The start of a time range preset; None for "all"."""
    if range_key not in RANGES:
        raise ValidationError(f"Unknown time range {range_key!r}.")
    span = RANGES[range_key][1]
    return None if span is None else (now or utcnow()) - span


def _searched_text() -> ColumnElement[str]:
    """The searched texts joined by spaces: the very expression PostgreSQL's trigram index is
    built on (the planner uses an expression index only for that expression; the spaces are
    literals, not parameters, for the same reason). So on PostgreSQL a phrase may also match
    across the end of one text and the start of the next, which SQLite's four LIKEs do not."""
    space = literal_column("' '", Text)
    joined: ColumnElement[str] = col(SEARCHED[0])
    for column in SEARCHED[1:]:
        joined = joined + space + col(column)
    return joined


def _text_match(text: str) -> ColumnElement[bool]:
    """Case-insensitive. PostgreSQL: ILIKE over the joined texts, which the trigram index serves
    (trigrams are case-folded). SQLite: its LIKE already ignores case (for ASCII), and four LIKEs
    beat one over the joined texts there (~20% faster, bench/README.md)."""
    if get_engine().dialect.name == "postgresql":
        return _searched_text().ilike(contains_pattern(text), escape="\\")
    return any_contains(SEARCHED, text)


def _has_text_index(session: Session) -> bool:
    """Whether the migrations could create the text index (0005 on PostgreSQL, 0007 on SQLite):
    the search is the same without it, only slower, so say so once per process and database."""
    url = str(get_engine().url)
    if url not in _text_index:
        if get_engine().dialect.name == "postgresql":
            found = session.exec(select(func.to_regclass(TEXT_INDEX))).one() is not None
        else:
            found = session.exec(select(literal_column("name")).select_from(sql_text("sqlite_master"))
                                 .where(literal_column("name") == SQLITE_TEXT_INDEX)).first() is not None
        _text_index[url] = found
        if not found:
            log.warning("The LLM call log has no text search index, so text searches scan every row: the "
                        "database was migrated without it (see the warning of migration 0005 on PostgreSQL, "
                        "0007 on SQLite).")
    return _text_index[url]


def _trigrams_query(needle: str) -> str:
    """An FTS5 query for the rows holding every 3-character piece of the needle: a superset
    of its matches. detail=none cannot match a phrase, only AND its trigrams; each is quoted,
    so no character in it is FTS5 syntax."""
    pieces = dict.fromkeys(needle[i:i + 3] for i in range(len(needle) - 2))
    return " AND ".join('"' + piece.replace('"', '""') + '"' for piece in pieces)


def _sqlite_candidates(session: Session, needle: str) -> list[int] | None:
    """The rowids of the calls that may hold the needle (every one of its trigrams), through
    the FTS5 index; None when the index cannot narrow them: a needle under 3 characters, or
    as many candidates as COMMON_MATCHES (common words: walking the newest rows finds a page
    sooner). The LIKE of the listing then decides exactly, over these rows only."""
    if len(needle) < 3 or not _has_text_index(session):
        return None
    found = list(session.exec(sql_text(  # type: ignore[call-overload]
        f"SELECT rowid FROM {SQLITE_TEXT_INDEX} WHERE {SQLITE_TEXT_INDEX} MATCH :query LIMIT :limit"),
        params={"query": _trigrams_query(needle), "limit": COMMON_MATCHES}).scalars())
    return None if len(found) >= COMMON_MATCHES else found


def _text_conditions(session: Session, where: list[ColumnElement[bool]], needle: str) -> list[ColumnElement[bool]]:
    """Rare words through the text index, common ones by walking the newest rows.

    PostgreSQL keeps no statistics on multi-KB texts, so its planner cannot tell a rare word
    from a common one: it always trusts the trigram index, right for a rare word (milliseconds),
    but for a word in a third of the rows it rechecks every one of them (0.7 s at 100k calls),
    where walking the newest rows finds a page within a few hundred. So look first: up to
    COMMON_MATCHES matches through the index. Fewer: they are all there are, and the page is
    read from them by key. As many: the words are common, and the match goes inside coalesce(),
    which the index cannot serve and the planner guesses true for half the rows, so it walks
    the newest rows (by the filter's (column, created_at) index if any) until the page is full.
    SQLite never uses its FTS5 index unasked: the look is explicit (_sqlite_candidates)."""
    match = _text_match(needle)
    if get_engine().dialect.name != "postgresql":
        rowids = _sqlite_candidates(session, needle)
        return [match] if rowids is None else [literal_column("llm_call.rowid").in_(rowids), match]
    if not _has_text_index(session):
        return [match]
    ids = session.exec(select(LLMCall.id).where(*where, match).limit(COMMON_MATCHES)).all()
    if len(ids) < COMMON_MATCHES:
        return [col(LLMCall.id).in_(ids)]
    return [func.coalesce(match, False)]


def _conditions(feature: str, provider: str, status: str, since: datetime | None,
                until: datetime | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    for column, value in ((LLMCall.feature, feature), (LLMCall.provider, provider), (LLMCall.status, status)):
        if value:
            where.append(col(column) == value)
    if since is not None:
        where.append(col(LLMCall.created_at) >= since)
    if until is not None:
        where.append(col(LLMCall.created_at) < until)
    return where


def search(*, feature: str = "", provider: str = "", status: str = "", since: datetime | None = None,
           until: datetime | None = None, text: str = "", page: int = 1, page_size: int = PAGE_SIZE) -> LogPage:
    """One page of calls, newest first. Fetching one row more than the page tells whether a
    next page exists without counting."""
    if page < 1:
        raise ValidationError("Pages are numbered from 1.")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationError(f"Page size must be from 1 to {MAX_PAGE_SIZE}.")
    where = _conditions(feature, provider, status, since, until)
    needle = text.strip()
    with session_scope() as session:
        listed = [*where, *_text_conditions(session, where, needle)] if needle else where
        found = session.exec(
            select(LLMCall.id, LLMCall.created_at, LLMCall.feature, User.email, LLMCall.provider, LLMCall.model,
                   LLMCall.input_tokens, LLMCall.output_tokens, LLMCall.cost_nanos, LLMCall.latency_ms,
                   LLMCall.status)
            .select_from(LLMCall)
            .join(User, col(User.id) == col(LLMCall.user_id), isouter=True)
            .where(*listed)
            .order_by(col(LLMCall.created_at).desc(), col(LLMCall.id).desc())
            .offset((page - 1) * page_size)
            .limit(page_size + 1)).all()
        total = None
        if not needle:
            total = int(session.exec(select(func.count()).select_from(LLMCall).where(*where)).one())
    rows = [LogRow(r[0], r[1], r[2], r[3] or "", *r[4:]) for r in found[:page_size]]
    return LogPage(rows, page, page_size, len(found) > page_size, total)


def _distinct(session, column: Any) -> list[str]:
    """The column's non-empty values by a loose index scan: one index seek per distinct value
    (next = the smallest value above the last), where GROUP BY or DISTINCT reads every row."""
    found = select(func.min(column).label("value")).where(column > "").cte("found", recursive=True)
    following = select(select(func.min(column)).where(column > found.c.value).scalar_subquery())
    found = found.union_all(following.where(found.c.value.is_not(None)))
    return sorted(str(v) for v in session.exec(select(found.c.value).where(found.c.value.is_not(None))).all())


def facets() -> dict[str, list[str]]:
    """The values the filter dropdowns offer."""
    with session_scope() as session:
        return {name: _distinct(session, column) for name, column in (
            ("features", LLMCall.feature), ("providers", LLMCall.provider), ("statuses", LLMCall.status))}


# ---------------------------------------------------------------- one call

@dataclass(frozen=True)
class AttemptRow:
    call_id: str
    attempt: int
    created_at: datetime
    provider: str
    model: str
    status: str
    error_class: str
    error_message: str
    latency_ms: int
    cost_nanos: int


@dataclass(frozen=True)
class FeedbackRow:
    rating: int
    comment: str
    user_id: int | None


@dataclass(frozen=True)
class OutcomeRow:
    kind: str
    label: str
    created_at: datetime
    edit_ratio: float


@dataclass(frozen=True)
class CallDetail:
    id: str
    request_id: str
    created_at: datetime
    feature: str
    task: str
    project: str
    user_email: str
    provider: str
    model: str
    status: str
    system_prompt: str
    user_prompt: str
    response: str
    task_text: str
    context: str
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
    content_purged: bool
    quality: int | None
    validation: list[str]  # the feature's validation JSON as readable lines
    attempts: list[AttemptRow]  # every row of the same request, in the order they happened
    feedback: list[FeedbackRow]
    outcomes: list[OutcomeRow]
    template_id: int | None


def _readable(value: Any, label: str = "") -> list[str]:
    """JSON as lines a person reads: `key: value`, findings as `[severity] kind (line n): message`."""
    prefix = f"{label}: " if label else ""
    if isinstance(value, dict):
        if "message" in value and "severity" in value:
            where = f" (line {value['line']})" if value.get("line") else ""
            return [f"{prefix}[{value['severity']}] {value.get('kind', 'finding')}{where}: {value['message']}"]
        lines = []
        for key, item in value.items():
            lines += _readable(item, f"{label}.{key}" if label else str(key))
        return lines
    if isinstance(value, list):
        if not value:
            return [f"{prefix}none"]
        return [line for item in value for line in _readable(item, label)]
    if isinstance(value, bool):
        return [f"{prefix}{'yes' if value else 'no'}"]
    return [f"{prefix}{value}"]


def readable_validation(raw: str) -> list[str]:
    if not raw.strip():
        return []
    try:
        return _readable(json.loads(raw))
    except ValueError:
        return [raw]


def _get(session, call_id: str) -> LLMCall:
    call = session.get(LLMCall, call_id)
    if call is None:
        raise ValidationError("That LLM call is not in the log (or its log was deleted).")
    return call


def detail(call_id: str) -> CallDetail:
    with session_scope() as session:
        c = _get(session, call_id)
        email = session.get(User, c.user_id).email if c.user_id is not None else ""
        chain = session.exec(select(LLMCall.id, LLMCall.attempt, LLMCall.created_at, LLMCall.provider, LLMCall.model,
                                    LLMCall.status, LLMCall.error_class, LLMCall.error_message, LLMCall.latency_ms,
                                    LLMCall.cost_nanos)
                             .where(LLMCall.request_id == c.request_id)
                             .order_by(col(LLMCall.created_at), col(LLMCall.attempt), col(LLMCall.id))).all()
        outcomes = session.exec(select(LLMOutcome).where(LLMOutcome.call_id == call_id)
                                .order_by(col(LLMOutcome.created_at))).all()
        outcome_rows = [OutcomeRow(o.kind, KINDS.get(o.kind, o.kind), o.created_at, o.edit_ratio) for o in outcomes]
    return CallDetail(
        id=c.id, request_id=c.request_id, created_at=c.created_at, feature=c.feature, task=c.task, project=c.project,
        user_email=email, provider=c.provider, model=c.model, status=c.status, system_prompt=c.system_prompt,
        user_prompt=c.user_prompt, response=c.response, task_text=c.task_text, context=c.context,
        input_tokens=c.input_tokens, output_tokens=c.output_tokens, cached_tokens=c.cached_tokens,
        reasoning_tokens=c.reasoning_tokens, cost_nanos=c.cost_nanos, saved_nanos=c.saved_nanos, unpriced=c.unpriced,
        latency_ms=c.latency_ms, error_class=c.error_class, error_message=c.error_message,
        content_purged=c.content_purged, quality=c.quality, validation=readable_validation(c.validation),
        attempts=[AttemptRow(*row) for row in chain],
        feedback=[FeedbackRow(*f) for f in calls.feedback_for(call_id)], outcomes=outcome_rows,
        template_id=c.template_id)


# ---------------------------------------------------------------- actions on a logged call

def rerun_providers() -> list[str]:
    """The deployments a call can be re-run on: enabled, with what they need to authenticate."""
    deployments, keys = providers.current.get()
    return [d.name for d in deployments if providers.usable(d, keys.get(d.name, ""))]


def _rerun_request(call_id: str, provider: str, user_id: int | None) -> LLMRequest:
    """Checked before any money is reserved, so a refusal costs nothing and says why."""
    with session_scope() as session:
        c = _get(session, call_id)
        if c.content_purged:
            raise ValidationError("This call's prompts were deleted by log retention, so it cannot be re-run.")
        if not c.user_prompt.strip():
            raise ValidationError("This call has no prompt to re-run.")
        feature, task, project = c.feature, c.task, c.project
        prompts, output_tokens = (c.system_prompt, c.user_prompt), c.output_tokens
    deployments, keys = providers.current.get()
    deployment = next((d for d in deployments if d.name == provider), None)
    if deployment is None:
        raise ValidationError(f"There is no provider named {provider!r} in the chain.")
    if not providers.usable(deployment, keys.get(provider, "")):
        raise ValidationError(f"Provider {provider!r} is disabled or has no API key: enable it on the Config page.")
    return LLMRequest(feature=feature, task=task, project=project, user_id=user_id, prompts=prompts,
                      provider=provider, use_cache=False, max_tokens=max(RERUN_MIN_TOKENS, 2 * output_tokens))


def rerun(call_id: str, provider: str, *, user_id: int | None) -> LLMResult:
    """The logged prompts, as they were sent, on another provider; a new request in the log."""
    return gateway.complete(_rerun_request(call_id, provider, user_id))


async def arerun(call_id: str, provider: str, *, user_id: int | None) -> LLMResult:
    """`rerun` for the admin page's handler, which must not block its event loop meanwhile."""
    return await gateway.acomplete(_rerun_request(call_id, provider, user_id))


def save_as_template(call_id: str, *, user_id: int | None, name: str = "",
                     quality: int | None = None) -> learned.Learned:
    """The admin chose this answer explicitly: without a validation score it counts as 100."""
    if quality is None:
        with session_scope() as session:
            logged = _get(session, call_id).quality
        quality = logged if logged is not None else 100
    return learned.learn(call_id, quality=quality, name=name, user_id=user_id)
