"""A private Xvfb server for the capture agent's tests, and real X windows on it."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
from Xlib import X, Xatom
from Xlib.display import Display

from capture_agent.window import WindowProbe
from tests.conftest import IN_CI

SCREEN = (1280, 800)


def need_tool(name: str, package: str) -> None:
    """In CI a missing X tool is a failure; on a laptop it is a loud skip."""
    if shutil.which(name) is None:
        message = f"{name} is not installed (apt-get install -y {package}); the capture agent's X tests need it."
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def xvfb() -> Iterator[str]:
    """Starts Xvfb on a display number it picks itself (-displayfd: no race with other
    servers on the machine) and points DISPLAY at it for the session."""
    need_tool("Xvfb", "xvfb")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp",
         "-noreset"],  # without it the server resets whenever its last client leaves, refusing connections
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    number = b""
    deadline = time.monotonic() + 15
    while not number.endswith(b"\n") and time.monotonic() < deadline and server.poll() is None:
        if select.select([read_end], [], [], 0.2)[0]:
            number += os.read(read_end, 16) or b"\n"
    os.close(read_end)
    if not number.strip():
        server.kill()
        pytest.fail(f"Xvfb did not start (exit code {server.poll()}).")
    display = f":{number.decode().strip()}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISPLAY", display)
        yield display
    server.terminate()
    server.wait(10)


@pytest.fixture(scope="session")
def xdotool(xvfb) -> None:
    need_tool("xdotool", "xdotool")


class XWindow:
    """A real top-level window with a title and WM_CLASS, filled with one colour; on a
    bare X server (no window manager) it keeps the input focus we give it."""

    def __init__(self, title: str, app: str = "", *, colour: int = 0xFFFFFF, parent: XWindow | None = None,
                 size: tuple[int, int] = SCREEN) -> None:
        self.display = Display()
        screen = self.display.screen()
        owner = self.display.create_resource_object("window", parent.window.id) if parent else screen.root
        self.size = size
        self.closed = False
        self.window = owner.create_window(0, 0, size[0], size[1], 0, screen.root_depth, X.InputOutput,
                                          X.CopyFromParent, background_pixel=colour,
                                          event_mask=X.StructureNotifyMask)
        if title:
            self.window.change_property(Xatom.WM_NAME, Xatom.STRING, 8, title.encode("latin-1", "replace"))
            self.window.change_property(self.display.intern_atom("_NET_WM_NAME"),
                                        self.display.intern_atom("UTF8_STRING"), 8, title.encode())
        if app:
            self.window.set_wm_class(app.lower(), app)
        self.gc = self.window.create_gc(foreground=colour)
        self.window.map()
        self._wait_mapped()
        self.paint(colour)
        self.focus()

    def _wait_mapped(self) -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.display.pending_events():
                if self.display.next_event().type == X.MapNotify:
                    return
            else:
                time.sleep(0.01)
        raise AssertionError("the test window was never mapped")

    def focus(self) -> None:
        self.window.set_input_focus(X.RevertToParent, X.CurrentTime)
        self.display.sync()

    def paint(self, colour: int, width: int | None = None, height: int | None = None) -> None:
        """Fill the window (or its top-left width x height corner) with a colour."""
        self.gc.change(foreground=colour)
        self.window.fill_rectangle(self.gc, 0, 0, width or self.size[0], height or self.size[1])
        self.display.sync()

    def set_property(self, name: str, values: list[int], kind: int = Xatom.CARDINAL) -> None:
        self.window.change_property(self.display.intern_atom(name), kind, 32, values)
        self.display.sync()

    def close(self) -> None:
        if not self.closed:
            self.window.destroy()
            self.display.close()
            self.closed = True


@pytest.fixture
def open_window(xvfb) -> Iterator:
    """open_window(title, app) -> a mapped, focused XWindow; all closed after the test."""
    opened: list[XWindow] = []

    def make(title: str, app: str = "", **kwargs) -> XWindow:
        window = XWindow(title, app, **kwargs)
        opened.append(window)
        return window

    yield make
    for window in reversed(opened):
        window.close()


def xdo(*args: str) -> None:
    """Type or press keys on the test X server, into the focused window."""
    subprocess.run(["xdotool", *args], check=True, timeout=30)


def wait_for(condition, timeout: float = 10.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.fixture
def probe(xvfb) -> Iterator[WindowProbe]:
    """A window probe on the test X server, closed after the test."""
    window_probe = WindowProbe()
    yield window_probe
    window_probe.close()
