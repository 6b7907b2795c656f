"""Devices: pair a workstation's capture agent with a one-time code; the paired workstations,
their status, and Revoke."""

import reflex as rx

from components.capture.devices import devices_table, pairing_card
from components.capture.tabs import capture_tabs
from components.layout import app_shell
from llmcoder_app import routes
from state.capture_devices import CaptureDevicesState
from state.shell import ShellState


@rx.page(route=routes.CAPTURE_DEVICES, title="Devices · LLMCoder",
         on_load=[ShellState.load_shell, CaptureDevicesState.load])
@app_shell("Devices")
def capture_devices_page() -> rx.Component:
    return rx.vstack(capture_tabs(), pairing_card(), devices_table(), spacing="4", width="100%")
