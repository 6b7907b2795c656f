"""The reply: tone and length, Draft/Regenerate with an optional instruction, an editable text
area, and Send, which only ever happens on its click and only once."""

from __future__ import annotations

import reflex as rx

from state.inbox import LENGTHS, TONES, InboxState

MUTED = rx.color("gray", 11)
STATUS = (("sending", "Sending…"), ("sent", "Sent"), ("failed", "Not sent"), ("unknown", "Maybe sent"))
STATUS_COLORS = (("sending", "blue"), ("sent", "green"), ("failed", "red"), ("unknown", "orange"))


def _choice(items: tuple[str, ...], value, on_change, element_id: str) -> rx.Component:
    return rx.select.root(rx.select.trigger(id=element_id),
                          rx.select.content(*[rx.select.item(item.title(), value=item) for item in items]),
                          value=value, on_change=on_change, size="1")


def _editable() -> rx.Var:
    return (InboxState.draft_status == "draft") | (InboxState.draft_status == "failed") | \
        (InboxState.draft_status == "")


def reply_box() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text("Reply", weight="bold"),
                rx.cond(InboxState.draft_to != "", rx.text("to ", InboxState.draft_to, size="1", color=MUTED)),
                rx.spacer(),
                rx.cond(InboxState.draft_status != "",
                        rx.badge(rx.match(InboxState.draft_status, *STATUS, "Draft"),
                                 color_scheme=rx.match(InboxState.draft_status, *STATUS_COLORS, "gray"),
                                 id="inbox-draft-status")),
                width="100%", align="center",
            ),
            rx.hstack(
                _choice(TONES, InboxState.tone, InboxState.set_tone, "inbox-tone"),
                _choice(LENGTHS, InboxState.length, InboxState.set_length, "inbox-length"),
                rx.input(placeholder="Optional: what the reply should say", value=InboxState.instruction,
                         on_change=InboxState.set_instruction, size="1", width="18rem", id="inbox-instruction"),
                rx.button(rx.icon("sparkles", size=14), rx.cond(InboxState.draft_id > 0, "Regenerate", "Draft reply"),
                          on_click=InboxState.write_draft(InboxState.draft_id > 0), loading=InboxState.drafting,
                          disabled=~_editable(), size="1", variant="soft", id="inbox-draft"),
                spacing="2", align="center", wrap="wrap",
            ),
            rx.form(
                rx.vstack(
                    # Uncontrolled: typing stays local and fast; `key` remounts it with each new draft.
                    rx.text_area(name="text", default_value=InboxState.draft_text, key=InboxState.draft_key,
                                 on_change=InboxState.edit_draft.debounce(600),
                                 placeholder="Draft a reply, or write your own here.", rows="9", width="100%",
                                 read_only=~_editable(), id="inbox-draft-text"),
                    rx.cond(InboxState.draft_notice != "",
                            rx.text(InboxState.draft_notice, size="1", color=MUTED, id="inbox-draft-notice")),
                    rx.cond(InboxState.draft_error != "",
                            rx.callout(InboxState.draft_error, color_scheme="red", icon="triangle-alert", size="1",
                                       id="inbox-draft-error", width="100%")),
                    rx.hstack(
                        rx.button(rx.icon("send", size=14), "Send", type="submit", disabled=~_editable(),
                                  id="inbox-send"),
                        rx.text("Nothing is sent until you click Send.", size="1", color=MUTED),
                        rx.spacer(),
                        rx.cond(InboxState.draft_id > 0,
                                rx.hstack(rx.icon_button(rx.icon("thumbs-up", size=14), size="1", variant="ghost",
                                                         type="button", on_click=InboxState.rate(5),
                                                         id="inbox-draft-good", aria_label="A good draft"),
                                          rx.icon_button(rx.icon("thumbs-down", size=14), size="1", variant="ghost",
                                                         type="button", on_click=InboxState.rate(1),
                                                         id="inbox-draft-bad", aria_label="A bad draft"))),
                        width="100%", align="center",
                    ),
                    spacing="2", width="100%",
                ),
                on_submit=InboxState.send, width="100%",
            ),
            rx.cond(InboxState.draft_status == "sending",
                    rx.moment(interval=1000, on_change=InboxState.check_sending, display="none")),
            spacing="2", width="100%",
        ),
        width="100%", id="inbox-reply",
    )
