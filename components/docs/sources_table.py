"""The list of sources: status with live indexing progress, counts, and each source's actions
(re-sync, share, schedule, delete) for the users who may manage it."""

from __future__ import annotations

import reflex as rx

from components.common.widgets import data_table
from components.docs.form_parts import MUTED, form_messages
from state.docs_sources import POLL_MS, DocsSourcesState, SourceRow

KIND_LABELS = (("confluence", "Confluence"), ("files", "Files"), ("folder", "Folder"), ("package", "Python package"))
STATUS_COLORS = (("ready", "green"), ("indexing", "blue"), ("queued", "gray"), ("error", "red"))


def _source(row: SourceRow) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text(row["name"], weight="medium", class_name="docs-source-name"),
            rx.badge(rx.match(row["kind"], *KIND_LABELS, row["kind"]), variant="outline", class_name="docs-source-kind"),
            align="center",
            spacing="2",
            wrap="wrap",
        ),
        rx.cond(row["detail"] != "", rx.text(row["detail"], size="1", color=MUTED, class_name="docs-source-detail")),
        rx.cond(row["owner"] != "", rx.text("Owner: ", row["owner"], size="1", color=MUTED)),
        spacing="1",
        align="start",
    )


def _access(row: SourceRow) -> rx.Component:
    label = rx.text(rx.cond(row["shared"], "Shared", "Private"), size="2", class_name="docs-source-access")
    return rx.cond(
        row["manage"],
        rx.text(
            rx.hstack(rx.switch(checked=row["shared"], size="1", id=f"docs-share-{row['id']}",
                                on_change=lambda shared: DocsSourcesState.set_shared(row["id"], shared)),
                      label, spacing="2", align="center"),
            as_="label",
        ),
        label,
    )


def _status(row: SourceRow) -> rx.Component:
    return rx.vstack(
        rx.badge(rx.cond(row["active"], "indexing…", row["status"]),
                 color_scheme=rx.match(row["status"], *STATUS_COLORS, "gray"), class_name="docs-source-status"),
        rx.cond(
            row["active"],
            rx.vstack(
                rx.progress(value=row["progress"], max=100, width="120px"),
                rx.text(row["progress"], "% ", row["message"], size="1", color=MUTED),
                spacing="1",
                class_name="docs-source-progress",
            ),
        ),
        rx.cond(row["error"] != "", rx.text(row["error"], size="1", color="red", class_name="docs-source-error")),
        spacing="1",
        align="start",
        max_width="260px",
    )


def _counts(row: SourceRow) -> rx.Component:
    return rx.vstack(
        rx.text(rx.el.span(row["documents"], class_name="docs-source-documents"), " documents", size="2"),
        rx.text(rx.el.span(row["chunks"], class_name="docs-source-chunks"), " chunks", size="2"),
        rx.cond(row["kind"] == "package",
                rx.text(rx.el.span(row["symbols"], class_name="docs-source-symbols"), " symbols", size="2")),
        spacing="0",
        white_space="nowrap",
    )


def _synced(row: SourceRow) -> rx.Component:
    return rx.vstack(
        rx.text(row["last_sync"], size="1", class_name="docs-source-synced"),
        rx.cond(row["schedule"] != "", rx.text(row["schedule"], size="1", color=MUTED)),
        spacing="0",
    )


def _delete(row: SourceRow) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.icon_button(rx.icon("trash-2", size=14), size="1", variant="soft", color_scheme="red",
                           title="Delete", id=f"docs-delete-{row['id']}"),
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete ", row["name"], "?"),
            rx.alert_dialog.description("Its documents, passages and index are removed. Answers already given "
                                        "keep their citations' text."),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray",
                                                 id=f"docs-delete-cancel-{row['id']}")),
                rx.alert_dialog.action(rx.button("Delete", color_scheme="red", id=f"docs-delete-confirm-{row['id']}",
                                                 on_click=DocsSourcesState.delete(row["id"]))),
                justify="end",
                spacing="2",
                padding_top="1rem",
            ),
        ),
    )


def _actions(row: SourceRow) -> rx.Component:
    return rx.cond(
        row["manage"],
        rx.hstack(
            rx.button(rx.icon("refresh-cw", size=14), "Re-sync", size="1", variant="soft", disabled=row["active"],
                      on_click=DocsSourcesState.resync(row["id"]), id=f"docs-resync-{row['id']}"),
            rx.icon_button(rx.icon("calendar-clock", size=14), size="1", variant="soft", title="Schedule",
                           on_click=DocsSourcesState.open_schedule(row["id"]), id=f"docs-schedule-{row['id']}"),
            _delete(row),
            spacing="2",
        ),
    )


def _row(row: SourceRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(_source(row)),
        rx.table.cell(_access(row)),
        rx.table.cell(_status(row)),
        rx.table.cell(_counts(row)),
        rx.table.cell(_synced(row)),
        rx.table.cell(_actions(row)),
        id=f"docs-source-row-{row['id']}",
        class_name="docs-source-row",
        data_status=row["status"],
        data_kind=row["kind"],
    )


def _number(label: str, name: str, value: rx.Var, placeholder: str) -> rx.Component:
    element_id = f"docs-schedule-{name}"
    return rx.vstack(
        rx.text(label, size="2", as_="label", html_for=element_id),
        rx.input(name=name, id=element_id, type="number", min=0, default_value=value, placeholder=placeholder),
        spacing="1",
    )


def schedule_dialog() -> rx.Component:
    """One dialog for the source whose Schedule button was pressed."""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Re-sync schedule: ", DocsSourcesState.schedule_name),
            rx.dialog.description("Re-sync every N minutes (0: only when asked). Optionally only between two "
                                  "hours of the server's clock; a window may wrap midnight (22 to 6).", size="2"),
            rx.form(
                rx.vstack(
                    rx.hstack(
                        _number("Every (minutes)", "interval", DocsSourcesState.schedule_interval, "0"),
                        _number("From hour", "start", DocsSourcesState.schedule_start, "any"),
                        _number("Until hour", "end", DocsSourcesState.schedule_end, "any"),
                        spacing="3",
                        width="100%",
                    ),
                    form_messages("schedule"),
                    rx.hstack(
                        rx.dialog.close(rx.button("Cancel", type="button", variant="soft", color_scheme="gray")),
                        rx.button("Save", type="submit", id="docs-schedule-save"),
                        justify="end",
                        spacing="2",
                        width="100%",
                    ),
                    spacing="3",
                    padding_top="1rem",
                ),
                on_submit=DocsSourcesState.save_schedule,
            ),
            id="docs-schedule-dialog",
        ),
        open=DocsSourcesState.schedule_id != 0,
        on_open_change=DocsSourcesState.close_schedule,
    )


def sources_table() -> rx.Component:
    return rx.vstack(
        form_messages("sources"),
        rx.cond(
            rx.State.is_hydrated,  # the page's loader has run: no stale list from an earlier visit
            rx.cond(
                DocsSourcesState.sources.length() > 0,
                data_table(("Source", "Access", "Status", "Content", "Last sync", ""), DocsSourcesState.sources, _row,
                           width="100%", id="docs-sources-table"),
                rx.text("No sources yet: add your first one below.", color=MUTED, id="docs-sources-empty"),
            ),
            rx.spinner(),
        ),
        schedule_dialog(),
        rx.cond(DocsSourcesState.any_active,
                rx.moment(interval=POLL_MS, on_change=DocsSourcesState.refresh, display="none")),
        spacing="3",
        width="100%",
    )
