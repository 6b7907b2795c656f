"""Doc Q&A sources: what is indexed, live indexing progress, and adding Confluence spaces, files,
web pages, Python packages and (admins) server folders."""

import reflex as rx

from components.docs.add_source import add_source
from components.docs.sources_table import sources_table
from components.docs.tabs import docs_tabs
from components.layout import app_shell
from llmcoder_app import routes
from state.docs_sources import DocsSourcesState
from state.shell import ShellState


@rx.page(route=routes.DOCS_SOURCES, title="Doc sources · LLMCoder",
         on_load=[ShellState.load_shell, DocsSourcesState.load])
@app_shell("Doc sources")
def docs_sources_page() -> rx.Component:
    return rx.vstack(docs_tabs(), sources_table(), add_source(), spacing="4", width="100%")
