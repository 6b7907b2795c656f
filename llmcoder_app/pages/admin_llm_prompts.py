"""Admin: prompt templates per feature and task, per project, with history, diff and a demo run."""

import reflex as rx

from components.admin.llm_nav import llm_tabs
from components.admin.prompts import prompt_demo, prompt_editor, prompt_history, prompt_picker
from components.layout import app_shell
from llmcoder_app import routes
from state.llm_prompts import LLMPromptsState
from state.shell import ShellState


@rx.page(route=routes.ADMIN_LLM_PROMPTS, title="LLM prompts · LLMCoder",
         on_load=[ShellState.load_shell, LLMPromptsState.load])
@app_shell("LLM prompts")
def admin_llm_prompts_page() -> rx.Component:
    return rx.vstack(
        llm_tabs(),
        prompt_picker(),
        prompt_editor(),
        prompt_demo(),
        prompt_history(),
        spacing="5",
        width="100%",
    )
