"""Where jobs run: an RQ worker pool when Redis is configured, else threads in this process."""

from __future__ import annotations

import itertools
import logging
import os
import queue
import socket
import threading
from functools import lru_cache
from typing import Protocol

from redis.exceptions import RedisError
from rq import Worker
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Callback, Job
from sqlmodel import select

from services.db import session_scope
from services.db.models import JobRun, JobStatus
from services.db.models.base import utcnow
from services.jobs import queues
from services.jobs.execute import run_job
from services.settings import get_settings

log = logging.getLogger(__name__)

# RQ job ids are the JobRun ids, so either side finds the other.
JOB_FUNCTION = "services.jobs.execute.run_job"
# Called by RQ when a job is lost (e.g. its worker died): finishes the JobRun row.
FAILURE_CALLBACK = "services.jobs.execute.on_rq_failure"
JOB_TIMEOUT_SECONDS = 3600


class JobQueueUnavailable(RuntimeError):
    """The job backend cannot take work; the message says why and what to do."""


class JobRunner(Protocol):
    name: str

    def submit(self, job_id: str, queue_name: str) -> None: ...

    def cancel(self, job_id: str) -> None: ...

    def describe(self) -> dict: ...


class RQRunner:
    name = "rq"

    def __init__(self, url: str) -> None:
        self.url = url
        self.connection = queues.redis_for(url)

    def submit(self, job_id: str, queue_name: str) -> None:
        try:
            queues.queue(queue_name, self.connection).enqueue(
                JOB_FUNCTION, job_id, job_id=job_id, job_timeout=JOB_TIMEOUT_SECONDS,
                result_ttl=86400, failure_ttl=7 * 86400, on_failure=Callback(FAILURE_CALLBACK),
            )
        except RedisError as exc:
            raise JobQueueUnavailable(f"Cannot reach Redis at {self.url}: {exc}") from exc

    def cancel(self, job_id: str) -> None:
        """Queued jobs leave the queue; running ones stop at their next progress update.

        Running jobs are not killed (RQ's stop-job command): a killed work horse never
        records the outcome, leaving the row "running", and can leave half-written files.
        The cancel flag on the row, checked by every progress update, stops them instead."""
        try:
            job = Job.fetch(job_id, connection=self.connection, serializer=queues.JSONSerializer)
            if job.get_status() not in ("started", "finished", "failed", "stopped", "canceled"):
                job.cancel()
        except (NoSuchJobError, InvalidJobOperation):
            pass
        except RedisError as exc:
            raise JobQueueUnavailable(f"Cannot reach Redis at {self.url}: {exc}") from exc

    def describe(self) -> dict:
        try:
            self.connection.ping()
            workers = Worker.all(connection=self.connection)
            counts = {name: queues.queue(name, self.connection).count for name in queues.QUEUE_NAMES}
        except RedisError as exc:
            return {"mode": "rq", "ok": False, "error": f"Cannot reach Redis: {exc}", "workers": []}
        return {
            "mode": "rq",
            "ok": bool(workers),
            "error": "" if workers else "No RQ worker is running: start `rq worker-pool` (see docs/OPERATIONS.md).",
            "queued": counts,
            "workers": [{"name": w.name, "state": w.get_state(), "queues": w.queue_names()} for w in workers],
        }


class InProcessRunner:
    """Threads inside the app process: the no-Redis default for one machine.

    Like an RQ worker listening on high, default, low in that order, an idle thread takes
    the oldest job of the most urgent queue: a turbo suggestion does not wait behind a
    backlog of syncs and indexing."""

    name = "in-process"

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._waiting: queue.PriorityQueue[tuple[int, int, str]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, job_id: str, queue_name: str) -> None:
        rank = queues.QUEUE_NAMES.index(queue_name) if queue_name in queues.QUEUE_NAMES else len(queues.QUEUE_NAMES)
        self._waiting.put((rank, next(self._order), job_id))
        with self._lock:  # threads start with the first jobs, as in a ThreadPoolExecutor
            if len(self._workers) < self.threads:
                worker = threading.Thread(target=self._work, name=f"llmcoder-job-{len(self._workers)}", daemon=True)
                self._workers.append(worker)
                worker.start()

    def _work(self) -> None:
        while True:
            _, _, job_id = self._waiting.get()
            try:
                run_job(job_id)
            except Exception:  # run_job records job errors itself; this is its own bookkeeping failing
                log.exception("An in-process job crashed outside its own error handling")

    def cancel(self, job_id: str) -> None:
        """The cancel flag on the row is enough: run_job and progress updates check it."""

    def describe(self) -> dict:
        return {
            "mode": "in-process",
            "ok": True,
            "error": "",
            "workers": [{"name": f"{socket.gethostname()}:{os.getpid()}", "state": "threads", "queues": list(queues.QUEUE_NAMES)}],
            "threads": self.threads,
        }


@lru_cache(maxsize=1)
def get_runner() -> JobRunner:
    settings = get_settings()
    if settings.redis_url:
        return RQRunner(settings.redis_url)
    return InProcessRunner(settings.inprocess_threads)


def reset_runner() -> None:
    get_runner.cache_clear()


def _pid_alive(pid: int) -> bool:
    if pid <= 0:  # os.kill(0, ...) would signal our own process group and "succeed"
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_interrupted_inprocess_jobs() -> int:
    """In-process jobs die with their process; mark the ones whose process is gone."""
    host = socket.gethostname()
    count = 0
    with session_scope() as session:
        rows = session.exec(
            select(JobRun).where(
                JobRun.runner == InProcessRunner.name,
                JobRun.status.in_([JobStatus.queued.value, JobStatus.running.value]),  # type: ignore[attr-defined]
            )
        ).all()
        for row in rows:
            worker_host, _, pid_text = row.worker.partition(":")
            pid = int(pid_text) if pid_text.strip().isdigit() else 0
            if row.worker and (worker_host != host or _pid_alive(pid)):
                continue
            row.status = JobStatus.failed.value
            row.error = "Interrupted: the app stopped before this job finished. Retry it."
            row.finished_at = utcnow()
            session.add(row)
            count += 1
    return count
