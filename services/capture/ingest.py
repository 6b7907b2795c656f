"""The server side of the capture websocket: one `IngestSession` per connection stores what
a device streams, and `serve` drives it over any ASGI websocket (the route in
llmcoder_app/api.py passes Starlette's).

Exactly once: every event is stored in one transaction that first moves the device's
`last_seq` forward with a conditional UPDATE (WHERE last_seq < seq). When that matches no
row, the event was stored before (a resend after a lost ack or a restart): it is
acknowledged again and nothing is written. A frame's file is written before its row and
removed when the row is not stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from anyio import to_thread
from sqlalchemy import update
from sqlmodel import SQLModel

from capture_agent import protocol
from services.capture import devices, storage, turbo
from services.capture.devices import DeviceSummary
from services.db import session_scope
from services.db.models import CaptureAudio, CaptureDevice, CaptureEvent, CaptureFrame, CaptureKeys
from services.db.models.base import utcnow

log = logging.getLogger(__name__)

MAX_SEQ = 2**53 - 1  # the largest integer every JSON reader keeps exact; far below BIGINT's limit
MAX_MALFORMED_IN_A_ROW = 50  # a client this broken is not going to recover: close it
RECHECK_SECONDS = 2.0  # how stale "the device is not revoked" may be (revocations in other processes)
TOUCH_SECONDS = 10.0  # how often an idle connection refreshes last_seen_at
HELLO_TIMEOUT_SECONDS = 30.0
_IMAGE_MAGIC = {"jpeg": b"\xff\xd8\xff", "webp": b"RIFF"}

Event = protocol.FrameEvent | protocol.AudioEvent | protocol.KeysEvent | protocol.WindowEvent | protocol.StateEvent


class CloseSession(Exception):
    """Ends the connection with a websocket close code from the protocol."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _revoked() -> CloseSession:
    return CloseSession(protocol.CLOSE_REVOKED, "This device was revoked on the Devices page.")


def _image_problem(event: protocol.FrameEvent) -> str:
    """A frame is served back to the browser as an image: its bytes must be one."""
    data = event.data
    if not data.startswith(_IMAGE_MAGIC[event.format]) or (event.format == "webp" and data[8:12] != b"WEBP"):
        return f"data: not a {event.format.upper()} image"
    return ""


def _row(event: Event, device: DeviceSummary, captured_at: datetime, path: str) -> SQLModel:
    common: dict[str, Any] = {"device_id": device.id, "user_id": device.user_id, "seq": event.seq,
                              "captured_at": captured_at, "received_at": utcnow()}
    if isinstance(event, protocol.FrameEvent):
        return CaptureFrame(**common, path=path, width=event.width, height=event.height, bytes=len(event.data),
                            format=event.format, app=event.window.app, title=event.window.title)
    if isinstance(event, protocol.AudioEvent):
        return CaptureAudio(**common, duration_ms=event.duration_ms, pcm=event.data, app=event.window.app,
                            title=event.window.title)
    if isinstance(event, protocol.KeysEvent):
        return CaptureKeys(**common, app=event.window.app, title=event.window.title, strokes=len(event.keys),
                           text=event.text())
    if isinstance(event, protocol.WindowEvent):
        return CaptureEvent(**common, kind="window", app=event.window.app, title=event.window.title)
    return CaptureEvent(**common, kind="state", paused=event.paused)


