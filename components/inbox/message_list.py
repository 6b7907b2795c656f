"""The unified list: filters, search, one row per message with its source and flags, pages."""

from __future__ import annotations

import reflex as rx

from components.common.widgets import error_callout
from state.inbox import POLL_MS, InboxState, MessageRow

MUTED = rx.color("gray", 11)
SOURCE_ICONS = (("gmail", "mail"), ("outlook", "mail-open"), ("imap", "at-sign"), ("slack", "hash"))
KINDS = (("all", "All sources"), ("gmail", "Gmail"), ("outlook", "Outlook"), ("imap", "IMAP"), ("slack", "Slack"))


def _toggle(label: str, checked, on_change, element_id: str) -> rx.Component:
    return rx.text(rx.hstack(rx.switch(checked=checked, on_change=on_change, id=element_id, size="1"), label,
                             spacing="2", align="center"), as_="label", size="2")


def filters() -> rx.Component:
    return rx.hstack(
        rx.select.root(
            rx.select.trigger(id="inbox-filter-source"),
            rx.select.content(*[rx.select.item(label, value=value) for value, label in KINDS]),
            value=InboxState.kind, on_change=InboxState.set_kind,
        ),
        rx.select.root(
            rx.select.trigger(id="inbox-filter-account"),
            rx.select.content(
                rx.select.item("All accounts", value="all"),
                rx.foreach(InboxState.account_options, lambda o: rx.select.item(o["label"], value=o["value"])),
            ),
            value=InboxState.account, on_change=InboxState.set_account,
        ),
        _toggle("Unread", InboxState.unread_only, InboxState.set_unread_only, "inbox-filter-unread"),
        _toggle("Needs reply", InboxState.needs_reply_only, InboxState.set_needs_reply_only,
                "inbox-filter-needs-reply"),
        rx.form(
            rx.hstack(rx.input(name="search", id="inbox-search", placeholder="Search sender, subject, text",
                               default_value=InboxState.search, width="16rem"),
                      rx.button(rx.icon("search", size=14), type="submit", variant="soft", id="inbox-search-button"),
                      spacing="1"),
            on_submit=InboxState.run_search,
        ),
        spacing="3", align="center", wrap="wrap", width="100%",
    )


def _row(row: MessageRow) -> rx.Component:
    weight = rx.cond(row["unread"], "bold", "regular")
    return rx.hstack(
        rx.icon(rx.match(row["kind"], *SOURCE_ICONS, "mail"), size=16, color=MUTED, flex_shrink="0"),
        rx.vstack(
            rx.hstack(
                rx.text(row["sender"], weight=weight, size="2", class_name="inbox-row-sender", trim="both"),
                rx.cond(row["needs_reply"], rx.badge(row["reason"], color_scheme="orange", size="1",
                                                     class_name="inbox-row-needs-reply")),
                rx.spacer(),
                rx.text(row["when"], size="1", color=MUTED, white_space="nowrap"),
                width="100%", align="center", spacing="2",
            ),
            rx.text(row["subject"], weight=weight, size="2", class_name="inbox-row-subject", trim="both"),
            rx.text(row["snippet"], size="1", color=MUTED, class_name="inbox-row-snippet", trim="both",
                    overflow="hidden", text_overflow="ellipsis", white_space="nowrap", max_width="100%"),
            spacing="0", width="100%", min_width="0",
        ),
        on_click=InboxState.open(row["id"]),
        id=f"inbox-row-{row['id']}", class_name="inbox-row", cursor="pointer", width="100%", padding="0.5rem",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        background=rx.cond(InboxState.selected == row["id"], rx.color("accent", 3), "transparent"),
        data_unread=rx.cond(row["unread"], "true", "false"),
    )


def pager() -> rx.Component:
    return rx.hstack(
        rx.button("Newer", on_click=InboxState.go_to_page(InboxState.page - 1), disabled=InboxState.page <= 1,
                  variant="soft", size="1", id="inbox-page-prev"),
        rx.text(InboxState.total, " messages · page ", InboxState.page, " of ", InboxState.pages, size="1",
                color=MUTED, id="inbox-page-info"),
        rx.button("Older", on_click=InboxState.go_to_page(InboxState.page + 1),
                  disabled=InboxState.page >= InboxState.pages, variant="soft", size="1", id="inbox-page-next"),
        spacing="3", align="center",
    )


def message_list() -> rx.Component:
    return rx.vstack(
        filters(),
        error_callout(InboxState.error, "inbox-error"),
        rx.cond(
            InboxState.has_accounts,
            rx.cond(
                InboxState.items.length() > 0,
                rx.vstack(rx.foreach(InboxState.items, _row), spacing="0", width="100%", id="inbox-list"),
                rx.text("Nothing here: no message matches.", color=MUTED, id="inbox-empty"),
            ),
            rx.text("No accounts yet: connect Gmail, Outlook, any IMAP mailbox or Slack on the Accounts tab.",
                    color=MUTED, id="inbox-no-accounts"),
        ),
        pager(),
        rx.moment(interval=POLL_MS, on_change=InboxState.poll, display="none"),
        spacing="3", width="100%",
    )
