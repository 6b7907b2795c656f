"""Notifications: everything the bell has shown, with mark read."""

import reflex as rx

from components.layout import app_shell
from llmcoder_app import routes
from state.notifications import NotificationsState
from state.shell import ShellState


def _item(item: dict) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.vstack(
                rx.text(item["title"], weight=rx.cond(item["read"] == "", "bold", "regular")),
                rx.text(item["body"], size="2"),
                rx.hstack(rx.text(item["created"], size="1", color=rx.color("gray", 10)),
                          rx.cond(item["link"] != "",
                                  rx.cond(item["external"] != "",
                                          rx.link("Open", href=item["link"], size="1", is_external=True),
                                          rx.link("Open", href=item["link"], size="1")))),
                spacing="1",
                align="start",
            ),
            rx.spacer(),
            rx.cond(item["read"] == "",
                    rx.button("Mark read", size="1", variant="soft", on_click=NotificationsState.mark_read(item["id"])),
                    rx.badge("read", color_scheme="gray")),
            width="100%",
        ),
        width="100%",
        class_name="notification-item",
    )


@rx.page(route=routes.NOTIFICATIONS, title="Notifications · LLMCoder",
         on_load=[ShellState.load_shell, NotificationsState.load])
@app_shell("Notifications")
def notifications_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(rx.spacer(), rx.button("Mark all read", variant="soft", on_click=NotificationsState.mark_all_read,
                                         id="notifications-mark-all"), width="100%"),
        rx.cond(
            NotificationsState.items.length() > 0,
            rx.vstack(rx.foreach(NotificationsState.items, _item), width="100%"),
            rx.text("No notifications yet. Finished jobs and, later, budget alerts and reminders appear here.",
                    color=rx.color("gray", 10), id="notifications-empty"),
        ),
        width="100%",
        spacing="3",
    )
