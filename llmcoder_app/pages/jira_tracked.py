"""Tracked JIRA tickets: notifications on status changes and other people's comments."""

import reflex as rx

from components.jira.tabs import jira_tabs, not_connected
from components.jira.tracked import tracked_view
from components.layout import app_shell
from llmcoder_app import routes
from state.jira_tracked import JiraTrackedState
from state.shell import ShellState


@rx.page(route=routes.JIRA_TRACKED, title="Tracked tickets · LLMCoder",
         on_load=[ShellState.load_shell, JiraTrackedState.load])
@app_shell("Tracked tickets")
def jira_tracked_page() -> rx.Component:
    return rx.vstack(jira_tabs(), rx.cond(JiraTrackedState.connected, tracked_view(), not_connected()),
                     spacing="4", width="100%")
