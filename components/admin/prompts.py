"""The LLM prompts page's parts: choice of prompt and level, editors, history with diff, demo run."""

from __future__ import annotations

import reflex as rx

from components.common.widgets import data_table, error_callout, success_callout
from state.llm_prompts import DemoValue, DiffRow, HistoryRow, LLMPromptsState, PairOption

_MONO = {"font_family": "var(--code-font-family, monospace)", "font_size": "13px"}


def prompt_picker() -> rx.Component:
    def option(pair: PairOption) -> rx.Component:
        return rx.select.item(pair.label, value=pair.key)

    return rx.vstack(
        rx.hstack(
            rx.vstack(
                rx.text("Feature and task", size="1", weight="medium"),
                rx.select.root(
                    rx.select.trigger(placeholder="Choose a prompt", id="prompt-pair", min_width="260px"),
                    rx.select.content(rx.foreach(LLMPromptsState.pairs, option)),
                    value=LLMPromptsState.pair,
                    on_change=LLMPromptsState.select_pair,
                ),
                spacing="1",
            ),
            rx.vstack(
                rx.text("Project (empty: the admin override for every project)", size="1", weight="medium"),
                rx.hstack(
                    rx.input(value=LLMPromptsState.project, on_change=LLMPromptsState.set_project,
                             placeholder="project name", id="prompt-project", width="240px"),
                    rx.button("Open", variant="soft", on_click=LLMPromptsState.open_level, id="prompt-project-open"),
                ),
                spacing="1",
            ),
            spacing="5",
            align="end",
            wrap="wrap",
        ),
        rx.text(LLMPromptsState.description, size="2", color=rx.color("gray", 11), id="prompt-description"),
        rx.hstack(
            rx.text("Open the admin override or a project that has its own:", size="1",
                    color=rx.color("gray", 10)),
            rx.button("admin", size="1", variant="ghost", on_click=LLMPromptsState.choose_project(""),
                      id="prompt-level-admin"),
            rx.foreach(LLMPromptsState.known_projects,
                       lambda name: rx.button(name, size="1", variant="ghost",
                                              on_click=LLMPromptsState.choose_project(name),
                                              class_name="prompt-known-project")),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        spacing="3",
        width="100%",
    )


def _editor(label: str, value, on_change, element_id: str, rows: str) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="2", weight="medium", as_="label", html_for=element_id),
        rx.text_area(value=value, on_change=on_change, id=element_id, rows=rows, width="100%", style=_MONO),
        spacing="1",
        width="100%",
    )


def prompt_editor() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Editing: ", rx.cond(LLMPromptsState.open_project != "",
                                                "project " + LLMPromptsState.open_project, "admin override"),
                           size="3", id="prompt-editing"),
                rx.badge("now in use: ", LLMPromptsState.source_label, id="prompt-source"),
                align="center",
                spacing="3",
                wrap="wrap",
            ),
            rx.hstack(
                rx.text("Variables:", size="2"),
                rx.foreach(LLMPromptsState.variables,
                           lambda name: rx.badge("{" + name + "}", variant="surface", class_name="prompt-variable")),
                spacing="2",
                align="center",
                wrap="wrap",
            ),
            error_callout(LLMPromptsState.error, "prompt-error"),
            success_callout(LLMPromptsState.notice, "prompt-notice"),
            _editor("System prompt", LLMPromptsState.system_text, LLMPromptsState.set_system_text, "prompt-system",
                    "5"),
            _editor("User prompt", LLMPromptsState.user_text, LLMPromptsState.set_user_text, "prompt-user", "6"),
            rx.text("Write {name} for a variable and {{ or }} for a literal brace.", size="1",
                    color=rx.color("gray", 10)),
            rx.hstack(
                rx.button("Save", on_click=LLMPromptsState.save, id="prompt-save"),
                rx.alert_dialog.root(
                    rx.alert_dialog.trigger(rx.button("Reset to default", variant="soft", color_scheme="orange",
                                                      id="prompt-reset")),
                    rx.alert_dialog.content(
                        rx.alert_dialog.title("Reset this prompt?"),
                        rx.alert_dialog.description(
                            "This level's own wording stops applying; the history keeps every version."),
                        rx.hstack(
                            rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                            rx.alert_dialog.action(rx.button("Reset", color_scheme="orange",
                                                             on_click=LLMPromptsState.reset_prompt,
                                                             id="prompt-reset-confirm")),
                            justify="end",
                            width="100%",
                        ),
                    ),
                ),
                spacing="3",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _history_row(row: HistoryRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(row.key)),
        rx.table.cell(rx.text(row.created, size="1")),
        rx.table.cell(rx.badge(row.kind, color_scheme=rx.cond(row.kind == "reset", "orange", "blue"))),
        rx.table.cell(rx.text(row.preview, size="1", style=_MONO)),
        id="history-" + row.key,
        class_name="history-row",
    )


