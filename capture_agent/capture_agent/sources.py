"""What the capture sources (screen, audio, keys) share with the runner that owns them.

Each source is given an ``emit`` callable and calls it with one event's fields as a dict,
WITHOUT ``seq`` (the runner's queue numbers events): ``{"type": "frame", "at": datetime,
...}`` so that ``protocol.FrameEvent(seq=n, **fields)`` (or the AgentEvent adapter) builds
the message. ``emit`` is called from capture threads (the audio one is PortAudio's
real-time callback), so it must be thread-safe and quick: hand the event to a queue.

Each source also takes ``is_paused``, asked before every capture, so the runner keeps the
one pause state (hotkey and ``llmcoder-capture pause``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Emit = Callable[[dict[str, Any]], None]
IsPaused = Callable[[], bool]

log = logging.getLogger(__name__)

STOP_SECONDS = 5.0  # one step (a grab and an encode) takes well under this


def never_paused() -> bool:
    return False


def now() -> datetime:
    return datetime.now(UTC)


class CaptureError(RuntimeError):
    """A source cannot run (no microphone, no such monitor, no X display); the message is
    written for the user and the runner logs it and carries on without that source."""


class Ticker:
    """Calls ``step`` every ``period`` seconds on a daemon thread until stopped. A
    CaptureError ends the thread (retrying would only repeat it) and is kept in
    ``failure``; any other error is logged once per run of failures and the next tick
    tries again."""

    def __init__(self, name: str, period: float, step: Callable[[], object]) -> None:
        self.name = name
        self.period = period
        self._step = step
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failure: CaptureError | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self.failure = None
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(STOP_SECONDS)
            self._thread = None

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._step()
                failing = False
            except CaptureError as exc:
                log.error("%s stopped: %s", self.name, exc)
                self.failure = exc
                return
            except Exception:  # a capture step must not kill the agent; the next tick retries
                if not failing:
                    log.exception("%s: a capture step failed; retrying every tick", self.name)
                failing = True
            self._stop.wait(max(0.0, self.period - (time.monotonic() - started)))
