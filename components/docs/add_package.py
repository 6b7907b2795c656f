"""Adding a Python package: one installed on this server, by name, or an uploaded sdist/wheel."""

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
from state.docs_sources import PACKAGE_UPLOAD_ID, DocsSourcesState

ACCEPTED_ARCHIVES = {"application/gzip": [".tar.gz", ".tgz"], "application/zip": [".zip", ".whl"]}


def _by_name() -> rx.Component:
    return rx.form(
        rx.hstack(
            labelled("Installed package", "docs-package-name", name="package", placeholder="e.g. requests",
                     required=True),
            rx.button(rx.icon("package", size=14), "Add & index", type="submit", id="docs-package-submit"),
            align="end",
            width="100%",
        ),
        on_submit=DocsSourcesState.add_package,
        width="100%",
    )


def _by_archive() -> rx.Component:
    chosen = rx.selected_files(PACKAGE_UPLOAD_ID)
    return rx.vstack(
        drop_zone(PACKAGE_UPLOAD_ID, rx.text("Or drop a source archive (.tar.gz, .zip) or a wheel (.whl) here.",
                                             size="2"), accept=ACCEPTED_ARCHIVES, multiple=False),
        rx.button(rx.icon("upload", size=14), "Upload & index",
                  on_click=DocsSourcesState.upload_package(rx.upload_files(upload_id=PACKAGE_UPLOAD_ID)),
                  disabled=chosen.length() == 0, id="docs-package-upload-submit"),
        spacing="2",
        width="100%",
    )


def package_form() -> rx.Component:
    return rx.vstack(
        intro("Index a package's modules (every public function and class with its signature and docstring) "
              "and its bundled documentation; signature questions are answered from the symbol table."),
        _by_name(),
        _by_archive(),
        share_box("package"),
        rx.text("Packages are public documentation, so they are shared unless you untick this.", size="1",
                color=MUTED),
        form_messages("package"),
        spacing="3",
        width="100%",
        max_width="640px",
    )
