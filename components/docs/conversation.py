"""The Ask page's conversation: each question with its streamed answer, mode, notice,
citations and rating."""

from __future__ import annotations

import reflex as rx

from components.docs.citations import citation_list
from state.docs_ask import AskTurn, DocsAskState

MUTED = rx.color("gray", 11)
MODE_COLORS = (("llm", "green"), ("extractive", "amber"), ("not_found", "gray"), ("symbol", "violet"))


def _question(turn: AskTurn) -> rx.Component:
    return rx.hstack(
        rx.spacer(),
        rx.box(
            rx.text(turn["question"], white_space="pre-wrap"),
            background=rx.color("accent", 3),
            padding="0.6rem 0.9rem",
            border_radius="var(--radius-3)",
            max_width="80%",
            class_name="docs-question-text",
        ),
        width="100%",
    )


def _rating(turn: AskTurn) -> rx.Component:
    def thumb(up: bool) -> rx.Component:
        chosen = turn["rating"] == (5 if up else 1)
        return rx.icon_button(
            rx.icon("thumbs-up" if up else "thumbs-down", size=14), size="1",
            variant=rx.cond(chosen, "solid", "ghost"), color_scheme="green" if up else "red",
            title="Helpful" if up else "Not helpful", on_click=DocsAskState.rate(turn["id"], up),
            class_name="docs-rate-up" if up else "docs-rate-down", data_chosen=rx.cond(chosen, "yes", "no"))

    return rx.cond(turn["question_id"] != 0, rx.hstack(thumb(True), thumb(False), spacing="2"))


def _answer(turn: AskTurn) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.cond(turn["mode_label"] != "",
                    rx.badge(turn["mode_label"], color_scheme=rx.match(turn["mode"], *MODE_COLORS, "gray"),
                             class_name="docs-mode")),
            rx.cond(turn["answer"] != "", rx.markdown(turn["answer"], class_name="docs-answer-text", width="100%")),
            rx.cond(turn["streaming"] & (turn["answer"] == ""),
                    rx.hstack(rx.spinner(size="1"), rx.text("Searching the documentation…", size="1", color=MUTED))),
            rx.cond(turn["notice"] != "",
                    rx.callout(turn["notice"], icon="info", color_scheme="gray", variant="surface", size="1",
                               class_name="docs-notice")),
            rx.cond(turn["error"] != "",
                    rx.callout(turn["error"], icon="triangle-alert", color_scheme="red", size="1", role="alert",
                               class_name="docs-answer-error")),
            citation_list(turn["id"], turn["citations"]),
            _rating(turn),
            spacing="2",
            width="100%",
        ),
        width="100%",
        id=f"docs-answer-{turn['id']}",
        class_name="docs-answer",
        data_streaming=rx.cond(turn["streaming"], "yes", "no"),
        data_mode=turn["mode"],
    )


def _turn(turn: AskTurn) -> rx.Component:
    return rx.vstack(_question(turn), _answer(turn), spacing="2", width="100%")


def conversation() -> rx.Component:
    return rx.cond(
        rx.State.is_hydrated,  # the page's loader has run: the history is this visit's
        rx.cond(
            DocsAskState.turns.length() > 0,
            rx.vstack(rx.foreach(DocsAskState.turns, _turn), spacing="4", width="100%", id="docs-conversation"),
            rx.text("Ask a question about your documentation. Answers cite the passages they come from; expand a "
                    "citation to read it.", size="2", color=MUTED, id="docs-empty"),
        ),
        rx.spinner(),
    )
