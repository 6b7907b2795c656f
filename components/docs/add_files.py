"""Adding files and web pages to a files collection: uploads with a result per file, and a page
by URL whose summary streams in below it."""

from __future__ import annotations

import reflex as rx

from components.docs.form_parts import (
    MUTED,
    drop_zone,
    form_messages,
    intro,
    labelled,
    share_box,
)
from state.docs_sources import (
    FILES_UPLOAD_ID,
    NEW_COLLECTION,
    Collection,
    DocsSourcesState,
    UploadResult,
)

ACCEPTED_FILES = {"application/pdf": [".pdf"], "text/html": [".html", ".htm"],
                  "text/markdown": [".md", ".markdown"], "text/plain": [".txt", ".rst"]}


def _collection_item(collection: Collection) -> rx.Component:
    return rx.select.item(collection["name"], value=collection["id"])


def collection_chooser() -> rx.Component:
    return rx.vstack(
        rx.text("Add to", size="2", weight="medium", as_="label", html_for="docs-collection"),
        rx.select.root(
            rx.select.trigger(id="docs-collection", width="100%"),
            rx.select.content(
                rx.foreach(DocsSourcesState.collections, _collection_item),
                rx.select.item("A new collection…", value=NEW_COLLECTION),
            ),
            value=DocsSourcesState.collection,
            on_change=DocsSourcesState.set_collection,
        ),
        rx.cond(
            DocsSourcesState.collection == NEW_COLLECTION,
            rx.vstack(
                labelled("Name of the new collection", "docs-collection-name",
                         default_value=DocsSourcesState.collection_name,
                         on_change=DocsSourcesState.set_collection_name),
                share_box("files"),
                spacing="2",
                width="100%",
            ),
        ),
        spacing="2",
        width="100%",
    )


def _result(result: UploadResult) -> rx.Component:
    return rx.hstack(
        rx.cond(result["ok"], rx.icon("circle-check", size=16, color=rx.color("green", 10)),
                rx.icon("circle-x", size=16, color=rx.color("red", 10))),
        rx.text(result["name"], weight="medium", size="2"),
        rx.text(result["message"], size="2", color=rx.cond(result["ok"], MUTED, rx.color("red", 11))),
        class_name="docs-upload-result",
        data_ok=rx.cond(result["ok"], "yes", "no"),
        spacing="2",
        align="center",
    )


def _uploader() -> rx.Component:
    chosen = rx.selected_files(FILES_UPLOAD_ID)
    return rx.vstack(
        drop_zone(FILES_UPLOAD_ID, rx.hstack(rx.icon("upload", size=20, color=MUTED), rx.text(
            "Drop files here or click to choose: PDF, HTML, Markdown or text.", size="2"), align="center"),
            accept=ACCEPTED_FILES, multiple=True),
        rx.button(rx.icon("upload", size=14), "Upload and index",
                  on_click=DocsSourcesState.upload(rx.upload_files(upload_id=FILES_UPLOAD_ID)),
                  disabled=chosen.length() == 0, id="docs-upload-submit"),
        rx.cond(
            DocsSourcesState.upload_results.length() > 0,
            rx.vstack(rx.foreach(DocsSourcesState.upload_results, _result), spacing="1", id="docs-upload-results"),
        ),
        form_messages("files"),
        spacing="2",
        width="100%",
    )


def _summary() -> rx.Component:
    return rx.cond(
        DocsSourcesState.summarizing | (DocsSourcesState.summary != ""),
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.icon("file-text", size=16),
                    rx.text("Summary", weight="medium"),
                    rx.text(DocsSourcesState.summary_title, size="2", color=MUTED),
                    rx.cond(DocsSourcesState.summarizing, rx.spinner(size="1")),
                    align="center",
                    spacing="2",
                ),
                rx.markdown(DocsSourcesState.summary, width="100%"),
                rx.cond(DocsSourcesState.summary_notice != "",
                        rx.text(DocsSourcesState.summary_notice, size="1", color=MUTED)),
                spacing="2",
                width="100%",
            ),
            id="docs-summary",
            data_streaming=rx.cond(DocsSourcesState.summarizing, "yes", "no"),
            width="100%",
        ),
    )


def _url_form() -> rx.Component:
    return rx.vstack(
        rx.form(
            rx.hstack(
                rx.input(name="url", id="docs-url", type="url", placeholder="https://example.com/runbook",
                         required=True, width="100%"),
                rx.button(rx.icon("link", size=14), "Add page", type="submit", id="docs-url-submit",
                          loading=DocsSourcesState.summarizing),
                width="100%",
            ),
            on_submit=DocsSourcesState.add_url,
            width="100%",
        ),
        form_messages("url"),
        _summary(),
        spacing="2",
        width="100%",
    )


def files_form() -> rx.Component:
    return rx.vstack(
        intro("Uploaded files and fetched pages are kept in a collection and indexed at once; a file that "
              "cannot be read is refused with the reason and nothing of it is stored."),
        collection_chooser(),
        rx.heading("Upload files", size="3"),
        _uploader(),
        rx.heading("Web page by URL", size="3"),
        _url_form(),
        spacing="3",
        width="100%",
        max_width="640px",
    )
