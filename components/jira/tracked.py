"""The Tracked tickets page: a form to track a key, and the tracked tickets."""

from __future__ import annotations

import reflex as rx

from components.common.widgets import data_table, error_callout, success_callout
from state.jira_tracked import JiraTrackedState, TrackedRow

MUTED = rx.color("gray", 11)


def _row(row: TrackedRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row["key"], weight="bold")),
        rx.table.cell(row["summary"]),
        rx.table.cell(rx.badge(row["status"])),
        rx.table.cell(rx.vstack(rx.text(row["checked"], size="1"),
                                rx.cond(row["error"] != "", rx.text(row["error"], size="1", color="red")),
                                spacing="0")),
        rx.table.cell(rx.button("Stop tracking", size="1", variant="soft", color_scheme="gray",
                                on_click=JiraTrackedState.untrack(row["key"]))),
        id=f"jira-tracked-{row['key']}",
    )


def tracked_view() -> rx.Component:
    return rx.vstack(
        rx.text("A scheduled check every 5 minutes tells you (the bell, and a Slack DM when Slack is connected "
                "in the Inbox) when a tracked ticket changes status or someone else comments.", size="2",
                color=MUTED),
        rx.hstack(
            rx.form(rx.hstack(rx.input(name="key", placeholder="Ticket key, e.g. ABC-123", id="jira-track-key",
                                       width="14rem"),
                              rx.button("Track", type="submit", loading=JiraTrackedState.busy, id="jira-track-add"),
                              spacing="2"),
                    on_submit=JiraTrackedState.track),
            rx.spacer(),
            rx.button(rx.icon("refresh-cw", size=14), "Check now", variant="soft", on_click=JiraTrackedState.check_now,
                      id="jira-track-check"),
            width="100%", align="center",
        ),
        error_callout(JiraTrackedState.error, "jira-tracked-error"),
        success_callout(JiraTrackedState.notice, "jira-tracked-notice"),
        rx.cond(JiraTrackedState.rows.length() > 0,
                data_table(("Key", "Summary", "Status", "Last checked", ""), JiraTrackedState.rows, _row),
                rx.text("Nothing tracked yet: open a ticket on the board and press Track, or enter its key.",
                        color=MUTED, size="2")),
        spacing="3", width="100%",
    )
