"""The board: the filter bar (saved filter, search, quick filters, sync) and the status columns,
grouped by status category, whose cards are dragged between columns to transition them."""

from __future__ import annotations

import reflex as rx

from components.common.widgets import error_callout, success_callout
from components.jira.dnd import draggable, drop_zone
from state.jira_board import POLL_MS, CardRow, ColumnRow, JiraBoardState
from state.jira_ticket import JiraTicketState

MUTED = rx.color("gray", 11)
CATEGORY_COLORS = (("new", "gray"), ("indeterminate", "blue"), ("done", "green"))
TYPE_ICONS = (("Bug", "bug"), ("Epic", "zap"), ("Story", "bookmark"), ("Sub-task", "list-tree"),
              ("Subtask", "list-tree"))
PRIORITY_COLORS = (("Highest", "red"), ("High", "orange"), ("Medium", "amber"), ("Low", "green"),
                   ("Lowest", "gray"))


def _quick_select(name: str, label: str, options, value, element_id: str) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(placeholder=label, id=element_id),
        rx.select.content(rx.select.item(f"Any {label.lower()}", value="all"),
                          rx.foreach(options, lambda option: rx.select.item(option, value=option))),
        value=rx.cond(value == "", "all", value), on_change=lambda v: JiraBoardState.set_quick(name, v), size="1",
    )


def _switch(label: str, checked, on_change, element_id: str) -> rx.Component:
    return rx.text(rx.hstack(rx.switch(checked=checked, on_change=on_change, id=element_id, size="1"), label,
                             spacing="2", align="center"), as_="label", size="2")


def filter_bar() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.select.root(
                rx.select.trigger(id="jira-filter-select", min_width="14rem"),
                rx.select.content(rx.foreach(JiraBoardState.filters,
                                             lambda f: rx.select.item(f["name"], value=f["id"].to_string()))),
                value=JiraBoardState.filter_id.to_string(), on_change=JiraBoardState.choose_filter,
            ),
            rx.button(rx.icon("pencil", size=14), "Edit filter", variant="soft", size="2",
                      on_click=JiraBoardState.edit_filter, id="jira-filter-edit"),
            rx.button(rx.icon("plus", size=14), "New filter", variant="soft", size="2",
                      on_click=JiraBoardState.new_filter, id="jira-filter-new"),
            rx.spacer(),
            rx.cond(JiraBoardState.synced != "", rx.text("Synced ", JiraBoardState.synced, size="1", color=MUTED)),
            rx.button(rx.icon("refresh-cw", size=14), "Sync now", on_click=JiraBoardState.start_sync,
                      loading=JiraBoardState.sync_job != "", id="jira-sync"),
            spacing="2", align="center", width="100%", wrap="wrap",
        ),
        rx.hstack(
            rx.form(
                rx.hstack(rx.input(name="search", id="jira-search", placeholder="Search key or summary",
                                   default_value=JiraBoardState.search, width="14rem", size="1"),
                          rx.button(rx.icon("search", size=14), type="submit", variant="soft", size="1",
                                    id="jira-search-button"),
                          spacing="1"),
                on_submit=JiraBoardState.run_search,
            ),
            _quick_select("issue_type", "Type", JiraBoardState.types, JiraBoardState.issue_type, "jira-quick-type"),
            _quick_select("priority", "Priority", JiraBoardState.priorities, JiraBoardState.priority,
                          "jira-quick-priority"),
            _quick_select("assignee", "Assignee", JiraBoardState.assignees, JiraBoardState.assignee,
                          "jira-quick-assignee"),
            _switch("Updated today", JiraBoardState.recent_only, JiraBoardState.set_recent_only, "jira-quick-recent"),
            _switch("Tracked", JiraBoardState.tracked_only, JiraBoardState.set_tracked_only, "jira-quick-tracked"),
            rx.button("Clear", variant="ghost", size="1", on_click=JiraBoardState.clear_filters, id="jira-quick-clear"),
            rx.spacer(),
            rx.text(JiraBoardState.shown, " of ", JiraBoardState.total, " tickets", size="1", color=MUTED,
                    id="jira-board-count"),
            spacing="3", align="center", width="100%", wrap="wrap",
        ),
        rx.cond(JiraBoardState.sync_job != "",
                rx.hstack(rx.progress(value=JiraBoardState.sync_progress, width="12rem"),
                          rx.text(JiraBoardState.sync_message, size="1", color=MUTED), spacing="2",
                          align="center", id="jira-sync-progress")),
        spacing="2", width="100%",
    )


