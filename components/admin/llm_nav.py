"""Tabs across the LLM admin portal's pages."""

from __future__ import annotations

import reflex as rx

from llmcoder_app import routes


def llm_tabs() -> rx.Component:
    def tab(item: routes.NavItem) -> rx.Component:
        active = rx.State.router.page.path == item.route
        return rx.link(
            rx.hstack(rx.icon(item.icon, size=15), rx.text(item.label, size="2"), spacing="2", align="center"),
            href=item.route,
            id=f"llm-tab-{item.label.lower()}",
            underline="none",
            color=rx.cond(active, rx.color("accent", 11), rx.color("gray", 11)),
            border_bottom=rx.cond(active, f"2px solid {rx.color('accent', 9)}", "2px solid transparent"),
            padding="0.4rem 0.6rem",
        )

    return rx.hstack(*[tab(item) for item in routes.LLM_TABS], spacing="2", width="100%",
                     border_bottom=f"1px solid {rx.color('gray', 5)}", id="llm-tabs")
