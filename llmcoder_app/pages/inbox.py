"""The unified inbox: Gmail, Outlook, IMAP and Slack in one list; a thread with its summary
and the reply draft, sent only on the user's click."""

import reflex as rx

from components.inbox.message_list import message_list
from components.inbox.tabs import inbox_tabs
from components.inbox.thread_view import thread_view
from components.layout import app_shell
from llmcoder_app import routes
from state.inbox import InboxState
from state.shell import ShellState


@rx.page(route=routes.INBOX, title="Inbox · LLMCoder", on_load=[ShellState.load_shell, InboxState.load])
@app_shell("Inbox")
def inbox_page() -> rx.Component:
    return rx.vstack(
        inbox_tabs(),
        rx.flex(
            rx.box(message_list(), flex="1", min_width="0"),
            rx.cond(InboxState.selected > 0, rx.box(thread_view(), flex="1.3", min_width="0")),
            spacing="4", width="100%", direction=rx.breakpoints(initial="column", md="row"),
        ),
        spacing="4", width="100%",
    )
