"""Housekeeping of the gateway's tables: retention, expired cache, orphaned reservations.

It runs as the `llm_maintenance` job, from `llm purge` on the CLI, and on its own at most
once a day per process after a call, so a deployment without a scheduler stays tidy.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from services.jobs.progress import ProgressReporter
from services.jobs.registry import job_type
from services.llm import budget, cache, calls, config

log = logging.getLogger(__name__)

JOB_TYPE = "llm_maintenance"
_DAY = 86400.0
_last_run = 0.0
_lock = threading.Lock()


def stale_reservation_age(cfg: config.GatewayConfig) -> timedelta:
    """No call holds a reservation longer than all its attempts, waits and a margin."""
    return timedelta(seconds=cfg.attempts_per_provider * (cfg.timeout + cfg.max_backoff) + 60)


def run_maintenance() -> dict[str, int]:
    cfg = config.load()
    return {
        "calls_purged": calls.purge_content(cfg.log_retention_days),
        "cache_expired": cache.purge_expired(),
        "reservations_released": budget.release_stale(stale_reservation_age(cfg)),
    }


@job_type(JOB_TYPE, title="LLM log retention and cache clean-up", queue="low")
def maintenance_job(progress: ProgressReporter, _params: dict[str, Any]) -> dict[str, Any]:
    progress.update(10, "Purging old prompts, expired cache entries and orphaned reservations")
    return run_maintenance()


def maybe_run_daily() -> None:
    """Runs the clean-up when this process has not run one today (three short statements)."""
    global _last_run
    now = time.monotonic()
    with _lock:
        if _last_run and now - _last_run < _DAY:
            return
        _last_run = now
    try:
        log.info("LLM maintenance: %s", run_maintenance())
    except Exception:
        log.exception("LLM maintenance failed; it will be tried again tomorrow")
