"""The Live page's main column: the workstations, the latest frame, the focused window, the
transcript's tail and typing activity; and what it shows before anything is paired."""

from __future__ import annotations

import reflex as rx

from components.capture.tabs import MUTED, relative_time
from llmcoder_app import routes
from state.capture_live import ActivityBar, CaptureLiveState, DeviceChip, TypedPart

CHIP_COLORS = (("online", "green"), ("paused", "orange"), ("offline", "gray"))


def not_paired() -> rx.Component:
    return rx.callout(
        rx.text("No workstation is paired yet: pair one on the ", rx.link("Devices", href=routes.CAPTURE_DEVICES),
                " page, and what it captures shows here."),
        icon="monitor-dot", id="capture-no-devices", width="100%",
    )


def _chip(device: DeviceChip) -> rx.Component:
    return rx.badge(rx.icon("laptop", size=12), device["name"], " · ", device["status"], variant="soft",
                    color_scheme=rx.match(device["status"], *CHIP_COLORS, "gray"), class_name="capture-live-device")


def _section(title: str, icon: str, *children: rx.Component, **props) -> rx.Component:
    return rx.card(
        rx.vstack(rx.hstack(rx.icon(icon, size=16), rx.heading(title, size="3"), align="center", spacing="2"),
                  *children, spacing="2", width="100%"),
        width="100%", **props,
    )


def _frame() -> rx.Component:
    return _section(
        "Screen", "monitor",
        rx.cond(
            CaptureLiveState.frame_url != "",
            rx.vstack(
                rx.image(src=CaptureLiveState.frame_url, alt=CaptureLiveState.frame_window, max_width="100%",
                         max_height="60vh", border=f"1px solid {rx.color('gray', 5)}",
                         border_radius="var(--radius-2)", id="capture-frame"),
                rx.text(relative_time(CaptureLiveState.frame_time), " · ", CaptureLiveState.frame_window,
                        size="1", color=MUTED, id="capture-frame-caption"),
                spacing="1", width="100%",
            ),
            rx.text("No screen frame yet. Frames arrive only when the screen changes.", size="2", color=MUTED,
                    id="capture-no-frame"),
        ),
    )


def _window() -> rx.Component:
    return rx.hstack(
        rx.icon("app-window", size=16),
        rx.cond(
            (CaptureLiveState.app != "") | (CaptureLiveState.title != ""),
            rx.text(rx.text.strong(CaptureLiveState.app), " ", CaptureLiveState.title, size="2"),
            rx.text("No window reported yet.", size="2", color=MUTED),
        ),
        align="center", spacing="2", id="capture-window",
    )


def _transcript() -> rx.Component:
    return _section(
        "What you said", "mic",
        rx.cond(
            CaptureLiveState.transcript.length() > 0,
            rx.vstack(rx.foreach(CaptureLiveState.transcript, lambda line: rx.text(line, size="2")),
                      spacing="1", id="capture-transcript"),
            rx.cond(CaptureLiveState.transcribing,
                    rx.text("Nothing transcribed yet.", size="2", color=MUTED, id="capture-transcript-empty"),
                    rx.text("Transcription is off: an admin can turn it on in Settings (Capture).", size="2",
                            color=MUTED, id="capture-transcript-off")),
        ),
    )


def _bar(bar: ActivityBar) -> rx.Component:
    return rx.tooltip(
        rx.box(height=bar["height"], width="100%", background=rx.color("accent", 8), border_radius="2px 2px 0 0"),
        content=bar["strokes"].to_string() + " keystrokes, " + bar["label"],
    )


def _typed_part(part: TypedPart) -> rx.Component:
    return rx.cond(part["redacted"],
                   rx.badge("redacted", color_scheme="red", variant="surface", class_name="capture-redacted"),
                   rx.text.span(part["text"]))


def _typing() -> rx.Component:
    return _section(
        "Typing", "keyboard",
        rx.hstack(rx.foreach(CaptureLiveState.activity, _bar), align="end", spacing="1", height="40px",
                  width="240px", id="capture-sparkline"),
        rx.text(CaptureLiveState.strokes, " keystrokes in the last 10 minutes", size="1", color=MUTED,
                id="capture-strokes"),
        rx.cond(
            CaptureLiveState.typed.length() > 0,
            rx.box(rx.foreach(CaptureLiveState.typed, _typed_part), white_space="pre-wrap", font_family="monospace",
                   font_size="var(--font-size-2)", width="100%", id="capture-typed"),
            rx.text("Nothing typed yet.", size="2", color=MUTED),
        ),
    )


def live_view() -> rx.Component:
    return rx.vstack(
        rx.hstack(rx.foreach(CaptureLiveState.devices, _chip), spacing="2", wrap="wrap", id="capture-live-devices"),
        _window(),
        _frame(),
        _transcript(),
        _typing(),
        spacing="3", width="100%",
    )
