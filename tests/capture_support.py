"""The app's capture endpoints on a real HTTP/websocket server, for the agent's and the
ingest's tests: llmcoder_app.api.api served by granian's embedded server in a thread with
its own event loop, on 127.0.0.1, on the test's own data directory and SQLite database.

    def test_x(capture_app):
        code = capture_app.pairing_code()        # for capture_app.user
        ... POST f"{capture_app.url}/api/capture/pair", then the websocket ...
        capture_app.stop(); capture_app.start()  # same port: "server restarted mid-stream"
        assert capture_app.stored_seqs(device_id) == [1, 2, 3]
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from granian.constants import Interfaces
from granian.server.embed import Server
from sqlalchemy import union_all
from sqlmodel import select
from starlette.types import ASGIApp

from llmcoder_app.api import api
from services.auth import users
from services.auth.users import AuthedUser
from services.capture import devices
from services.db import migrate, session_scope
from services.db.models import CaptureAudio, CaptureEvent, CaptureFrame, CaptureKeys

START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 20.0
CAPTURED_TABLES = (CaptureFrame, CaptureAudio, CaptureKeys, CaptureEvent)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class CaptureServer:
    """One user's capture server; `stop` and `start` keep the port and the database."""

    def __init__(self, data_dir: Path, user: AuthedUser, port: int, app: ASGIApp = api) -> None:
        self.app = app
        self.data_dir = data_dir
        self.user = user
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._failure: BaseException | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("The capture server is already running.")
        devices.reset_throttle()
        ready = threading.Event()
        self._failure = None
        self._thread = threading.Thread(target=self._run, args=(ready,), name=f"capture-server-{self.port}",
                                        daemon=True)
        self._thread.start()
        ready.wait(START_TIMEOUT_SECONDS)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _accepts(self.port):
            if self._failure is not None or not self._thread.is_alive() or time.monotonic() > deadline:
                self._thread = None
                raise RuntimeError(f"The capture server did not start on port {self.port}") from self._failure
            time.sleep(0.05)

    def _run(self, ready: threading.Event) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._server = Server(self.app, address="127.0.0.1", port=self.port, interface=Interfaces.ASGI,
                                  log_enabled=False)
            ready.set()
            await self._server.serve()

        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported by start(); a thread cannot raise to the test
            self._failure = exc
            ready.set()

    def stop(self) -> None:
        """Stops serving (open websockets are cut) and waits until the port is free."""
        if self._thread is None or self._loop is None or self._server is None:
            return
        self._loop.call_soon_threadsafe(self._server.stop)
        self._thread.join(STOP_TIMEOUT_SECONDS)
        if self._thread.is_alive():
            raise RuntimeError("The capture server did not stop.")
        self._thread = self._loop = self._server = None
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while _accepts(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"Port {self.port} still accepts connections after the stop.")
            time.sleep(0.05)

    def pairing_code(self) -> str:
        return devices.create_pairing_code(self.user.id)

    def revoke(self, device_id: int) -> None:
        devices.revoke(self.user.id, device_id)

    def stored_seqs(self, device_id: int) -> list[int]:
        """Every stored seq of the device over all captured tables, in order; a seq stored
        twice appears twice."""
        query = union_all(*(select(table.seq).where(table.device_id == device_id) for table in CAPTURED_TABLES))
        with session_scope() as session:
            return sorted(session.exec(query).scalars())  # type: ignore[call-overload]


@contextmanager
def capture_server(data_dir: Path, email: str = "capture@example.com", app: ASGIApp = api) -> Iterator[CaptureServer]:
    """A migrated database in `data_dir` (the `data_dir` fixture's), a user, and the server
    (of `app`: the API itself, or the API wrapped by a benchmark's meter)."""
    migrate.upgrade()
    user = users.create_user(email=email, password="correct horse 1")
    server = CaptureServer(data_dir, user, free_port(), app)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def capture_app(data_dir) -> Iterator[CaptureServer]:
    with capture_server(data_dir) as server:
        yield server
