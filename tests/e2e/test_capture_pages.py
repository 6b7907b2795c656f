"""The capture pages in Chromium against the real app: pair a workstation with a code made on
the Devices page, watch it appear and revoke it there; stream what an agent would send over
the real websocket and see it on the Live page, with turbo mode's suggestion arriving in the
side panel without a reload, once, and only for its owner.

The agent's side is played by this test with the shared protocol models and the `websockets`
client, so the pages are tested against exactly what the ingest stores.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from capture_agent import protocol
from llmcoder_app import routes
from tests.e2e.conftest import AppWithFakeLLM, _serve, screenshot, sign_in
from tests.fakes.llm_providers import FakeLLMServer, ok

pytestmark = pytest.mark.e2e

OWNER = ("capture-owner@example.com", "capture owner pw 1")
OTHER = ("capture-other@example.com", "capture other pw 1")
MODEL = "m1"
SUGGESTION = "Restart the worker"
ANSWER = json.dumps({"suggestions": [{"kind": "step", "title": SUGGESTION,
                                      "body": "The queue stopped after the deploy; a restart picks up the new code."}]})
CODE_FORMAT = re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}$")
DEADLINE_S = 60  # for what a background job does: a run is queued, then a worker picks it up


@dataclass
class Workstation:
    """A paired device as the agent would hold it: its token and next sequence number."""

    device_id: int
    token: str
    seq: itertools.count = field(default_factory=lambda: itertools.count(1))


class CaptureApp(AppWithFakeLLM):
    def pair(self, code: str, name: str) -> tuple[int, dict]:
        """POST /api/capture/pair as `llmcoder-capture pair` does."""
        body = json.dumps({"code": code, "name": name, "platform": "Linux-6.1-x86_64-with-glibc2.36"}).encode()
        request = urllib.request.Request(self.url + protocol.PAIR_PATH, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    @contextmanager
    def open_stream(self, workstation: Workstation) -> Iterator[ClientConnection]:
        """The agent's websocket, past hello and welcome."""
        with connect(self.url.replace("http://", "ws://") + protocol.WS_PATH, open_timeout=15,
                     additional_headers={"Authorization": f"Bearer {workstation.token}"}) as socket:
            socket.send(protocol.dump(protocol.Hello(agent_version="0.9.1-e2e", platform="Linux")))
            welcome = protocol.parse_server(socket.recv(timeout=15))
            assert welcome.type == "welcome" and welcome.device_id == workstation.device_id
            yield socket

    def send(self, workstation: Workstation, *events: protocol.FrameEvent | protocol.KeysEvent
             | protocol.WindowEvent) -> None:
        """Streams events on a fresh connection; every one must be acknowledged."""
        with self.open_stream(workstation) as socket:
            for event in events:
                socket.send(protocol.dump(event))
                reply = protocol.parse_server(socket.recv(timeout=15))
                assert reply.type == "ack" and reply.seq == event.seq, reply

    def keep_typing(self, workstation: Workstation, window: protocol.WindowInfo, until: Callable[[], bool]) -> None:
        """Turbo runs at most once an interval, on news: type a little every second until `until`."""
        deadline = time.monotonic() + DEADLINE_S
        while not until():
            assert time.monotonic() < deadline, "turbo mode did not run"
            self.send(workstation, _keys(workstation, "journalctl -u worker", window))
            time.sleep(1)


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Iterator[CaptureApp]:
    """The app with two members and one fake provider (answers are scripted per test)."""
    with FakeLLMServer() as fake:
        for app in _serve(tmp_path_factory, label="capture"):
            capture = CaptureApp(app, fake)
            for email, password in (OWNER, OTHER):
                capture.cli("user", "create", email, "--password-stdin", stdin=password + "\n")
            for name in ("gemini", "openai", "anthropic", "ollama"):
                capture.cli("llm", "provider", "remove", name)
            capture.cli("llm", "provider", "add", "fake", "--model", f"openai/{MODEL}", "--api-base",
                        fake.api_base("openai"), "--api-key", "sk-test-fake-0000", "--input-price", "1",
                        "--output-price", "2")
            capture.cli("settings", "set", "capture.turbo_interval_seconds", "3")
            yield capture


