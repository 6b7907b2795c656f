"""Background jobs without Redis: the in-process runner, the service rules and the worker_check job."""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import time

import pytest
from sqlalchemy import text

from services import health
from services.auth.errors import AccessDenied, ValidationError
from services.db import get_engine, session_scope
from services.db.models import JobRun
from services.jobs import diagnostics, execute, registry, runners, service
from services.jobs.progress import JobCancelled, ProgressReporter
from tests.conftest import reset_process_caches
from tests.unit.jobs_helpers import dead_pid, job_row, wait_for, wait_job

HOST = socket.gethostname()


@pytest.fixture
def member(make_user):
    return make_user("member@example.com")


@pytest.fixture
def other(make_user):
    return make_user("other@example.com")


@pytest.fixture
def admin(make_user):
    return make_user("admin@example.com", role="admin")


def _run(user, job_type: str = "worker_check", params: dict | None = None, timeout: float = 20) -> JobRun:
    return wait_job(service.submit(user, job_type, params or {}), timeout=timeout)


# --- the worker_check job -------------------------------------------------------------------


def test_worker_check_is_registered():
    spec = registry.get("worker_check")
    assert (spec.name, spec.title, spec.queue) == ("worker_check", "Worker check", "default")


def test_worker_check_runs_in_process_and_names_its_worker(member):
    started = time.monotonic()
    row = _run(member, params={"seconds": 0.6})
    assert time.monotonic() - started >= 0.6
    assert row.status == "succeeded", row.error
    assert (row.progress, row.message, row.runner) == (100, "Done", "in-process")
    view = service.get(member, row.id)
    assert view.result["worker"] == f"{HOST}:{os.getpid()}"  # threads of this very process
    assert view.result["slept"] == 0.6
    assert view.result["rq_worker"] == ""
    assert view.title == "Worker check" and not view.active
    assert row.started_at is not None and row.finished_at >= row.started_at


class _Progress:
    job_id = "not-a-job"

    def __init__(self):
        self.updates: list[tuple[int, str]] = []

    def update(self, percent, message=""):
        self.updates.append((percent, message))


def test_worker_check_reports_progress_in_steps():
    progress = _Progress()
    result = diagnostics.run_worker_check(progress, {"seconds": 1.0})
    percents = [p for p, _ in progress.updates]
    assert 3 <= len(percents) <= diagnostics.MAX_STEPS + 1
    assert percents == sorted(percents) and percents[0] == 0 and percents[-1] == 99
    assert result["slept"] == 1.0


@pytest.mark.parametrize(
    "params",
    [{"seconds": 31}, {"seconds": -1}, {"seconds": "5"}, {"seconds": True}, {"seconds": float("nan")}, {"fail": "no"}],
)
def test_worker_check_refuses_bad_params(params):
    progress = _Progress()
    with pytest.raises(ValueError):
        diagnostics.run_worker_check(progress, params)
    assert progress.updates == []  # refused before doing anything


def test_worker_check_with_bad_params_fails_the_job(member):
    row = _run(member, params={"seconds": 300})
    assert row.status == "failed"
    assert row.error.startswith("ValueError: seconds must be from 0 to 30")


def test_unknown_job_type_is_refused_and_leaves_no_row(member):
    with pytest.raises(ValidationError):
        service.submit(member, "no_such_job", {})
    assert service.list_jobs(member) == []


# --- failure, cancel, retry ------------------------------------------------------------------


def test_failed_job_stores_error_and_traceback_for_admins_only(member, admin):
    row = _run(member, params={"fail": True})
    assert row.status == "failed"
    assert row.error == "RuntimeError: Worker check asked to fail"
    assert row.message == "Failed"
    assert "Traceback (most recent call last)" in row.traceback
    assert "diagnostics.py" in row.traceback and "Worker check asked to fail" in row.traceback
    assert row.result_json == "{}"

    as_admin = service.get(admin, row.id)
    as_owner = service.get(member, row.id)
    assert as_admin.traceback == row.traceback
    assert as_owner.traceback == ""
    assert as_owner.error == row.error  # the owner still learns what went wrong
    assert [j.traceback for j in service.list_jobs(member)] == [""]
    assert [j.traceback for j in service.list_jobs(admin, everyone=True)] == [row.traceback]


