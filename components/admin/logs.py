"""The LLM Logs page's parts: filter bar, the paginated table, and one call's detail dialog
(prompts, response, costs, attempt chain, validation, re-run, save as template)."""

from __future__ import annotations

import reflex as rx

from components.common.widgets import data_table, error_callout, success_callout
from state.llm_logs import ANY, RANGE_OPTIONS, AttemptView, LogRowView, LogsState

MUTED = rx.color("gray", 11)
STATUS_COLORS = (("ok", "green"), ("failed", "red"), ("cache", "blue"), ("template", "violet"),
                 ("refused_budget", "orange"), ("offline", "gray"), ("dry_run", "gray"))


def _status(status) -> rx.Component:
    return rx.badge(status, color_scheme=rx.match(status, *STATUS_COLORS, "gray"))


def _dropdown(label: str, element_id: str, value, options, on_change) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color=MUTED),
        rx.select.root(
            rx.select.trigger(id=element_id, min_width="150px"),
            rx.select.content(rx.select.item("All", value=ANY),
                              rx.foreach(options, lambda option: rx.select.item(option, value=option))),
            value=value,
            on_change=on_change,
        ),
        spacing="1",
    )


def filter_bar() -> rx.Component:
    return rx.hstack(
        _dropdown("Feature", "logs-feature", LogsState.feature, LogsState.features, LogsState.set_feature),
        _dropdown("Provider", "logs-provider", LogsState.provider, LogsState.providers, LogsState.set_provider),
        _dropdown("Status", "logs-status", LogsState.status, LogsState.statuses, LogsState.set_status),
        rx.vstack(
            rx.text("Time", size="1", color=MUTED),
            rx.select.root(
                rx.select.trigger(id="logs-range", min_width="150px"),
                rx.select.content(*[rx.select.item(label, value=key) for key, label in RANGE_OPTIONS]),
                value=LogsState.range_key,
                on_change=LogsState.set_range,
            ),
            spacing="1",
        ),
        rx.form(
            rx.hstack(
                # Keyed by the applied text, so clearing the filters empties the box too.
                rx.input(name="q", default_value=LogsState.text, key=LogsState.text, placeholder="Search prompts, "
                         "responses, errors", id="logs-search", width="260px"),
                rx.button(rx.icon("search", size=14), "Search", type="submit", id="logs-search-submit"),
                spacing="2",
            ),
            on_submit=LogsState.search,
        ),
        rx.button("Clear", variant="soft", color_scheme="gray", on_click=LogsState.clear_filters, id="logs-clear"),
        rx.button(rx.icon("refresh-cw", size=14), "Refresh", variant="soft", on_click=LogsState.load,
                  id="logs-refresh"),
        spacing="3",
        align="end",
        wrap="wrap",
        width="100%",
    )


def _row(row: LogRowView) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.time, size="1", white_space="nowrap")),
        rx.table.cell(row.feature, class_name="log-feature"),
        rx.table.cell(rx.text(row.user, size="1")),
        rx.table.cell(row.provider, class_name="log-provider"),
        rx.table.cell(rx.text(row.model, size="1")),
        rx.table.cell(row.tokens),
        rx.table.cell(row.cost),
        rx.table.cell(row.latency),
        rx.table.cell(_status(row.status), class_name="log-status", data_status=row.status),
        on_click=LogsState.open_detail(row.id),
        cursor="pointer",
        class_name="log-row",
        data_call_id=row.id,
        _hover={"background": rx.color("gray", 3)},
    )


def log_table() -> rx.Component:
    return rx.cond(
        LogsState.rows.length() > 0,
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
                "Time (UTC)", "Feature", "User", "Provider", "Model", "Tokens in / out", "Cost", "Latency",
                "Status")])),
            rx.table.body(rx.foreach(LogsState.rows, _row)),
            size="1",
            width="100%",
            id="logs-table",
        ),
        rx.text("No calls match these filters.", color=MUTED, id="logs-empty"),
    )


def pagination() -> rx.Component:
    return rx.hstack(
        rx.button(rx.icon("chevron-left", size=14), "Prev", variant="soft", on_click=LogsState.prev_page,
                  disabled=LogsState.page <= 1, id="logs-prev"),
        rx.text(LogsState.page_label, size="2", id="logs-page"),
        rx.button("Next", rx.icon("chevron-right", size=14), variant="soft", on_click=LogsState.next_page,
                  disabled=~LogsState.has_next, id="logs-next"),
        spacing="3",
        align="center",
    )


def _block(title: str, text, element_id: str) -> rx.Component:
    return rx.vstack(
        rx.text(title, size="2", weight="medium"),
        rx.el.pre(rx.cond(text != "", text, "(empty)"), id=element_id,
                  style={"white-space": "pre-wrap", "word-break": "break-word", "max-height": "240px",
                         "overflow": "auto", "margin": "0", "padding": "0.5rem", "width": "100%",
                         "font-size": "12px", "background": rx.color("gray", 2),
                         "border": f"1px solid {rx.color('gray', 5)}", "border-radius": "var(--radius-2)"}),
        spacing="1",
        width="100%",
    )


def _kv(label: str, value, element_id: str = "") -> rx.Component:
    return rx.data_list.item(rx.data_list.label(label), rx.data_list.value(value, id=element_id or None))