def _signed_in(page: Page, capture: CaptureApp, who: tuple[str, str], route: str, title: str) -> None:
    sign_in(page, capture.url, *who)
    page.wait_for_url(f"{capture.url}/")
    page.goto(capture.url + route)
    expect(page.locator("#page-title")).to_have_text(title)


def _pair_in_page(page: Page, capture: CaptureApp, name: str) -> tuple[Workstation, str]:
    """Makes a code on the Devices page and redeems it as the agent would: (device, code)."""
    page.locator("#capture-pair").click()
    code = page.locator("#capture-code").inner_text()
    assert CODE_FORMAT.match(code), code
    status, answer = capture.pair(code, name)
    assert status == 201, answer
    assert answer["token"].startswith("llmd_") and answer["ws_path"] == protocol.WS_PATH
    return Workstation(answer["device_id"], answer["token"]), code


def _now() -> datetime:
    return datetime.now(UTC)


def _jpeg() -> bytes:
    image = Image.new("RGB", (320, 200), (30, 60, 120))
    image.paste((240, 200, 40), (40, 40, 280, 160))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def _keys(workstation: Workstation, text: str, window: protocol.WindowInfo) -> protocol.KeysEvent:
    keys = [*text, protocol.REDACTED_KEY, "<enter>"]
    strokes = [protocol.KeyStroke(ms=i * 80, key=key) for i, key in enumerate(keys)]
    return protocol.KeysEvent(seq=next(workstation.seq), at=_now(), keys=strokes, window=window)


def test_pair_see_and_revoke_a_workstation(capture: CaptureApp, page: Page):
    _signed_in(page, capture, OWNER, routes.CAPTURE_DEVICES, "Devices")
    expect(page.locator("#capture-devices-empty")).to_be_visible()

    workstation, used_code = _pair_in_page(page, capture, "build-box")
    # The code is used: the page drops it and the new device appears, both without a reload.
    row = page.locator(f"#capture-device-{workstation.device_id}")
    expect(row).to_contain_text("build-box")
    expect(row).to_contain_text("Linux-6.1-x86_64")
    expect(row.locator(".capture-device-status")).to_have_text("offline")  # paired, never connected
    expect(page.locator("#capture-devices-notice")).to_contain_text("build-box is paired")
    expect(page.locator("#capture-code")).to_have_count(0)

    page.locator("#capture-pair").click()
    code = page.locator("#capture-code").inner_text()
    expect(page.locator("#capture-code-expires")).to_contain_text("in 10 minutes")
    expect(page.locator("#capture-commands")).to_contain_text(
        f"llmcoder-capture pair --server {capture.url} --code {code}")
    expect(page.locator("#capture-commands")).to_contain_text("pip install ./capture_agent")
    screenshot(page, "capture-devices-code")

    with capture.open_stream(workstation) as socket:
        expect(row.locator(".capture-device-status")).to_have_text("online")
        expect(row).to_contain_text("0.9.1-e2e")
        socket.send(protocol.dump(protocol.StateEvent(seq=next(workstation.seq), at=_now(), paused=True)))
        assert protocol.parse_server(socket.recv(timeout=15)).type == "ack"
        expect(row.locator(".capture-device-status")).to_have_text("paused")  # the agent's pause hotkey
        screenshot(page, "capture-devices")
        page.locator(f"#capture-revoke-{workstation.device_id}").click()
        expect(page.get_by_role("alertdialog")).to_contain_text("Revoke build-box?")
        page.locator(f"#capture-revoke-confirm-{workstation.device_id}").click()
        expect(row.locator(".capture-device-status")).to_have_text("revoked")
        expect(page.locator("#capture-devices-notice")).to_contain_text("its token no longer works")
        expect(page.locator(f"#capture-revoke-{workstation.device_id}")).to_have_count(0)
        with pytest.raises(ConnectionClosed) as cut_off:
            socket.recv(timeout=15)
        assert cut_off.value.rcvd is not None and cut_off.value.rcvd.code == protocol.CLOSE_REVOKED

    with pytest.raises(ConnectionClosed) as refused, capture.open_stream(workstation):
        pass
    assert refused.value.rcvd is not None and refused.value.rcvd.code == protocol.CLOSE_UNAUTHORIZED
    status, answer = capture.pair(used_code, "build-box")  # a code works once
    assert status == 403 and "not valid" in answer["error"]


