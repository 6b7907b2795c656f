"""Turbo mode: the switch, when runs start (high-priority queue, one per interval), and what
a run makes of the recent context with the real gateway against the fake provider."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from capture_agent import protocol
from services import runtime_settings
from services.auth.errors import ValidationError
from services.capture import devices, suggest, turbo
from services.capture import ingest as ingest_session
from services.capture.devices import DeviceSummary
from services.db import session_scope
from services.db.models import CaptureEvent, CaptureKeys, JobRun
from services.db.models.base import utcnow
from services.docs import indexing, ingest, sources
from services.jobs.runners import JobQueueUnavailable
from tests.fakes.llm_providers import Ok as ok
from tests.llm_support import add_provider
from tests.unit.jobs_helpers import wait_job

ANSWER = json.dumps({"suggestions": [
    {"kind": "step", "title": "Restart the worker", "body": "The queue stalled after the deploy; restart it."},
    {"kind": "idea", "title": "Add a health check", "body": "Alert when the queue has not moved for 5 minutes."},
]})


@pytest.fixture
def user(make_user):
    return make_user("turbo@example.com")


def paired(user) -> DeviceSummary:
    devices.reset_throttle()
    _, token = devices.pair(devices.create_pairing_code(user.id), "laptop", "Linux")
    return devices.authenticate(token)


@pytest.fixture
def device(user) -> int:
    return paired(user).id


def stream(user_id: int, device_id: int, seq: int, typed: str, title: str = "worker.log - vim") -> None:
    """What the ingest stores for a focus change and a batch of keys."""
    now = utcnow()
    with session_scope() as session:
        session.add(CaptureEvent(device_id=device_id, user_id=user_id, seq=seq, captured_at=now, kind="window",
                                 app="vim", title=title))
        session.add(CaptureKeys(device_id=device_id, user_id=user_id, seq=seq + 1, captured_at=now, app="vim",
                                title=title, strokes=len(typed), text=typed))


def run_once(user_id: int, at: datetime | None = None) -> dict:
    job_id = turbo.maybe_start(user_id, at)
    assert job_id is not None
    row = wait_job(job_id)
    assert (row.status, row.queue) == ("succeeded", "high"), row.error
    return json.loads(row.result_json)


def test_runs_start_only_while_on_and_once_per_interval(user, device):
    assert turbo.maybe_start(user.id) is None  # never switched on
    turbo.set_enabled(user, True)
    now = utcnow()
    assert turbo.maybe_start(user.id, now) is not None
    assert turbo.maybe_start(user.id, now + timedelta(seconds=3)) is None  # within the 10 s interval
    assert turbo.maybe_start(user.id, now + timedelta(seconds=11)) is not None
    turbo.set_enabled(user, False)
    assert turbo.maybe_start(user.id, now + timedelta(seconds=60)) is None


def test_suggestions_from_the_context_are_stored_once_and_unchanged_context_costs_nothing(user, device, fake_llm):
    add_provider(fake_llm, "primary", "openai", "turbo-m1")
    fake_llm.default("turbo-m1", ok(text=f"Sure: {ANSWER}"))
    turbo.set_enabled(user, True)
    stream(user.id, device, 1, "rq worker keeps dying with OOM")

    assert run_once(user.id) == {"suggestions": 2, "considered": 2}
    panel = turbo.view(user)
    assert panel.enabled and [(s.kind, s.title) for s in panel.suggestions] == [  # newest first
        ("idea", "Add a health check"), ("step", "Restart the worker")]
    sent = "\n".join(m["content"] for m in fake_llm.requests[-1].body["messages"])
    assert "rq worker keeps dying with OOM" in sent and "worker.log - vim" in sent

    calls = len(fake_llm.requests)
    later = utcnow() + turbo.interval()
    assert run_once(user.id, later) == {"skipped": "no new context"}  # nothing new was captured
    assert len(fake_llm.requests) == calls

    stream(user.id, device, 3, " and again after restart")  # new context, same advice
    assert run_once(user.id, later + turbo.interval()) == {"suggestions": 0, "considered": 2}
    assert len(fake_llm.requests) == calls + 1
    assert len(turbo.view(user).suggestions) == 2


def test_a_spent_budget_switches_turbo_off_with_a_notice_and_calls_nobody(user, device, fake_llm):
    add_provider(fake_llm, "primary", "openai", "turbo-m1", input_price="1000", output_price="1000")
    fake_llm.default("turbo-m1", ok(text=ANSWER))
    runtime_settings.set_value("llm.monthly_budget_usd", "0.01")
    turbo.set_enabled(user, True)
    stream(user.id, device, 1, "why is the build red")

    run_once(user.id)
    panel = turbo.view(user)
    assert not panel.enabled and panel.notice.startswith("Turbo mode stopped:") and "budget" in panel.notice.lower()
    assert fake_llm.requests == [] and panel.suggestions == []
    assert turbo.maybe_start(user.id, utcnow() + timedelta(minutes=5)) is None


def test_without_any_provider_turbo_says_so_and_keeps_running(user, device, fake_llm):
    turbo.set_enabled(user, True)
    stream(user.id, device, 1, "kubectl get pods")
    assert run_once(user.id) == {"suggestions": 0, "considered": 0}
    panel = turbo.view(user)
    assert panel.enabled and "No AI provider" in panel.notice


@pytest.mark.parametrize("answer", ["I have no idea.", '{"suggestions": "none"}',
                                    '{"suggestions": [{"kind": "step"}, 7, {"title": "Only a title"}]}'])
def test_an_unusable_answer_adds_nothing_and_fails_nothing(user, device, fake_llm, answer):
    add_provider(fake_llm, "primary", "openai", "turbo-m1")
    fake_llm.default("turbo-m1", ok(text=answer))
    turbo.set_enabled(user, True)
    stream(user.id, device, 1, "segfault in libssl")
    assert run_once(user.id) == {"suggestions": 0, "considered": 0}


def test_nothing_captured_means_no_call(user, device, fake_llm):
    add_provider(fake_llm, "primary", "openai", "turbo-m1")
    turbo.set_enabled(user, True)
    assert run_once(user.id) == {"skipped": "no new context"}
    assert fake_llm.requests == []


def test_users_see_and_dismiss_only_their_own_suggestions(user, device, make_user, fake_llm):
    add_provider(fake_llm, "primary", "openai", "turbo-m1")
    fake_llm.default("turbo-m1", ok(text=ANSWER))
    turbo.set_enabled(user, True)
    stream(user.id, device, 1, "deploy failed")
    run_once(user.id)
    other = make_user("other@example.com")
    assert turbo.view(other).suggestions == [] and not turbo.view(other).enabled

    first = turbo.view(user).suggestions[0]
    with pytest.raises(ValidationError):
        turbo.dismiss(other, first.id)
    turbo.dismiss(user, first.id)
    assert [s.id for s in turbo.view(user).suggestions] == [turbo.view(user).suggestions[0].id]
    assert first.id not in [s.id for s in turbo.view(user).suggestions]


def test_fingerprints_ignore_case_punctuation_and_spacing():
    assert suggest.fingerprint("step", "Restart the worker!") == suggest.fingerprint("step", "restart  the Worker")
    assert suggest.fingerprint("step", "Restart the worker") != suggest.fingerprint("idea", "Restart the worker")


def test_matching_documents_are_suggested_even_offline(user, device, fake_llm):
    source_id = sources.create_files(user, name="Runbooks")
    ingest.add_upload(user, source_id, "worker-oom.md", b"# Worker out of memory\n\nWhen the rq worker dies with "
                      b"OOM, lower WORKER_CONCURRENCY to 2 and restart it with systemctl restart llmcoder-worker.\n")
    assert wait_job(indexing.start(user, source_id), timeout=120).status == "succeeded"
    turbo.set_enabled(user, True)
    stream(user.id, device, 1, "the rq worker dies with OOM again")

    assert run_once(user.id)["suggestions"] == 1
    (doc,) = turbo.view(user).suggestions
    assert (doc.kind, doc.title, doc.source) == ("doc", "Worker out of memory", "Runbooks")
    assert "WORKER_CONCURRENCY" in doc.body
    assert "No AI provider" in turbo.view(user).notice


def connected(user) -> ingest_session.IngestSession:
    connection = ingest_session.IngestSession(paired(user))
    connection.hello(protocol.dump(protocol.Hello(agent_version="0.1.0")))
    return connection


def typed(seq: int, text: str) -> str:
    return protocol.dump(protocol.KeysEvent(seq=seq, at=utcnow(), keys=[protocol.KeyStroke(ms=0, key=c) for c in text],
                                            window=protocol.WindowInfo(app="bash", title="deploy.sh")))


def turbo_runs() -> list[JobRun]:
    with session_scope() as session:
        return list(session.exec(select(JobRun).where(JobRun.type == turbo.JOB_TYPE)).all())


def test_stored_events_start_a_run_while_turbo_is_on_and_duplicates_or_pauses_do_not(user, fake_llm):
    connection = connected(user)
    assert connection.handle(typed(1, "ls")) == protocol.Ack(seq=1)
    assert turbo_runs() == []  # off

    turbo.set_enabled(user, True)
    connection.handle(protocol.dump(protocol.StateEvent(seq=2, at=utcnow(), paused=False)))
    assert turbo_runs() == []
    connection.handle(typed(3, "make deploy"))
    (run,) = turbo_runs()
    assert run.queue == "high" and run.owner_id == user.id
    wait_job(run.id)
    turbo.set_enabled(user, True)  # the interval starts afresh
    connection.handle(typed(3, "make deploy"))  # a resend: acknowledged, no new context
    assert len(turbo_runs()) == 1


def test_an_event_is_stored_and_acknowledged_even_when_no_run_can_start(user, monkeypatch):
    connection = connected(user)
    turbo.set_enabled(user, True)

    def queue_down(*args, **kwargs):
        raise JobQueueUnavailable("Redis is not reachable")

    monkeypatch.setattr(turbo.jobs, "submit", queue_down)
    assert connection.handle(typed(1, "git push")) == protocol.Ack(seq=1)
    with session_scope() as session:
        assert [row.text for row in session.exec(select(CaptureKeys)).all()] == ["git push"]
