"""The code assistant's pieces: the composer, the conversation and an answer with its checks."""

from __future__ import annotations

import reflex as rx

from components.common.widgets import error_callout
from state.assistant import AssistantState, Turn

VERDICT_COLORS = (("approve", "green"), ("fix", "amber"), ("reject", "red"))
MUTED = rx.color("gray", 11)


def mode_switch() -> rx.Component:
    return rx.segmented_control.root(
        rx.segmented_control.item("Chat", value="chat", id="assistant-mode-chat"),
        rx.segmented_control.item("Generate code", value="generate", id="assistant-mode-generate"),
        value=AssistantState.mode,
        on_change=AssistantState.set_mode,
        id="assistant-mode",
    )


def composer() -> rx.Component:
    generate = AssistantState.mode == "generate"
    return rx.vstack(
        rx.hstack(
            mode_switch(),
            rx.cond(
                generate,
                rx.hstack(
                    rx.text("Tech stack", size="2", as_="label", html_for="assistant-stack"),
                    rx.input(value=AssistantState.stack, on_change=AssistantState.set_stack, id="assistant-stack",
                             placeholder="e.g. Python 3.12, FastAPI", width="260px"),
                    align="center",
                    spacing="2",
                ),
            ),
            rx.spacer(),
            rx.button(rx.icon("eraser", size=14), "Clear", variant="ghost", size="1", on_click=AssistantState.clear,
                      id="assistant-clear"),
            align="center",
            width="100%",
            spacing="4",
        ),
        rx.form(
            rx.hstack(
                rx.text_area(
                    name="message",
                    id="assistant-input",
                    placeholder=rx.cond(generate, "Describe the code you need…",
                                        "Ask a question or paste code to explain…"),
                    enter_key_submit=True,
                    auto_height=True,
                    rows="2",
                    width="100%",
                ),
                rx.button(rx.icon("send-horizontal", size=16), "Send", type="submit", id="assistant-send",
                          loading=AssistantState.busy, disabled=AssistantState.busy),
                align="end",
                width="100%",
            ),
            on_submit=AssistantState.send,
            id="assistant-form",
            width="100%",
        ),
        rx.text("Enter sends, Shift+Enter starts a new line.", size="1", color=MUTED),
        error_callout(AssistantState.error, "assistant-error"),
        width="100%",
        spacing="2",
        # Stays in reach below a long conversation.
        position="sticky",
        bottom="0",
        z_index="1",
        background=rx.color("gray", 1),
        padding_y="0.75rem",
        border_top=f"1px solid {rx.color('gray', 4)}",
    )


def _user_message(turn: Turn) -> rx.Component:
    return rx.hstack(
        rx.spacer(),
        rx.box(
            rx.cond(turn.stack != "", rx.text("Generate · ", turn.stack, size="1", color=MUTED)),
            rx.text(turn.text, white_space="pre-wrap"),
            background=rx.color("accent", 3),
            padding="0.6rem 0.9rem",
            border_radius="var(--radius-3)",
            max_width="80%",
            class_name="assistant-user-message",
        ),
        width="100%",
    )


def _checks(turn: Turn) -> rx.Component:
    """Quality score and findings, then the security review when there was one."""
    return rx.vstack(
        rx.cond(
            turn.has_quality,
            rx.hstack(
                rx.badge("Quality ", turn.quality, "/100", color_scheme=turn.quality_color, size="2",
                         class_name="answer-quality", data_score=turn.quality),
                rx.cond(turn.findings.length() == 0, rx.text("No findings.", size="1", color=MUTED)),
                align="center",
            ),
        ),
        rx.cond(
            turn.findings.length() > 0,
            rx.el.ul(rx.foreach(turn.findings, lambda f: rx.el.li(rx.text(f, size="1"))), class_name="answer-findings",
                     style={"margin": "0", "padding_left": "1.2rem"}),
        ),
        rx.cond(
            turn.has_review,
            rx.vstack(
                rx.hstack(
                    rx.text("Security review", size="2", weight="medium"),
                    rx.badge(turn.review_verdict, color_scheme=rx.match(turn.review_verdict, *VERDICT_COLORS, "gray"),
                             class_name="answer-verdict"),
                    rx.badge("severity ", turn.review_severity, variant="outline", class_name="answer-severity"),
                    align="center",
                ),
                rx.cond(turn.review_summary != "", rx.text(turn.review_summary, size="1")),
                rx.el.ul(rx.foreach(turn.review_issues, lambda issue: rx.el.li(rx.text(issue, size="1"))),
                         style={"margin": "0", "padding_left": "1.2rem"}),
                rx.text(turn.review_note, size="1", color=MUTED),
                class_name="answer-review",
                spacing="1",
                width="100%",
            ),
        ),
        spacing="2",
        width="100%",
    )


