"""Speech in captured audio to text, behind a small interface: through the LLM gateway
(budgeted and costed like every call) or not at all. Without a transcriber, audio simply
stays untranscribed and everything else in capture works the same.

The scheduler queues a `capture_transcribe` job for each user with pending audio after
claiming their devices with a conditional UPDATE, so several web processes queue it once
and no two jobs ever transcribe one device. A job that ends releases its claim; one that
fails (budget reached, provider down) keeps it, so the next try waits CLAIM_STALE instead
of failing again every minute.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import or_, update
from sqlmodel import col, select

from capture_agent import protocol
from services import runtime_settings
from services.auth.errors import ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import CaptureAudio, CaptureDevice, User
from services.db.models.base import utcnow
from services.jobs import service as jobs
from services.jobs.progress import ProgressReporter
from services.jobs.registry import job_type
from services.llm import gateway
from services.llm.types import CallStatus, TranscriptionRequest

JOB_TYPE = "capture_transcribe"
FEATURE = "capture"
BYTES_PER_SECOND = protocol.AUDIO_RATE * 2  # 16-bit mono
SEGMENT_SECONDS = 10.0  # long enough for context, short enough that the transcript keeps up
JOIN_GAP = timedelta(seconds=1)  # chunks closer than this are one stretch of speech
SETTLE = timedelta(seconds=3)  # a device's newest stretch may still be growing: wait this long
CLAIM_STALE = timedelta(minutes=15)  # a claim this old belongs to a job that died or failed
CHUNKS_PER_RUN = 3000  # ~10 minutes of speech per device and run; the next run takes the rest
DEFAULT_MODEL = "whisper-1"


class Transcriber(Protocol):
    def transcribe(self, wav: bytes, seconds: float, user_id: int) -> str | None:
        """The words spoken in `wav`, or None when it was not transcribed (it stays pending)."""


class NoTranscriber:
    """Transcription is off."""

    def transcribe(self, wav: bytes, seconds: float, user_id: int) -> str | None:
        return None


@dataclass(frozen=True)
class GatewayTranscriber:
    """An OpenAI-compatible endpoint of the provider chain, through the LLM gateway."""

    provider: str = ""  # empty: every OpenAI-compatible provider of the chain, in order
    model: str = DEFAULT_MODEL
    usd_per_minute: Decimal | None = None

    def transcribe(self, wav: bytes, seconds: float, user_id: int) -> str | None:
        """Budget refusals and provider failures raise the gateway's LLMError; a dry run
        transcribes nothing."""
        result = gateway.transcribe(TranscriptionRequest(
            feature=FEATURE, audio=wav, seconds=seconds, user_id=user_id, provider=self.provider,
            model=self.model, usd_per_minute=self.usd_per_minute))
        return result.text.strip() if result.status == CallStatus.ok else None


def configured() -> Transcriber:
    """The transcriber the admin chose in Settings (group Capture)."""
    values = runtime_settings.get_many("capture.transcription")
    mode = values["capture.transcription"].strip().lower()
    if mode == "none":
        return NoTranscriber()
    if mode != "gateway":
        raise ValidationError(f"Transcription (capture.transcription) must be 'none' or 'gateway', not {mode!r}.")
    price = values["capture.transcription_price_per_minute"].strip()
    return GatewayTranscriber(
        provider=values["capture.transcription_provider"].strip().lower(),
        model=values["capture.transcription_model"].strip() or DEFAULT_MODEL,
        usd_per_minute=runtime_settings.parse_decimal("Transcription price per minute", price) if price else None)


# ---------------------------------------------------------------- audio into segments

def wav(pcm: bytes) -> bytes:
    """The agent's raw PCM as the WAV file transcription endpoints accept."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(protocol.AUDIO_RATE)
        out.writeframes(pcm)
    return buffer.getvalue()


@dataclass(frozen=True)
class Chunk:
    id: int
    device_id: int
    captured_at: datetime
    pcm: bytes

    @property
    def seconds(self) -> float:
        return len(self.pcm) / BYTES_PER_SECOND

    @property
    def ends_at(self) -> datetime:
        return self.captured_at + timedelta(seconds=self.seconds)


@dataclass
class Segment:
    """Consecutive chunks of one device, transcribed as one file."""

    chunks: list[Chunk] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(len(chunk.pcm) for chunk in self.chunks)

    @property
    def seconds(self) -> float:
        return self.size / BYTES_PER_SECOND

    @property
    def ends_at(self) -> datetime:
        return self.chunks[-1].ends_at

    def wav(self) -> bytes:
        return wav(b"".join(chunk.pcm for chunk in self.chunks))


