"""The learned-templates page's pieces: totals, filters, the table, the view/edit/delete
dialogs, and export/import."""

from __future__ import annotations

import reflex as rx

from components.common.widgets import data_table
from state.llm_learned import ALL, STATES, LearnedRow, LearnedState

UPLOAD_ID = "learned-upload"
_MUTED = rx.color("gray", 10)


def _total(label: str, value, detail, element_id: str) -> rx.Component:
    return rx.card(
        rx.vstack(rx.text(label, size="2", color=_MUTED),
                  rx.heading(value, size="6", id=element_id),
                  rx.text(detail, size="1", color=_MUTED),
                  spacing="1"),
        width="100%",
    )


def totals() -> rx.Component:
    return rx.grid(
        _total("Templates", LearnedState.templates, LearnedState.enabled_count.to_string() + " enabled",
               "learned-total-templates"),
        _total("Uses", LearnedState.uses, "answers given at no cost", "learned-total-uses"),
        _total("Cost saved", LearnedState.saved, "what the providers would have cost", "learned-total-saved"),
        _total("Average quality", LearnedState.average_quality, "0-100, lowered by bad feedback",
               "learned-total-quality"),
        columns="4",
        spacing="3",
        width="100%",
    )


def _select(value, on_change, options, element_id: str) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(id=element_id, min_width="140px"),
        rx.select.content(options),
        value=value,
        on_change=on_change,
        size="2",
    )


def filters() -> rx.Component:
    return rx.hstack(
        rx.form(
            rx.hstack(
                rx.input(name="query", placeholder="Search name, task or output", default_value=LearnedState.query,
                         id="learned-search", width="300px"),
                rx.button(rx.icon("search", size=15), "Search", type="submit", variant="soft",
                          id="learned-search-submit"),
            ),
            on_submit=LearnedState.search,
            width="auto",
        ),
        _select(LearnedState.feature, LearnedState.set_feature,
                rx.fragment(rx.select.item("All features", value=ALL),
                            rx.foreach(LearnedState.features, lambda f: rx.select.item(f, value=f))),
                "learned-feature"),
        _select(LearnedState.state_filter, LearnedState.set_state_filter,
                rx.fragment(*[rx.select.item("Enabled and disabled" if key == ALL else key.capitalize(), value=key)
                              for key in STATES]),
                "learned-state"),
        rx.spacer(),
        rx.button(rx.icon("download", size=15), "Export all", on_click=LearnedState.export, id="learned-export"),
        width="100%",
        align="center",
        wrap="wrap",
    )