def _choice(label: str, value, on_change, element_id: str) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", weight="medium"),
        rx.select(LLMPromptsState.diff_choices, value=value, on_change=on_change, id=element_id, size="1"),
        spacing="1",
    )


_DIFF_COLORS = (("added", rx.color("green", 3)), ("removed", rx.color("red", 3)), ("hunk", rx.color("blue", 3)),
                ("header", rx.color("gray", 3)))


def _diff_line(line: DiffRow) -> rx.Component:
    return rx.el.pre(
        line.text,
        background=rx.match(line.kind, *_DIFF_COLORS, "transparent"),
        color=rx.match(line.kind, ("added", rx.color("green", 11)), ("removed", rx.color("red", 11)), "inherit"),
        margin="0",
        padding="0 0.5rem",
        white_space="pre-wrap",
        class_name="diff-" + line.kind,
        **_MONO,
    )


def prompt_history() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Version history", size="3"),
            rx.cond(
                LLMPromptsState.history.length() > 0,
                data_table(
                    ("Version", "Saved", "Kind", "User prompt"),
                    LLMPromptsState.history, _history_row,
                    width="100%",
                    id="prompt-history",
                ),
                rx.text("No saved versions at this level yet.", size="2", id="prompt-history-empty"),
            ),
            rx.hstack(
                _choice("From", LLMPromptsState.diff_from, LLMPromptsState.set_diff_from, "diff-from"),
                _choice("To", LLMPromptsState.diff_to, LLMPromptsState.set_diff_to, "diff-to"),
                rx.button("Show diff", variant="soft", on_click=LLMPromptsState.show_diff, id="diff-show"),
                align="end",
                spacing="3",
            ),
            rx.text("\u201ceditor\u201d is the text in the editors above, saved or not.", size="1",
                    color=rx.color("gray", 10)),
            rx.cond(LLMPromptsState.diff_message != "",
                    rx.text(LLMPromptsState.diff_message, size="2", id="diff-message")),
            rx.cond(LLMPromptsState.diff.length() > 0,
                    rx.box(rx.foreach(LLMPromptsState.diff, _diff_line), width="100%", id="diff-view",
                           border=f"1px solid {rx.color('gray', 5)}", border_radius="6px", overflow_x="auto")),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _demo_input(value: DemoValue) -> rx.Component:
    return rx.hstack(
        rx.code("{" + value.name + "}", min_width="90px"),
        rx.text_area(value=value.value, on_change=LLMPromptsState.set_demo_value(value.name), rows="2",
                     width="100%", id="demo-value-" + value.name),
        width="100%",
        align="start",
    )


def _output(label: str, text, element_id: str) -> rx.Component:
    return rx.cond(
        text != "",
        rx.vstack(rx.text(label, size="1", weight="medium"),
                  rx.el.pre(text, id=element_id, white_space="pre-wrap", margin="0", width="100%", **_MONO),
                  spacing="1", width="100%"),
    )


def prompt_demo() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Test with demo values", size="3"),
            rx.text("Uses the text in the editors, even before it is saved.", size="2", color=rx.color("gray", 11)),
            rx.foreach(LLMPromptsState.demo, _demo_input),
            rx.hstack(
                rx.switch(checked=LLMPromptsState.demo_real, on_change=LLMPromptsState.set_demo_real,
                          id="demo-real"),
                rx.text(rx.cond(LLMPromptsState.demo_real, "Real call (charged to prompt_test)",
                                "Dry run (no provider is called)"), size="2"),
                rx.button("Run", on_click=LLMPromptsState.run_demo, loading=LLMPromptsState.running,
                          id="demo-run"),
                spacing="3",
                align="center",
            ),
            error_callout(LLMPromptsState.demo_error, "demo-error"),
            _output("Rendered system prompt", LLMPromptsState.demo_system, "demo-system"),
            _output("Rendered user prompt", LLMPromptsState.demo_user, "demo-user"),
            _output("Result", LLMPromptsState.demo_result, "demo-result"),
            rx.cond(LLMPromptsState.demo_meta != "", rx.text(LLMPromptsState.demo_meta, size="2", id="demo-meta")),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )
