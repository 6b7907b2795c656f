"""The connected accounts: state with live sync progress, and each one's actions."""

from __future__ import annotations

import reflex as rx

from components.common.widgets import data_table, error_callout, success_callout
from state.inbox_accounts import POLL_MS, AccountRow, InboxAccountsState

MUTED = rx.color("gray", 11)
STATUS_COLORS = (("ready", "green"), ("syncing", "blue"), ("queued", "gray"), ("error", "red"))
INTERVALS = (("0", "Only when asked"), ("5", "Every 5 min"), ("15", "Every 15 min"), ("60", "Hourly"))


def messages(form: str) -> rx.Component:
    return rx.fragment(error_callout(InboxAccountsState.errors[form], f"inbox-{form}-error"),
                       success_callout(InboxAccountsState.notes[form], f"inbox-{form}-note"))


def _account(row: AccountRow) -> rx.Component:
    return rx.vstack(
        rx.hstack(rx.text(row["name"], weight="medium", class_name="inbox-account-name"),
                  rx.badge(row["label"], variant="outline"), spacing="2", align="center"),
        rx.text(row["detail"], size="1", color=MUTED),
        spacing="1", align="start",
    )


def _status(row: AccountRow) -> rx.Component:
    return rx.vstack(
        rx.badge(row["status"], color_scheme=rx.match(row["status"], *STATUS_COLORS, "gray"),
                 class_name="inbox-account-status"),
        rx.cond(row["active"], rx.text(row["progress"], "% ", row["message"], size="1", color=MUTED)),
        rx.cond(row["error"] != "", rx.text(row["error"], size="1", color="red", class_name="inbox-account-error")),
        spacing="1", align="start",
    )


def _actions(row: AccountRow) -> rx.Component:
    return rx.hstack(
        rx.button("Sync now", size="1", variant="soft", on_click=InboxAccountsState.sync_now(row["id"]),
                  disabled=row["active"], id=f"inbox-sync-{row['id']}"),
        rx.cond(row["kind"] == "slack",
                rx.button("Channels", size="1", variant="soft", on_click=InboxAccountsState.open_channels(row["id"]),
                          id=f"inbox-channels-{row['id']}")),
        rx.select.root(rx.select.trigger(), rx.select.content(*[rx.select.item(label, value=value)
                                                                for value, label in INTERVALS]),
                       value=row["interval"].to_string(), size="1",
                       on_change=lambda minutes: InboxAccountsState.set_interval(row["id"], minutes)),
        rx.alert_dialog.root(
            rx.alert_dialog.trigger(rx.button("Disconnect", size="1", color_scheme="red", variant="soft",
                                              id=f"inbox-disconnect-{row['id']}")),
            rx.alert_dialog.content(
                rx.alert_dialog.title("Disconnect this account?"),
                rx.alert_dialog.description("Its access is revoked where the provider allows it, and its messages, "
                                            "drafts and learned style are removed from LLMCoder."),
                rx.hstack(rx.alert_dialog.cancel(rx.button("Cancel", variant="soft")),
                          rx.alert_dialog.action(rx.button("Disconnect", color_scheme="red",
                                                           on_click=InboxAccountsState.disconnect(row["id"]),
                                                           id=f"inbox-disconnect-confirm-{row['id']}")),
                          justify="end", spacing="2"),
            ),
        ),
        spacing="2", align="center", wrap="wrap",
    )


def _row(row: AccountRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(_account(row)), rx.table.cell(_status(row)),
        rx.table.cell(row["messages"], class_name="inbox-account-messages"),
        rx.table.cell(row["last_sync"], white_space="nowrap"), rx.table.cell(_actions(row)),
        id=f"inbox-account-{row['id']}",
    )


def channels_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Slack conversations to follow"),
            error_callout(InboxAccountsState.errors["channels"], "inbox-channels-error"),
            rx.scroll_area(
                rx.vstack(rx.foreach(InboxAccountsState.channel_options, lambda o: rx.text(
                    rx.hstack(rx.checkbox(checked=o["chosen"],
                                          on_change=lambda v: InboxAccountsState.toggle_channel(o["id"], v)),
                              o["name"], spacing="2", align="center"), as_="label", size="2")),
                          spacing="1"),
                max_height="50vh"),
            rx.hstack(rx.button("Cancel", variant="soft", on_click=InboxAccountsState.close_channels),
                      rx.button("Save and sync", on_click=InboxAccountsState.save_channels, id="inbox-channels-save"),
                      justify="end", spacing="2", margin_top="1rem"),
        ),
        open=InboxAccountsState.channels_for > 0,
    )


def accounts_table() -> rx.Component:
    return rx.vstack(
        messages("accounts"),
        rx.cond(
            InboxAccountsState.accounts.length() > 0,
            data_table(("Account", "Status", "Messages", "Last sync", ""), InboxAccountsState.accounts, _row,
                       width="100%", id="inbox-accounts-table"),
            rx.text("No accounts yet: connect one below.", color=MUTED, id="inbox-accounts-empty"),
        ),
        channels_dialog(),
        rx.cond(InboxAccountsState.any_active,
                rx.moment(interval=POLL_MS, on_change=InboxAccountsState.refresh, display="none")),
        spacing="3", width="100%",
    )
