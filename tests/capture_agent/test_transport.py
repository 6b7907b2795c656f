"""The agent's link to the real capture server (tests/capture_support.py): events flow in
order and are acknowledged, a server restart loses nothing and stores nothing twice, a
revoked or unknown device is cut off for good, and numbering survives an emptied queue."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from capture_agent.client import REFUSED_BY_CODE, Backoff, Client, websocket_url
from capture_agent.protocol import CLOSE_REVOKED, CLOSE_UNAUTHORIZED
from capture_agent.spool import Spool
from services.capture import devices
from tests.capture_support import CaptureServer, capture_server

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8  # the server checks the magic, nothing more
WAIT_SECONDS = 30.0
FAST = {"first": 0.05, "cap": 0.5}  # reconnect quickly: the tests restart servers on purpose


def at() -> datetime:
    return datetime.now(UTC)


def frame(data: bytes = JPEG) -> dict:
    return {"type": "frame", "at": at(), "width": 320, "height": 200, "format": "jpeg", "data": data,
            "window": {"app": "xterm", "title": "bash"}}


def keys(text: str = "ls") -> dict:
    return {"type": "keys", "at": at(), "keys": [{"ms": 5 * i, "key": ch} for i, ch in enumerate(text)]}


EVENTS = (
    frame(),
    keys("make test"),
    {"type": "audio", "at": at(), "data": b"\x10\x00" * 3200},
    {"type": "window", "at": at(), "window": {"app": "firefox", "title": "Docs"}},
    {"type": "state", "at": at(), "paused": True},
)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


class Agent:
    """A Client running on its own event loop in a thread, as in the agent process, so
    the test thread stays free to stop and start the server."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.result: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)
        self._thread.start()
        self._started.wait(WAIT_SECONDS)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self.client.run())
        self._started.set()
        try:
            self.result = await self._task
        except asyncio.CancelledError:
            pass

    @property
    def finished(self) -> bool:
        return not self._thread.is_alive()

    def stop(self) -> None:
        if self._loop is not None and self._task is not None and not self.finished:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(WAIT_SECONDS)
        assert self.finished, "the client did not stop when cancelled"


@pytest.fixture
def server(data_dir) -> Iterator[CaptureServer]:
    """The real capture endpoints (tests/capture_support.py) on this test's database."""
    with capture_server(data_dir) as running:
        yield running


@pytest.fixture
def device(server: CaptureServer) -> tuple[int, str]:
    return devices.pair(server.pairing_code(), "test-box", "Linux")


@pytest.fixture
def spool(tmp_path) -> Iterator[Spool]:
    opened = Spool(tmp_path / "queue.sqlite3", max_bytes=50_000_000)
    yield opened
    opened.close()


@pytest.fixture
def start_agent() -> Iterator[Callable[..., Agent]]:
    agents: list[Agent] = []

    def start(server: str, token: str, spool: Spool, **options) -> Agent:
        agent = Agent(Client(server, token, spool, platform="Linux-test", backoff=Backoff(**FAST), **options))
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.stop()


def drained(spool: Spool) -> Callable[[], bool]:
    return lambda: spool.stats()[0] == 0


def test_events_flow_in_order_and_are_acknowledged(server, device, spool, start_agent):
    device_id, token = device
    queued_before = [spool.append(event) for event in EVENTS]
    agent = start_agent(server.url, token, spool, window=2)  # a window smaller than the backlog
    wait_until(drained(spool), "the backlog is acknowledged")
    assert agent.client.state.connected and agent.client.state.last_ack_seq == 5

    appended_live = [spool.append(keys(f"echo {i}")) for i in range(3)]  # picked up without polling
    wait_until(drained(spool), "the new events are acknowledged")
    assert server.stored_seqs(device_id) == queued_before + appended_live == list(range(1, 9))
    assert agent.client.state.last_ack_seq == 8 and agent.client.state.last_error == ""


