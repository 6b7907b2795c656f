"""The focused window, read from a real X server."""

from __future__ import annotations

import os
import subprocess
import sys

from Xlib import X, Xatom

from capture_agent.protocol import WindowInfo
from capture_agent.window import WindowProbe


def test_the_focused_windows_title_and_class_are_read(open_window, probe):
    open_window("Notes — café ☕", "Gedit")
    assert probe.focused() == WindowInfo(app="Gedit", title="Notes — café ☕")


def test_focus_on_a_child_walks_up_to_the_named_top_level_window(open_window, probe):
    editor = open_window("report.txt - Editor", "Editor")
    field = open_window("", parent=editor, size=(100, 20))
    field.focus()
    assert probe.focused() == WindowInfo(app="Editor", title="report.txt - Editor")


def test_without_wm_class_the_app_is_the_process_named_by_net_wm_pid(open_window, probe):
    window = open_window("untitled")
    window.set_property("_NET_WM_PID", [os.getpid()])
    with open(f"/proc/{os.getpid()}/comm", encoding="utf-8") as comm:
        assert probe.focused() == WindowInfo(app=comm.read().strip(), title="untitled")


def test_net_active_window_wins_over_the_input_focus_when_a_window_manager_sets_it(open_window, probe):
    active = open_window("Active one", "Active")
    focused = open_window("Focused one", "Focused")
    root = focused.display.screen().root
    atom = focused.display.intern_atom("_NET_ACTIVE_WINDOW")
    try:
        root.change_property(atom, Xatom.WINDOW, 32, [active.window.id])
        focused.display.sync()
        assert probe.focused().title == "Active one"
    finally:
        root.delete_property(atom)
        focused.display.sync()
    assert probe.focused().title == "Focused one"


def test_titles_longer_than_the_protocol_allows_are_cut(open_window, probe):
    open_window("x" * 700, "A" * 300)
    window = probe.focused()
    assert (len(window.title), len(window.app)) == (500, 200)


def test_no_focused_window_and_no_display_give_an_empty_window(open_window, probe, monkeypatch):
    window = open_window("Gone soon", "Gone")
    other = open_window("Other", "Other")
    assert probe.focused().title == "Other"
    other.display.set_input_focus(X.PointerRoot, X.RevertToPointerRoot, X.CurrentTime)
    other.display.sync()
    assert probe.focused() == WindowInfo()
    window.focus()
    window.close()  # focus reverts to the root window
    assert probe.focused() == WindowInfo()
    monkeypatch.delenv("DISPLAY")
    assert WindowProbe().focused() == WindowInfo()


def test_a_probe_reconnects_after_its_x_server_connection_broke(open_window, probe):
    open_window("Still here", "Here")
    assert probe.focused().title == "Still here"
    probe._display.close()  # the connection dies under the probe (X restarted, socket closed)
    assert probe.focused() == WindowInfo()
    assert probe.focused().title == "Still here"


def test_without_python_xlib_the_window_is_unknown_rather_than_an_import_error():
    """Off Linux python-xlib is not installed; a fresh interpreter where importing it fails."""
    script = ("import sys; sys.modules['Xlib'] = None\n"
              "from capture_agent.window import WindowProbe\n"
              "print(repr(WindowProbe().focused()))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "WindowInfo(app='', title='')", result.stderr
