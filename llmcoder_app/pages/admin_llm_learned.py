"""Admin: learned templates (totals, search, view/edit/disable/delete, export and import)."""

import reflex as rx

from components.admin import learned
from components.admin.llm_nav import llm_tabs
from components.common.widgets import error_callout, success_callout
from components.layout import app_shell
from llmcoder_app import routes
from state.llm_learned import LearnedState
from state.shell import ShellState


@rx.page(route=routes.ADMIN_LLM_LEARNED, title="Learned templates · LLMCoder",
         on_load=[ShellState.load_shell, LearnedState.load])
@app_shell("Learned templates")
def admin_llm_learned_page() -> rx.Component:
    return rx.vstack(
        llm_tabs(),
        rx.text("Accepted, high-quality answers kept with their request-specific values as placeholders. A similar "
                "request in the same feature and context is answered from them at no cost.",
                size="2", color=rx.color("gray", 11)),
        error_callout(LearnedState.error, "learned-error"),
        success_callout(LearnedState.notice, "learned-notice"),
        learned.totals(),
        learned.filters(),
        learned.table(),
        learned.import_card(),
        learned.view_dialog(),
        learned.edit_dialog(),
        learned.delete_dialog(),
        spacing="4",
        width="100%",
    )