def test_queued_job_cancelled_before_it_runs_never_runs(member, monkeypatch):
    calls = []
    spec = registry.get("worker_check")
    monkeypatch.setitem(registry._types, "worker_check",
                        dataclasses.replace(spec, run=lambda progress, params: calls.append(params) or {}))
    runner = runners.get_runner()
    held: list[str] = []
    monkeypatch.setattr(runner, "submit", lambda job_id, queue_name: held.append(job_id))  # no free thread yet

    job_id = service.submit(member, "worker_check", {"seconds": 1})
    assert job_row(job_id).status == "queued"
    service.cancel(member, job_id)
    row = job_row(job_id)
    assert (row.status, row.cancel_requested, row.message) == ("cancelled", True, "Cancelled by the user.")

    # Now a thread frees up and picks the job: it must not run it.
    assert held == [job_id]
    assert execute.run_job(job_id) == "cancelled"
    row = job_row(job_id)
    assert calls == []
    assert row.status == "cancelled" and row.started_at is None and row.progress == 0


def test_in_process_threads_take_high_priority_work_before_queued_low_work(monkeypatch):
    """The no-Redis runner orders waiting jobs like an RQ worker listening on high, default, low."""
    started, release, ran = threading.Event(), threading.Event(), []

    def run(job_id: str) -> str:
        ran.append(job_id)
        if job_id == "busy":
            started.set()
            release.wait(10)
        return "done"

    monkeypatch.setattr(runners, "run_job", run)
    runner = runners.InProcessRunner(threads=1)
    runner.submit("busy", "low")
    assert started.wait(10)
    for job_id, queue_name in (("sync-1", "low"), ("index", "default"), ("sync-2", "low"), ("turbo", "high")):
        runner.submit(job_id, queue_name)
    release.set()
    wait_for(lambda: len(ran) == 5, timeout=10, what="all five jobs")
    assert ran == ["busy", "turbo", "index", "sync-1", "sync-2"]


def test_a_cancel_racing_the_worker_claim_is_not_overwritten(member, monkeypatch):
    """The cancel commits while run_job is starting the job (between its read and its write)."""
    calls = []
    spec = registry.get("worker_check")
    monkeypatch.setitem(registry._types, "worker_check",
                        dataclasses.replace(spec, run=lambda progress, params: calls.append(params) or {}))
    monkeypatch.setattr(runners.get_runner(), "submit", lambda job_id, queue_name: None)
    job_id = service.submit(member, "worker_check", {})

    real_utcnow = execute.utcnow
    raced = []

    def utcnow_with_a_cancel_in_between():
        if not raced:  # run_job is about to mark the job started: the user clicks Cancel now
            raced.append(True)
            service.cancel(member, job_id)
        return real_utcnow()

    monkeypatch.setattr(execute, "utcnow", utcnow_with_a_cancel_in_between)
    assert execute.run_job(job_id) == "cancelled"
    assert raced and calls == []
    row = job_row(job_id)
    assert row.status == "cancelled" and row.started_at is None


def test_running_job_cancelled_midway_stops_at_next_progress_update(member):
    job_id = service.submit(member, "worker_check", {"seconds": 5})
    wait_for(lambda: (r := job_row(job_id)).status == "running" and r.progress > 0, timeout=10,
             what="the job to be running")
    asked = time.monotonic()
    service.cancel(member, job_id)
    row = wait_job(job_id, timeout=10)
    assert row.status == "cancelled"
    assert time.monotonic() - asked < 2, "cancel took effect only after the job's end"
    assert row.progress < 99 and row.result_json == "{}"
    assert row.message == "Cancelled by the user."
    assert (row.finished_at - row.started_at).total_seconds() < 4


def test_cancelling_a_finished_job_is_refused(member):
    row = _run(member)
    assert row.status == "succeeded"
    with pytest.raises(ValidationError):
        service.cancel(member, row.id)
    assert job_row(row.id).cancel_requested is False


