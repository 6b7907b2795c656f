"""Turbo mode's side panel: the switch, why it stopped (when it did), and the suggestions,
newest first, each dismissable; doc suggestions link to the page they found."""

from __future__ import annotations

import reflex as rx

from components.capture.tabs import MUTED, relative_time
from components.common.widgets import error_callout
from state.capture_live import CaptureLiveState, SuggestionRow

KIND_COLORS = (("doc", "blue"), ("step", "green"), ("idea", "purple"))


def _suggestion(row: SuggestionRow) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.badge(row["kind"], color_scheme=rx.match(row["kind"], *KIND_COLORS, "gray"),
                         class_name="turbo-kind"),
                relative_time(row["created"], font_size="var(--font-size-1)", color=MUTED),
                rx.spacer(),
                rx.icon_button(rx.icon("x", size=14), size="1", variant="ghost", color_scheme="gray",
                               on_click=CaptureLiveState.dismiss(row["id"]), title="Dismiss",
                               aria_label="Dismiss", id=f"turbo-dismiss-{row['id']}"),
                align="center", width="100%",
            ),
            rx.cond(row["url"] != "",
                    rx.link(row["title"], href=row["url"], is_external=True, weight="medium", size="2"),
                    rx.text(row["title"], weight="medium", size="2")),
            rx.text(row["body"], size="2"),
            rx.cond(row["source"] != "", rx.text("From ", row["source"], size="1", color=MUTED)),
            spacing="1", width="100%", align="start",
        ),
        width="100%", class_name="turbo-suggestion", id=f"turbo-suggestion-{row['id']}",
    )


def _empty() -> rx.Component:
    return rx.text(
        rx.cond(CaptureLiveState.turbo_on, "Watching: suggestions appear here as you work.",
                "Switch turbo mode on for live suggestions from what you see, say and type."),
        size="2", color=MUTED, id="turbo-empty",
    )


def turbo_panel() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.icon("zap", size=16),
                rx.heading("Turbo mode", size="3"),
                rx.spacer(),
                rx.switch(checked=CaptureLiveState.turbo_on, on_change=CaptureLiveState.switch_turbo,
                          id="turbo-switch", aria_label="Turbo mode"),
                align="center", width="100%",
            ),
            rx.text("Every few seconds the recent context goes to the AI (costed like any other call) and what "
                    "could help shows here.", size="1", color=MUTED),
            rx.cond(CaptureLiveState.turbo_notice != "",
                    rx.callout(CaptureLiveState.turbo_notice, icon="info", color_scheme="orange", size="1",
                               id="turbo-notice", width="100%")),
            rx.cond(CaptureLiveState.turbo_last_run != "",
                    rx.text("Last looked ", relative_time(CaptureLiveState.turbo_last_run), size="1", color=MUTED,
                            id="turbo-last-run", data_at=CaptureLiveState.turbo_last_run)),
            error_callout(CaptureLiveState.error, "turbo-error"),
            rx.cond(CaptureLiveState.suggestions.length() > 0,
                    rx.vstack(rx.foreach(CaptureLiveState.suggestions, _suggestion), spacing="2", width="100%",
                              id="turbo-suggestions"),
                    _empty()),
            spacing="3", width="100%",
        ),
        width="340px", min_width="300px", position="sticky", top="1rem", id="turbo-panel",
    )
