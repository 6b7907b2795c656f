"""Diagnostic jobs for admins: prove that workers pick up and finish work."""

from __future__ import annotations

import math
import os
import socket
import time
from typing import Any

from services.jobs.progress import ProgressReporter
from services.jobs.registry import job_type

JOB_TYPE = "worker_check"
MAX_SECONDS = 30.0
# Progress (and with it the cancel check) at least this often while sleeping.
STEP_SECONDS = 0.5
MAX_STEPS = 10


def _params(params: dict[str, Any]) -> tuple[float, bool]:
    seconds = params.get("seconds", 0)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or math.isnan(seconds):
        raise ValueError(f"seconds must be a number from 0 to {MAX_SECONDS:g}, not {seconds!r}")
    if not 0 <= seconds <= MAX_SECONDS:
        raise ValueError(f"seconds must be from 0 to {MAX_SECONDS:g}, not {seconds!r}")
    fail = params.get("fail", False)
    if not isinstance(fail, bool):
        raise ValueError(f"fail must be true or false, not {fail!r}")
    return float(seconds), fail


@job_type(JOB_TYPE, title="Worker check", queue="default")
def run_worker_check(progress: ProgressReporter, params: dict[str, Any]) -> dict[str, Any]:
    """Sleeps `seconds` in a few steps, reporting progress; fails on request."""
    seconds, fail = _params(params)
    steps = max(1, min(MAX_STEPS, math.ceil(seconds / STEP_SECONDS)))
    progress.update(0, "Worker check started")
    for step in range(1, steps + 1):
        time.sleep(seconds / steps)
        progress.update(99 * step // steps, f"Worker check: step {step} of {steps}")
    if fail:
        raise RuntimeError("Worker check asked to fail")
    host, rq_worker = socket.gethostname(), os.environ.get("RQ_WORKER_ID", "")
    return {
        "worker": f"{host}:{os.getpid()}",
        "slept": seconds,
        # Under RQ each job runs in a work horse forked from the worker process: the
        # horse's parent is what tells jobs spread over worker processes apart.
        "worker_process": f"{host}:{os.getppid() if rq_worker else os.getpid()}",
        "rq_worker": rq_worker,
    }