def import_card() -> rx.Component:
    report = rx.cond(
        LearnedState.imported,
        rx.callout(
            rx.vstack(
                rx.text(LearnedState.import_created, " created · ", LearnedState.import_duplicates, " duplicates",
                        " skipped", id="learned-import-counts", weight="medium"),
                rx.cond(
                    LearnedState.import_errors.length() > 0,
                    rx.vstack(
                        rx.text("Nothing was imported. Fix these and import the file again:", size="2"),
                        rx.el.ul(rx.foreach(LearnedState.import_errors, lambda e: rx.el.li(rx.text(e, size="2"))),
                                 id="learned-import-errors", style={"paddingLeft": "1.2rem"}),
                        rx.cond(LearnedState.import_more_errors > 0,
                                rx.text("and ", LearnedState.import_more_errors, " more.", size="2")),
                        spacing="1",
                    ),
                ),
                spacing="1",
            ),
            icon=rx.cond(LearnedState.import_errors.length() > 0, "triangle-alert", "check"),
            color_scheme=rx.cond(LearnedState.import_errors.length() > 0, "red", "green"),
            id="learned-import-report",
            width="100%",
        ),
    )
    return rx.card(
        rx.vstack(
            rx.heading("Import", size="3"),
            rx.text("A file exported from this page (here or on another installation). Every template is checked "
                    "first: one invalid template and nothing is imported. Templates already here are skipped.",
                    size="2", color=rx.color("gray", 11)),
            rx.box(
                rx.upload(
                    rx.hstack(rx.icon("upload", size=16), rx.text("Drop a .json export here, or click to choose",
                                                                   size="2"), align="center"),
                    id=UPLOAD_ID,
                    accept={"application/json": [".json"]},
                    multiple=False,
                    on_drop=LearnedState.import_file,
                    border=f"1px dashed {rx.color('gray', 7)}",
                    padding="0.9rem",
                    border_radius="var(--radius-2)",
                    cursor="pointer",
                ),
                id="learned-import-zone",
                width="100%",
            ),
            rx.el.details(
                rx.el.summary(rx.text("Or paste the JSON", size="2", as_="span"), id="learned-paste-toggle"),
                rx.form(
                    rx.vstack(
                        rx.text_area(name="document", rows="6", width="100%", id="learned-import-text",
                                     placeholder='{"format": "llmcoder-learned-templates", ...}'),
                        rx.button("Import pasted JSON", type="submit", variant="soft", id="learned-import-paste"),
                        spacing="2",
                    ),
                    on_submit=LearnedState.import_pasted,
                    reset_on_submit=True,
                ),
                width="100%",
            ),
            report,
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _actions(row: LearnedRow) -> rx.Component:
    return rx.hstack(
        rx.button("View", size="1", variant="soft", on_click=LearnedState.open_view(row.id),
                  id="learned-view-" + row.id.to_string()),
        rx.button("Edit", size="1", variant="soft", on_click=LearnedState.open_edit(row.id),
                  id="learned-edit-" + row.id.to_string()),
        rx.cond(
            row.enabled,
            rx.button("Disable", size="1", variant="soft", color_scheme="orange",
                      on_click=LearnedState.set_enabled(row.id, False), id="learned-disable-" + row.id.to_string()),
            rx.button("Enable", size="1", variant="soft", color_scheme="green",
                      on_click=LearnedState.set_enabled(row.id, True), id="learned-enable-" + row.id.to_string()),
        ),
        rx.button("Delete", size="1", variant="soft", color_scheme="red",
                  on_click=LearnedState.ask_delete(row.id, row.name), id="learned-delete-" + row.id.to_string()),
        spacing="1",
    )


def _row(row: LearnedRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.name, weight="medium"), max_width="320px"),
        rx.table.cell(rx.vstack(rx.text(row.feature, size="2"),
                                rx.cond(row.context != "", rx.text(row.context, size="1", color=_MUTED)),
                                spacing="0")),
        rx.table.cell(rx.text(row.provider, size="2")),
        rx.table.cell(rx.text(row.uses, size="2")),
        rx.table.cell(rx.text(row.quality, size="2")),
        rx.table.cell(rx.text(row.last_used, size="1")),
        rx.table.cell(rx.cond(row.enabled, rx.badge("enabled", color_scheme="green"),
                              rx.badge("disabled", color_scheme="gray")), class_name="learned-state"),
        rx.table.cell(_actions(row)),
        class_name="learned-row",
        data_id=row.id,
    )


def table() -> rx.Component:
    return rx.vstack(
        rx.cond(
            LearnedState.rows.length() > 0,
            data_table(
                ("Name", "Feature", "Source provider", "Uses", "Quality", "Last used", "State", ""),
                LearnedState.rows, _row,
                width="100%",
                id="learned-table",
            ),
            rx.text(rx.cond(LearnedState.templates > 0, "No templates match these filters.",
                            "No learned templates yet: they are made from accepted, high-quality answers, "
                            "or imported below."), color=_MUTED, id="learned-empty"),
        ),
        rx.hstack(
            rx.button(rx.icon("chevron-left", size=15), "Previous", size="1", variant="soft",
                      disabled=LearnedState.page <= 1, on_click=LearnedState.previous_page, id="learned-previous"),
            rx.text("Page ", LearnedState.page, " · ", LearnedState.total, " matching", size="2", id="learned-pager"),
            rx.button("Next", rx.icon("chevron-right", size=15), size="1", variant="soft",
                      disabled=~LearnedState.has_next, on_click=LearnedState.next_page, id="learned-next"),
            align="center",
        ),
        width="100%",
        spacing="3",
    )


def _text_block(text, element_id: str) -> rx.Component:
    return rx.box(rx.text(text, size="2", white_space="pre-wrap", font_family="var(--code-font-family)"),
                  background=rx.color("gray", 3), padding="0.6rem", border_radius="var(--radius-2)", width="100%",
                  max_height="260px", overflow="auto", id=element_id)


def _fact(label: str, value) -> rx.Component:
    return rx.hstack(rx.text(label, size="2", color=_MUTED, min_width="130px"), rx.text(value, size="2"),
                     spacing="2")