def test_retry_of_a_failed_job_makes_a_new_run_with_the_same_params(member):
    params = {"fail": True, "seconds": 0.1}
    first = _run(member, params=params)
    assert first.status == "failed"
    again = service.retry(member, first.id)
    assert again != first.id
    row = wait_job(again)
    assert row.retry_of == first.id
    assert row.type == "worker_check" and row.params_json == first.params_json
    assert row.owner_id == member.id and row.status == "failed"
    assert job_row(first.id).status == "failed"  # history stays
    assert {j.id for j in service.list_jobs(member)} == {first.id, again}


def test_retry_of_a_cancelled_job_is_allowed_but_not_of_a_succeeded_one(member):
    done = _run(member)
    with pytest.raises(ValidationError):
        service.retry(member, done.id)
    job_id = service.submit(member, "worker_check", {"seconds": 1})
    service.cancel(member, job_id)
    assert wait_job(job_id).status == "cancelled"
    retried = wait_job(service.retry(member, job_id))
    assert retried.status == "succeeded" and retried.retry_of == job_id


def test_admin_retry_keeps_the_original_owner(member, admin):
    failed = _run(member, params={"fail": True})
    row = wait_job(service.retry(admin, failed.id))
    assert row.owner_id == member.id
    assert row.id in {j.id for j in service.list_jobs(member)}


# --- ownership -------------------------------------------------------------------------------


def test_members_cannot_touch_other_users_jobs(member, other, admin):
    mine = _run(member, params={"fail": True})
    theirs = _run(other)

    for action in (service.get, service.cancel, service.retry):
        with pytest.raises(AccessDenied):
            action(other, mine.id)
        with pytest.raises(AccessDenied):
            action(member, "no-such-job")
    with pytest.raises(AccessDenied):
        service.list_jobs(member, everyone=True)

    assert [j.id for j in service.list_jobs(member)] == [mine.id]
    assert [j.id for j in service.list_jobs(other)] == [theirs.id]
    everyone = service.list_jobs(admin, everyone=True)
    assert {j.id for j in everyone} == {mine.id, theirs.id}
    assert {j.owner_email for j in everyone} == {"member@example.com", "other@example.com"}
    assert service.list_jobs(admin) == []  # without everyone=True an admin sees their own
    assert service.get(admin, mine.id).id == mine.id
    assert job_row(mine.id).status == "failed"  # the refused retry/cancel changed nothing


# --- interrupted in-process jobs ---------------------------------------------------------------


def _row(status: str, worker: str, runner: str = "in-process") -> str:
    row = JobRun(type="worker_check", status=status, worker=worker, runner=runner)
    with session_scope() as session:
        session.add(row)
    return row.id


def test_interrupted_inprocess_jobs_are_failed_and_live_ones_left_alone(db):
    gone = dead_pid()
    dead_queued = _row("queued", f"{HOST}:{gone}")
    dead_running = _row("running", f"{HOST}:{gone}")
    no_worker = _row("queued", "")
    no_pid = _row("running", f"{HOST}:")
    garbled = _row("running", f"{HOST}:not-a-pid")
    live = _row("running", f"{HOST}:{os.getpid()}")
    other_host = _row("running", f"another-host.example:{gone}")
    on_rq = _row("running", f"{HOST}:{gone}", runner="rq")
    finished = _row("succeeded", f"{HOST}:{gone}")

    assert runners.fail_interrupted_inprocess_jobs() == 5
    for job_id in (dead_queued, dead_running, no_worker, no_pid, garbled):
        row = job_row(job_id)
        assert row.status == "failed"
        assert row.error == "Interrupted: the app stopped before this job finished. Retry it."
        assert row.finished_at is not None
    assert job_row(live).status == "running"
    assert job_row(other_host).status == "running"  # that host may still be running it
    assert job_row(on_rq).status == "running"  # RQ workers are not this process's business
    assert job_row(finished).status == "succeeded"
    assert runners.fail_interrupted_inprocess_jobs() == 0


# --- lost RQ jobs (worker died) ----------------------------------------------------------------


