"""Transcription of captured audio: segments and WAV files, the transcriber the settings
choose, and the job and scheduler check, with the real gateway against the fake provider."""

from __future__ import annotations

import io
import wave
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import col, select

from services import runtime_settings
from services.auth.errors import ValidationError
from services.capture import transcription
from services.capture.transcription import Chunk, GatewayTranscriber, NoTranscriber, segments
from services.db import session_scope
from services.db.models import CaptureAudio, CaptureDevice, JobRun
from services.db.models.base import utcnow
from services.llm.types import BudgetExceeded
from tests.fakes.llm_providers import ok
from tests.llm_support import add_provider
from tests.unit.jobs_helpers import wait_job

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
LATER = START + timedelta(hours=1)


def pcm(seconds: float = 0.2) -> bytes:
    return b"\x10\x00" * round(seconds * 16_000)


def chunk(chunk_id: int, at: float, device_id: int = 1) -> Chunk:
    """0.2 s of speech `at` seconds after START."""
    return Chunk(chunk_id, device_id, START + timedelta(seconds=at), pcm())


def ids(found: list[transcription.Segment]) -> list[list[int]]:
    return [[c.id for c in segment.chunks] for segment in found]


# ------------------------------------------------------------------ segments and WAV files

def test_wav_wraps_the_agents_pcm_as_16_khz_mono_16_bit():
    audio = pcm(1.5)
    with wave.open(io.BytesIO(transcription.wav(audio))) as read:
        assert (read.getnchannels(), read.getsampwidth(), read.getframerate()) == (1, 2, 16_000)
        assert read.readframes(read.getnframes()) == audio


def test_consecutive_chunks_join_into_segments_of_at_most_ten_seconds():
    speech = [chunk(n, n * 0.2) for n in range(60)]  # 12 s without a pause
    after_pause = [chunk(100 + n, 14.0 + n * 0.2) for n in range(5)]  # 2 s later

    found = segments(after_pause + speech, LATER)

    assert ids(found) == [list(range(50)), list(range(50, 60)), list(range(100, 105))]
    assert [round(s.seconds, 1) for s in found] == [10.0, 2.0, 1.0]
    with wave.open(io.BytesIO(found[0].wav())) as read:
        assert read.getnframes() == 10 * 16_000


def test_devices_are_never_joined_and_segments_come_oldest_first():
    laptop = [chunk(n, 1.0 + n * 0.2, device_id=1) for n in range(3)]
    desktop = [chunk(10 + n, 0.5 + n * 0.2, device_id=2) for n in range(3)]

    assert ids(segments(laptop + desktop, LATER)) == [[10, 11, 12], [0, 1, 2]]


def test_a_devices_newest_segment_waits_until_speech_has_settled():
    earlier = [chunk(n, n * 0.2) for n in range(5)]
    newest = [chunk(10 + n, 5.0 + n * 0.2) for n in range(5)]
    ends = newest[-1].ends_at

    assert ids(segments(earlier + newest, ends + timedelta(seconds=1))) == [[0, 1, 2, 3, 4]]
    assert ids(segments(earlier + newest, ends + transcription.SETTLE)) == [[0, 1, 2, 3, 4], [10, 11, 12, 13, 14]]


# ------------------------------------------------------------------ the settings

def test_the_settings_choose_the_transcriber(db):
    assert isinstance(transcription.configured(), NoTranscriber)
    runtime_settings.set_value("capture.transcription", " Gateway")
    assert transcription.configured() == GatewayTranscriber("", "whisper-1", None)
    runtime_settings.set_value("capture.transcription_provider", "Whisper-Box ")
    runtime_settings.set_value("capture.transcription_model", "gpt-4o-mini-transcribe")
    runtime_settings.set_value("capture.transcription_price_per_minute", "0.003")
    assert transcription.configured() == GatewayTranscriber("whisper-box", "gpt-4o-mini-transcribe", Decimal("0.003"))
    runtime_settings.set_value("capture.transcription", "on")
    with pytest.raises(ValidationError, match="must be 'none' or 'gateway', not 'on'"):
        transcription.configured()


# ------------------------------------------------------------------ the job and the scheduler

@pytest.fixture
def user(make_user):
    return make_user("speaker@example.com")


@pytest.fixture
def device(user) -> int:
    with session_scope() as session:
        row = CaptureDevice(user_id=user.id, name="laptop", token_prefix="llmd_x", token_hash="t" * 64)
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


@pytest.fixture
def gateway_on(fake_llm):
    runtime_settings.set_value("capture.transcription", "gateway")
    add_provider(fake_llm, "openai", "openai", "gpt-4o")
    return fake_llm


