"""The on-disk queue between the capture sources and the server.

Every event gets its sequence number here, in the same transaction that stores it, so the
numbers survive crashes and restarts and are never reused. Events stay until the server
acknowledges them. The queue is bounded in bytes: over the bound, the oldest screen frames
go first (the next frame shows the same screen), then the oldest audio; key, window and
state events are small and irreplaceable, so they are never dropped.

One process owns the file: it is opened in SQLite's exclusive locking mode, so a second
`llmcoder-capture run` on the same state directory fails at once instead of capturing twice.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from pydantic import TypeAdapter, ValidationError

from capture_agent.protocol import MAX_MESSAGE_CHARS, AgentEvent

LOCK_WAIT = 1.0  # seconds to wait for the file when another process holds it
DROP_ORDER = ("frame", "audio")  # the kinds the byte bound may delete, first kind first

_events: TypeAdapter[AgentEvent] = TypeAdapter(AgentEvent)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_kind ON events (kind, seq);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO counters (name, value) VALUES ('next_seq', 1);
"""


def _problems(error: ValidationError) -> str:
    """Where and what, never the values: an event's fields can hold typed text."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_input=False))


class SpoolError(Exception):
    """The queue file cannot be used (locked by another agent, unreadable)."""


class Queued(NamedTuple):
    seq: int
    kind: str
    body: str  # the event as the JSON text sent on the wire


def discard(path: Path) -> bool:
    """Delete the queue file and its journal (a new pairing must not send what was captured
    for the old one, perhaps to another server). True when there was a queue."""
    existed = path.exists()
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    return existed


class Spool:
    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()  # sources append from their own threads
        self._on_append: Callable[[], None] | None = None
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=LOCK_WAIT)
        try:
            self._db.execute("PRAGMA locking_mode = EXCLUSIVE")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.executescript(_SCHEMA)
            self._bytes = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM events").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            self._db.close()
            if "locked" in str(exc):
                raise SpoolError(f"{path} is in use by another llmcoder-capture process.") from None
            raise SpoolError(f"Cannot open the queue {path}: {exc}. Move it away to start with an empty queue.") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def watch(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` after every append, from the appending thread (the client uses
        it to wake up instead of polling)."""
        self._on_append = callback

    def append(self, fields: dict) -> int:
        """Number and store one event (its fields without ``seq``); returns its seq.
        Raises ValueError for an event the server would reject, before it takes a number."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seq = self._db.execute("SELECT value FROM counters WHERE name = 'next_seq'").fetchone()[0]
                try:
                    event = _events.validate_python({**fields, "seq": seq})
                except ValidationError as exc:
                    raise ValueError(f"not a valid {fields.get('type', 'event')} event: {_problems(exc)}") from None
                body = event.model_dump_json()
                if len(body) > MAX_MESSAGE_CHARS:
                    raise ValueError(f"a {event.type} event of {len(body)} characters is over the server's limit")
                self._db.execute(
                    "INSERT INTO events (seq, kind, size, body) VALUES (?, ?, ?, ?)",
                    (seq, event.type, len(body), body),
                )
                self._db.execute("UPDATE counters SET value = ? WHERE name = 'next_seq'", (seq + 1,))
                self._bytes += len(body)
                self._shrink()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._bytes = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM events").fetchone()[0]
                raise
        if self._on_append is not None:
            self._on_append()
        return seq

    def _shrink(self) -> None:
        excess = self._bytes - self.max_bytes
        for kind in DROP_ORDER:
            if excess <= 0:
                return
            doomed = []
            for seq, size in self._db.execute("SELECT seq, size FROM events WHERE kind = ? ORDER BY seq", (kind,)):
                doomed.append((seq,))
                excess -= size
                self._bytes -= size
                if excess <= 0:
                    break
            self._db.executemany("DELETE FROM events WHERE seq = ?", doomed)

    def pending(self, limit: int, after: int = 0) -> list[Queued]:
        """The oldest ``limit`` queued events with seq > ``after``, in seq order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, kind, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
            ).fetchall()
        return [Queued(*row) for row in rows]

    def ack_through(self, seq: int) -> None:
        """The server stored everything up to ``seq``: forget it."""
        self._delete("seq <= ?", seq)

    def drop(self, seq: int) -> None:
        """The server rejected ``seq``: resending it would be rejected again."""
        self._delete("seq = ?", seq)

    def _delete(self, where: str, seq: int) -> None:
        with self._lock:
            freed = self._db.execute(f"SELECT COALESCE(SUM(size), 0) FROM events WHERE {where}", (seq,)).fetchone()[0]
            self._db.execute(f"DELETE FROM events WHERE {where}", (seq,))
            self._bytes -= freed

    def bump_next(self, last_seq: int) -> None:
        """Number new events after ``last_seq`` (the server's last stored seq), so an agent
        whose queue was emptied never reuses a number the server has already seen."""
        with self._lock:
            self._db.execute("UPDATE counters SET value = MAX(value, ?) WHERE name = 'next_seq'", (last_seq + 1,))

    @property
    def next_seq(self) -> int:
        with self._lock:
            return self._db.execute("SELECT value FROM counters WHERE name = 'next_seq'").fetchone()[0]

    def stats(self) -> tuple[int, int]:
        """(pending events, their bytes)."""
        with self._lock:
            count = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            return count, self._bytes
