"""The capture endpoints over a real HTTP server and websocket (tests/capture_support.py):
pairing, the close codes, acks, resuming after a server restart, revocation mid-stream,
protocol fuzzing, and the frame image only its owner can fetch."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from capture_agent import protocol
from services.auth import sessions, users
from services.capture import devices, ingest, retention
from services.db import session_scope
from services.db.models import CaptureDevice
from services.db.models.base import utcnow
from tests import capture_support
from tests.capture_support import CaptureServer
from tests.llm_support import run_async

pytestmark = pytest.mark.integration
capture_app = capture_support.capture_app  # the fixture: the server on this test's data dir

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8
REPLY_TIMEOUT = 10.0  # a deadline for a reply that should come at once, not a speed test
REVOKED_CLOSE_DEADLINE = 2 * ingest.RECHECK_SECONDS  # "cut off within seconds", also from another process


def pair(server: CaptureServer) -> tuple[int, str]:
    response = httpx.post(f"{server.url}{protocol.PAIR_PATH}",
                          json={"code": server.pairing_code(), "name": "box", "platform": "Linux"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["ws_path"] == protocol.WS_PATH
    return body["device_id"], body["token"]


def window(seq: int, app: str = "code") -> str:
    return protocol.dump(protocol.WindowEvent(seq=seq, at=utcnow(), window=protocol.WindowInfo(app=app)))


def frame(seq: int) -> str:
    return protocol.dump(protocol.FrameEvent(seq=seq, at=utcnow(), width=640, height=400, format="jpeg", data=JPEG))


def run(body: Callable[[], Awaitable[None]]) -> None:
    run_async(asyncio.wait_for(body(), 60))


def open_socket(server: CaptureServer, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return connect(f"{server.ws_url}{protocol.WS_PATH}", additional_headers=headers, max_size=None)


async def reply(ws: ClientConnection):
    return protocol.parse_server(await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT))


async def say_hello(ws: ClientConnection) -> protocol.Welcome:
    await ws.send(protocol.dump(protocol.Hello(agent_version="test")))
    welcome = await reply(ws)
    assert isinstance(welcome, protocol.Welcome)
    return welcome


async def close_code(ws: ClientConnection, deadline: float = REPLY_TIMEOUT) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), deadline)
    assert closed.value.rcvd is not None, "the server dropped the connection without a close frame"
    return closed.value.rcvd.code


# Pairing over HTTP


def test_pairing_answers_with_a_token_once(capture_app):
    code = capture_app.pairing_code()
    first = httpx.post(f"{capture_app.url}{protocol.PAIR_PATH}", json={"code": code.lower(), "name": "box"})
    assert first.status_code == 201
    assert first.json()["token"].startswith("llmd_")
    again = httpx.post(f"{capture_app.url}{protocol.PAIR_PATH}", json={"code": code, "name": "box"})
    assert again.status_code == 403
    assert again.json() == {"error": devices.INVALID_CODE}


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"name": "box"}', b'{"code": 12345678, "name": "box"}',
                                  b'{"code": "ABCD-EFGH", "name": "box", "platform": 3}',
                                  b'{"code": "ABCD-EFGH", "name": ""}'])
def test_a_malformed_pairing_request_is_a_400(capture_app, body):
    response = httpx.post(f"{capture_app.url}{protocol.PAIR_PATH}", content=body,
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]


def test_pairing_attempts_from_one_address_are_throttled(capture_app):
    statuses = [httpx.post(f"{capture_app.url}{protocol.PAIR_PATH}", json={"code": "ZZZZ-ZZZZ", "name": "box"})
                .status_code for _ in range(devices.PAIR_ATTEMPTS_PER_MINUTE)]
    assert statuses == [403] * devices.PAIR_ATTEMPTS_PER_MINUTE
    refused = httpx.post(f"{capture_app.url}{protocol.PAIR_PATH}",
                         json={"code": capture_app.pairing_code(), "name": "box"})
    assert refused.status_code == 429
    assert refused.json() == {"error": "Too many pairing attempts; wait a minute."}


# The websocket


@pytest.mark.parametrize("token", [None, "llmd_not-a-real-token", "llmc_an-api-token-is-not-a-device-token"])
def test_a_bad_token_is_closed_with_4401(capture_app, token):
    async def body() -> None:
        async with open_socket(capture_app, token) as ws:
            assert await close_code(ws) == protocol.CLOSE_UNAUTHORIZED

    run(body)


def test_the_first_message_must_be_a_hello(capture_app):
    _, token = pair(capture_app)

    async def body() -> None:
        async with open_socket(capture_app, token) as ws:
            await ws.send(window(1))
            assert await close_code(ws) == protocol.CLOSE_PROTOCOL

    run(body)
    assert capture_app.stored_seqs(1) == []


def test_a_stream_is_acknowledged_event_by_event_and_stored_once(capture_app):
    device_id, token = pair(capture_app)

    async def body() -> None:
        async with open_socket(capture_app, token) as ws:
            assert await say_hello(ws) == protocol.Welcome(device_id=device_id, last_seq=0)
            for seq in range(1, 11):
                await ws.send(frame(seq) if seq % 2 else window(seq))
            assert [await reply(ws) for _ in range(10)] == [protocol.Ack(seq=seq) for seq in range(1, 11)]
            await ws.send(window(4))  # a resend
            assert await reply(ws) == protocol.Ack(seq=4)

    run(body)
    assert capture_app.stored_seqs(device_id) == list(range(1, 11))


def test_after_a_server_restart_the_welcome_gives_the_last_stored_seq(capture_app):
    device_id, token = pair(capture_app)

    async def before() -> None:
        async with open_socket(capture_app, token) as ws:
            await say_hello(ws)
            for seq in range(1, 6):
                await ws.send(window(seq))
                assert await reply(ws) == protocol.Ack(seq=seq)
            capture_app.stop()  # mid-stream: the connection is cut
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT)

    async def after() -> None:
        async with open_socket(capture_app, token) as ws:
            assert (await say_hello(ws)).last_seq == 5
            for seq in (4, 5, 6):  # what an agent that missed the last acks resends, then a new one
                await ws.send(window(seq))
            assert [await reply(ws) for _ in range(3)] == [protocol.Ack(seq=seq) for seq in (4, 5, 6)]

    run(before)
    capture_app.start()
    run(after)
    assert capture_app.stored_seqs(device_id) == [1, 2, 3, 4, 5, 6]


def test_revoking_on_the_devices_page_closes_the_connection_with_4403(capture_app, monkeypatch):
    device_id, token = pair(capture_app)
    monkeypatch.setattr(ingest, "RECHECK_SECONDS", 3600.0)  # so only the revoke's own callback can close it

    async def body() -> None:
        async with open_socket(capture_app, token) as ws:
            await say_hello(ws)
            await asyncio.to_thread(capture_app.revoke, device_id)
            assert await close_code(ws, REVOKED_CLOSE_DEADLINE) == protocol.CLOSE_REVOKED
        async with open_socket(capture_app, token) as ws:  # and it stays out
            assert await close_code(ws) == protocol.CLOSE_UNAUTHORIZED

    run(body)


def test_a_revocation_by_another_process_closes_the_connection_within_seconds(capture_app):
    device_id, token = pair(capture_app)

    def revoke_in_the_database() -> None:  # what another web process's revoke leaves behind: no callback here
        with session_scope() as session:
            session.exec(update(CaptureDevice).where(CaptureDevice.id == device_id).values(revoked_at=utcnow()))

    async def body() -> None:
        async with open_socket(capture_app, token) as ws:
            await say_hello(ws)
            await asyncio.to_thread(revoke_in_the_database)
            assert await close_code(ws, REVOKED_CLOSE_DEADLINE) == protocol.CLOSE_REVOKED

    run(body)


def test_malformed_messages_are_rejected_and_the_session_survives(capture_app):
    device_id, token = pair(capture_app)
    at = utcnow().isoformat()
    malformed: list[str | bytes] = [
        "garbage",
        "",
        "null",
        '"a string"',
        "[1, 2, 3]",
        json.dumps({"type": "window", "seq": "first", "at": at, "window": {}}),
        json.dumps({"type": "window", "seq": 1, "at": "yesterday", "window": {}}),
        json.dumps({"type": "window", "seq": 1, "at": at, "window": {"app": ["x"]}}),
        json.dumps({"type": "keys", "seq": 1, "at": at, "keys": "abc"}),
        json.dumps({"type": "frame", "seq": 1, "at": at, "width": 10, "height": 10, "format": "jpeg",
                    "data": "%%%not base64%%%"}),
        json.dumps({"type": "frame", "seq": 1, "at": at, "width": 10, "height": 10, "format": "gif",
                    "data": "R0lGODlh"}),
        json.dumps({"type": "audio", "seq": 1, "at": at, "data": "AAEC"}),  # three bytes: not whole 16-bit samples
        json.dumps({"type": "window", "seq": 2**70, "at": at, "window": {}}),
        json.dumps({"type": "window", "seq": -1, "at": at, "window": {}}),
        json.dumps({"type": "window", "at": at, "window": {}}),
        json.dumps({"seq": 1, "at": at}),
        json.dumps({"type": "welcome", "device_id": 1, "last_seq": 0}),
        json.dumps({"type": "window", "seq": 1, "at": at, "window": {}, "extra": True}),
        b"\x00\x01\x02binary",
        window(1).encode(),  # a valid event, but as a binary frame
        "x" * (protocol.MAX_MESSAGE_CHARS + 1),
    ]

    async def body() -> None:
        async with open_socket(capture_app, token) as ws:
            await say_hello(ws)
            for message in malformed:
                await ws.send(message)
                answer = await reply(ws)
                assert isinstance(answer, protocol.Rejected), (message[:80], answer)
            await ws.send(window(1))
            assert await reply(ws) == protocol.Ack(seq=1)

    run(body)
    assert capture_app.stored_seqs(device_id) == [1]


# The frame image for the Live page


def test_a_frame_image_is_served_to_its_owner_only(capture_app):
    device_id, token = pair(capture_app)
    other = users.create_user(email="other@example.com", password="correct horse 1")

    async def body() -> None:
        async with open_socket(capture_app, token) as ws:
            await say_hello(ws)
            await ws.send(frame(1))
            assert await reply(ws) == protocol.Ack(seq=1)

    run(body)
    owner_cookie, _ = sessions.sign_in(capture_app.user.email, "correct horse 1")
    other_cookie, _ = sessions.sign_in(other.email, "correct horse 1")
    url = f"{capture_app.url}/api/capture/frames/1"

    mine = httpx.get(url, cookies={sessions.SESSION_COOKIE: owner_cookie})
    assert mine.status_code == 200 and mine.content == JPEG
    assert mine.headers["content-type"] == "image/jpeg"
    assert mine.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(url, cookies={sessions.SESSION_COOKIE: other_cookie}).status_code == 404
    assert httpx.get(f"{capture_app.url}/api/capture/frames/2",
                     cookies={sessions.SESSION_COOKIE: owner_cookie}).status_code == 404
    assert httpx.get(url).status_code == 401

    retention.purge_device(device_id, utcnow() + timedelta(days=2))  # expired: the image is gone, so is the answer
    assert httpx.get(url, cookies={sessions.SESSION_COOKIE: owner_cookie}).status_code == 404
