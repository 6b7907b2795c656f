"""Scale-out: real PostgreSQL + real Redis + two separate `rq worker-pool` processes.

Proves jobs submitted from one process are spread over worker processes that
share nothing but the database and Redis, which is what running workers on
another machine needs.
"""

from __future__ import annotations

import collections
import socket

import pytest
from redis import Redis
from rq import Worker

from services import health, launcher
from services.auth import users
from services.db import migrate
from services.jobs import service
from tests.conftest import reset_process_caches
from tests.unit.jobs_helpers import WorkerPoolProcess, descendants, wait_for, wait_job, worker_env

pytestmark = pytest.mark.integration

JOBS = 8


@pytest.fixture
def two_pools(data_dir, pg_url, redis_url, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    reset_process_caches()
    migrate.upgrade()
    client = Redis.from_url(redis_url)
    pools: list[WorkerPoolProcess] = []
    try:
        for index in range(2):
            pools.append(WorkerPoolProcess(launcher.worker_pool_command(redis_url, 1), worker_env(),
                                           tmp_path / f"pool-{index}.log"))
        try:
            wait_for(lambda: len(Worker.all(connection=client)) == 2 or any(p.proc.poll() is not None for p in pools),
                     timeout=30, what="one RQ worker from each of the two pools")
        except AssertionError:
            raise AssertionError("pools did not start:\n" + "\n".join(p.log_text()[-2000:] for p in pools)) from None
        assert all(p.proc.poll() is None for p in pools), "\n".join(p.log_text()[-2000:] for p in pools)
        yield pools
    finally:
        for pool in pools:
            pool.stop()
        client.close()
        reset_process_caches()  # the engine lets go of the database before pg_url drops it


def test_jobs_spread_over_two_worker_processes_on_postgresql(two_pools):
    report = health.report()
    assert report["database"]["backend"] == "postgresql"
    assert report["status"] == "ok", report
    assert report["jobs"]["mode"] == "rq"
    worker_names = {w["name"] for w in report["workers"]}
    assert len(worker_names) == 2

    member = users.create_user(email="scale@example.com", password="correct horse 1")
    job_ids = [service.submit(member, "worker_check", {"seconds": 1}) for _ in range(JOBS)]
    rows = [wait_job(job_id, timeout=40) for job_id in job_ids]
    assert [r.status for r in rows] == ["succeeded"] * JOBS, [(r.status, r.error) for r in rows]

    results = [service.get(member, job_id).result for job_id in job_ids]
    host = socket.gethostname()
    assert all(r["slept"] == 1 for r in results)
    assert all(r["worker"].startswith(f"{host}:") for r in results)
    # Each job runs in its own work horse; the horse's parent is the RQ worker process.
    horse_pids = {int(r["worker"].rsplit(":", 1)[1]) for r in results}
    assert len(horse_pids) >= 2

    pool_of_worker = {}
    for pool in two_pools:
        for pid in descendants(pool.pid):
            pool_of_worker[pid] = pool.pid
    per_pool = collections.Counter(pool_of_worker.get(int(r["worker_process"].rsplit(":", 1)[1])) for r in results)
    per_rq_worker = collections.Counter(r["rq_worker"] for r in results)
    print(f"\nworker_check distribution over pool processes {dict(per_pool)}; "
          f"over RQ workers {dict(per_rq_worker)}; horse pids {sorted(horse_pids)}")
    assert None not in per_pool, f"a job ran outside both pools: {per_pool}"
    assert set(per_pool) == {p.pid for p in two_pools}, f"jobs did not spread over both processes: {per_pool}"
    assert set(per_rq_worker) == worker_names
    # Job rows name the same horses.
    assert {r.worker for r in rows} == {r["worker"] for r in results}
