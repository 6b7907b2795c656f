"""The JIRA settings page's parts: the connect form, the connection card, and what was learned
(comment style, workflow)."""

from __future__ import annotations

import reflex as rx

from components.common.widgets import error_callout, success_callout
from state.jira_settings import INTERVALS, Figure, JiraSettingsState, WorkflowRow

MUTED = rx.color("gray", 11)
INTERVAL_LABELS = {"0": "Only when asked", "5": "Every 5 minutes", "15": "Every 15 minutes",
                   "30": "Every 30 minutes", "60": "Every hour", "240": "Every 4 hours", "1440": "Once a day"}


def _labelled(label: str, control: rx.Component, hint: str = "") -> rx.Component:
    return rx.vstack(rx.text(label, size="2", weight="medium"), control,
                     rx.cond(hint != "", rx.text(hint, size="1", color=MUTED)), spacing="1", width="100%")


def connect_form() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading(rx.cond(JiraSettingsState.connected, "Reconnect", "Connect JIRA"), size="3"),
                _labelled("JIRA address", rx.input(name="url", id="jira-connect-url", width="100%",
                                                   default_value=JiraSettingsState.default_url,
                                                   placeholder="https://jira.example.com or https://you.atlassian.net")),
                _labelled("E-mail (JIRA Cloud only)", rx.input(name="email", id="jira-connect-email", width="100%",
                                                               placeholder="Leave empty with a personal access token"),
                          ""),
                _labelled("Personal access token or API token",
                          rx.input(name="token", type="password", id="jira-connect-token", width="100%",
                                   auto_complete="off", key=JiraSettingsState.saved.to_string()),
                          "Server/Data Center: Profile → Personal Access Tokens. Cloud: id.atlassian.com → API "
                          "tokens, with your e-mail above. Stored encrypted; never shown again."),
                rx.button("Sign in and connect", type="submit", loading=JiraSettingsState.testing,
                          id="jira-connect-submit"),
                spacing="3", width="100%",
            ),
            on_submit=JiraSettingsState.save_connection, reset_on_submit=False,
        ),
        width="100%", id="jira-connect-form",
    )


def connection_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(rx.heading("Connection", size="3"), rx.badge(JiraSettingsState.status, id="jira-connection-status"),
                      align="center"),
            rx.text(JiraSettingsState.deployment, " · ", JiraSettingsState.server, size="2", id="jira-connection-kind"),
            rx.text(JiraSettingsState.url, size="2", color=MUTED),
            rx.text("Signed in as ", JiraSettingsState.account, " with a ", JiraSettingsState.auth, size="2",
                    id="jira-connection-account"),
            rx.cond(JiraSettingsState.last_sync != "",
                    rx.text("Last sync ", JiraSettingsState.last_sync, size="1", color=MUTED)),
            error_callout(JiraSettingsState.status_error, "jira-connection-error"),
            rx.hstack(
                rx.text("Sync", size="2"),
                rx.select.root(
                    rx.select.trigger(id="jira-interval"),
                    rx.select.content(*[rx.select.item(INTERVAL_LABELS[v], value=v) for v in INTERVALS]),
                    value=JiraSettingsState.interval, on_change=JiraSettingsState.set_interval,
                ),
                rx.button("Test connection", variant="soft", on_click=JiraSettingsState.check_connection,
                          loading=JiraSettingsState.testing, id="jira-connection-test"),
                rx.spacer(),
                rx.alert_dialog.root(
                    rx.alert_dialog.trigger(rx.button("Disconnect", color_scheme="red", variant="soft",
                                                      id="jira-disconnect")),
                    rx.alert_dialog.content(
                        rx.alert_dialog.title("Disconnect JIRA?"),
                        rx.alert_dialog.description("The synced tickets, filters, drafts, tracked tickets and what "
                                                    "was learned are deleted here. JIRA itself is not touched."),
                        rx.hstack(rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                                  rx.alert_dialog.action(rx.button("Disconnect", color_scheme="red",
                                                                   on_click=JiraSettingsState.disconnect,
                                                                   id="jira-disconnect-confirm")),
                                  justify="end", spacing="2"),
                    ),
                ),
                width="100%", align="center", wrap="wrap",
            ),
            spacing="2", width="100%",
        ),
        width="100%", id="jira-connection",
    )


def _figure(row: Figure) -> rx.Component:
    return rx.table.row(rx.table.cell(row["label"]), rx.table.cell(row["value"]))


def _workflow_row(row: WorkflowRow) -> rx.Component:
    return rx.table.row(rx.table.cell(row["issue_type"]), rx.table.cell(row["from_status"]),
                        rx.table.cell(row["to_status"]), rx.table.cell(row["count"]), rx.table.cell(row["share"]))


def learned() -> rx.Component:
    return rx.flex(
        rx.card(
            rx.vstack(
                rx.heading("Your comment style", size="3"),
                rx.text("Learned from your own JIRA comments; drafts follow it.", size="1", color=MUTED),
                rx.table.root(rx.table.body(rx.foreach(JiraSettingsState.style, _figure)), size="1", width="100%"),
                spacing="2", width="100%",
            ),
            flex="1", min_width="18rem", id="jira-style",
        ),
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.heading("Your workflow", size="3"), rx.spacer(),
                    rx.select.root(
                        rx.select.trigger(id="jira-workflow-type"),
                        rx.select.content(rx.select.item("All types", value="all"),
                                          rx.foreach(JiraSettingsState.workflow_types,
                                                     lambda t: rx.select.item(t, value=t))),
                        value=JiraSettingsState.workflow_type, on_change=JiraSettingsState.set_workflow_type,
                        size="1",
                    ),
                    width="100%", align="center",
                ),
                rx.text("How tickets moved, from their changelogs: the drawer suggests the usual next step.",
                        size="1", color=MUTED),
                rx.cond(JiraSettingsState.workflow.length() > 0,
                        rx.table.root(
                            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                                           ("Type", "From", "To", "Moves", "Share")])),
                            rx.table.body(rx.foreach(JiraSettingsState.workflow, _workflow_row)),
                            size="1", width="100%"),
                        rx.text("Nothing learned yet: it comes with the first sync.", size="2", color=MUTED)),
                spacing="2", width="100%",
            ),
            flex="1.4", min_width="22rem", id="jira-workflow",
        ),
        spacing="4", width="100%", wrap="wrap",
    )


def settings_view() -> rx.Component:
    return rx.vstack(
        success_callout(JiraSettingsState.notice, "jira-settings-notice"),
        error_callout(JiraSettingsState.form_error, "jira-settings-error"),
        rx.cond(JiraSettingsState.connected, rx.vstack(connection_card(), learned(), spacing="4", width="100%")),
        connect_form(),
        spacing="4", width="100%",
    )
