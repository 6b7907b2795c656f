"""Admin: the LLM provider chain, budget and gateway settings (applied live), connection tests."""

import reflex as rx

from components.admin.llm_config import add_provider_form, connection_tests, provider_chain, settings_form
from components.admin.llm_nav import llm_tabs
from components.layout import app_shell
from llmcoder_app import routes
from state.llm_config import LLMConfigState
from state.shell import ShellState


@rx.page(route=routes.ADMIN_LLM_CONFIG, title="LLM config · LLMCoder",
         on_load=[ShellState.load_shell, LLMConfigState.load])
@app_shell("LLM config")
def admin_llm_config_page() -> rx.Component:
    return rx.vstack(
        llm_tabs(),
        provider_chain(),
        add_provider_form(),
        connection_tests(),
        settings_form(),
        spacing="5",
        width="100%",
    )
