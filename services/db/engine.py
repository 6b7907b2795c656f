"""One engine per process, built from the bootstrap settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from threading import Lock

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, create_engine

from services.settings import get_settings

_engine: Engine | None = None
_lock = Lock()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the UI read while a worker writes; the busy timeout turns
    # short write contention into a wait instead of "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL cannot corrupt the database; a power cut may lose only the last
    # commits. It saves an fsync per commit, which the LLM gateway makes several of per call.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def build_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def get_engine() -> Engine:
    global _engine
    with _lock:
        if _engine is None:
            _engine = build_engine(get_settings().resolved_database_url())
        return _engine


def reset_engine() -> None:
    """Drop the cached engine (tests point the process at another database)."""
    global _engine
    with _lock:
        if _engine is not None:
            _engine.dispose()
        _engine = None


@contextmanager
def session_scope() -> Iterator[Session]:
    """A unit of work: commit on success, roll back on error."""
    session = Session(get_engine(), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def connection_scope(*, durable: bool = True) -> Iterator[Connection]:
    """A transaction on a plain connection, for hot paths that run prebuilt Core
    statements: no ORM unit of work, a fraction of a session's overhead.

    durable=False lets PostgreSQL acknowledge the commit before its WAL reaches the disk
    (synchronous_commit off): a server crash may lose the last fraction of a second of
    such commits, never consistency, locking or visibility. It is the same trade SQLite
    makes here with synchronous=NORMAL, and it takes milliseconds off every LLM call.
    """
    with get_engine().begin() as conn:
        if not durable and conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        yield conn
