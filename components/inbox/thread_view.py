"""An open conversation: its messages (mail HTML sanitised, remote images held back until
allowed), the summary, and the reply box."""

from __future__ import annotations

import reflex as rx

from components.inbox.reply_box import reply_box
from state.inbox import InboxState, ThreadRow

MUTED = rx.color("gray", 11)


def _message(row: ThreadRow) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(rx.text(row["sender"], weight="bold", size="2"), rx.spacer(),
                      rx.text(row["when"], size="1", color=MUTED), width="100%"),
            rx.cond(row["to"] != "", rx.text("To: ", row["to"], size="1", color=MUTED)),
            rx.cond(row["error"] != "", rx.callout(row["error"], color_scheme="orange", size="1")),
            rx.cond(
                row["html"] != "",
                rx.box(rx.html(row["html"]), class_name="inbox-mail-html", width="100%", overflow_x="auto"),
                rx.text(row["text"], white_space="pre-wrap", size="2", class_name="inbox-mail-text"),
            ),
            rx.cond(row["blocked_images"] > 0,
                    rx.hstack(rx.text(row["blocked_images"], " remote image(s) blocked.", size="1", color=MUTED),
                              rx.button("Show images", size="1", variant="ghost", on_click=InboxState.show_images,
                                        class_name="inbox-show-images"),
                              align="center")),
            spacing="2", width="100%",
        ),
        class_name="inbox-thread-message", width="100%",
        background=rx.cond(row["from_me"], rx.color("accent", 2), "transparent"),
    )


def thread_view() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading(InboxState.thread_subject, size="4", id="inbox-thread-subject"),
            rx.spacer(),
            rx.button(rx.icon("sparkles", size=14), "Summarise", on_click=InboxState.summarise,
                      loading=InboxState.summarizing, variant="soft", size="1", id="inbox-summarise"),
            rx.icon_button(rx.icon("x", size=14), on_click=InboxState.close, variant="ghost", size="1",
                           id="inbox-thread-close", aria_label="Close the thread"),
            width="100%", align="center",
        ),
        rx.cond(InboxState.summary != "",
                rx.callout(rx.vstack(rx.text(InboxState.summary, white_space="pre-wrap", size="2"),
                                     rx.cond(InboxState.summary_notice != "",
                                             rx.text(InboxState.summary_notice, size="1", color=MUTED))),
                           icon="sparkles", id="inbox-summary", width="100%")),
        rx.vstack(rx.foreach(InboxState.thread, _message), spacing="2", width="100%", id="inbox-thread"),
        reply_box(),
        spacing="3", width="100%", id="inbox-thread-view",
    )