def test_a_lost_job_is_failed_unless_it_already_finished(db):
    running = _row("running", f"{HOST}:1234", runner="rq")
    assert execute.fail_lost_job(running, "Work-horse terminated unexpectedly; waitpid returned 9 (signal 9); ")
    row = job_row(running)
    assert row.status == "failed" and row.finished_at is not None
    assert "terminated unexpectedly" in row.error and row.error.startswith("Interrupted")

    done = _row("succeeded", f"{HOST}:1234", runner="rq")
    assert execute.fail_lost_job(done, "whatever") is False
    assert job_row(done).status == "succeeded" and job_row(done).error == ""

    cancelling = _row("running", f"{HOST}:1234", runner="rq")
    with session_scope() as session:
        session.get(JobRun, cancelling).cancel_requested = True
    assert execute.fail_lost_job(cancelling, "Job stopped by user")
    assert job_row(cancelling).status == "cancelled"
    assert execute.fail_lost_job("no-such-job", "x") is False


def test_rq_failure_callback_fails_the_row(db):
    queued = _row("queued", "", runner="rq")

    class Job:
        id = queued

    execute.on_rq_failure(Job(), None, RuntimeError, RuntimeError("worker vanished"), None)
    row = job_row(queued)
    assert row.status == "failed" and "RuntimeError: worker vanished" in row.error


def test_forked_work_horses_open_their_own_database_connections(db):
    from services.jobs.worker import forget_inherited_db_connections

    engine = get_engine()
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        inherited = conn.connection.dbapi_connection
    forget_inherited_db_connections()
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        assert conn.connection.dbapi_connection is not inherited
    # close=False: the parent's connection was not closed under it.
    assert inherited.execute("SELECT 1").fetchone() == (1,)


# --- progress --------------------------------------------------------------------------------


def test_progress_is_clamped_and_raises_when_cancel_requested(db):
    job_id = _row("running", f"{HOST}:{os.getpid()}")
    progress = ProgressReporter(job_id)
    progress.update(150, "x" * 600)
    assert job_row(job_id).progress == 100 and len(job_row(job_id).message) == 500
    progress.update(-3)
    assert job_row(job_id).progress == 0
    with session_scope() as session:
        session.get(JobRun, job_id).cancel_requested = True
    with pytest.raises(JobCancelled):
        progress.update(50)
    assert job_row(job_id).progress == 0
    with pytest.raises(JobCancelled):
        ProgressReporter("no-such-job").update(1)


# --- Redis configured but down ----------------------------------------------------------------


def test_unreachable_redis_fails_the_submit_loudly_and_records_it(member, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    reset_process_caches()
    assert runners.get_runner().name == "rq"

    started = time.monotonic()
    with pytest.raises(runners.JobQueueUnavailable) as caught:
        service.submit(member, "worker_check", {})
    assert time.monotonic() - started < 10
    assert "Cannot reach Redis at redis://127.0.0.1:1/0" in str(caught.value)

    [view] = service.list_jobs(member)  # nothing silently lost: the row says what happened
    assert view.status == "failed"
    assert "Cannot reach Redis" in view.error
    assert job_row(view.id).finished_at is not None

    report = health.report()
    assert report["status"] == "degraded"
    assert report["jobs"]["mode"] == "rq" and report["jobs"]["ok"] is False
    assert "Cannot reach Redis" in report["jobs"]["error"]
    assert report["database"]["ok"] is True  # only the queue is down


def test_any_hand_over_error_fails_the_row(member, monkeypatch):
    def broken(job_id, queue_name):
        raise OSError("disk full")

    monkeypatch.setattr(runners.get_runner(), "submit", broken)
    with pytest.raises(OSError):
        service.submit(member, "worker_check", {})
    [view] = service.list_jobs(member)
    assert view.status == "failed" and view.error == "OSError: disk full"


def test_health_without_redis_reports_the_in_process_runner(db):
    report = health.report()
    assert report["status"] == "ok"
    assert report["jobs"]["mode"] == "in-process"
    assert report["workers"][0]["name"] == f"{HOST}:{os.getpid()}"
