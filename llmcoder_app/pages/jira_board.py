"""The JIRA board: a saved filter's tickets in status columns; drag a card to transition it,
click it for the ticket drawer."""

import reflex as rx

from components.jira.board import board_view
from components.jira.tabs import jira_tabs, not_connected
from components.jira.ticket_drawer import ticket_drawer
from components.layout import app_shell
from llmcoder_app import routes
from state.jira_board import JiraBoardState
from state.shell import ShellState


@rx.page(route=routes.JIRA, title="JIRA board · LLMCoder", on_load=[ShellState.load_shell, JiraBoardState.load])
@app_shell("JIRA board")
def jira_board_page() -> rx.Component:
    return rx.vstack(
        jira_tabs(),
        rx.cond(JiraBoardState.connected, board_view(), not_connected()),
        ticket_drawer(),
        spacing="4", width="100%",
    )
