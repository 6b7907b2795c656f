"""Pieces the add-source forms share: their messages, the share tick box, labelled inputs."""

from __future__ import annotations

from typing import Any

import reflex as rx

from components.common.widgets import error_callout, success_callout
from state.docs_sources import DocsSourcesState

MUTED = rx.color("gray", 11)


def form_messages(form: str) -> rx.Component:
    """What the last action of this form did, or what the user must fix."""
    return rx.fragment(
        error_callout(DocsSourcesState.errors[form], f"docs-{form}-error"),
        success_callout(DocsSourcesState.notes[form], f"docs-{form}-note"),
    )


def share_box(form: str, label: str = "Share with every signed-in user") -> rx.Component:
    return rx.text(
        rx.hstack(
            rx.checkbox(checked=DocsSourcesState.share[form],
                        on_change=lambda value: DocsSourcesState.set_share(form, value), id=f"docs-{form}-share"),
            label,
            spacing="2",
            align="center",
        ),
        as_="label",
        size="2",
    )


def labelled(label: str, element_id: str, hint: str = "", **input_props: Any) -> rx.Component:
    """A label above an input with this id (and an optional hint below)."""
    return rx.vstack(
        rx.text(label, size="2", weight="medium", as_="label", html_for=element_id),
        rx.input(id=element_id, width="100%", **input_props),
        *([rx.text(hint, size="1", color=MUTED)] if hint else []),
        spacing="1",
        width="100%",
    )


def intro(text: str) -> rx.Component:
    return rx.text(text, size="2", color=MUTED)


def drop_zone(upload_id: str, prompt: rx.Component, *, accept: dict, multiple: bool) -> rx.Component:
    """A dashed upload area listing the chosen files, followed by what the caller puts under it."""
    return rx.upload(
        rx.vstack(
            prompt,
            rx.foreach(rx.selected_files(upload_id), lambda name: rx.text(name, size="1", class_name="docs-upload-chosen")),
            align="center",
            spacing="1",
        ),
        id=upload_id,
        multiple=multiple,
        **({} if multiple else {"max_files": 1}),
        accept=accept,
        padding="1.25rem",
        border=f"1px dashed {rx.color('gray', 8)}",
        border_radius="var(--radius-3)",
        width="100%",
        cursor="pointer",
    )
