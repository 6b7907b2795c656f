"""JIRA settings: the connection, its sync interval, and the learned comment style and workflow."""

import reflex as rx

from components.jira.settings import settings_view
from components.jira.tabs import jira_tabs
from components.layout import app_shell
from llmcoder_app import routes
from state.jira_settings import JiraSettingsState
from state.shell import ShellState


@rx.page(route=routes.JIRA_SETTINGS, title="JIRA settings · LLMCoder",
         on_load=[ShellState.load_shell, JiraSettingsState.load])
@app_shell("JIRA settings")
def jira_settings_page() -> rx.Component:
    return rx.vstack(jira_tabs(), settings_view(), spacing="4", width="100%")
