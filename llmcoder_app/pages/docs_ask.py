"""Doc Q&A: ask the documentation; answers stream in with numbered citations to their passages."""

import reflex as rx

from components.docs.ask_form import composer, no_sources_callout
from components.docs.conversation import conversation
from components.docs.tabs import docs_tabs
from components.layout import app_shell
from llmcoder_app import routes
from state.docs_ask import DocsAskState
from state.shell import ShellState


@rx.page(route=routes.DOCS_ASK, title="Docs · LLMCoder", on_load=[ShellState.load_shell, DocsAskState.load])
@app_shell("Docs")
def docs_ask_page() -> rx.Component:
    return rx.vstack(docs_tabs(), no_sources_callout(), conversation(), composer(), spacing="4", width="100%")
