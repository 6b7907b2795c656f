"""Adding a Confluence site: URL and token, the spaces to index (listed or typed), name, sharing.

The inputs are uncontrolled and report each change to the server, which keeps them (the
token included) out of the page's state: nothing typed is ever sent back to the browser."""

from __future__ import annotations

from typing import Any

import reflex as rx

from components.docs.form_parts import form_messages, intro, labelled, share_box
from state.docs_sources import DocsSourcesState, SpaceOption


def _field(field: str, label: str, hint: str = "", **props: Any) -> rx.Component:
    return labelled(label, f"docs-confluence-{field}", hint=hint,
                    on_change=lambda value: DocsSourcesState.set_confluence(field, value), **props)


def _space(space: SpaceOption) -> rx.Component:
    return rx.text(
        rx.hstack(
            rx.checkbox(checked=DocsSourcesState.chosen_spaces.contains(space["key"]),
                        on_change=lambda checked: DocsSourcesState.toggle_space(space["key"], checked),
                        id=f"docs-confluence-space-{space['key']}"),
            rx.code(space["key"]),
            space["name"],
            spacing="2",
            align="center",
        ),
        as_="label",
        size="2",
    )


def confluence_form() -> rx.Component:
    return rx.vstack(
        intro("Index the pages of one or more Confluence spaces. The token is checked before saving and "
              "stored encrypted; re-syncs fetch only pages that changed."),
        _field("url", "Confluence URL", placeholder="https://wiki.example.com", type="url"),
        _field("token", "Personal access token", type="password", auto_complete="new-password",
               hint="Server/Data Center: a personal access token. Cloud: an API token plus your e-mail below."),
        _field("email", "E-mail (Confluence Cloud only)", type="email", placeholder="you@example.com"),
        rx.hstack(
            rx.button(rx.icon("list", size=14), "List spaces", type="button", variant="soft",
                      on_click=DocsSourcesState.list_spaces, id="docs-confluence-list"),
            rx.text("or type the space keys below.", size="2", color=rx.color("gray", 11)),
            align="center",
            spacing="2",
        ),
        rx.cond(
            DocsSourcesState.spaces.length() > 0,
            rx.vstack(rx.foreach(DocsSourcesState.spaces, _space), spacing="1", id="docs-confluence-spaces",
                      max_height="14rem", overflow_y="auto", width="100%"),
        ),
        _field("keys", "Space keys", hint="Comma-separated, e.g. OPS, DEV (added to the ticked ones).",
               placeholder="OPS, DEV"),
        _field("name", "Name (optional)", placeholder="e.g. Ops wiki"),
        share_box("confluence"),
        rx.button(rx.icon("save", size=14), "Save & index", on_click=DocsSourcesState.save_confluence,
                  id="docs-confluence-save"),
        form_messages("confluence"),
        spacing="3",
        width="100%",
        max_width="640px",
    )
