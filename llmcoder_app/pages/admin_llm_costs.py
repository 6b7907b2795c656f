"""Admin: the month's LLM spending against the budget, where it went, and what it bought."""

import reflex as rx

from components.admin.costs import costs_view
from components.admin.llm_nav import llm_tabs
from components.layout import app_shell
from llmcoder_app import routes
from state.llm_costs import CostsState
from state.shell import ShellState


@rx.page(route=routes.ADMIN_LLM_COSTS, title="LLM costs · LLMCoder", on_load=[ShellState.load_shell, CostsState.load])
@app_shell("LLM costs")
def admin_llm_costs_page() -> rx.Component:
    return rx.vstack(llm_tabs(), costs_view(), spacing="4", width="100%")
