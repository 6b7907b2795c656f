"""`llmcoder-capture run`: the capture sources, the on-disk queue and the websocket link in
one process.

The sources call ``emit`` from their own threads (the audio one from PortAudio's real-time
callback), so emit only hands the event to a queue; one intake thread numbers and stores
events in the spool. The pause state has one home, the flag file in the state directory:
`llmcoder-capture pause` and the hotkey both write it, the runner notices within a second,
and a state event tells the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import queue
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import Any, Protocol

from capture_agent import config as settings
from capture_agent.audio import AudioSource
from capture_agent.client import Client
from capture_agent.config import AgentStatus, Config, ConfigError, Paths
from capture_agent.keys import KeySource
from capture_agent.privacy import Privacy
from capture_agent.screen import ScreenSource
from capture_agent.sources import CaptureError
from capture_agent.spool import Spool, SpoolError
from capture_agent.window import WindowProbe

log = logging.getLogger(__name__)

FLAG_SECONDS = 1.0  # how soon `llmcoder-capture pause` takes effect
STATUS_SECONDS = 5.0  # how often status.json is rewritten (cli.STATUS_STALE_AFTER is three of these)
MB = 1_000_000


class Source(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


class Intake:
    """Stores emitted events in the spool on one thread of its own, so that no capture
    thread ever waits for SQLite."""

    _STOP = object()

    def __init__(self, spool: Spool) -> None:
        self._spool = spool
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="capture intake", daemon=True)
        self._thread.start()

    def put(self, fields: dict[str, Any]) -> None:
        self._queue.put(fields)

    def close(self) -> None:
        """Store what is still queued, then stop."""
        self._queue.put(self._STOP)
        self._thread.join()

    def _run(self) -> None:
        while (fields := self._queue.get()) is not self._STOP:
            try:
                self._spool.append(fields)
            except ValueError as exc:  # a source bug; the message names fields, never their values
                log.error("A %s event was not queued: %s", fields.get("type", "capture"), exc)


class Runner:
    def __init__(self, config: Config, paths: Paths, spool: Spool, client: Client) -> None:
        self.config, self.paths, self.spool, self.client = config, paths, spool, client
        self.paused = paths.pause_flag.exists()
        self.problems: list[str] = []  # why a source is not capturing, for `status`
        self._pause_lock = threading.Lock()
        self._intake = Intake(spool)
        try:
            self.sources = standard_sources(self)
        except ValueError as exc:
            self._intake.close()
            raise ConfigError(f"{paths.config_file}: {exc}") from None

    def emit(self, fields: dict[str, Any]) -> None:
        """What the sources call. While paused nothing gets through, not even an event a
        source captured an instant before the pause."""
        if not self.paused:
            self._intake.put(fields)

    def is_paused(self) -> bool:
        return self.paused

    def toggle_pause(self) -> None:
        """The hotkey: flip the flag file, and apply it now rather than at the next check."""
        with self._pause_lock:
            if self.paused:
                self.paths.pause_flag.unlink(missing_ok=True)
            else:
                self.paths.pause_flag.touch()
        self.apply_pause_flag()

    def apply_pause_flag(self) -> None:
        with self._pause_lock:
            paused = self.paths.pause_flag.exists()
            if paused == self.paused:
                return
            self.paused = paused
            self._intake.put(_state_event(paused))
        log.info("Capture %s.", "paused" if paused else "resumed")

    async def main(self) -> int:
        """Capture and stream until a signal or the server's refusal; the exit code."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, ValueError):  # Windows; not the main thread
                loop.add_signal_handler(signum, stop.set)
        self._intake.put(_state_event(self.paused))  # the server learns the state this run starts in
        self._start_sources()
        link = asyncio.create_task(self.client.run())
        stopper = asyncio.create_task(stop.wait())
        try:
            next_status = 0.0
            while not link.done() and not stop.is_set():
                if loop.time() >= next_status:
                    self.write_status(running=True)
                    next_status = loop.time() + STATUS_SECONDS
                await asyncio.wait({link, stopper}, timeout=FLAG_SECONDS, return_when=asyncio.FIRST_COMPLETED)
                self.apply_pause_flag()
        finally:
            for source in self.sources:
                source.stop()
            self._intake.close()
            stopper.cancel()
            if not link.done():
                link.cancel()
            await asyncio.gather(link, stopper, return_exceptions=True)
            self.write_status(running=False)
        return 1 if self.client.state.refused else 0  # the client logged why

    def _start_sources(self) -> None:
        started = []
        for source in self.sources:
            try:
                source.start()
                started.append(source)
            except CaptureError as exc:
                log.error("%s", exc)
                self.problems.append(str(exc))
        self.sources = started
        if not started:
            log.error("Nothing can be captured; the agent only sends what is already queued.")

    def write_status(self, running: bool) -> None:
        for source in self.sources:
            failure = getattr(source, "failure", None)  # a source whose capture thread gave up says why
            if failure is not None and str(failure) not in self.problems:
                self.problems.append(str(failure))
        count, size = self.spool.stats()
        state = self.client.state
        status = AgentStatus(
            pid=os.getpid(), running=running, updated_at=datetime.now(UTC), connected=state.connected,
            last_ack_seq=state.last_ack_seq, pending_events=count, pending_bytes=size, paused=self.paused,
            last_error=state.last_error, refused=state.refused, problems=self.problems,
        )
        settings.write_private_json(self.paths.status_file, status.model_dump(mode="json"))


def _state_event(paused: bool) -> dict[str, Any]:
    return {"type": "state", "at": datetime.now(UTC), "paused": paused}


def standard_sources(runner: Runner) -> list[Source]:
    """Screen always; audio and keys per config. With keys off the key listener still runs
    for the pause hotkey, permanently "paused" for recording (the hotkey is matched first)."""
    config = runner.config
    privacy = Privacy(apps=config.excluded_apps, titles=config.excluded_titles)
    probe = WindowProbe()
    sources: list[Source] = [ScreenSource(
        runner.emit, privacy, probe, monitor=config.monitor, fps=config.fps, max_width=config.max_width,
        image_format=config.image_format, is_paused=runner.is_paused,
    )]
    if config.audio:
        sources.append(AudioSource(runner.emit, is_paused=runner.is_paused))
    sources.append(KeySource(
        runner.emit, privacy, probe, on_hotkey=runner.toggle_pause, hotkey=config.pause_hotkey,
        is_paused=runner.is_paused if config.keys else lambda: True,
    ))
    return sources


def run(config: Config, paths: Paths) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings.ensure_private_dir(paths.state_dir)
    try:
        spool = Spool(paths.queue_file, config.queue_max_mb * MB)
    except SpoolError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        client = Client(config.server, config.token, spool, platform=platform.platform())
        runner = Runner(config, paths, spool, client)
        log.info("Capturing for %s as device %s (%s). Pause: %s or `llmcoder-capture pause`; stop: Ctrl+C.",
                 config.server, config.device_id, config.name, config.pause_hotkey)
        return asyncio.run(runner.main())
    finally:
        spool.close()
