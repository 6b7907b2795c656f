"""INSERT ... ON CONFLICT for SQLite and PostgreSQL.

A read-then-write in one SQLite transaction fails with "database is locked" when another
writer commits in between (WAL snapshots cannot be upgraded), so counters and caches are
written with single statements that never read first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Session

Executor = Session | Connection


def _dialect(executor: Executor) -> str:
    bind = executor.get_bind() if isinstance(executor, Session) else executor
    return bind.dialect.name


def _insert(dialect: str, model: type) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(model.__table__)  # type: ignore[attr-defined]


def insert_ignore(executor: Executor, model: type, values: Mapping[str, Any], keys: Sequence[str]) -> None:
    stmt = _insert(_dialect(executor), model).values(**values).on_conflict_do_nothing(index_elements=list(keys))
    executor.execute(stmt)


@lru_cache(maxsize=32)
def _upsert_statement(dialect: str, model: type, keys: tuple[str, ...]) -> Any:
    stmt = _insert(dialect, model)
    others = {c.name: stmt.excluded[c.name] for c in model.__table__.columns if c.name not in keys}  # type: ignore[attr-defined]
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=others)


def upsert(conn: Connection, model: type, values: Mapping[str, Any], keys: Sequence[str]) -> None:
    """Inserts the row, or overwrites every other column of the existing one. The statement
    is built once per table, so hot paths only bind values."""
    conn.execute(_upsert_statement(conn.dialect.name, model, tuple(keys)), dict(values))
