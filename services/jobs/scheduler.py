"""Periodic work started from the web process: a daemon thread that, once a minute, asks each
feature what is due and submits it as ordinary jobs (which RQ workers or the in-process
runner then execute).

Several web processes may each run this thread: every due item is claimed with a
conditional UPDATE before its job is submitted (see services.docs.sources.claim_for_sync),
so a minute's work is submitted once however many processes tick.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from services.db.models.base import utcnow

log = logging.getLogger(__name__)

TICK_SECONDS = 60.0
_started = threading.Event()
_stop = threading.Event()


def _periodic() -> list[Callable[[datetime], int]]:
    """Each returns how many jobs it submitted. Imported here, not at module load: the
    features' modules pull in the gateway and embedder, which only the tick needs."""
    from services.capture import retention, transcription
    from services.docs import indexing
    from services.inbox import sync as inbox_sync
    from services.jira import sync as jira_sync
    from services.jira import tracking

    return [indexing.submit_due, inbox_sync.submit_due, jira_sync.submit_due, tracking.submit_due,
            retention.submit_due, transcription.submit_due]


def tick(now: datetime | None = None) -> int:
    """One round: every periodic check, each isolated from the others' failures."""
    submitted = 0
    for check in _periodic():
        try:
            submitted += check(now or utcnow())
        except Exception:
            log.exception("Scheduled check %s failed; it runs again next minute", check.__qualname__)
    return submitted


def _loop() -> None:
    while not _stop.wait(TICK_SECONDS):
        tick()


def start() -> None:
    """Starts the ticking thread once per process (the app's lifespan calls this)."""
    if not _started.is_set():
        _started.set()
        threading.Thread(target=_loop, name="llmcoder-scheduler", daemon=True).start()