class IngestSession:
    """One connection of one device. Its methods block on the database: call them from a
    worker thread (`serve` does)."""

    def __init__(self, device: DeviceSummary) -> None:
        self.device = device
        self.last_seq = device.last_seq  # never ahead of the database's: only ever moved to stored values
        self._malformed_in_a_row = 0
        self._checked = time.monotonic()
        self._touched = time.monotonic()

    def hello(self, raw: str | bytes) -> protocol.Welcome:
        """The first message must be a hello; the answer says where the stream resumes."""
        try:
            if isinstance(raw, bytes):
                raise protocol.ProtocolError("a text message, not a binary one")
            hello = protocol.parse_hello(raw)
        except protocol.ProtocolError as exc:
            raise CloseSession(protocol.CLOSE_PROTOCOL, f"The first message must be a hello ({exc}).") from None
        if hello.protocol != protocol.PROTOCOL_VERSION:
            raise CloseSession(protocol.CLOSE_PROTOCOL, f"This server speaks capture protocol "
                                                        f"{protocol.PROTOCOL_VERSION}; update the agent.")
        values: dict[str, Any] = {"agent_version": hello.agent_version, "last_seen_at": utcnow()}
        if hello.platform:
            values["platform"] = hello.platform
        with session_scope() as session:
            session.exec(update(CaptureDevice).where(  # type: ignore[call-overload]
                CaptureDevice.id == self.device.id).values(**values))
            row = session.get(CaptureDevice, self.device.id)
            if row is None or row.revoked_at is not None:
                raise _revoked()
            self.last_seq = row.last_seq
        return protocol.Welcome(device_id=self.device.id, last_seq=self.last_seq)

    def handle(self, raw: str | bytes) -> protocol.Ack | protocol.Rejected:
        """Stores one event; the reply acknowledges or rejects it. Raises CloseSession when the
        device was revoked or the client sends nothing but garbage."""
        self.check()
        try:
            event = self._parse(raw)
        except protocol.ProtocolError as exc:
            self._malformed_in_a_row += 1
            if self._malformed_in_a_row >= MAX_MALFORMED_IN_A_ROW:
                raise CloseSession(protocol.CLOSE_PROTOCOL,
                                   f"{MAX_MALFORMED_IN_A_ROW} malformed messages in a row.") from None
            return protocol.Rejected(seq=exc.seq, reason=str(exc)[:500])
        self._malformed_in_a_row = 0
        if event.seq > self.last_seq:
            self._store(event)
            if not isinstance(event, protocol.StateEvent):
                self._nudge_turbo()
        return protocol.Ack(seq=event.seq)

    def _nudge_turbo(self) -> None:
        """New context may start a turbo run; a failure to start one must not lose the event."""
        try:
            turbo.maybe_start(self.device.user_id)
        except Exception:
            log.exception("Could not start a turbo mode run for user %s", self.device.user_id)

    def check(self) -> None:
        """Raises CloseSession(CLOSE_REVOKED) once the device is revoked (by any process) or
        its owner deactivated; at most every RECHECK_SECONDS, refreshing last_seen_at now and then."""
        now = time.monotonic()
        if now - self._checked < RECHECK_SECONDS:
            return
        self._checked = now
        if not devices.is_active(self.device.id):
            raise _revoked()
        if now - self._touched >= TOUCH_SECONDS:
            self._touched = now
            with session_scope() as session:
                session.exec(update(CaptureDevice).where(  # type: ignore[call-overload]
                    CaptureDevice.id == self.device.id).values(last_seen_at=utcnow()))

    def _parse(self, raw: str | bytes) -> Event:
        if isinstance(raw, bytes):
            raise protocol.ProtocolError("Send events as text messages, not binary ones.")
        event = protocol.parse_event(raw)
        if event.seq > MAX_SEQ:
            raise protocol.ProtocolError(f"seq: must be at most {MAX_SEQ}", event.seq)
        if isinstance(event, protocol.FrameEvent) and (problem := _image_problem(event)):
            raise protocol.ProtocolError(problem, event.seq)
        return event

    def _store(self, event: Event) -> None:
        captured_at = min(event.at.astimezone(UTC), utcnow())  # a clock ahead must not outlive the retention
        path = ""
        if isinstance(event, protocol.FrameEvent):
            path = storage.write_frame(self.device.user_id, self.device.id, event.seq, captured_at, event.format,
                                       event.data)
        advanced = committed = False
        stored_seq = self.last_seq
        try:
            with session_scope() as session:
                values: dict[str, Any] = {"last_seq": event.seq, "last_seen_at": utcnow()}
                if isinstance(event, protocol.StateEvent):
                    values["paused"] = event.paused
                advanced = bool(session.exec(update(CaptureDevice).where(  # type: ignore[call-overload]
                    CaptureDevice.id == self.device.id, CaptureDevice.last_seq < event.seq,
                    CaptureDevice.revoked_at == None).values(**values)).rowcount)  # noqa: E711
                if advanced:
                    session.add(_row(event, self.device, captured_at, path))
                else:
                    row = session.get(CaptureDevice, self.device.id)
                    if row is None or row.revoked_at is not None:
                        raise _revoked()
                    stored_seq = row.last_seq  # another connection of this device stored it
            committed = True
        finally:
            if path and not (committed and advanced):
                storage.remove(path)
        self.last_seq = event.seq if advanced else max(self.last_seq, stored_seq)
        self._touched = time.monotonic()


class Socket(Protocol):
    """An ASGI websocket as Starlette wraps it."""

    async def accept(self) -> None: ...

    async def receive(self) -> Mapping[str, Any]: ...

    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


def _payload(message: Mapping[str, Any]) -> str | bytes:
    text = message.get("text")
    return text if text is not None else message.get("bytes") or b""


async def serve(socket: Socket, token: str | None) -> None:
    """Runs one connection to its end: authenticates (CLOSE_UNAUTHORIZED), expects a hello
    (CLOSE_PROTOCOL), then stores events until the client leaves or the device is revoked
    (CLOSE_REVOKED, at once for a revoke in this process)."""
    device = await to_thread.run_sync(devices.authenticate, token)
    await socket.accept()  # before refusing: a close code reaches the client only on an open socket
    if device is None:
        await socket.close(protocol.CLOSE_UNAUTHORIZED, "This device token is not valid; pair the agent again.")
        return
    loop = asyncio.get_running_loop()
    revoked = asyncio.Event()
    unregister = devices.on_revoke(device.id, lambda: loop.call_soon_threadsafe(revoked.set))
    try:
        await _stream(socket, IngestSession(device), revoked)
    except CloseSession as exc:
        await socket.close(exc.code, exc.reason)
    finally:
        unregister()


async def _stream(socket: Socket, session: IngestSession, revoked: asyncio.Event) -> None:
    try:
        first = await asyncio.wait_for(socket.receive(), HELLO_TIMEOUT_SECONDS)
    except TimeoutError:
        raise CloseSession(protocol.CLOSE_PROTOCOL, "No hello arrived.") from None
    if first["type"] == "websocket.disconnect":
        return
    await socket.send_text(protocol.dump(await to_thread.run_sync(session.hello, _payload(first))))
    # One receive stays pending across the waits: cancelling a receive could drop a message.
    receiving = asyncio.ensure_future(socket.receive())
    revoked_here = asyncio.ensure_future(revoked.wait())
    try:
        while True:
            done, _ = await asyncio.wait({receiving, revoked_here}, timeout=RECHECK_SECONDS / 2,
                                         return_when=asyncio.FIRST_COMPLETED)
            if revoked_here in done:
                raise _revoked()
            if receiving not in done:
                await to_thread.run_sync(session.check)
                continue
            message = receiving.result()
            if message["type"] == "websocket.disconnect":
                return
            receiving = asyncio.ensure_future(socket.receive())
            reply = await to_thread.run_sync(session.handle, _payload(message))
            await socket.send_text(protocol.dump(reply))
    finally:
        receiving.cancel()
        revoked_here.cancel()
