"""Code assistant: chat and code generation, with quality checks, security review and learned templates."""

import reflex as rx

from components.assistant import composer, conversation
from components.layout import app_shell
from llmcoder_app import routes
from state.assistant import AssistantState
from state.shell import ShellState


@rx.page(route=routes.ASSISTANT, title="Assistant · LLMCoder", on_load=[ShellState.load_shell, AssistantState.load])
@app_shell("Assistant")
def assistant_page() -> rx.Component:
    return rx.vstack(conversation(), composer(), spacing="4", width="100%")