def _actions(turn: Turn) -> rx.Component:
    has_code = turn.code != ""
    return rx.vstack(
        rx.hstack(
            rx.cond(
                has_code,
                rx.hstack(
                    rx.button(rx.icon("copy", size=14), "Copy", size="1", variant="soft", class_name="answer-copy",
                              on_click=[rx.set_clipboard(turn.code), rx.toast("Code copied to the clipboard.")]),
                    rx.button(rx.icon("download", size=14), "Download ", turn.filename, size="1", variant="soft",
                              class_name="answer-download", on_click=AssistantState.download(turn.id)),
                    rx.button(rx.icon("check", size=14), rx.cond(turn.accepted, "Kept", "Keep this code"), size="1",
                              color_scheme="green", class_name="answer-accept",
                              disabled=turn.blocked | turn.accepted, on_click=AssistantState.accept(turn.id),
                              title=turn.block_reason),
                ),
            ),
            rx.button(rx.icon("refresh-cw", size=14), "Regenerate", size="1",
                      variant=rx.cond(turn.blocked, "solid", "soft"), class_name="answer-regenerate",
                      disabled=AssistantState.busy, on_click=AssistantState.regenerate(turn.id)),
            rx.icon_button(rx.icon("thumbs-up", size=14), size="1", class_name="answer-up", title="Good answer",
                           variant=rx.cond(turn.rating == 5, "solid", "ghost"),
                           on_click=AssistantState.rate(turn.id, True)),
            rx.icon_button(rx.icon("thumbs-down", size=14), size="1", class_name="answer-down", title="Bad answer",
                           variant=rx.cond(turn.rating == 1, "solid", "ghost"), color_scheme="red",
                           on_click=AssistantState.rate(turn.id, False)),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        rx.cond(turn.blocked,
                rx.callout(turn.block_reason + " Regenerate the code, or fix it yourself before keeping it.",
                           icon="shield-alert", color_scheme="red", size="1", class_name="answer-block-reason")),
        rx.cond(turn.note != "", rx.text(turn.note, size="1", color=rx.cond(turn.note_failed, "red", MUTED),
                                         class_name="answer-note")),
        spacing="2",
        width="100%",
    )


def _answer(turn: Turn) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.cond(
                turn.label != "",
                rx.badge(rx.icon("graduation-cap", size=12), turn.label, color_scheme="violet",
                         class_name="answer-source", data_source=turn.source),
            ),
            rx.cond(turn.notice != "", rx.text(turn.notice, size="1", color=MUTED, class_name="answer-notice")),
            rx.cond(turn.text != "", rx.markdown(turn.text, class_name="answer-text", width="100%")),
            rx.cond(turn.streaming & (turn.stage == ""), rx.hstack(rx.spinner(size="1"),
                                                                   rx.text("Writing…", size="1", color=MUTED))),
            rx.cond(turn.stage != "", rx.hstack(rx.spinner(size="1"), rx.text(turn.stage, size="1", color=MUTED),
                                                class_name="answer-stage")),
            rx.cond(turn.error != "", rx.callout(turn.error, icon="triangle-alert", color_scheme="red", size="1",
                                                 class_name="answer-error", role="alert")),
            rx.cond(
                turn.call_id != "",
                rx.vstack(
                    _checks(turn),
                    rx.text(turn.meta, size="1", color=MUTED, class_name="answer-cost"),
                    _actions(turn),
                    spacing="2",
                    width="100%",
                ),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        class_name="assistant-answer",
        data_streaming=rx.cond(turn.streaming, "yes", "no"),
        data_call_id=turn.call_id,
        data_source=turn.source,
    )


def _turn(turn: Turn) -> rx.Component:
    return rx.cond(turn.role == "user", _user_message(turn), _answer(turn))


def conversation() -> rx.Component:
    return rx.cond(
        AssistantState.turns.length() > 0,
        rx.vstack(rx.foreach(AssistantState.turns, _turn), spacing="3", width="100%", id="assistant-conversation"),
        rx.text("Ask about code, or switch to Generate code, describe a task and its tech stack. Generated code is "
                "checked (syntax, dangerous calls, secrets, type hints, docstrings); code for sensitive tasks is also "
                "reviewed by a second provider.", size="2", color=MUTED, id="assistant-empty"),
    )
