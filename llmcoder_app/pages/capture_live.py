"""Live capture: what the user's workstations stream right now, and turbo mode's live
suggestions beside it; polled every two seconds while the tab is open."""

import reflex as rx

from components.capture.live import live_view, not_paired
from components.capture.tabs import capture_tabs
from components.capture.turbo import turbo_panel
from components.layout import app_shell
from llmcoder_app import routes
from state.capture_live import POLL_MS, CaptureLiveState
from state.shell import ShellState


@rx.page(route=routes.CAPTURE_LIVE, title="Live capture · LLMCoder",
         on_load=[ShellState.load_shell, CaptureLiveState.load])
@app_shell("Live capture")
def capture_live_page() -> rx.Component:
    return rx.vstack(
        capture_tabs(),
        rx.hstack(
            rx.box(rx.cond(CaptureLiveState.has_devices, live_view(), not_paired()), flex="1", min_width="0"),
            turbo_panel(),
            align="start", spacing="4", width="100%",
        ),
        rx.moment(interval=POLL_MS, on_change=CaptureLiveState.poll, display="none"),
        spacing="4", width="100%",
    )