def segments(chunks: list[Chunk], now: datetime, longest: float = SEGMENT_SECONDS) -> list[Segment]:
    """Each device's chunks joined while they follow each other (the agent sends no silence,
    so a gap is a pause) and fit in `longest` seconds, oldest first. A device's newest
    segment is left for a later run while it ended less than SETTLE ago: speech may go on."""
    by_device: dict[int, list[Segment]] = {}
    for chunk in sorted(chunks, key=lambda c: (c.device_id, c.captured_at)):
        runs = by_device.setdefault(chunk.device_id, [])
        last = runs[-1] if runs else None
        if (last is not None and chunk.captured_at - last.ends_at <= JOIN_GAP
                and last.size + len(chunk.pcm) <= longest * BYTES_PER_SECOND):
            last.chunks.append(chunk)
        else:
            runs.append(Segment([chunk]))
    ready = [segment for runs in by_device.values() for segment in runs
             if segment is not runs[-1] or now - segment.ends_at >= SETTLE]
    return sorted(ready, key=lambda segment: segment.chunks[0].captured_at)


# ---------------------------------------------------------------- the job

def _pending(user_id: int, device_ids: list[int]) -> list[Chunk]:
    with session_scope() as session:
        rows = session.exec(select(CaptureAudio.id, CaptureAudio.device_id, CaptureAudio.captured_at, CaptureAudio.pcm)
                            .where(CaptureAudio.user_id == user_id, col(CaptureAudio.device_id).in_(device_ids),
                                   col(CaptureAudio.transcribed_at).is_(None))
                            .order_by(col(CaptureAudio.captured_at), col(CaptureAudio.seq))
                            .limit(CHUNKS_PER_RUN * len(device_ids))).all()
    return [Chunk(row_id, device_id, captured_at, pcm) for row_id, device_id, captured_at, pcm in rows]


def _store(segment: Segment, text: str) -> None:
    """The text goes on the segment's first chunk; the others are marked done with none.
    Only untranscribed rows are written: a transcript is never replaced."""
    first, *rest = [chunk.id for chunk in segment.chunks]
    now = utcnow()
    with session_scope() as session:
        for ids, value in (([first], text), (rest, "")):
            if ids:
                session.exec(update(CaptureAudio).where(  # type: ignore[call-overload]
                    col(CaptureAudio.id).in_(ids), col(CaptureAudio.transcribed_at).is_(None))
                    .values(transcript=value, transcribed_at=now))


def transcribe_pending(user_id: int, device_ids: list[int], transcriber: Transcriber,
                       progress: ProgressReporter | None = None) -> dict[str, Any]:
    """Transcribes the devices' settled segments once each, oldest first, and stops at the
    first one the transcriber leaves: that one and the rest stay pending for a later run."""
    ready = segments(_pending(user_id, device_ids), utcnow())
    done, seconds = 0, 0.0
    for segment in ready:
        if progress is not None:
            progress.update(100 * done // len(ready), f"Transcribing speech: {done} of {len(ready)} segments done")
        text = transcriber.transcribe(segment.wav(), segment.seconds, user_id)
        if text is None:
            break
        _store(segment, text)
        done, seconds = done + 1, seconds + segment.seconds
    return {"segments": done, "seconds": round(seconds, 1), "left": len(ready) - done}


def _release(device_ids: list[int]) -> None:
    with session_scope() as session:
        session.exec(update(CaptureDevice).where(col(CaptureDevice.id).in_(device_ids))  # type: ignore[call-overload]
                     .values(transcribe_claimed_at=None))


@job_type(JOB_TYPE, title="Transcribe captured speech")
def transcribe_job(progress: ProgressReporter, params: dict[str, Any]) -> dict[str, Any]:
    device_ids = [int(device_id) for device_id in params["device_ids"]]
    result = transcribe_pending(int(params["user_id"]), device_ids, configured(), progress)
    _release(device_ids)  # only after a clean run: a failure keeps the claim until CLAIM_STALE
    return result


# ---------------------------------------------------------------- the scheduler's side

def _claim(user_id: int, now: datetime) -> list[int]:
    """The user's devices with pending audio and no live claim, claimed in one statement."""
    pending = select(CaptureAudio.device_id).where(CaptureAudio.user_id == user_id,
                                                   col(CaptureAudio.transcribed_at).is_(None))
    with session_scope() as session:
        claimed = session.exec(update(CaptureDevice).where(  # type: ignore[call-overload]
            CaptureDevice.user_id == user_id, col(CaptureDevice.id).in_(pending),
            or_(col(CaptureDevice.transcribe_claimed_at).is_(None),
                col(CaptureDevice.transcribe_claimed_at) <= now - CLAIM_STALE))
            .values(transcribe_claimed_at=now).returning(CaptureDevice.id)).scalars().all()
    return sorted(claimed)


def submit_due(now: datetime) -> int:
    """Queues a transcription for every active user with pending audio, when transcription
    is on; returns how many were queued."""
    if isinstance(configured(), NoTranscriber):
        return 0
    with session_scope() as session:
        owners = session.exec(select(User).where(User.is_active, col(User.id).in_(
            select(CaptureAudio.user_id).where(col(CaptureAudio.transcribed_at).is_(None))))).all()
        users = [AuthedUser.from_row(owner) for owner in owners]
    submitted = 0
    for user in users:
        if device_ids := _claim(user.id, now):
            jobs.submit(user, JOB_TYPE, {"user_id": user.id, "device_ids": device_ids})
            submitted += 1
    return submitted