def test_a_server_restart_mid_stream_loses_nothing_and_stores_nothing_twice(server, device, spool,
                                                                           start_agent):
    device_id, token = device
    appended: list[int] = []
    stop_typing = threading.Event()

    def type_and_look() -> None:  # the sources keep capturing whatever the connection does
        i = 0
        while not stop_typing.is_set():
            appended.append(spool.append(frame() if i % 3 == 0 else keys(f"word{i}")))
            i += 1
            time.sleep(0.01)

    agent = start_agent(server.url, token, spool, window=8)
    producer = threading.Thread(target=type_and_look, daemon=True)
    producer.start()
    try:
        wait_until(lambda: agent.client.state.last_ack_seq >= 20, "some events are acknowledged")
        server.stop()
        wait_until(lambda: not agent.client.state.connected, "the agent notices the server is gone")
        queued_while_down = len(appended)
        wait_until(lambda: len(appended) >= queued_while_down + 20, "events queue up while the server is down")
        assert spool.stats()[0] >= 20
        server.start()
        wait_until(lambda: agent.client.state.connected, "the agent reconnects")
        wait_until(lambda: len(appended) >= queued_while_down + 60, "the stream goes on after the restart")
    finally:
        stop_typing.set()
        producer.join()
    wait_until(drained(spool), "everything queued is acknowledged")
    assert appended == list(range(1, len(appended) + 1))
    assert server.stored_seqs(device_id) == appended  # every seq, exactly once
    assert agent.client.state.last_ack_seq == appended[-1]


def test_an_agent_started_while_the_server_is_down_delivers_once_it_is_up(server, device, spool,
                                                                         start_agent):
    device_id, token = device
    server.stop()
    spool.append(keys())
    agent = start_agent(server.url, token, spool)
    wait_until(lambda: "Cannot reach" in agent.client.state.last_error, "the failure is reported")
    assert not agent.finished and spool.stats()[0] == 1
    server.start()
    wait_until(drained(spool), "the queued event is delivered")
    assert server.stored_seqs(device_id) == [1]


def test_a_revoked_device_is_cut_off_and_the_client_stops_for_good(server, device, spool, start_agent):
    device_id, token = device
    spool.append(keys())
    agent = start_agent(server.url, token, spool)
    wait_until(drained(spool), "the first event is acknowledged")
    server.revoke(device_id)
    wait_until(lambda: agent.finished, "the client stops")
    assert agent.result == agent.client.state.refused == REFUSED_BY_CODE[CLOSE_REVOKED]
    assert "revoked" in agent.result and "pair again" in agent.result
    assert not agent.client.state.connected

    spool.append(keys("after"))  # kept for a future pairing, never sent on this token
    assert server.stored_seqs(device_id) == [1] and spool.stats()[0] == 1


def test_an_unknown_token_is_refused_and_not_retried(server, spool, start_agent):
    spool.append(keys())
    agent = start_agent(server.url, "llmd_" + "x" * 43, spool)
    wait_until(lambda: agent.finished, "the client gives up")
    assert agent.result == REFUSED_BY_CODE[CLOSE_UNAUTHORIZED]
    assert "pair again" in agent.result and spool.stats()[0] == 1


def test_an_emptied_queue_resumes_numbering_after_the_servers_last_seq(server, device, tmp_path,
                                                                       start_agent):
    device_id, token = device
    first = Spool(tmp_path / "first.sqlite3", max_bytes=50_000_000)
    for _ in range(3):
        first.append(keys())
    agent = start_agent(server.url, token, first)
    wait_until(drained(first), "the first install's events are stored")
    agent.stop()
    first.close()

    reinstalled = Spool(tmp_path / "reinstalled.sqlite3", max_bytes=50_000_000)  # a fresh, empty queue
    try:
        agent = start_agent(server.url, token, reinstalled)
        wait_until(lambda: agent.client.state.connected, "the reinstalled agent is connected")
        assert reinstalled.append(keys("again")) == 4
        wait_until(drained(reinstalled), "the new event is stored")
        assert server.stored_seqs(device_id) == [1, 2, 3, 4]
    finally:
        agent.stop()
        reinstalled.close()


