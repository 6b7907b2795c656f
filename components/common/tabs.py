"""Tabs that link the pages of one area (the LLM admin portal, Doc Q&A)."""

from __future__ import annotations

import reflex as rx

from llmcoder_app import routes


def route_tabs(items: tuple[routes.NavItem, ...] | list[routes.NavItem], id_prefix: str) -> rx.Component:
    """One link per page, the current one underlined; ids are `<prefix>-tab-<label-with-dashes>`."""

    def tab(item: routes.NavItem) -> rx.Component:
        active = rx.State.router.page.path == item.route
        return rx.link(
            rx.hstack(rx.icon(item.icon, size=15), rx.text(item.label, size="2"), spacing="2", align="center"),
            href=item.route,
            id=f"{id_prefix}-tab-{item.label.lower().replace(' ', '-')}",
            underline="none",
            color=rx.cond(active, rx.color("accent", 11), rx.color("gray", 11)),
            border_bottom=rx.cond(active, f"2px solid {rx.color('accent', 9)}", "2px solid transparent"),
            padding="0.4rem 0.6rem",
        )

    return rx.hstack(*[tab(item) for item in items], spacing="2", width="100%",
                     border_bottom=f"1px solid {rx.color('gray', 5)}", id=f"{id_prefix}-tabs")
