"""Screen frames from a real Xvfb: sent only when the screen changed, never for an
excluded window (which is not even grabbed)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from capture_agent import protocol
from capture_agent.privacy import Privacy
from capture_agent.screen import ScreenSource, changed_fraction
from capture_agent.sources import CaptureError
from capture_agent.window import WindowProbe
from tests.capture_agent.conftest import wait_for


class CountingScreen(ScreenSource):
    """Counts real grabs, and can run something in the middle of one."""

    def __init__(self, *args, during_grab=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.grabs = 0
        self.during_grab = during_grab

    def _grab(self):
        self.grabs += 1
        if self.during_grab is not None:
            self.during_grab()
        return super()._grab()


@pytest.fixture
def events() -> list[dict]:
    return []


@pytest.fixture
def make_screen(probe, events):
    made: list[ScreenSource] = []

    def make(**kwargs) -> CountingScreen:
        screen = CountingScreen(events.append, Privacy(), probe, **kwargs)
        made.append(screen)
        return screen

    yield make
    for screen in made:
        screen.stop()


def frames(events: list[dict]) -> list[dict]:
    return [event for event in events if event["type"] == "frame"]


def decoded(event: dict) -> Image.Image:
    image = Image.open(io.BytesIO(event["data"]))
    image.load()
    return image


def test_a_frame_is_grabbed_downscaled_and_announced_with_its_window(open_window, make_screen, events):
    open_window("Notes — café", "Gedit", colour=0x3366CC)
    screen = make_screen(max_width=640)
    assert screen.tick() is True
    window_event, frame = events
    assert protocol.WindowEvent(seq=1, **window_event).window == protocol.WindowInfo(app="Gedit", title="Notes — café")
    message = protocol.FrameEvent(seq=2, **frame)
    assert (message.width, message.height, message.format) == (640, 400, "jpeg")
    assert message.window.title == "Notes — café"
    image = decoded(frame)
    assert (image.format, image.size) == ("JPEG", (640, 400))
    red, green, blue = image.getpixel((320, 200))
    assert abs(red - 0x33) < 12 and abs(green - 0x66) < 12 and abs(blue - 0xCC) < 12


def test_an_unchanged_screen_sends_nothing_more_and_a_repaint_sends_a_frame(open_window, make_screen, events):
    window = open_window("Editor", "Editor", colour=0xFFFFFF)
    screen = make_screen()
    assert screen.tick() is True
    assert screen.tick() is False
    assert screen.tick() is False
    assert len(frames(events)) == 1 and screen.grabs == 3
    window.paint(0x000000, 8, 8)  # a caret-sized change: nearly unchanged
    assert screen.tick() is False
    window.paint(0x202020)
    assert screen.tick() is True
    assert decoded(frames(events)[-1]).getpixel((640, 400))[0] < 0x40
    assert [e["type"] for e in events].count("window") == 1  # the same window is announced once


def test_small_changes_add_up_against_the_last_sent_frame(open_window, make_screen, events):
    window = open_window("Editor", "Editor", colour=0xFFFFFF)
    screen = make_screen(change_threshold=0.03)
    screen.tick()
    sent = []
    for rows in range(4, 44, 4):  # each step moves at most one thumbnail row in 100: under 3 %
        window.paint(0x000000, 1280, rows)
        sent.append(screen.tick())
    assert sent[:4] == [False] * 4
    assert True in sent
    assert len(frames(events)) == 1 + sent.count(True)


def test_webp_is_available(open_window, make_screen, events):
    open_window("Editor", "Editor")
    make_screen(image_format="webp", quality=50).tick()
    assert decoded(frames(events)[0]).format == "WEBP"
    assert frames(events)[0]["format"] == "webp"


@pytest.mark.parametrize(("title", "app"), [
    ("Private Browsing — Mozilla Firefox", "firefox"),
    ("vault.kdbx", "KeePassXC"),
    ("Online Banking", "firefox"),
])
def test_an_excluded_focused_window_is_never_grabbed_nor_named(open_window, make_screen, events, title, app):
    open_window(title, app)
    screen = make_screen()
    assert screen.tick() is False
    assert screen.grabs == 0
    assert events == []


def test_leaving_an_excluded_window_announces_the_window_again(open_window, make_screen, events):
    editor = open_window("Editor", "Editor")
    vault = open_window("vault.kdbx", "KeePassXC")
    editor.focus()
    screen = make_screen()
    screen.tick()
    vault.focus()
    screen.tick()
    editor.focus()
    screen.tick()
    assert [(e["type"], e["window"]["title"]) for e in events if e["type"] == "window"] == [
        ("window", "Editor"), ("window", "Editor")]
    assert all("kdbx" not in e["window"]["title"] for e in events)


def test_a_frame_is_thrown_away_when_the_focus_moved_during_the_grab(open_window, make_screen, events):
    open_window("Editor", "Editor")
    screen = make_screen(during_grab=lambda: open_window("Private Browsing", "firefox"))
    assert screen.tick() is False
    assert frames(events) == []


def test_nothing_is_grabbed_while_paused(open_window, probe, events):
    open_window("Editor", "Editor")
    paused = [True]
    screen = CountingScreen(events.append, Privacy(), probe, is_paused=lambda: paused[0])
    assert screen.tick() is False and screen.grabs == 0 and events == []
    paused[0] = False
    assert screen.tick() is True


def test_a_missing_monitor_is_a_clear_error(open_window, make_screen):
    open_window("Editor", "Editor")
    with pytest.raises(CaptureError, match=r"Monitor 3 does not exist: this screen has 1 \(choose 1..1"):
        make_screen(monitor=3).tick()


def test_without_an_x_display_the_thread_stops_with_a_clear_error(xvfb, monkeypatch, events):
    monkeypatch.delenv("DISPLAY")
    screen = ScreenSource(events.append, Privacy(), WindowProbe(), fps=5)
    with pytest.raises(CaptureError, match="Cannot grab the screen"):
        screen.tick()
    screen.start()
    failure = wait_for(lambda: screen.failure)
    screen.stop()
    assert "DISPLAY" in str(failure)
    assert events == []


def test_the_capture_thread_sends_frames_until_stopped(open_window, make_screen, events):
    window = open_window("Editor", "Editor")
    screen = make_screen(fps=5)
    screen.start()
    wait_for(lambda: frames(events))
    window.paint(0x000000)
    wait_for(lambda: len(frames(events)) == 2)
    screen.stop()
    count = len(events)
    window.paint(0xFFFFFF)
    assert screen.tick() is True  # stopped, yet a direct tick still works (it opens mss again)
    assert len(events) == count + 1


@pytest.mark.parametrize(("fps", "clamped"), [(100, 5.0), (0.01, 0.2), (2, 2.0)])
def test_fps_is_clamped(xvfb, fps, clamped):
    assert ScreenSource(lambda e: None, Privacy(), WindowProbe(), fps=fps).fps == clamped


@pytest.mark.parametrize("bad", [
    {"max_width": 4000}, {"max_width": 0}, {"image_format": "png"}, {"quality": 0},
    {"change_threshold": 1.5}, {"monitor": -1},
])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        ScreenSource(lambda e: None, Privacy(), WindowProbe(), **bad)


def test_changed_fraction_counts_moved_pixels_and_treats_a_resize_as_all_changed():
    grey = Image.new("L", (10, 10), 100)
    assert changed_fraction(grey, grey.copy()) == 0.0
    slightly = Image.new("L", (10, 10), 110)  # under the per-pixel threshold: compression noise
    assert changed_fraction(grey, slightly) == 0.0
    half = grey.copy()
    half.paste(200, (0, 0, 10, 5))
    assert changed_fraction(grey, half) == 0.5
    assert changed_fraction(grey, Image.new("L", (5, 5), 100)) == 1.0
