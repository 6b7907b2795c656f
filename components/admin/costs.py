"""The LLM Costs page's parts: budget bar, today's figures, breakdown tables, charts, alerts,
cost per outcome. Every figure carries an id and its exact nano-dollars (data-nanos)."""

from __future__ import annotations

import reflex as rx

from components.common.widgets import data_table
from state.llm_costs import AlertRow, CostRow, CostsState, OutcomeCost

MUTED = rx.color("gray", 11)


def _figure(label: str, value, element_id: str, nanos=None) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color=MUTED),
        rx.text(value, size="5", weight="bold", id=element_id, data_nanos=nanos),
        spacing="0",
    )


def budget_card() -> rx.Component:
    money, nanos = CostsState.money, CostsState.nanos
    return rx.card(
        rx.vstack(
            rx.hstack(rx.heading("Budget ", CostsState.month, size="3"), rx.spacer(),
                      rx.badge(rx.cond(CostsState.level > 0, "alert level " + CostsState.level.to_string() + "% reached",
                                       "below the first alert level"),
                               color_scheme=CostsState.bar_color, id="costs-level", data_level=CostsState.level),
                      width="100%"),
            rx.hstack(
                _figure("Monthly budget", money["budget"], "costs-budget", nanos["budget"]),
                _figure("Spent", money["spent"], "costs-spent", nanos["spent"]),
                _figure("Remaining", money["remaining"], "costs-remaining", nanos["remaining"]),
                _figure("Reserved (calls in flight)", money["reserved"], "costs-reserved", nanos["reserved"]),
                _figure("Saved by cache and templates", money["saved"], "costs-saved", nanos["saved"]),
                spacing="6",
                wrap="wrap",
            ),
            rx.progress(value=CostsState.bar_value, max=100, color_scheme=CostsState.bar_color, size="3",
                        id="costs-bar", data_color=CostsState.bar_color, width="100%"),
            rx.text(CostsState.percent, "% of the monthly budget used", size="1", color=MUTED, id="costs-percent"),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def today_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Today", size="3"),
            rx.hstack(
                _figure("Provider calls", CostsState.today_calls, "costs-today-calls"),
                _figure("Cost", CostsState.today_cost, "costs-today-cost", CostsState.today_cost_nanos),
                _figure("Average per call", CostsState.today_average, "costs-today-average",
                        CostsState.today_average_nanos),
                spacing="6",
            ),
            spacing="3",
        ),
        width="100%",
    )


def breakdown(title: str, rows, element_id: str, key_label: str) -> rx.Component:
    def row(item: CostRow) -> rx.Component:
        return rx.table.row(rx.table.cell(item.key, class_name="cost-key"),
                            rx.table.cell(item.calls, class_name="cost-calls"),
                            rx.table.cell(item.cost, class_name="cost-amount", data_nanos=item.nanos),
                            class_name="cost-row", data_key=item.key)

    return rx.card(
        rx.vstack(
            rx.heading(title, size="3"),
            rx.cond(
                rows.length() > 0,
                data_table(
                    (key_label, "Calls", "Cost"),
                    rows, row,
                    size="1",
                    width="100%",
                ),
                rx.text("No calls this month.", size="2", color=MUTED),
            ),
            spacing="2",
            width="100%",
        ),
        id=element_id,
        width="100%",
    )


def charts() -> rx.Component:
    def chart(title: str, body: rx.Component, element_id: str) -> rx.Component:
        return rx.card(rx.vstack(rx.heading(title, size="3"), body, width="100%"), id=element_id, width="100%")

    axes = (rx.recharts.cartesian_grid(stroke_dasharray="3 3"), rx.recharts.x_axis(data_key="day"),
            rx.recharts.y_axis(width=80), rx.recharts.graphing_tooltip())
    return rx.grid(
        chart("Daily cost, last 30 days (USD)",
              rx.recharts.line_chart(rx.recharts.line(data_key="cost_usd", stroke=rx.color("accent", 9), dot=False),
                                     *axes, data=CostsState.daily, width="100%", height=240),
              "costs-daily-chart"),
        chart("Provider calls per day",
              rx.recharts.bar_chart(rx.recharts.bar(data_key="calls", fill=rx.color("accent", 8)), *axes,
                                    data=CostsState.daily, width="100%", height=240),
              "costs-calls-chart"),
        columns="2",
        spacing="4",
        width="100%",
    )


def alerts_card() -> rx.Component:
    def row(alert: AlertRow) -> rx.Component:
        return rx.table.row(rx.table.cell(alert.level, "%"), rx.table.cell(alert.fired), rx.table.cell(alert.spent),
                            rx.table.cell(alert.limit), class_name="alert-row", data_level=alert.level)

    return rx.card(
        rx.vstack(
            rx.heading("Alerts this month", size="3"),
            rx.cond(
                CostsState.alerts.length() > 0,
                data_table(
                    ("Level", "Fired", "Spent then", "Budget"),
                    CostsState.alerts, row,
                    size="1",
                    width="100%",
                ),
                rx.text("No alert has fired this month.", size="2", color=MUTED, id="costs-no-alerts"),
            ),
            spacing="2",
            width="100%",
        ),
        id="costs-alerts",
        width="100%",
    )


def outcomes_card() -> rx.Component:
    def row(item: OutcomeCost) -> rx.Component:
        return rx.table.row(rx.table.cell(item.label), rx.table.cell(item.outcomes), rx.table.cell(item.spent),
                            rx.table.cell(item.per_outcome, id="per-outcome-" + item.kind, data_nanos=item.nanos),
                            class_name="outcome-row")

    return rx.card(
        rx.vstack(
            rx.heading("Cost per outcome", size="3"),
            rx.text("All of this month's spending of the features that produce an outcome, divided by how many "
                    "there were: what one accepted result really costs, counting the ones thrown away.", size="1",
                    color=MUTED),
            data_table(
                ("Outcome", "Count", "Features' spending", "Per outcome"),
                CostsState.outcomes, row,
                size="1",
                width="100%",
            ),
            spacing="2",
            width="100%",
        ),
        id="costs-outcomes",
        width="100%",
    )


def costs_view() -> rx.Component:
    return rx.vstack(
        rx.hstack(rx.spacer(), rx.button(rx.icon("refresh-cw", size=14), "Refresh", on_click=CostsState.load,
                                         id="costs-refresh"), width="100%"),
        budget_card(),
        today_card(),
        charts(),
        rx.grid(
            breakdown("By provider and model", CostsState.by_model, "costs-by-model", "Provider / model"),
            breakdown("By feature", CostsState.by_feature, "costs-by-feature", "Feature"),
            breakdown("By user", CostsState.by_user, "costs-by-user", "User"),
            breakdown("By project", CostsState.by_project, "costs-by-project", "Project"),
            columns="2",
            spacing="4",
            width="100%",
        ),
        outcomes_card(),
        alerts_card(),
        spacing="4",
        width="100%",
    )