def _facts() -> rx.Component:
    d = LogsState.detail
    return rx.grid(
        rx.data_list.root(
            _kv("Call", rx.code(d.id, size="1")), _kv("Request", rx.code(d.request_id, size="1")),
            _kv("Time (UTC)", d.time), _kv("Feature / task", rx.text(d.feature, " / ", d.task)),
            _kv("Project", d.project), _kv("User", d.user), _kv("Provider", d.provider, "logs-detail-provider"),
            _kv("Model", d.model), _kv("Status", _status(d.status)), _kv("Template", rx.cond(d.template != "",
                                                                                            d.template, "-")),
            size="1",
        ),
        rx.data_list.root(
            _kv("Input tokens", d.input_tokens, "logs-detail-input-tokens"),
            _kv("Output tokens", d.output_tokens, "logs-detail-output-tokens"),
            _kv("Cached input tokens", d.cached_tokens), _kv("Reasoning tokens", d.reasoning_tokens),
            _kv("Cost", d.cost, "logs-detail-cost"), _kv("Saved", d.saved), _kv("Latency", d.latency),
            _kv("Quality", rx.cond(d.quality != "", d.quality, "-")),
            size="1",
        ),
        columns="2",
        spacing="4",
        width="100%",
    )


def _attempt(a: AttemptView) -> rx.Component:
    return rx.table.row(
        rx.table.cell(a.number), rx.table.cell(a.provider), rx.table.cell(rx.text(a.model, size="1")),
        rx.table.cell(_status(a.status)), rx.table.cell(a.latency), rx.table.cell(a.cost),
        rx.table.cell(rx.text(a.error, size="1", color="red")),
        class_name="attempt-row",
        data_status=a.status,
        font_weight=rx.cond(a.call_id == LogsState.detail.id, "bold", "normal"),
    )


def _attempts() -> rx.Component:
    return rx.vstack(
        rx.text("Attempt chain", size="2", weight="medium"),
        data_table(
            ("#", "Provider", "Model", "Status", "Latency", "Cost", "Error"),
            LogsState.attempts, _attempt,
            size="1",
            width="100%",
            id="logs-detail-attempts",
        ),
        spacing="1",
        width="100%",
    )


def _lines(title: str, lines, element_id: str, empty: str) -> rx.Component:
    return rx.vstack(
        rx.text(title, size="2", weight="medium"),
        rx.cond(lines.length() > 0,
                rx.vstack(rx.foreach(lines, lambda line: rx.text(line, size="1")), spacing="0", id=element_id),
                rx.text(empty, size="1", color=MUTED, id=element_id)),
        spacing="1",
        width="100%",
    )


def _actions() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text("Re-run on", size="2"),
                rx.select.root(
                    rx.select.trigger(id="logs-rerun-provider", min_width="160px"),
                    rx.select.content(rx.foreach(LogsState.rerun_options,
                                                 lambda name: rx.select.item(name, value=name))),
                    value=LogsState.rerun_provider,
                    on_change=LogsState.set_rerun_provider,
                ),
                rx.button(rx.icon("play", size=14), "Re-run", on_click=LogsState.rerun, id="logs-rerun",
                          disabled=LogsState.detail.purged),
                spacing="2",
                align="center",
            ),
            rx.cond(LogsState.rerun_summary != "",
                    rx.vstack(rx.text(LogsState.rerun_summary, size="2", weight="medium", id="logs-rerun-summary"),
                              _block("New response", LogsState.rerun_text, "logs-rerun-text"), width="100%")),
            rx.form(
                rx.hstack(
                    rx.input(name="name", placeholder="template name (optional)", id="logs-template-name",
                             width="260px"),
                    rx.button(rx.icon("graduation-cap", size=14), "Save as template", type="submit",
                              variant="soft", id="logs-save-template", disabled=LogsState.detail.purged),
                    spacing="2",
                ),
                on_submit=LogsState.save_template,
                reset_on_submit=True,
            ),
            success_callout(LogsState.template_notice, "logs-template-notice"),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def detail_dialog() -> rx.Component:
    d = LogsState.detail
    return rx.dialog.root(
        rx.dialog.content(
            rx.vstack(
                rx.hstack(rx.dialog.title("LLM call"), rx.spacer(),
                          rx.dialog.close(rx.icon_button(rx.icon("x", size=16), variant="ghost", id="logs-detail-close")),
                          width="100%"),
                rx.cond(d.purged, rx.callout("Log retention deleted this call's prompts and response; tokens and "
                                             "cost are kept.", icon="info", color_scheme="gray", width="100%")),
                _facts(),
                rx.cond(d.error != "", rx.text(d.error, size="2", color="red", id="logs-detail-error-text")),
                _block("System prompt", d.system_prompt, "logs-detail-system"),
                _block("User prompt", d.user_prompt, "logs-detail-user"),
                _block("Response", d.response, "logs-detail-response"),
                rx.cond(d.task_text != "", _block("Task (as the user asked)", d.task_text, "logs-detail-task")),
                _attempts(),
                _lines("Validation", LogsState.validation, "logs-detail-validation", "No validation for this call."),
                _lines("Feedback", LogsState.feedback, "logs-detail-feedback", "No feedback."),
                _lines("Outcomes", LogsState.outcomes, "logs-detail-outcomes", "No outcome recorded."),
                error_callout(LogsState.detail_error, "logs-detail-error"),
                _actions(),
                spacing="3",
                width="100%",
            ),
            max_width="960px",
            id="logs-detail",
        ),
        open=LogsState.detail_open,
        on_open_change=LogsState.set_detail_open,
    )


def logs_view() -> rx.Component:
    return rx.vstack(
        filter_bar(),
        error_callout(LogsState.error, "logs-error"),
        pagination(),
        log_table(),
        detail_dialog(),
        spacing="4",
        width="100%",
    )
