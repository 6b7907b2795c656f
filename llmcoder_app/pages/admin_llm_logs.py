"""Admin: every LLM call, searchable, with its prompts, attempts and costs; re-run on another
provider or keep an answer as a learned template."""

import reflex as rx

from components.admin.llm_nav import llm_tabs
from components.admin.logs import logs_view
from components.layout import app_shell
from llmcoder_app import routes
from state.llm_logs import LogsState
from state.shell import ShellState


@rx.page(route=routes.ADMIN_LLM_LOGS, title="LLM logs · LLMCoder", on_load=[ShellState.load_shell, LogsState.load])
@app_shell("LLM logs")
def admin_llm_logs_page() -> rx.Component:
    return rx.vstack(llm_tabs(), logs_view(), spacing="4", width="100%")