def filter_editor() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading(rx.cond(JiraBoardState.edit_id > 0, "Edit filter", "New filter"), size="3"),
                rx.text("Name", size="2", weight="medium"),
                rx.input(name="name", default_value=JiraBoardState.edit_name, id="jira-filter-name", width="100%",
                         max_length=100, key=JiraBoardState.edit_id.to_string()),
                rx.text("JQL", size="2", weight="medium"),
                rx.text_area(name="jql", default_value=JiraBoardState.edit_jql, id="jira-filter-jql", rows="3",
                             width="100%", font_family="monospace", key=JiraBoardState.edit_jql),
                rx.text("JIRA checks the query before it is saved; a changed query syncs afresh.", size="1",
                        color=MUTED),
                error_callout(JiraBoardState.edit_error, "jira-filter-error"),
                rx.hstack(
                    rx.button("Save filter", type="submit", id="jira-filter-save"),
                    rx.button("Cancel", type="button", variant="soft", color_scheme="gray",
                              on_click=JiraBoardState.cancel_edit, id="jira-filter-cancel"),
                    rx.spacer(),
                    rx.cond(JiraBoardState.edit_id > 0,
                            rx.button("Delete filter", type="button", variant="soft", color_scheme="red",
                                      on_click=JiraBoardState.delete_filter, id="jira-filter-delete")),
                    width="100%",
                ),
                spacing="2", width="100%",
            ),
            on_submit=JiraBoardState.save_filter,
        ),
        width="100%", id="jira-filter-editor",
    )


def _card(card: CardRow) -> rx.Component:
    return draggable(
        rx.vstack(
            rx.hstack(
                rx.icon(rx.match(card["issue_type"], *TYPE_ICONS, "square-check"), size=14, color=MUTED),
                rx.text(card["key"], size="1", weight="bold", class_name="jira-card-key"),
                rx.spacer(),
                rx.cond(card["tracked"], rx.icon("bell-ring", size=12, color=rx.color("amber", 10))),
                rx.cond(card["priority"] != "",
                        rx.badge(card["priority"], size="1", variant="soft",
                                 color_scheme=rx.match(card["priority"], *PRIORITY_COLORS, "gray"))),
                width="100%", align="center", spacing="1",
            ),
            rx.text(card["summary"], size="2", class_name="jira-card-summary"),
            rx.hstack(
                rx.text(card["issue_type"], size="1", color=MUTED),
                rx.cond(card["points"] != "", rx.badge(card["points"], size="1", variant="outline", radius="full")),
                rx.spacer(),
                rx.text(rx.cond(card["assignee"] != "", card["assignee"], "Unassigned"), size="1", color=MUTED,
                        trim="both"),
                width="100%", align="center", spacing="1",
            ),
            spacing="1", width="100%",
        ),
        on_drag_start=JiraBoardState.drag_start(card["key"]),
        on_click=JiraTicketState.open(card["key"]),
        id=f"jira-card-{card['key']}", class_name="jira-card", data_key=card["key"],
        cursor="grab", padding="0.5rem", border_radius="6px", background=rx.color("gray", 1),
        content_visibility="auto", contain_intrinsic_size="auto 90px",  # off-screen cards skip layout
        border=f"1px solid {rx.color('gray', 5)}", width="100%",
        opacity=rx.cond(JiraBoardState.moving == card["key"], "0.5", "1"),
    )


def _column(column: ColumnRow) -> rx.Component:
    color = rx.match(column["category"], *CATEGORY_COLORS, "gray")
    return drop_zone(
        rx.vstack(
            rx.hstack(
                rx.badge(column["title"], color_scheme=color, variant="soft", class_name="jira-column-title"),
                rx.text(column["count"], size="1", color=MUTED),
                align="center", spacing="2",
            ),
            rx.foreach(column["cards"], _card),
            rx.cond(column["more"] > 0,
                    rx.button("Show ", column["more"], " more", variant="ghost", size="1", width="100%",
                              on_click=JiraBoardState.show_more(column["id"]), class_name="jira-column-more")),
            spacing="2", width="100%",
        ),
        on_drop=JiraBoardState.drop(column["id"]),
        class_name="jira-column", data_column=column["id"],
        min_width="15rem", width="15rem", flex_shrink="0", padding="0.5rem", border_radius="8px",
        background=rx.color("gray", 3), min_height="20rem",
    )


def columns() -> rx.Component:
    return rx.box(
        rx.hstack(rx.foreach(JiraBoardState.columns, _column), spacing="3", align="start"),
        width="100%", overflow_x="auto", padding_bottom="0.5rem", id="jira-board",
    )


def board_view() -> rx.Component:
    return rx.vstack(
        rx.moment(interval=POLL_MS, on_change=JiraBoardState.poll, display="none"),
        filter_bar(),
        rx.cond(JiraBoardState.editing, filter_editor()),
        error_callout(JiraBoardState.error, "jira-board-error"),
        success_callout(JiraBoardState.notice, "jira-board-notice"),
        error_callout(JiraBoardState.filter_error, "jira-filter-sync-error"),
        rx.cond(JiraBoardState.filters.length() > 0, columns(),
                rx.text("No saved filter yet: create one with “New filter”.", color=MUTED)),
        spacing="3", width="100%",
    )
