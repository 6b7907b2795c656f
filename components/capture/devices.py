"""The Devices page's parts: pairing a workstation with a one-time code, and the paired
workstations with their status and Revoke."""

from __future__ import annotations

import reflex as rx

from components.capture.tabs import MUTED, relative_time
from components.common.widgets import data_table, error_callout, success_callout
from state.capture_devices import POLL_MS, CaptureDevicesState, DeviceRow

STATUS_COLORS = (("online", "green"), ("paused", "orange"), ("offline", "gray"), ("revoked", "red"))


def _code() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text(CaptureDevicesState.code, size="8", weight="bold", font_family="monospace",
                    letter_spacing="0.15em", id="capture-code"),
            rx.text("expires ", relative_time(CaptureDevicesState.code_expires), size="2", color=MUTED,
                    id="capture-code-expires"),
            align="baseline", spacing="4", wrap="wrap",
        ),
        rx.text("On the workstation, from a copy of the LLMCoder repository (the code works once):", size="2"),
        rx.code_block(CaptureDevicesState.commands, language="bash", width="100%", id="capture-commands"),
        rx.text("The agent keeps its device token in your user's config folder. Set LLMCODER_PUBLIC_URL on the "
                "server if workstations reach it by another address than the one above.", size="1", color=MUTED),
        spacing="3", width="100%",
    )


def pairing_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Pair a workstation", size="4"),
                rx.spacer(),
                rx.button(rx.icon("key-round", size=16),
                          rx.cond(CaptureDevicesState.code != "", "New code", "Pair a workstation"),
                          on_click=CaptureDevicesState.create_code, id="capture-pair"),
                width="100%", align="center",
            ),
            rx.text("The capture agent streams a workstation's screen, speech and typing to your LLMCoder, for the "
                    "Live page and turbo mode. Windows of password managers, banking and private browsing are never "
                    "captured, and secrets you type are redacted before they leave the workstation.",
                    size="2", color=MUTED),
            rx.cond(CaptureDevicesState.code != "", _code()),
            spacing="3", width="100%",
        ),
        width="100%", id="capture-pairing",
    )


def _revoke(row: DeviceRow) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(rx.button("Revoke", size="1", color_scheme="red", variant="soft",
                                          id=f"capture-revoke-{row['id']}")),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Revoke ", row["name"], "?"),
            rx.alert_dialog.description("Its token stops working at once and its connection is closed. What it "
                                        "already sent stays until the retention period removes it. To use it "
                                        "again, pair it with a new code."),
            rx.hstack(rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                      rx.alert_dialog.action(rx.button("Revoke", color_scheme="red",
                                                       on_click=CaptureDevicesState.revoke(row["id"]),
                                                       id=f"capture-revoke-confirm-{row['id']}")),
                      justify="end", spacing="2", margin_top="1rem"),
        ),
    )


def _row(row: DeviceRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.vstack(rx.text(row["name"], weight="medium", class_name="capture-device-name"),
                                rx.text(row["platform"], size="1", color=MUTED), spacing="0", align="start")),
        rx.table.cell(row["agent_version"]),
        rx.table.cell(row["paired"], white_space="nowrap"),
        rx.table.cell(rx.cond(row["last_seen"] != "", relative_time(row["last_seen"]), rx.text("never")),
                      white_space="nowrap"),
        rx.table.cell(rx.badge(row["status"], color_scheme=rx.match(row["status"], *STATUS_COLORS, "gray"),
                               class_name="capture-device-status")),
        rx.table.cell(rx.cond(row["status"] != "revoked", _revoke(row))),
        id=f"capture-device-{row['id']}",
    )


def devices_table() -> rx.Component:
    return rx.vstack(
        error_callout(CaptureDevicesState.error, "capture-devices-error"),
        success_callout(CaptureDevicesState.notice, "capture-devices-notice"),
        rx.cond(
            CaptureDevicesState.devices.length() > 0,
            data_table(("Device", "Agent", "Paired", "Last seen", "Status", ""), CaptureDevicesState.devices, _row,
                       width="100%", id="capture-devices-table"),
            rx.text("No workstation is paired yet.", color=MUTED, id="capture-devices-empty"),
        ),
        rx.moment(interval=POLL_MS, on_change=CaptureDevicesState.refresh, display="none"),
        spacing="3", width="100%",
    )