def test_queued_events_the_server_already_has_are_not_sent_again(server, device, tmp_path, start_agent):
    """A queue restored from a backup holds events the server stored since: the welcome's
    last_seq removes them before anything is sent."""
    device_id, token = device
    path = tmp_path / "queue.sqlite3"
    spool = Spool(path, max_bytes=50_000_000)
    for _ in range(4):
        spool.append(keys())
    spool.close()
    backup = path.read_bytes()

    spool = Spool(path, max_bytes=50_000_000)
    agent = start_agent(server.url, token, spool)
    wait_until(drained(spool), "the four events are stored")
    agent.stop()
    spool.close()

    path.write_bytes(backup)
    spool = RecordingSpool(path, max_bytes=50_000_000)
    try:
        assert spool.stats()[0] == 4
        agent = start_agent(server.url, token, spool)
        wait_until(lambda: agent.client.state.connected, "the agent is connected")
        assert spool.stats()[0] == 0  # the welcome emptied the queue
        assert spool.append(keys()) == 5
        wait_until(drained(spool), "the new event is stored")
        assert [seq for read in spool.reads for seq in read] == [5]  # 1-4 were never read to be sent
        assert server.stored_seqs(device_id) == [1, 2, 3, 4, 5]
    finally:
        agent.stop()
        spool.close()


def test_an_event_the_server_rejects_is_dropped_and_the_stream_goes_on(server, device, spool, start_agent):
    device_id, token = device
    spool.append(frame(data=b"GIF89a not a jpeg"))  # valid for the protocol, refused by the server
    spool.append(keys())
    agent = start_agent(server.url, token, spool)
    wait_until(drained(spool), "the queue is empty")
    assert server.stored_seqs(device_id) == [2]
    assert "rejected event 1" in agent.client.state.last_error and "JPEG" in agent.client.state.last_error
    assert agent.client.state.connected


def test_the_token_never_reaches_the_logs(server, device, spool, start_agent, caplog):
    caplog.set_level(logging.DEBUG)
    _, token = device
    spool.append(keys())
    start_agent(server.url, token, spool)
    wait_until(drained(spool), "the event is acknowledged")
    assert "Connected to ws://127.0.0.1" in caplog.text
    assert token not in caplog.text and token[5:] not in caplog.text


class RecordingSpool(Spool):
    """The real queue, recording what the client reads from it to send."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reads: list[list[int]] = []

    def pending(self, limit: int, after: int = 0):
        queued = super().pending(limit, after)
        self.reads.append([item.seq for item in queued])
        return queued


def test_an_idle_connection_does_not_poll_the_queue(server, device, tmp_path, start_agent):
    _, token = device
    spool = RecordingSpool(tmp_path / "queue.sqlite3", max_bytes=50_000_000)
    try:
        agent = start_agent(server.url, token, spool)
        wait_until(lambda: agent.client.state.connected and spool.reads, "the agent is connected")
        settled = len(spool.reads)
        time.sleep(1.0)
        assert len(spool.reads) == settled  # it sleeps until an append or an ack wakes it
        spool.append(keys())
        wait_until(drained(spool), "the event is acknowledged")
        assert len(spool.reads) > settled
    finally:
        spool.close()


def test_reconnect_delays_double_to_the_cap_with_jitter():
    low, high = Backoff(rand=lambda: 0.0), Backoff(rand=lambda: 1.0)
    expected = [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert [round(low.next_delay(), 6) for _ in expected] == [round(d * 0.8, 6) for d in expected]
    assert [round(high.next_delay(), 6) for _ in expected] == [round(d * 1.2, 6) for d in expected]
    low.reset()
    assert low.next_delay() == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("server", "url"),
    [
        ("http://127.0.0.1:8000", "ws://127.0.0.1:8000/api/capture/ws"),
        ("https://llmcoder.example.com/", "wss://llmcoder.example.com/api/capture/ws"),
        ("https://example.com/llmcoder", "wss://example.com/llmcoder/api/capture/ws"),
    ],
)
def test_websocket_address_of_a_server(server, url):
    assert websocket_url(server) == url


@pytest.mark.parametrize("server", ["ftp://example.com", "example.com", "http://"])
def test_a_server_address_that_is_not_http_is_refused(server):
    with pytest.raises(ValueError, match="http:// or https://"):
        websocket_url(server)
