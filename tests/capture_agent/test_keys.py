"""Key capture: real typing (xdotool into an Xvfb window) and direct presses."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta

import pytest

from capture_agent import protocol
from capture_agent.keys import KeySource, key_name, parse_hotkey
from capture_agent.privacy import Privacy
from capture_agent.sources import now
from capture_agent.window import WindowProbe
from tests.capture_agent.conftest import wait_for, xdo


@pytest.fixture
def events() -> list[dict]:
    return []


@pytest.fixture
def toggles() -> list[int]:
    return []


@pytest.fixture
def make_keys(probe, events, toggles):
    made: list[KeySource] = []

    def make(**kwargs) -> KeySource:
        kwargs.setdefault("flush_seconds", 0.1)
        kwargs.setdefault("hold_seconds", 2.0)
        source = KeySource(events.append, Privacy(), probe, on_hotkey=lambda: toggles.append(1), **kwargs)
        made.append(source)
        return source

    yield make
    for source in made:
        source.stop()
    if shutil.which("xdotool"):
        xdo("key", "shift")  # a stopped pynput listener thread ends at the next key event


def typed(events: list[dict]) -> str:
    return "".join(protocol.KeysEvent(seq=i + 1, **event).text() for i, event in enumerate(events))


def type_keys(source: KeySource, text: str) -> None:
    for char in text:
        source.press({" ": "<space>", "\n": "<enter>"}.get(char, char))


def test_text_typed_into_a_normal_window_arrives_as_strokes(open_window, make_keys, events, xdotool):
    open_window("notes.txt - Editor", "Editor")
    source = make_keys()
    source.start()
    xdo("type", "--delay", "20", "Hello there!")
    xdo("key", "Return")
    wait_for(lambda: typed(events) == "Hello there!\n")
    keys = [stroke["key"] for event in events for stroke in event["keys"]]
    assert keys[:3] == ["<shift>", "H", "e"] and keys[-1] == "<enter>"
    assert {event["window"]["title"] for event in events} == {"notes.txt - Editor"}
    ms = [stroke["ms"] for stroke in events[0]["keys"]]
    assert ms == sorted(ms) and ms[-1] > 0


def test_text_typed_into_an_excluded_window_is_not_recorded(open_window, make_keys, events, xdotool):
    editor = open_window("notes.txt - Editor", "Editor")
    open_window("vault.kdbx", "KeePassXC")
    source = make_keys()
    source.start()
    xdo("type", "--delay", "20", "correct horse")
    xdo("key", "Return")
    editor.focus()
    xdo("type", "--delay", "20", "marker")
    xdo("key", "Return")
    wait_for(lambda: "marker" in typed(events))  # the listener has seen everything typed before it
    assert typed(events) == "marker\n"
    assert {event["window"]["title"] for event in events} == {"notes.txt - Editor"}


def test_a_secret_typed_for_real_leaves_as_one_redacted_stroke(open_window, make_keys, events, xdotool):
    open_window("Terminal", "Gnome-terminal")
    source = make_keys()
    source.start()
    xdo("type", "--delay", "15", "export KEY=1 sk-proj-Abc123Def456Ghi789Jkl done")
    xdo("key", "Return")
    wait_for(lambda: typed(events).endswith("\n"))
    assert typed(events) == "export KEY=1 [redacted] done\n"
    assert "Abc123" not in str(events)


def test_the_pause_hotkey_toggles_and_is_not_recorded(open_window, make_keys, events, toggles, xdotool):
    open_window("Editor", "Editor")
    source = make_keys()
    source.start()
    xdo("key", "ctrl+alt+p")
    wait_for(lambda: toggles)
    xdo("key", "ctrl+alt+p")
    wait_for(lambda: len(toggles) == 2)
    source.stop()
    assert "p" not in typed(events)


def test_while_paused_strokes_are_dropped_but_the_hotkey_still_works(open_window, probe, events):
    open_window("Editor", "Editor")
    paused = [True]
    source = KeySource(events.append, Privacy(), probe, is_paused=lambda: paused[0],
                       on_hotkey=lambda: paused.__setitem__(0, not paused[0]), hotkey="<ctrl>+<shift>+<f9>")
    type_keys(source, "secret plans ")
    for name in ("<ctrl>", "<shift>", "<f9>"):
        source.press(name)
    type_keys(source, "hi ")
    source.flush(everything=True)
    assert paused == [False]
    assert typed(events) == "hi "


def test_the_window_of_each_press_decides_and_batches_split_per_window(open_window, make_keys, events):
    editor = open_window("Editor", "Editor")
    vault = open_window("vault.kdbx", "KeePassXC")
    browser = open_window("Docs - Firefox", "firefox")
    source = make_keys()
    editor.focus()
    type_keys(source, "one ")
    vault.focus()
    type_keys(source, "hunter2 ")
    browser.focus()
    type_keys(source, "two ")
    source.flush(everything=True)
    assert [(event["window"]["title"], protocol.text_of(
        [protocol.KeyStroke(**s) for s in event["keys"]])) for event in events] == [
        ("Editor", "one "), ("Docs - Firefox", "two ")]


def test_an_unfinished_word_waits_so_a_secret_split_across_flushes_is_still_redacted(open_window, make_keys, events):
    open_window("Editor", "Editor")
    source = make_keys(hold_seconds=60)
    type_keys(source, "key sk-proj-Abc123")
    source.flush()
    assert typed(events) == "key "
    type_keys(source, "Def456Ghi789Jkl ok")
    source.flush()
    assert typed(events) == "key [redacted] "
    source.flush(everything=True)
    assert typed(events) == "key [redacted] ok"


def test_held_keys_go_after_hold_seconds_and_full_batches_go_at_once(open_window, make_keys, events):
    open_window("Editor", "Editor")
    source = make_keys(hold_seconds=1, max_strokes=5)
    source.press("a", at=now() - timedelta(seconds=2))
    source.press("b")
    source.flush()
    assert typed(events) == "ab"
    type_keys(source, "cdefg")
    assert len(events) == 2 and typed(events) == "abcdefg"


def test_key_names_from_pynput(xvfb):
    from pynput.keyboard import Key, KeyCode

    assert key_name(KeyCode.from_char("a")) == "a"
    assert key_name(Key.shift_r) == "<shift>"
    assert key_name(Key.ctrl_l) == "<ctrl>"
    assert key_name(Key.space) == "<space>"
    assert key_name(Key.enter) == "<enter>"
    assert key_name(Key.media_play_pause) == "<media_play_pause>"
    assert key_name(KeyCode.from_vk(65056)) is None  # ISO_Left_Tab: no char, no name
    assert key_name(KeyCode.from_char("\x03")) is None
    assert key_name(None) is None


def test_hotkeys_are_parsed_and_bad_ones_refused():
    assert parse_hotkey("<ctrl>+<alt>+p") == (frozenset({"<ctrl>", "<alt>"}), "p")
    assert parse_hotkey("<CTRL> + <F9>") == (frozenset({"<ctrl>"}), "<f9>")
    for bad in ("p", "<ctrl>+<alt>", "<ctrl>+a+b", "<ctrl>+", "<ctrl>+f9"):
        with pytest.raises(ValueError, match="Hotkey"):
            parse_hotkey(bad)


@pytest.mark.parametrize("bad", [{"max_strokes": 0}, {"max_strokes": 5000}, {"flush_seconds": 0},
                                 {"flush_seconds": 2, "hold_seconds": 1}, {"hotkey": "p"}])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        KeySource(lambda e: None, Privacy(), WindowProbe(), **bad)


def test_without_an_x_display_starting_is_a_clear_error():
    """In a fresh interpreter: pynput fails at import without DISPLAY, and only then."""
    script = ("from capture_agent.keys import KeySource; from capture_agent.privacy import Privacy\n"
              "from capture_agent.sources import CaptureError; from capture_agent.window import WindowProbe\n"
              "try:\n    KeySource(print, Privacy(), WindowProbe()).start()\n"
              "except CaptureError as exc:\n    print(exc)\n")
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.startswith("Key capture is off: cannot listen to the keyboard"), result.stderr
