"""Speech to text through the gateway: real litellm over HTTP against the fake OpenAI
transcription endpoint, real SQLite for the budget and the call log."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from sqlmodel import select

from services import runtime_settings
from services.capture.transcription import wav
from services.db import session_scope
from services.db.models import LLMCall, LLMFailureReport, Notification
from services.llm import budget, calls, config, gateway, providers
from services.llm.types import (
    AllProvidersFailed,
    BudgetExceeded,
    CallStatus,
    LLMUnavailable,
    TranscriptionRequest,
)
from tests.fakes.llm_providers import error, hang, ok
from tests.llm_support import add_provider

SPEECH_SECONDS = 9.6
WHISPER_NANOS_PER_SECOND = 100_000  # litellm's map: whisper-1 at $0.0001 a second ($0.006 a minute)


def _audio(seconds: float = SPEECH_SECONDS) -> bytes:
    return wav(b"\x10\x00" * int(seconds * 16_000))


def _request(**fields) -> TranscriptionRequest:
    fields.setdefault("audio", _audio())
    fields.setdefault("seconds", SPEECH_SECONDS)
    return TranscriptionRequest(feature="capture", **fields)


def _rows() -> list[calls.CallView]:
    """The call log, oldest first."""
    return calls.recent()[::-1]


def _ledger() -> tuple[int, int]:
    """This month's (spent, still reserved) nano-dollars."""
    usage = budget.month_usage(config.load())
    return usage.spent_nanos, usage.reserved_nanos


def test_speech_is_transcribed_charged_by_the_second_and_logged(fake_llm, make_user):
    user = make_user()
    add_provider(fake_llm, "openai", "openai", "gpt-4o")
    fake_llm.script("whisper-1", ok(text="Deploy the hotfix after lunch."))
    audio = _audio()

    result = gateway.transcribe(_request(audio=audio, user_id=user.id, language="en"))

    assert (result.status, result.text) == (CallStatus.ok, "Deploy the hotfix after lunch.")
    assert (result.provider, result.model) == ("openai", "openai/whisper-1")
    assert result.cost_nanos == 10 * WHISPER_NANOS_PER_SECOND  # 9.6 s billed as 10
    sent = fake_llm.requests[-1]
    assert sent.path == "/v1/audio/transcriptions"
    assert (sent.body["model"], sent.body["language"], sent.body["file"]) == ("whisper-1", "en", audio)
    assert sent.headers["authorization"] == "Bearer test-key-openai-000"
    assert [r.id for r in _rows()] == [result.call_id]
    with session_scope() as session:
        row = session.get(LLMCall, result.call_id)
        assert row is not None
        assert (row.feature, row.task, row.user_id, row.provider, row.model, row.status) == (
            "capture", "transcribe", user.id, "openai", "openai/whisper-1", "ok")
        assert (row.cost_nanos, row.unpriced) == (result.cost_nanos, False)
        assert row.user_prompt == "9.6 s of audio (a 307 kB WAV, language en)"
        assert row.response == "Deploy the hotfix after lunch."
    assert _ledger() == (result.cost_nanos, 0)


@pytest.mark.parametrize(("model", "cost"), [
    ("whisper-1", 10 * WHISPER_NANOS_PER_SECOND),  # OpenAI reports the 10 s it billed
    ("gpt-4o-mini-transcribe", 2 * 50_000),  # reports tokens, not seconds: the request's 2 s at $0.00005
])
def test_the_seconds_the_provider_reports_settle_the_cost(fake_llm, model, cost):
    add_provider(fake_llm, "openai", "openai", "gpt-4o")

    result = gateway.transcribe(_request(seconds=2.0, model=model))  # the file holds 9.6 s

    assert result.cost_nanos == cost
    assert _ledger() == (cost, 0)


@pytest.mark.parametrize(("case", "model", "per_minute", "cost", "unpriced"), [
    ("admin price", "whisper-1", Decimal("0.012"), 10 * 200_000, False),
    ("unknown hosted model", "whisper-large-v9", None, 10 * 250_000, True),  # $15/1M x 1,000 tokens a minute
    ("self-hosted without a key", "Systran/faster-whisper-small", None, 0, False),
])
def test_prices_admin_first_then_map_then_self_hosted_free_else_fallback(fake_llm, case, model, per_minute, cost,
                                                                        unpriced):
    if case == "self-hosted without a key":
        providers.add(name="whisper-box", model="openai/local-chat", api_base=fake_llm.api_base("openai"))
    else:
        add_provider(fake_llm, "openai", "openai", "gpt-4o")

    result = gateway.transcribe(_request(model=model, usd_per_minute=per_minute))

    assert result.status == CallStatus.ok and fake_llm.requests[-1].body["model"] == model
    [row] = _rows()
    assert (result.cost_nanos, row.cost_nanos, row.unpriced) == (cost, cost, unpriced)


def test_a_rate_limit_is_retried_after_the_wait_the_provider_asks_for(fake_llm):
    add_provider(fake_llm, "openai", "openai", "gpt-4o")
    fake_llm.script("whisper-1", error(429, retry_after=0.3), ok(text="Second time lucky."))

    result = gateway.transcribe(_request())

    assert (result.status, result.text) == (CallStatus.ok, "Second time lucky.")
    first, second = (r.at for r in fake_llm.requests)
    assert second - first >= 0.3
    assert [(r.attempt, r.status, r.cost_nanos) for r in _rows()] == [(1, "failed", 0), (2, "ok", result.cost_nanos)]
    assert _ledger() == (result.cost_nanos, 0)


