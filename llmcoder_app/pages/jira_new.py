"""A new JIRA ticket: the create screen's form, filled by hand or from a plain-words description."""

import reflex as rx

from components.jira.new_ticket import new_ticket_view
from components.jira.tabs import jira_tabs, not_connected
from components.layout import app_shell
from llmcoder_app import routes
from state.jira_new import JiraNewState
from state.shell import ShellState


@rx.page(route=routes.JIRA_NEW, title="New JIRA ticket · LLMCoder", on_load=[ShellState.load_shell, JiraNewState.load])
@app_shell("New JIRA ticket")
def jira_new_page() -> rx.Component:
    return rx.vstack(jira_tabs(), rx.cond(JiraNewState.connected, new_ticket_view(), not_connected()),
                     spacing="4", width="100%")
