"""The websocket link to the server: sends the queue in order, trims it on acks, and
reconnects after any failure until the server refuses the device for good.

Nothing is deleted from the queue before the server acknowledges it, and the server's
welcome says what it already has, so a broken connection at any moment loses nothing and
stores nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from capture_agent import __version__
from capture_agent.protocol import (
    CLOSE_REVOKED,
    CLOSE_UNAUTHORIZED,
    WS_PATH,
    Ack,
    Hello,
    ProtocolError,
    Rejected,
    Welcome,
    dump,
    parse_server,
)
from capture_agent.spool import Spool

log = logging.getLogger(__name__)
# websockets logs every handshake header (the token too) at DEBUG: its logger never goes
# below INFO, whatever the application's logging says.
_wire_log = logging.getLogger("capture_agent.wire")
_wire_log.setLevel(logging.INFO)

WINDOW = 64  # events sent and not yet acknowledged
BATCH = 16  # events read from the queue at a time
REFUSED_BY_CODE = {
    CLOSE_UNAUTHORIZED: "The server does not accept this device's token; pair again (llmcoder-capture pair).",
    CLOSE_REVOKED: "This device was revoked on the Devices page; pair again to resume capture.",
}
REFUSED_BY_STATUS = {401: REFUSED_BY_CODE[CLOSE_UNAUTHORIZED], 403: REFUSED_BY_CODE[CLOSE_REVOKED]}


class DeviceRefused(Exception):
    """The server will never take events from this token again: retrying is pointless."""


def websocket_url(server: str) -> str:
    """The capture websocket under ``server`` (http -> ws, https -> wss, any path prefix kept)."""
    parts = urlsplit(server)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"The server address must start with http:// or https://, not {server!r}.")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + WS_PATH, "", ""))


class Backoff:
    """Reconnect delays: 0.5 s doubling to 30 s, each +-20 %, so that agents cut off by
    the same server restart do not all come back in the same instant."""

    def __init__(self, first: float = 0.5, cap: float = 30.0, jitter: float = 0.2,
                 rand: Callable[[], float] = random.random) -> None:
        self._first, self._cap, self._jitter, self._rand = first, cap, jitter, rand
        self._base = first

    def next_delay(self) -> float:
        base = self._base
        self._base = min(base * 2, self._cap)
        return base * (1 + self._jitter * (2 * self._rand() - 1))

    def reset(self) -> None:
        self._base = self._first


@dataclass
class LinkState:
    connected: bool = False
    last_ack_seq: int = 0
    last_error: str = ""
    refused: str = ""  # why the server refused the device; the client has stopped


@dataclass
class _Session:
    last_sent: int
    in_flight: deque[int] = field(default_factory=deque)


class Client:
    def __init__(self, server: str, token: str, spool: Spool, *, platform: str = "",
                 backoff: Backoff | None = None, window: int = WINDOW, welcome_timeout: float = 10.0) -> None:
        self.url = websocket_url(server)
        self._headers = {"Authorization": f"Bearer {token}"}
        self._spool = spool
        self._platform = platform[:80]
        self._backoff = backoff or Backoff()
        self._window = window
        self._welcome_timeout = welcome_timeout
        self._wake = asyncio.Event()  # set by appends and acks: the sender has something to do
        self.state = LinkState()

    def __repr__(self) -> str:  # the default would show the headers, token included
        return f"Client({self.url!r})"

    async def run(self) -> str:
        """Stream until the server refuses the device, and return why; cancel to stop."""
        loop = asyncio.get_running_loop()

        def on_append() -> None:  # called from the sources' threads
            try:
                loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:  # the loop is closing: the event stays queued for next time
                pass

        self._spool.watch(on_append)
        try:
            while True:
                try:
                    await self._connect_once()
                    self.state.last_error = f"{self.url} closed the connection; reconnecting."
                except DeviceRefused as refused:
                    self.state.refused = self.state.last_error = str(refused)
                    log.error("%s", refused)
                    return str(refused)
                except (OSError, TimeoutError, WebSocketException, ProtocolError) as exc:
                    self.state.last_error = self._describe(exc)
                    log.warning("%s", self.state.last_error)
                finally:
                    self.state.connected = False
                await asyncio.sleep(self._backoff.next_delay())
        finally:
            self._spool.watch(None)

    async def _connect_once(self) -> None:
        try:
            async with connect(self.url, additional_headers=self._headers, logger=_wire_log,
                               open_timeout=self._welcome_timeout, close_timeout=2) as ws:
                await self._session(ws)
        except InvalidStatus as exc:
            refused = REFUSED_BY_STATUS.get(exc.response.status_code)
            if refused:
                raise DeviceRefused(refused) from None
            raise
        except ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code in REFUSED_BY_CODE:
                raise DeviceRefused(REFUSED_BY_CODE[exc.rcvd.code]) from None
            raise

    async def _session(self, ws: ClientConnection) -> None:
        await ws.send(dump(Hello(agent_version=__version__, platform=self._platform)))
        welcome = parse_server(await asyncio.wait_for(ws.recv(), self._welcome_timeout))
        if not isinstance(welcome, Welcome):
            raise ProtocolError(f"The server answered hello with {welcome.type!r} instead of a welcome.")
        self._spool.ack_through(welcome.last_seq)
        self._spool.bump_next(welcome.last_seq)
        self.state.connected, self.state.last_ack_seq, self.state.last_error = True, welcome.last_seq, ""
        self._backoff.reset()
        log.info("Connected to %s; the server has everything up to event %d.", self.url, welcome.last_seq)

        session = _Session(last_sent=welcome.last_seq)
        tasks = [asyncio.create_task(self._send(ws, session)), asyncio.create_task(self._receive(ws, session))]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()  # the failure that ended the session, if any

    async def _send(self, ws: ClientConnection, session: _Session) -> None:
        while True:
            self._wake.clear()  # before reading the queue, so an append after the read still wakes us
            room = self._window - len(session.in_flight)
            batch = self._spool.pending(min(room, BATCH), after=session.last_sent) if room > 0 else []
            for item in batch:
                session.in_flight.append(item.seq)  # before sending: its ack may arrive during the send
                session.last_sent = item.seq
                await ws.send(item.body)
            if not batch:
                await self._wake.wait()

    async def _receive(self, ws: ClientConnection, session: _Session) -> None:
        async for raw in ws:
            message = parse_server(raw)
            if isinstance(message, Ack):
                self._spool.ack_through(message.seq)
                self.state.last_ack_seq = max(self.state.last_ack_seq, message.seq)
                while session.in_flight and session.in_flight[0] <= message.seq:
                    session.in_flight.popleft()
            elif isinstance(message, Rejected):
                self._rejected(message, session)
            else:
                raise ProtocolError("The server sent a second welcome.")
            self._wake.set()

    def _rejected(self, message: Rejected, session: _Session) -> None:
        self.state.last_error = f"The server rejected event {message.seq}: {message.reason}"
        log.warning("%s", self.state.last_error)
        if message.seq is not None:
            self._spool.drop(message.seq)
            if message.seq in session.in_flight:
                session.in_flight.remove(message.seq)

    def _describe(self, exc: Exception) -> str:
        if isinstance(exc, InvalidStatus):
            return (f"The server answered HTTP {exc.response.status_code} at {self.url} instead of opening the "
                    "capture websocket; is the server address right?")
        if isinstance(exc, ConnectionClosed):
            return f"The connection to {self.url} closed ({exc}); reconnecting."
        if isinstance(exc, TimeoutError):
            return f"{self.url} did not answer in time; retrying."
        if isinstance(exc, OSError):
            return f"Cannot reach {self.url} ({exc.strerror or exc}); retrying."
        return f"{type(exc).__name__} talking to {self.url}: {exc}"
