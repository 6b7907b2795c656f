"""An answer's citations: number, title, where and source; expanding one shows its passage."""

from __future__ import annotations

import reflex as rx

from state.docs_ask import CitationRow

MUTED = rx.color("gray", 11)


def _citation(turn_id, citation: CitationRow) -> rx.Component:
    return rx.el.details(
        rx.el.summary(
            rx.text.span("[", citation["number"], "] ", weight="bold"),
            rx.text.span(citation["title"], weight="medium"),
            rx.cond(citation["where"] != "", rx.text.span(" · ", citation["where"], color=MUTED)),
            rx.text.span(" · ", citation["source_name"], color=MUTED),
            class_name="docs-citation-summary",
            style={"cursor": "pointer"},
        ),
        rx.vstack(
            rx.text(citation["passage"], size="2", white_space="pre-wrap", class_name="docs-citation-passage"),
            rx.cond(
                citation["url"] != "",
                rx.link(rx.hstack(rx.icon("external-link", size=12), "Open source", spacing="1", align="center"),
                        href=citation["url"], is_external=True, size="2", class_name="docs-citation-open"),
            ),
            spacing="2",
            padding="0.5rem 0 0.25rem 1.2rem",
            border_left=f"2px solid {rx.color('gray', 5)}",
            margin_left="0.3rem",
        ),
        id=f"docs-citation-{turn_id}-{citation['number']}",
        class_name="docs-citation",
    )


def citation_list(turn_id, citations) -> rx.Component:
    return rx.cond(
        citations.length() > 0,
        rx.vstack(
            rx.text("Sources", size="1", weight="medium", color=MUTED),
            rx.foreach(citations, lambda citation: _citation(turn_id, citation)),
            spacing="1",
            width="100%",
            class_name="docs-citations",
        ),
    )
