"""Exact-match response cache: same model, messages and parameters give the stored answer."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.engine import Connection
from sqlmodel import col

from services.db import connection_scope, session_scope
from services.db.models import LLMCacheEntry
from services.db.models.base import utcnow
from services.db.upsert import upsert

_TABLE = LLMCacheEntry.__table__  # type: ignore[attr-defined]
_LOOKUP = select(_TABLE).where(_TABLE.c.key.in_(bindparam("keys", expanding=True)),
                               _TABLE.c.expires_at > bindparam("now"))
_COUNT_HIT = update(_TABLE).where(_TABLE.c.key == bindparam("key_")).values(hits=_TABLE.c.hits + 1)


def key(model: str, messages: list[dict], params: dict) -> str:
    """sha256 of a canonical JSON form: key order and whitespace cannot split hits."""
    canonical = json.dumps({"model": model, "messages": messages, "params": params}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Hit:
    key: str
    model: str
    response: str
    input_tokens: int
    output_tokens: int
    cost_nanos: int


def lookup(keys: list[str], now: datetime | None = None) -> Hit | None:
    """The first of `keys` (chain order) with a live entry."""
    if not keys:
        return None
    with connection_scope() as conn:
        rows = conn.execute(_LOOKUP, {"keys": keys, "now": now or utcnow()}).all()
    found = {row.key: row for row in rows}
    for k in keys:
        if k in found:
            row = found[k]
            return Hit(row.key, row.model, row.response, row.input_tokens, row.output_tokens, row.cost_nanos)
    return None


def count_hit(conn: Connection, cache_key: str) -> None:
    conn.execute(_COUNT_HIT, {"key_": cache_key})


def store(conn: Connection, *, cache_key: str, model: str, feature: str, response: str, input_tokens: int,
          output_tokens: int, cost_nanos: int, ttl_days: int) -> None:
    now = utcnow()
    values = dict(key=cache_key, model=model, feature=feature, response=response, input_tokens=input_tokens,
                  output_tokens=output_tokens, cost_nanos=cost_nanos, hits=0, created_at=now,
                  expires_at=now + timedelta(days=ttl_days))
    upsert(conn, LLMCacheEntry, values, ["key"])


def purge_expired(now: datetime | None = None) -> int:
    with session_scope() as session:
        return session.exec(delete(LLMCacheEntry).where(col(LLMCacheEntry.expires_at) <= (now or utcnow()))
                            ).rowcount  # type: ignore[call-overload]
