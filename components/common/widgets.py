"""Widgets several pages use: error callouts, labelled fields, status badges."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import reflex as rx

STATUS_COLORS = {
    "queued": "gray",
    "running": "blue",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "orange",
}


def error_callout(message, element_id: str) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle-alert", color_scheme="red", role="alert", id=element_id, width="100%"),
    )


def success_callout(message, element_id: str) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="check", color_scheme="green", id=element_id, width="100%"),
    )


def field(label: str, name: str, *, type_: str = "text", placeholder: str = "", required: bool = True,
          element_id: str | None = None) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="2", weight="medium", as_="label", html_for=element_id or name),
        rx.input(name=name, id=element_id or name, type=type_, placeholder=placeholder, required=required,
                 width="100%"),
        spacing="1",
        width="100%",
    )


def status_badge(status) -> rx.Component:
    return rx.badge(
        status,
        color_scheme=rx.match(status, *[(k, v) for k, v in STATUS_COLORS.items()], "gray"),
    )


def data_table(headers: Sequence[str], rows: Any, render_row: Callable[[Any], rx.Component],
               **props: Any) -> rx.Component:
    """A header row, then one row per item of a list var."""
    return rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
        rx.table.body(rx.foreach(rows, render_row)),
        **props,
    )
