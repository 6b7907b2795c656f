"""Key presses: the only home of ``pynput``, imported when the listener starts (importing
it without an X display raises ImportError).

Each press is checked against the privacy rules with the window focused AT THAT MOMENT,
before it is stored, so typing into an excluded window is never recorded. Strokes are
batched per window and flushed about every second; a word still being typed (or a line
after a "password:" prompt) is held back a little so that a secret split across two
flushes is still seen whole, and secret-looking runs are redacted before the batch leaves.

The pause hotkey is matched here too, before the pause check, so it also resumes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from capture_agent.privacy import Privacy, redact_strokes, settled_length
from capture_agent.protocol import MAX_KEY_EVENTS, KeyStroke, WindowInfo
from capture_agent.sources import CaptureError, Emit, IsPaused, Ticker, never_paused, now
from capture_agent.window import WindowProbe

MODIFIERS = frozenset({"<shift>", "<ctrl>", "<alt>", "<alt_gr>", "<cmd>"})
DEFAULT_HOTKEY = "<ctrl>+<alt>+p"


def key_name(key: Any) -> str | None:
    """A pynput Key or KeyCode as a stroke name: the printable character, or the key's
    name in angle brackets with the side dropped ("<shift>" for shift_r). None for keys
    that carry neither (unnamed keysyms): they say nothing about what was typed."""
    char = getattr(key, "char", None)
    if char:
        return char if len(char) == 1 and char.isprintable() else None
    name = getattr(key, "name", None)
    if not name:
        return None
    if name.endswith(("_l", "_r")):
        name = name[:-2]
    return f"<{name}>"[:32]


def parse_hotkey(combo: str) -> tuple[frozenset[str], str]:
    """"<ctrl>+<alt>+p" -> ({"<ctrl>", "<alt>"}, "p"): modifiers plus exactly one key."""
    parts = [part.strip().lower() for part in combo.split("+")]
    keys = [part for part in parts if part not in MODIFIERS]
    if "" in parts or len(keys) != 1 or len(parts) < 2:
        raise ValueError(f"Hotkey {combo!r} must be modifiers and one key, like {DEFAULT_HOTKEY!r}.")
    key = keys[0]
    if len(key) > 1 and not (key.startswith("<") and key.endswith(">")):
        raise ValueError(f"Hotkey {combo!r}: write named keys in angle brackets, like <f9>.")
    return frozenset(parts) - {key}, key


class KeySource:
    """Records key presses as KeysEvent-ready batches. ``on_hotkey`` is called (from the
    listener thread) when the pause hotkey is pressed; the runner flips its pause state."""

    def __init__(
        self,
        emit: Emit,
        privacy: Privacy,
        probe: WindowProbe,
        *,
        on_hotkey: Callable[[], None] | None = None,
        hotkey: str = DEFAULT_HOTKEY,
        flush_seconds: float = 1.0,
        hold_seconds: float = 5.0,
        max_strokes: int = 200,
        is_paused: IsPaused = never_paused,
    ) -> None:
        if not 1 <= max_strokes <= MAX_KEY_EVENTS:
            raise ValueError(f"max_strokes must be 1..{MAX_KEY_EVENTS}, not {max_strokes}")
        if flush_seconds <= 0 or hold_seconds < flush_seconds:
            raise ValueError("flush_seconds must be positive and hold_seconds at least flush_seconds")
        self._emit = emit
        self._privacy = privacy
        self._probe = probe
        self._on_hotkey = on_hotkey
        self._hotkey_modifiers, self._hotkey_key = parse_hotkey(hotkey)
        self.hold_seconds = hold_seconds
        self.max_strokes = max_strokes
        self._is_paused = is_paused
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._pending: list[tuple[datetime, str]] = []
        self._window = WindowInfo()
        self._listener: Any = None
        self._ticker = Ticker("key capture", flush_seconds, self.flush)

    def start(self) -> None:
        """Listen to the keyboard; CaptureError when there is no X display to listen on."""
        if self._listener is not None:
            return
        try:
            from pynput import keyboard
        except ImportError as exc:
            reason = str(exc).splitlines()[0]
            raise CaptureError(f"Key capture is off: cannot listen to the keyboard ({reason}).") from exc
        self._listener = keyboard.Listener(on_press=self.on_press, on_release=self.on_release)
        self._listener.start()
        self._listener.wait()
        self._ticker.start()

    def stop(self) -> None:
        """No key is recorded after this returns. pynput's listener thread itself only
        notices at the next key event, so it is not joined: shutdown must not hang."""
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        self._ticker.stop()
        self.flush(everything=True)

    def on_press(self, key: Any, injected: bool = False) -> None:
        """pynput's press callback (``injected`` marks XSendEvent fakes; XTEST typing such
        as xdotool's looks like real typing to X, so both are treated alike)."""
        name = key_name(key)
        if name is not None:
            self.press(name)

    def on_release(self, key: Any, injected: bool = False) -> None:
        name = key_name(key)
        if name is not None:
            self._held.discard(name)

    def press(self, name: str, at: datetime | None = None) -> None:
        """Record one stroke named like protocol.KeyStroke.key."""
        if name in MODIFIERS:
            self._held.add(name)
        elif name.lower() == self._hotkey_key and self._held == self._hotkey_modifiers:
            if self._on_hotkey is not None:
                self._on_hotkey()
            return
        if self._is_paused():
            return
        window = self._probe.focused()
        if self._privacy.excludes(window):
            return
        with self._lock:
            if self._pending and window != self._window:
                self._flush_locked(everything=True)  # one batch, one window
            self._window = window
            self._pending.append((at or now(), name))
            if len(self._pending) >= self.max_strokes:
                self._flush_locked(everything=True)

    def flush(self, everything: bool = False) -> None:
        """Emit what is settled (everything when asked, or when the oldest held stroke is
        older than hold_seconds)."""
        with self._lock:
            self._flush_locked(everything)

    def _flush_locked(self, everything: bool) -> None:
        if not self._pending:
            return
        keys = [name for _, name in self._pending]
        stale = (now() - self._pending[0][0]).total_seconds() >= self.hold_seconds
        cut = len(keys) if everything or stale else settled_length(keys)
        if cut == 0:
            return
        batch, self._pending = self._pending[:cut], self._pending[cut:]
        start = batch[0][0]
        strokes = [KeyStroke(ms=max(0, int((at - start).total_seconds() * 1000)), key=key) for at, key in batch]
        self._emit({
            "type": "keys", "at": start, "window": self._window.model_dump(),
            "keys": [stroke.model_dump() for stroke in redact_strokes(strokes)],
        })
