"""Jobs on real RQ: the machine's Redis, a real `rq worker-pool` subprocess, SQLite in a temp dir.

One pool of two workers serves the whole module (starting one costs seconds);
every test creates its own users, so tests do not see each other's jobs.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import time
import uuid
import zipfile
import zlib
from urllib.parse import parse_qs, urlsplit

import pytest
from redis import Redis
from rq import Worker
from rq.job import Job
from rq.serializers import JSONSerializer

from services import health, launcher
from services.auth import users
from services.db import migrate
from services.jobs import downloads, execute, runners, service
from tests.conftest import _BOOTSTRAP_ENV, REDIS_TEST_URL, missing_service, reset_process_caches
from tests.unit.jobs_helpers import WorkerPoolProcess, job_row, pid_alive, wait_for, wait_job, worker_env

pytestmark = pytest.mark.integration

HOST = socket.gethostname()


@pytest.fixture(scope="module")
def rq_env(tmp_path_factory):
    """REDIS_URL + a temp data dir for this process and a 2-worker pool subprocess."""
    client = Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:  # refused, timeout...
        missing_service("Redis at 127.0.0.1:6379", exc)
    client.flushdb()
    root = tmp_path_factory.mktemp("rq-workers")
    patch = pytest.MonkeyPatch()
    pool = None
    try:
        for name in _BOOTSTRAP_ENV:
            patch.delenv(name, raising=False)
        patch.setenv("LLMCODER_DATA_DIR", str(root / "data"))
        patch.setenv("REDIS_URL", REDIS_TEST_URL)
        reset_process_caches()
        migrate.upgrade()
        pool = WorkerPoolProcess(launcher.worker_pool_command(REDIS_TEST_URL, 2), worker_env(), root / "pool.log")
        try:
            wait_for(lambda: len(Worker.all(connection=client)) == 2 or pool.proc.poll() is not None,
                     timeout=120, what="2 RQ workers to register")  # slow under load: each preloads models
        except AssertionError:
            raise AssertionError(f"worker pool did not start; log:\n{pool.log_text()[-3000:]}") from None
        assert pool.proc.poll() is None, f"worker pool exited; log:\n{pool.log_text()[-3000:]}"
        yield {"client": client, "pool": pool, "data_dir": root / "data"}
    finally:
        if pool is not None:
            pool.stop()
        patch.undo()
        reset_process_caches()
        client.flushdb()
        client.close()


def _user(role: str = "member"):
    return users.create_user(email=f"{role}-{uuid.uuid4().hex[:8]}@example.com", password="correct horse 1", role=role)


def test_data_export_runs_in_a_worker_process_with_json_job_data(rq_env):
    member = _user()
    job_id = service.submit(member, "data_export", {"user_id": member.id})

    row = wait_job(job_id, timeout=30)
    assert row.status == "succeeded", (row.error, row.traceback)
    assert row.progress == 100
    assert row.runner == "rq"
    host, _, pid = row.worker.partition(":")
    assert host == HOST
    assert int(pid) != os.getpid(), "the job ran in the test process, not in a worker"

    zip_path = rq_env["data_dir"] / "exports" / str(member.id) / f"{job_id}.zip"
    with zipfile.ZipFile(zip_path) as archive:
        assert "manifest.json" in archive.namelist()
        assert json.loads(archive.read("profile.json"))[0]["email"] == member.email

    # The RQ job carries only the JobRun id, stored as JSON (never pickle).
    client = rq_env["client"]
    job = Job.fetch(job_id, connection=client, serializer=JSONSerializer)
    assert job.func_name == runners.JOB_FUNCTION
    assert list(job.args) == [job_id]
    assert job.get_status() == "finished"
    assert job.return_value() == "succeeded"
    assert job.failure_callback is execute.on_rq_failure  # a lost job still gets its row finished
    raw = client.hget(f"rq:job:{job_id}", "data")
    assert raw, "no job data in Redis"
    try:
        raw = zlib.decompress(raw)
    except zlib.error:
        pass
    decoded = json.loads(raw)
    assert decoded[0] == runners.JOB_FUNCTION and list(decoded[2]) == [job_id]
    with pytest.raises(Exception):  # noqa: B017 - any unpickling error proves it is not pickle
        pickle.loads(raw)


def test_health_reports_rq_mode_with_two_workers(rq_env):
    report = health.report()
    assert report["status"] == "ok", report
    assert report["jobs"]["mode"] == "rq"
    assert report["jobs"]["ok"] is True and report["jobs"]["error"] == ""
    assert len(report["workers"]) == 2
    for worker in report["workers"]:
        assert worker["queues"] == ["high", "default", "low"]
    assert report["database"]["ok"] is True


def test_failing_worker_check_stores_the_traceback(rq_env):
    member, admin = _user(), _user("admin")
    job_id = service.submit(member, "worker_check", {"fail": True})
    row = wait_job(job_id, timeout=20)
    assert row.status == "failed"
    assert row.error == "RuntimeError: Worker check asked to fail"
    assert "Traceback" in row.traceback and "diagnostics.py" in row.traceback
    assert int(row.worker.partition(":")[2]) != os.getpid()
    assert service.get(admin, job_id).traceback == row.traceback
    assert service.get(member, job_id).traceback == ""


def test_cancelling_a_running_job_ends_it_cancelled(rq_env):
    member = _user()
    job_id = service.submit(member, "worker_check", {"seconds": 5})
    wait_for(lambda: job_row(job_id).status == "running" and job_row(job_id).progress > 0,
             timeout=15, what="the worker check to be running")
    cancelled_at = time.monotonic()
    service.cancel(member, job_id)

    row = wait_job(job_id, timeout=10)
    assert row.status == "cancelled", (row.status, row.error)
    assert time.monotonic() - cancelled_at < 3, "the job did not stop at its next progress update"
    assert row.result_json == "{}"
    assert row.progress < 99
    assert row.message == "Cancelled by the user."
    # The worker survived the cancel and takes the next job.
    assert len(Worker.all(connection=rq_env["client"])) == 2
    next_id = service.submit(member, "worker_check", {})
    assert wait_job(next_id, timeout=15).status == "succeeded"


def test_cancelling_a_queued_job_removes_it_before_it_runs(rq_env):
    member = _user()
    busy = [service.submit(member, "worker_check", {"seconds": 1.5}) for _ in range(2)]
    wait_for(lambda: all(job_row(b).status == "running" for b in busy), timeout=15, what="both workers busy")
    waiting = service.submit(member, "worker_check", {})
    service.cancel(member, waiting)

    job = Job.fetch(waiting, connection=rq_env["client"], serializer=JSONSerializer)
    assert job.get_status() == "canceled"
    for b in busy:
        assert wait_job(b, timeout=15).status == "succeeded"
    time.sleep(0.5)  # a free worker would have picked it up by now
    row = job_row(waiting)
    assert row.status == "cancelled"
    assert row.started_at is None and row.worker == ""


def test_a_killed_work_horse_fails_the_job_instead_of_leaving_it_running(rq_env):
    member = _user()
    job_id = service.submit(member, "worker_check", {"seconds": 5})
    row = wait_for(lambda: (r := job_row(job_id)).status == "running" and r.worker and r,
                   timeout=15, what="the worker check to be running")
    horse = int(row.worker.partition(":")[2])
    os.kill(horse, signal.SIGKILL)  # what the kernel's OOM killer does

    row = wait_job(job_id, timeout=15)
    assert row.status == "failed"
    assert "terminated" in row.error.lower(), row.error
    assert row.finished_at is not None
    # The pool replaced nothing: the worker itself lives on.
    assert len(Worker.all(connection=rq_env["client"])) == 2


def test_start_private_redis_starts_a_usable_server_and_stops(tmp_path):
    started = launcher.start_private_redis(tmp_path)
    if started is None:
        pytest.skip("redis-server is not installed")
    proc, url = started
    try:
        assert proc.poll() is None
        client = Redis.from_url(url, socket_connect_timeout=2)
        assert client.ping()
        client.set("k", "v")
        assert client.get("k") == b"v"
        port = urlsplit(url).port
        assert port not in (6379, None)
        client.close()
    finally:
        launcher._stop([proc])
    assert proc.poll() is not None
    assert not pid_alive(proc.pid)
    with pytest.raises(Exception):  # noqa: B017 - connection refused once stopped
        Redis.from_url(url, socket_connect_timeout=1).ping()


def test_download_link_for_an_rq_export_resolves(rq_env):
    member = _user()
    job_id = service.submit(member, "data_export", {"user_id": member.id})
    assert wait_job(job_id, timeout=30).status == "succeeded"
    query = parse_qs(urlsplit(downloads.signed_path(member, job_id)).query)
    path, filename = downloads.resolve(job_id, int(query["u"][0]), int(query["e"][0]), query["s"][0])
    assert path == (rq_env["data_dir"] / "exports" / str(member.id) / f"{job_id}.zip").resolve()
    assert filename.startswith("llmcoder-export-") and filename.endswith(".zip")


def test_worker_pool_command_names_the_prepared_worker_and_json():
    command = launcher.worker_pool_command("redis://127.0.0.1:1/0", 3)
    assert command[command.index("-n") + 1] == "3"
    assert command[command.index("--serializer") + 1] == "rq.serializers.JSONSerializer"
    assert command[command.index("--worker-class") + 1] == "services.jobs.worker.PreparedWorker"
    assert command[-3:] == ["high", "default", "low"]
