"""Helpers for the job tests: bounded waits and worker processes that never leak."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from services.db import session_scope
from services.db.models import JobRun

T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parents[2]
FINISHED = ("succeeded", "failed", "cancelled")


def wait_for(check: Callable[[], T], *, timeout: float, what: str, interval: float = 0.05) -> T:
    """Polls until `check()` is truthy and returns it; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"Timed out after {timeout:g}s waiting for {what} (last value: {last!r})")
        time.sleep(interval)


def job_row(job_id: str) -> JobRun:
    with session_scope() as session:
        row = session.get(JobRun, job_id)
        assert row is not None, f"job {job_id} has no row"
        return row


def wait_job(job_id: str, statuses: Iterable[str] = FINISHED, *, timeout: float = 20) -> JobRun:
    wanted = tuple(statuses)

    def check() -> JobRun | None:
        row = job_row(job_id)
        return row if row.status in wanted else None

    try:
        return wait_for(check, timeout=timeout, what=f"job {job_id} to reach {wanted}", interval=0.05)
    except AssertionError as exc:
        row = job_row(job_id)
        raise AssertionError(f"{exc}; row: status={row.status} progress={row.progress} "
                             f"message={row.message!r} error={row.error!r}") from None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (work horses call setpgrp, so a group kill misses them)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(") ", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait(10)
    return proc.pid


class WorkerPoolProcess:
    """One `rq worker-pool` in its own session; stop() always leaves nothing behind."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.command = command
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.pid = self.proc.pid

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 8) -> None:
        tree = descendants(self.pid)
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
            if self.proc.poll() is None:
                try:
                    os.killpg(self.pid, sig)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
            break
        # Work horses live in their own process groups: make sure none survives.
        tree |= descendants(self.pid)
        for pid in tree:
            if pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        while any(pid_alive(p) for p in tree) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._log.close()
        leftovers = [p for p in tree if pid_alive(p)]
        assert not leftovers, f"worker processes survived: {leftovers}"


def worker_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = f"{REPO_ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}".rstrip(os.pathsep)
    env.update(extra)
    return env