def view_dialog() -> rx.Component:
    v = LearnedState.view
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(v.title),
            rx.vstack(
                rx.hstack(rx.badge(v.feature), rx.cond(v.context != "", rx.badge(v.context, color_scheme="gray")),
                          rx.cond(v.enabled, rx.badge("enabled", color_scheme="green"),
                                  rx.badge("disabled", color_scheme="gray"))),
                rx.text("Task", weight="medium", size="2"),
                _text_block(v.task_text, "learned-view-task"),
                rx.text("Output", weight="medium", size="2"),
                _text_block(v.output, "learned-view-output"),
                rx.hstack(rx.text("Placeholders", size="2", color=_MUTED, min_width="130px"),
                          rx.cond(v.placeholders.length() > 0,
                                  rx.hstack(rx.foreach(v.placeholders, lambda p: rx.code("{{" + p + "}}", size="1")),
                                            wrap="wrap"),
                                  rx.text("none", size="2")),
                          id="learned-view-placeholders"),
                _fact("Source call", rx.cond(v.source_call_id != "", v.source_call_id, "imported or manual")),
                _fact("Provider / model", v.source_provider + " / " + v.source_model),
                _fact("Saves per use", v.source_cost),
                _fact("Quality", v.quality.to_string() + " (demoted " + v.demotions.to_string() + " times)"),
                _fact("Uses", v.uses.to_string() + ", saving " + v.saved),
                _fact("Last used", v.last_used),
                _fact("Created", v.created),
                _fact("Updated", v.updated),
                rx.hstack(rx.spacer(),
                          rx.dialog.close(rx.button("Close", variant="soft", id="learned-view-close")), width="100%"),
                spacing="2",
                width="100%",
            ),
            max_width="760px",
            id="learned-view-dialog",
        ),
        open=LearnedState.viewing,
        on_open_change=LearnedState.set_viewing,
    )


def _labelled(label: str, control: rx.Component) -> rx.Component:
    return rx.vstack(rx.text(label, size="2", weight="medium"), control, spacing="1", width="100%")


def edit_dialog() -> rx.Component:
    v = LearnedState.view
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Edit template"),
            rx.dialog.description("The task stays as learned. The output may use only the task's placeholders: ",
                                  rx.foreach(v.placeholders, lambda p: rx.code("{{" + p + "}}", size="1")),
                                  size="2"),
            rx.form(
                rx.vstack(
                    rx.callout(LearnedState.edit_error, icon="triangle-alert", color_scheme="red", role="alert",
                               id="learned-edit-error", width="100%",
                               display=rx.cond(LearnedState.edit_error != "", "flex", "none")),
                    _labelled("Name", rx.input(name="name", default_value=v.name, id="learned-edit-name",
                                               width="100%")),
                    rx.hstack(
                        _labelled("Context", rx.input(name="context", default_value=v.context,
                                                      id="learned-edit-context", width="100%")),
                        _labelled("Quality (0-100)", rx.input(name="quality", type="number",
                                                              default_value=v.quality.to_string(),
                                                              id="learned-edit-quality", width="100%")),
                        width="100%",
                    ),
                    _labelled("Task", _text_block(v.task_text, "learned-edit-task")),
                    _labelled("Output", rx.text_area(name="output", default_value=v.output, rows="10",
                                                     id="learned-edit-output", width="100%",
                                                     font_family="var(--code-font-family)")),
                    rx.hstack(rx.spacer(),
                              rx.dialog.close(rx.button("Cancel", type="button", variant="soft", color_scheme="gray")),
                              rx.button("Save", type="submit", id="learned-edit-save"),
                              width="100%"),
                    spacing="3",
                    width="100%",
                ),
                on_submit=LearnedState.save_edit,
            ),
            max_width="760px",
            id="learned-edit-dialog",
        ),
        open=LearnedState.editing,
        on_open_change=LearnedState.set_editing,
    )


def delete_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete \u201c", LearnedState.view.title, "\u201d?"),
            rx.alert_dialog.description("It stops answering at once and cannot be restored (export first to keep a "
                                        "copy). Disabling keeps it for later instead.", size="2"),
            rx.hstack(
                rx.spacer(),
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(rx.button("Delete", color_scheme="red", on_click=LearnedState.confirm_delete,
                                                 id="learned-delete-confirm")),
                width="100%",
            ),
            id="learned-delete-dialog",
        ),
        open=LearnedState.deleting,
        on_open_change=LearnedState.set_deleting,
    )
