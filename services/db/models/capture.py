"""Tables of workstation capture: paired devices, one-time pairing codes, and what the agents
stream (screen frames, audio chunks, key batches, window and pause events).

Every captured row keeps `user_id` beside `device_id`, so "the latest of this user" reads one
index without a join, and a unique (device_id, seq) so a resent event can never be stored
twice, whatever the ingest does. `captured_at` is the agent's clock, never later than the
server's receipt, so the retention purge (by device and time) cannot be dodged by a clock
set in the future.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlalchemy import text as sql_text
from sqlmodel import Field, SQLModel

from services.db.models.base import utcnow


class CaptureDevice(SQLModel, table=True):
    """A paired workstation; its token is shown once and stored as a sha256 digest."""

    __tablename__ = "capture_device"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=100)
    platform: str = Field(default="", max_length=200)
    agent_version: str = Field(default="", max_length=40)
    token_prefix: str = Field(max_length=12)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime | None = None
    revoked_at: datetime | None = None
    last_seq: int = Field(default=0, sa_type=BigInteger)  # the highest seq stored; only ever grows
    paused: bool = Field(default=False)
    purge_claimed_at: datetime | None = None  # when the scheduler last queued this device's purge
    transcribe_claimed_at: datetime | None = None  # when a transcription job took this device's audio


class CapturePairing(SQLModel, table=True):
    """A one-time code from the Devices page; `used_at` is set by the one redemption that wins."""

    __tablename__ = "capture_pairing"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    code_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
    device_id: int | None = Field(default=None, foreign_key="capture_device.id", ondelete="SET NULL")


def _captured_indexes(table: str) -> tuple:
    return (
        UniqueConstraint("device_id", "seq"),
        Index(f"ix_{table}_user_captured", "user_id", "captured_at"),
        Index(f"ix_{table}_device_captured", "device_id", "captured_at"),
    )


class _Captured(SQLModel):
    """What every captured row holds: whose, from which device, its number, when, and the
    focused window at the time."""

    id: int | None = Field(default=None, primary_key=True)
    device_id: int = Field(foreign_key="capture_device.id", ondelete="CASCADE")
    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE")
    seq: int = Field(sa_type=BigInteger)
    captured_at: datetime
    received_at: datetime = Field(default_factory=utcnow)
    app: str = Field(default="", max_length=200)
    title: str = Field(default="", max_length=500)


class CaptureFrame(_Captured, table=True):
    """A screen image; the bytes are a file at `path`, relative to the data directory."""

    __tablename__ = "capture_frame"
    __table_args__ = _captured_indexes("capture_frame")

    path: str = Field(max_length=300)
    width: int
    height: int
    bytes: int
    format: str = Field(max_length=10)  # jpeg | webp


class CaptureAudio(_Captured, table=True):
    """About 200 ms of 16 kHz mono PCM, kept in the row: a chunk is a few KB, and the purge
    deletes it with the row instead of chasing thousands of small files."""

    __tablename__ = "capture_audio"
    __table_args__ = (
        *_captured_indexes("capture_audio"),
        # The scheduler asks every minute which users have audio waiting for transcription.
        Index("ix_capture_audio_untranscribed", "user_id", "device_id", "captured_at",
              sqlite_where=sql_text("transcribed_at IS NULL"), postgresql_where=sql_text("transcribed_at IS NULL")),
    )

    duration_ms: int
    pcm: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    transcript: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    transcribed_at: datetime | None = None


class CaptureKeys(_Captured, table=True):
    """A batch of key presses as readable text (secrets were redacted on the workstation)."""

    __tablename__ = "capture_keys"
    __table_args__ = _captured_indexes("capture_keys")

    strokes: int
    text: str = Field(sa_column=Column(Text, nullable=False))


class CaptureEvent(_Captured, table=True):
    """A focus change (`window`) or a pause/resume (`state`, with `paused`)."""

    __tablename__ = "capture_event"
    __table_args__ = _captured_indexes("capture_event")

    kind: str = Field(max_length=10)  # window | state
    paused: bool | None = None
