"""The Ask page's composer, and the pointer to the Sources page when there is nothing to search."""

from __future__ import annotations

import reflex as rx

from components.common.widgets import error_callout
from llmcoder_app import routes
from state.docs_ask import DocsAskState


def no_sources_callout() -> rx.Component:
    return rx.cond(
        ~DocsAskState.has_sources,
        rx.callout.root(
            rx.callout.icon(rx.icon("info", size=16)),
            rx.callout.text("There is no documentation to search yet. ",
                            rx.link("Add a source on the Sources page", href=routes.DOCS_SOURCES,
                                    id="docs-no-sources-link"),
                            "."),
            color_scheme="blue",
            id="docs-no-sources",
            width="100%",
        ),
    )


def composer() -> rx.Component:
    return rx.vstack(
        rx.form(
            rx.hstack(
                rx.text_area(name="question", id="docs-question", placeholder="Ask about your documentation…",
                             enter_key_submit=True, auto_height=True, rows="2", width="100%"),
                rx.button(rx.icon("send-horizontal", size=16), "Ask", type="submit", id="docs-ask",
                          loading=DocsAskState.busy, disabled=DocsAskState.busy),
                align="end",
                width="100%",
            ),
            on_submit=DocsAskState.ask,
            id="docs-ask-form",
            width="100%",
        ),
        rx.hstack(
            rx.text("Enter asks, Shift+Enter starts a new line.", size="1", color=rx.color("gray", 11)),
            rx.spacer(),
            rx.button(rx.icon("message-square-plus", size=14), "New conversation", variant="ghost", size="1",
                      on_click=DocsAskState.new_conversation, id="docs-new-conversation"),
            width="100%",
            align="center",
        ),
        error_callout(DocsAskState.error, "docs-ask-error"),
        width="100%",
        spacing="2",
        # Stays in reach below a long conversation.
        position="sticky",
        bottom="0",
        z_index="1",
        background=rx.color("gray", 1),
        padding_y="0.75rem",
        border_top=f"1px solid {rx.color('gray', 4)}",
    )