def speak(user_id: int, device_id: int, after: timedelta, seconds: float, first_seq: int) -> list[int]:
    """What the ingest stores for `seconds` of speech that began `after` an hour ago, in 0.2 s chunks."""
    start = utcnow() - timedelta(hours=1) + after
    rows = [CaptureAudio(device_id=device_id, user_id=user_id, seq=first_seq + n, duration_ms=200, pcm=pcm(),
                         captured_at=start + timedelta(seconds=n * 0.2)) for n in range(round(seconds / 0.2))]
    with session_scope() as session:
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows if row.id is not None]


def stored(row_ids: list[int]) -> list[tuple[str | None, bool]]:
    """(transcript, transcribed) of each row, in id order."""
    with session_scope() as session:
        rows = session.exec(select(CaptureAudio).where(col(CaptureAudio.id).in_(row_ids))
                            .order_by(col(CaptureAudio.id))).all()
        return [(row.transcript, row.transcribed_at is not None) for row in rows]


def claimed_at(device_id: int) -> datetime | None:
    with session_scope() as session:
        row = session.get(CaptureDevice, device_id)
        assert row is not None
        return row.transcribe_claimed_at


def jobs() -> list[JobRun]:
    with session_scope() as session:
        return list(session.exec(select(JobRun).where(JobRun.type == transcription.JOB_TYPE)).all())


def test_without_a_transcriber_audio_stays_pending_and_nothing_is_queued(user, device):
    row_ids = speak(user.id, device, timedelta(0), 1.0, first_seq=1)

    result = transcription.transcribe_pending(user.id, [device], NoTranscriber())

    assert result == {"segments": 0, "seconds": 0.0, "left": 1}
    assert stored(row_ids) == [(None, False)] * 5
    assert transcription.submit_due(utcnow()) == 0
    assert jobs() == [] and claimed_at(device) is None


def test_each_segment_is_transcribed_once_onto_its_first_chunk(gateway_on, user, device):
    gateway_on.script("whisper-1", ok(text=" Roll back the deploy. "), ok(text="Then page Dana."))
    first = speak(user.id, device, timedelta(0), 10.0, first_seq=1)
    second = speak(user.id, device, timedelta(seconds=12), 1.0, first_seq=100)

    result = transcription.transcribe_pending(user.id, [device], transcription.configured())

    assert result == {"segments": 2, "seconds": 11.0, "left": 0}
    assert stored(first) == [("Roll back the deploy.", True)] + [("", True)] * 49
    assert stored(second) == [("Then page Dana.", True)] + [("", True)] * 4
    with wave.open(io.BytesIO(gateway_on.requests[0].body["file"])) as sent:
        assert sent.getnframes() == 10 * 16_000
    again = transcription.transcribe_pending(user.id, [device], transcription.configured())
    assert again == {"segments": 0, "seconds": 0.0, "left": 0}
    assert gateway_on.count("whisper-1") == 2


def test_a_refused_transcription_leaves_the_audio_pending(gateway_on, user, device):
    runtime_settings.set_value("llm.monthly_budget_usd", "0")
    row_ids = speak(user.id, device, timedelta(0), 1.0, first_seq=1)

    with pytest.raises(BudgetExceeded):
        transcription.transcribe_pending(user.id, [device], transcription.configured())

    assert stored(row_ids) == [(None, False)] * 5
    assert gateway_on.count() == 0


def test_the_scheduler_queues_a_users_audio_once_and_a_clean_run_frees_the_claim(gateway_on, user, device):
    gateway_on.default("whisper-1", ok(text="Standup in five."))
    row_ids = speak(user.id, device, timedelta(0), 1.0, first_seq=1)
    now = utcnow()

    assert transcription.submit_due(now) == 1
    [job] = jobs()
    finished = wait_job(job.id)

    assert finished.status == "succeeded", finished.error
    assert stored(row_ids)[0] == ("Standup in five.", True)
    assert claimed_at(device) is None
    more = speak(user.id, device, timedelta(minutes=1), 1.0, first_seq=10)
    assert transcription.submit_due(now) == 1  # freed at once: no need to wait for the claim to go stale
    wait_job(jobs()[-1].id)
    assert stored(more)[0] == ("Standup in five.", True)


def test_a_failed_run_keeps_the_claim_so_the_retry_waits(gateway_on, user, device):
    runtime_settings.set_value("llm.monthly_budget_usd", "0")
    speak(user.id, device, timedelta(0), 1.0, first_seq=1)
    now = utcnow()

    assert transcription.submit_due(now) == 1
    failed = wait_job(jobs()[0].id)

    assert failed.status == "failed" and "Monthly LLM budget reached" in failed.error
    assert claimed_at(device) == now
    assert transcription.submit_due(now) == 0  # another process ticking at the same moment
    assert transcription.submit_due(now + timedelta(minutes=1)) == 0
    assert transcription.submit_due(now + transcription.CLAIM_STALE) == 1
    assert gateway_on.count() == 0
