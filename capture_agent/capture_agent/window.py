"""The focused window's app and title on X11, which the privacy rules are checked against
before every grab and every key press.

Without an X display (Wayland-only session, headless) or off Linux (python-xlib is a
Linux-only dependency) it answers an empty WindowInfo: capture goes on, but no window can
then be recognised as excluded.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from capture_agent.protocol import WindowInfo

try:
    from Xlib import Xatom, error
    from Xlib.display import Display

    _X_FAILURES: tuple[type[Exception], ...] = (error.DisplayError, error.XError, error.ConnectionClosedError, OSError)
except ImportError:
    Display = None
    _X_FAILURES = ()

if TYPE_CHECKING:
    from Xlib.xobject.drawable import Window

log = logging.getLogger(__name__)

_MAX_DEPTH = 32  # a window tree is shallow; this only guards against a broken server


class WindowProbe:
    """Asks the X server which window has the focus. One connection, opened on first use
    and reopened after a failure; safe to call from several capture threads."""

    def __init__(self, display_name: str | None = None) -> None:
        self._display_name = display_name
        self._display: Display | None = None
        self._lock = threading.Lock()
        self._warned = False

    def focused(self) -> WindowInfo:
        if Display is None:
            return WindowInfo()
        with self._lock:
            try:
                display = self._connect()
                return _describe(display, _focused_window(display))
            except _X_FAILURES as exc:
                self._drop(exc)
                return WindowInfo()

    def close(self) -> None:
        with self._lock:
            if self._display is not None:
                self._display.close()
                self._display = None

    def _connect(self) -> Display:
        if self._display is None:
            self._display = Display(self._display_name)
            self._warned = False
        return self._display

    def _drop(self, exc: Exception) -> None:
        if isinstance(exc, error.XError):  # the window went away mid-query: the connection is fine
            return
        if not self._warned:
            log.warning("Cannot read the focused window (%s); window rules cannot apply until X is back.", exc)
            self._warned = True
        if self._display is not None:
            try:
                self._display.close()
            except _X_FAILURES:
                pass
            self._display = None


def _focused_window(display: Display) -> Window | None:
    """_NET_ACTIVE_WINDOW when a window manager publishes it, else the input focus (a bare
    X server has no window manager)."""
    root = display.screen().root
    active = root.get_full_property(display.intern_atom("_NET_ACTIVE_WINDOW"), Xatom.WINDOW)
    if active is not None and active.value and active.value[0]:
        return display.create_resource_object("window", active.value[0])
    focus = display.get_input_focus().focus
    if isinstance(focus, int):  # X.NONE or X.PointerRoot: nothing in particular has the focus
        return None
    return focus


def _describe(display: Display, window: Window | None) -> WindowInfo:
    """Walk up from the focused window to the first one with a title: the focus is often
    a child (a text field) of the top-level window that carries the name and class."""
    root = display.screen().root
    title, app = "", ""
    for _ in range(_MAX_DEPTH):
        if window is None or window.id == root.id:
            break
        title = title or _title(display, window)
        app = app or _app(display, window)
        if title and app:
            break
        window = window.query_tree().parent
    return WindowInfo(app=app[:200], title=title[:500])


def _title(display: Display, window: Window) -> str:
    name = (window.get_full_text_property(display.intern_atom("_NET_WM_NAME"))
            or window.get_full_text_property(Xatom.WM_NAME))
    if isinstance(name, bytes):  # COMPOUND_TEXT, which python-xlib leaves undecoded
        return name.decode("utf-8", "replace")
    return name or ""


def _app(display: Display, window: Window) -> str:
    wm_class = window.get_wm_class()
    if wm_class:
        return wm_class[1]
    pid = window.get_full_property(display.intern_atom("_NET_WM_PID"), Xatom.CARDINAL)
    if pid is None or not pid.value:
        return ""
    try:
        return Path(f"/proc/{int(pid.value[0])}/comm").read_text(encoding="utf-8").strip()
    except OSError:  # the process is gone, or lives on another machine (remote X)
        return ""