def test_live_page_and_turbo_suggestions(capture: CaptureApp, page: Page):
    capture.fake.reset()
    capture.fake.default(MODEL, ok(text=ANSWER))
    _signed_in(page, capture, OWNER, routes.CAPTURE_DEVICES, "Devices")
    workstation, _ = _pair_in_page(page, capture, "dev-laptop")

    page.goto(capture.url + routes.CAPTURE_LIVE)
    expect(page.locator("#page-title")).to_have_text("Live capture")
    expect(page.locator("#capture-live-devices")).to_contain_text("dev-laptop")
    expect(page.locator("#turbo-empty")).to_contain_text("Switch turbo mode on")
    page.locator("#turbo-switch").click()
    expect(page.locator("#turbo-switch")).to_be_checked()
    expect(page.locator("#turbo-empty")).to_contain_text("Watching")

    terminal = protocol.WindowInfo(app="gnome-terminal", title="worker.log - tail -f")
    capture.send(workstation,
                 protocol.WindowEvent(seq=next(workstation.seq), at=_now(), window=terminal),
                 protocol.FrameEvent(seq=next(workstation.seq), at=_now(), width=320, height=200, format="jpeg",
                            data=_jpeg(), window=terminal),
                 _keys(workstation, "systemctl status worker", terminal))

    suggestion = page.locator(".turbo-suggestion")
    expect(suggestion).to_have_count(1, timeout=DEADLINE_S * 1000)
    expect(suggestion).to_contain_text(SUGGESTION)
    expect(suggestion.locator(".turbo-kind")).to_have_text("step")
    expect(page.locator("#capture-window")).to_contain_text("worker.log - tail -f")
    expect(page.locator("#capture-frame-caption")).to_contain_text("gnome-terminal")
    expect(page.locator("#capture-typed")).to_contain_text("systemctl status worker")
    expect(page.locator("#capture-typed .capture-redacted")).to_have_text("redacted")
    expect(page.locator("#capture-strokes")).to_contain_text("25 keystrokes")
    expect(page.locator("#capture-transcript-off")).to_be_visible()
    frame_src = page.locator("#capture-frame").get_attribute("src")
    assert frame_src and page.request.get(capture.url + frame_src).headers["content-type"] == "image/jpeg"
    screenshot(page, "capture-live")

    # New context, the same advice from the model: no second card.
    first_run = page.locator("#turbo-last-run").get_attribute("data-at")
    calls = capture.fake.count(MODEL)
    capture.keep_typing(workstation, terminal, until=lambda: capture.fake.count(MODEL) > calls)
    expect(page.locator("#turbo-last-run")).not_to_have_attribute("data-at", first_run or "")
    expect(suggestion).to_have_count(1)

    page.locator(".turbo-suggestion button[aria-label='Dismiss']").click()
    expect(suggestion).to_have_count(0)
    expect(page.locator("#turbo-empty")).to_contain_text("Watching")

    # A spent budget stops turbo mode, and the panel says why.
    capture.cli("llm", "budget", "set", "--monthly", "0.0001")
    calls = capture.fake.count(MODEL)
    notice = page.locator("#turbo-notice")
    capture.keep_typing(workstation, terminal, until=lambda: notice.count() > 0)
    expect(notice).to_contain_text("Turbo mode stopped: Monthly LLM budget reached")
    expect(page.locator("#turbo-switch")).not_to_be_checked()
    assert capture.fake.count(MODEL) == calls  # refused before any provider was asked
    screenshot(page, "capture-live-turbo-stopped")

    other = page.context.browser.new_context().new_page()
    _signed_in(other, capture, OTHER, routes.CAPTURE_LIVE, "Live capture")
    expect(other.locator("#capture-no-devices")).to_contain_text("No workstation is paired yet")
    expect(other.locator("#turbo-empty")).to_contain_text("Switch turbo mode on")
    expect(other.locator("body")).not_to_contain_text(SUGGESTION)
    expect(other.locator("body")).not_to_contain_text("worker.log")
    assert other.request.get(capture.url + frame_src).status == 404
    screenshot(other, "capture-live-other-user")
    other.context.close()
