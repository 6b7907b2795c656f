"""Adding a folder on the server (admins only: it reads the server's disk)."""

from __future__ import annotations

import reflex as rx

from components.docs.form_parts import form_messages, intro, labelled, share_box
from state.docs_sources import DocsSourcesState

FORM_ID = "docs-folder-form"


def folder_form() -> rx.Component:
    # The share box sits outside the form (its state is the page's, not a form field); the
    # submit button joins the form through its `form` attribute.
    return rx.vstack(
        intro("Index the PDF, HTML, Markdown and text files under a folder on this server; each re-sync "
              "reads only the files that changed."),
        rx.form(
            rx.vstack(
                labelled("Folder path", "docs-folder-path", name="path", placeholder="/srv/docs", required=True),
                labelled("Name (optional)", "docs-folder-name", name="name"),
                spacing="3",
                width="100%",
            ),
            on_submit=DocsSourcesState.add_folder,
            id=FORM_ID,
            width="100%",
        ),
        share_box("folder"),
        rx.button(rx.icon("folder", size=14), "Add & index", type="submit", form=FORM_ID, id="docs-folder-submit"),
        form_messages("folder"),
        spacing="3",
        width="100%",
        max_width="640px",
    )