def test_an_auth_error_moves_on_to_the_next_provider_without_retrying(fake_llm):
    add_provider(fake_llm, "first", "openai", "gpt-4o")
    add_provider(fake_llm, "second", "openai", "gpt-4o-mini")
    fake_llm.script("whisper-1", error(401), ok(text="From the second."))

    result = gateway.transcribe(_request())

    assert (result.provider, result.text) == ("second", "From the second.")
    assert [(r.provider, r.attempt, r.status) for r in _rows()] == [("first", 1, "failed"), ("second", 1, "ok")]


@pytest.mark.parametrize("failure", ["auth", "not a wav"])
def test_a_failure_on_every_provider_is_reported_to_the_user(fake_llm, make_user, failure):
    user = make_user()
    add_provider(fake_llm, "openai", "openai", "gpt-4o")
    add_provider(fake_llm, "other", "openai", "gpt-4o-mini")
    fake_llm.default("whisper-1", error(401))
    audio = b"RIFF but not really" if failure == "not a wav" else _audio()

    with pytest.raises(AllProvidersFailed, match="Every AI provider failed") as failed:
        gateway.transcribe(_request(audio=audio, user_id=user.id, provider="openai"))

    assert fake_llm.count("whisper-1") == 1  # neither is worth a retry, and only the named provider is tried
    assert [r.status for r in _rows()] == ["failed"]
    with session_scope() as session:
        report = session.get(LLMFailureReport, failed.value.report_id)
        note = session.exec(select(Notification).where(Notification.user_id == user.id)).one()
    assert report is not None and "capture/transcribe" in report.markdown
    assert note.title == "An AI request failed (capture)"


def test_a_provider_that_hangs_times_out_and_is_retried(fake_llm):
    runtime_settings.set_value("llm.timeout_seconds", "1")
    runtime_settings.set_value("llm.attempts_per_provider", "2")
    add_provider(fake_llm, "openai", "openai", "gpt-4o")
    fake_llm.default("whisper-1", hang(5))

    with pytest.raises(AllProvidersFailed, match="Timeout"):
        gateway.transcribe(_request())

    assert fake_llm.count("whisper-1") == 2
    assert [(r.attempt, r.status) for r in _rows()] == [(1, "failed"), (2, "failed")]
    assert _ledger() == (0, 0)


def test_a_reached_budget_refuses_without_calling_the_provider(fake_llm):
    runtime_settings.set_value("llm.monthly_budget_usd", "0.0005")  # less than 10 s of whisper-1
    add_provider(fake_llm, "openai", "openai", "gpt-4o")

    with pytest.raises(BudgetExceeded, match="Monthly LLM budget reached"):
        gateway.transcribe(_request())

    assert fake_llm.count() == 0
    assert [(r.status, r.feature) for r in _rows()] == [("refused_budget", "capture")]


def test_without_a_provider_that_can_transcribe_it_is_offline(fake_llm):
    with pytest.raises(LLMUnavailable, match="No provider can transcribe speech"):
        gateway.transcribe(_request())
    add_provider(fake_llm, "claude", "anthropic", "claude-x")  # Anthropic has no transcription endpoint
    with pytest.raises(LLMUnavailable, match="No provider can transcribe speech"):
        gateway.transcribe(_request())
    add_provider(fake_llm, "openai", "openai", "gpt-4o")
    with pytest.raises(LLMUnavailable, match="Provider 'claude' cannot transcribe speech"):
        gateway.transcribe(_request(provider="claude"))

    assert fake_llm.count() == 0
    assert [r.status for r in _rows()] == ["offline"] * 3


def test_a_dry_run_describes_the_call_and_calls_nothing(fake_llm):
    add_provider(fake_llm, "openai", "openai", "gpt-4o")
    asked = gateway.transcribe(_request(dry_run=True))
    runtime_settings.set_value("llm.dry_run", "true")
    configured = gateway.transcribe(_request())

    assert asked.status == configured.status == CallStatus.dry_run
    assert asked.text == "[dry run] No provider was called. openai/whisper-1 would receive 9.6 s of audio (a 307 kB WAV)."
    assert asked.cost_nanos == configured.cost_nanos == 0
    assert fake_llm.count() == 0


def test_the_fake_answers_as_openai_does(fake_llm):
    """What the tests above rest on: billed seconds, verbose_json's duration, a refused file."""
    def post(audio: bytes, **form: str) -> httpx.Response:
        return httpx.post(f"{fake_llm.api_base('openai')}/audio/transcriptions", data={"model": "whisper-1", **form},
                          files={"file": ("speech.wav", audio, "audio/wav")})

    assert post(_audio(2.5)).json() == {"text": "Answer from whisper-1", "usage": {"type": "duration", "seconds": 3}}
    verbose = post(_audio(2.5), response_format="verbose_json", language="de").json()
    assert (verbose["text"], verbose["duration"], verbose["language"]) == ("Answer from whisper-1", 2.5, "de")
    refused = post(b"not audio")
    assert refused.status_code == 400 and refused.json()["error"]["message"].startswith("Invalid file format")
