"""The add-source forms, one tab per kind (the folder tab only for admins)."""

from __future__ import annotations

import reflex as rx

from components.docs.add_confluence import confluence_form
from components.docs.add_files import files_form
from components.docs.add_folder import folder_form
from components.docs.add_package import package_form
from state.docs_sources import DocsSourcesState


def _trigger(value: str, label: str, icon: str) -> rx.Component:
    return rx.tabs.trigger(rx.hstack(rx.icon(icon, size=14), label, spacing="2", align="center"), value=value,
                           id=f"docs-add-{value}")


def add_source() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Add a source", size="4"),
            rx.tabs.root(
                rx.tabs.list(
                    _trigger("files", "Files & web pages", "file-text"),
                    _trigger("confluence", "Confluence", "book-marked"),
                    _trigger("package", "Python package", "package"),
                    rx.cond(DocsSourcesState.is_admin, _trigger("folder", "Server folder", "folder")),
                ),
                rx.tabs.content(files_form(), value="files", padding_top="1rem"),
                rx.tabs.content(confluence_form(), value="confluence", padding_top="1rem"),
                rx.tabs.content(package_form(), value="package", padding_top="1rem"),
                rx.cond(DocsSourcesState.is_admin, rx.tabs.content(folder_form(), value="folder", padding_top="1rem")),
                default_value="files",
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="docs-add-source",
    )
