"""The inbox's accounts: connected mailboxes and Slack workspaces, connecting more, and the
"Your style" card each reply draft follows."""

import reflex as rx

from components.inbox.accounts_table import accounts_table
from components.inbox.connect_forms import connect_forms
from components.inbox.style_card import style_card
from components.inbox.tabs import inbox_tabs
from components.layout import app_shell
from llmcoder_app import routes
from state.inbox_accounts import InboxAccountsState
from state.shell import ShellState


@rx.page(route=routes.INBOX_ACCOUNTS, title="Inbox accounts · LLMCoder",
         on_load=[ShellState.load_shell, InboxAccountsState.load])
@app_shell("Inbox accounts")
def inbox_accounts_page() -> rx.Component:
    return rx.vstack(inbox_tabs(), accounts_table(), style_card(), connect_forms(), spacing="4", width="100%")
