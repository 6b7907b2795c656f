"""The ticket drawer: a panel over the board's right side with the ticket as JIRA has it now,
its transitions (with the learned suggestion), tracking, the comment draft and the breakdown."""

from __future__ import annotations

import reflex as rx

from components.common.widgets import error_callout, success_callout
from state.jira_ticket import ChildRow, CommentRow, HistoryRow, JiraTicketState, TransitionRow

MUTED = rx.color("gray", 11)
RICH_TEXT = {"& pre": {"white_space": "pre-wrap", "font_family": "monospace", "font_size": "0.85em"},
             "& p": {"margin": "0.3rem 0"}, "& ul, & ol": {"padding_left": "1.2rem"},
             "& table": {"border_collapse": "collapse"}, "& td, & th": {"border": f"1px solid {rx.color('gray', 6)}",
                                                                         "padding": "0.2rem 0.4rem"}}


def _fact(label: str, value) -> rx.Component:
    return rx.vstack(rx.text(label, size="1", color=MUTED), rx.text(value, size="2"), spacing="0")


def _transition(row: TransitionRow) -> rx.Component:
    suggested = row["to"] == JiraTicketState.suggestion
    return rx.button(
        row["name"], rx.cond(suggested, rx.icon("sparkles", size=12)),
        on_click=JiraTicketState.take_transition(row["target"]), size="1",
        variant=rx.cond(suggested, "solid", "soft"), class_name="jira-transition", data_target=row["to"],
    )


def _comment(row: CommentRow) -> rx.Component:
    return rx.box(
        rx.hstack(rx.text(row["author"], size="1", weight="bold"), rx.text(row["when"], size="1", color=MUTED),
                  spacing="2"),
        rx.box(rx.html(row["html"]), font_size="0.9em", css=RICH_TEXT),
        padding="0.4rem 0", border_bottom=f"1px solid {rx.color('gray', 4)}", width="100%",
        class_name="jira-comment",
    )


def _history(row: HistoryRow) -> rx.Component:
    return rx.table.row(rx.table.cell(row["when"]), rx.table.cell(row["author"]), rx.table.cell(row["field"]),
                        rx.table.cell(row["change"]))


def comment_box() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Your comment", size="3"),
            rx.spacer(),
            rx.input(placeholder="Instruction for the draft (optional)", value=JiraTicketState.instruction,
                     on_change=JiraTicketState.set_instruction, size="1", width="14rem", id="jira-draft-instruction"),
            rx.button(rx.icon("sparkles", size=14), "Draft comment", on_click=JiraTicketState.write_draft(False),
                      loading=JiraTicketState.drafting, size="1", id="jira-draft-comment"),
            width="100%", align="center", wrap="wrap",
        ),
        rx.form(
            rx.vstack(
                rx.text_area(name="text", default_value=JiraTicketState.draft_text, key=JiraTicketState.draft_key,
                             on_change=JiraTicketState.edit_draft.debounce(400), rows="7", width="100%",
                             placeholder="Write a comment in JIRA markup, or let the assistant draft it.",
                             id="jira-comment-text"),
                rx.hstack(
                    rx.button(rx.icon("send", size=14), "Post", type="submit", loading=JiraTicketState.posting,
                              id="jira-comment-post"),
                    rx.cond(JiraTicketState.draft_status != "",
                            rx.badge(JiraTicketState.draft_status, id="jira-draft-status")),
                    rx.spacer(),
                    rx.button(rx.icon("thumbs-up", size=14), variant="ghost", size="1", type="button",
                              on_click=JiraTicketState.rate(5), id="jira-draft-good"),
                    rx.button(rx.icon("thumbs-down", size=14), variant="ghost", size="1", type="button",
                              on_click=JiraTicketState.rate(1), id="jira-draft-bad"),
                    width="100%", align="center",
                ),
                spacing="2", width="100%",
            ),
            on_submit=JiraTicketState.post, reset_on_submit=False, width="100%",
        ),
        rx.cond(JiraTicketState.draft_notice != "",
                rx.text(JiraTicketState.draft_notice, size="1", color=MUTED, id="jira-draft-notice")),
        error_callout(JiraTicketState.draft_error, "jira-draft-error"),
        spacing="2", width="100%",
    )


def _child(row: ChildRow, index) -> rx.Component:
    return rx.hstack(
        rx.checkbox(checked=row["keep"], on_change=lambda v: JiraTicketState.set_child_kept(index, v),
                    class_name="jira-child-keep"),
        rx.input(value=row["summary"], on_change=lambda v: JiraTicketState.set_child_summary(index, v), size="1",
                 width="100%", class_name="jira-child-summary"),
        width="100%", align="center",
    )


def breakdown_panel() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(rx.heading("Break down into ", JiraTicketState.child_kind, size="3"), rx.spacer(),
                      rx.icon_button(rx.icon("x", size=14), variant="ghost", size="1",
                                     on_click=JiraTicketState.close_breakdown, id="jira-breakdown-close")),
            rx.cond(JiraTicketState.child_type != "",
                    rx.text("Each becomes a ", JiraTicketState.child_type, " linked to ", JiraTicketState.key,
                            ". Untick what you do not want; edit the summaries.", size="1", color=MUTED)),
            rx.cond(JiraTicketState.breaking_down & (JiraTicketState.children.length() == 0),
                    rx.hstack(rx.spinner(size="1"), rx.text("Reading the ticket…", size="1"))),
            rx.foreach(JiraTicketState.children, _child),
            rx.hstack(
                rx.button(rx.icon("plus", size=12), "Add", variant="soft", size="1",
                          on_click=JiraTicketState.add_child, id="jira-child-add"),
                rx.spacer(),
                rx.button("Create linked tickets", on_click=JiraTicketState.create_children,
                          loading=JiraTicketState.breaking_down, disabled=JiraTicketState.children.length() == 0,
                          id="jira-breakdown-create"),
                width="100%",
            ),
            rx.cond(JiraTicketState.breakdown_notice != "",
                    rx.text(JiraTicketState.breakdown_notice, size="1", color=MUTED, id="jira-breakdown-notice")),
            error_callout(JiraTicketState.breakdown_error, "jira-breakdown-error"),
            spacing="2", width="100%",
        ),
        width="100%", id="jira-breakdown",
    )


def _details() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            _fact("Type", JiraTicketState.issue_type), _fact("Status", JiraTicketState.status),
            _fact("Priority", rx.cond(JiraTicketState.priority != "", JiraTicketState.priority, "–")),
            _fact("Assignee", JiraTicketState.assignee),
            rx.cond(JiraTicketState.points != "", _fact("Story points", JiraTicketState.points)),
            spacing="5", wrap="wrap",
        ),
        rx.hstack(
            rx.text("Move to:", size="1", color=MUTED),
            rx.foreach(JiraTicketState.transitions, _transition),
            rx.cond(JiraTicketState.suggestion != "",
                    rx.text("(usually next: ", JiraTicketState.suggestion, ")", size="1", color=MUTED,
                            id="jira-suggestion")),
            spacing="2", wrap="wrap", align="center", id="jira-transitions",
        ),
        rx.hstack(
            rx.button(rx.icon(rx.cond(JiraTicketState.tracked, "bell-off", "bell-ring"), size=14),
                      rx.cond(JiraTicketState.tracked, "Stop tracking", "Track"), variant="soft", size="1",
                      on_click=JiraTicketState.toggle_tracked, id="jira-track"),
            rx.button(rx.icon("list-tree", size=14), "Break down", variant="soft", size="1",
                      on_click=JiraTicketState.propose_children, id="jira-breakdown-open"),
            rx.link("Open in JIRA", href=JiraTicketState.url, is_external=True, size="1"),
            spacing="3", align="center",
        ),
        error_callout(JiraTicketState.error, "jira-ticket-error"),
        success_callout(JiraTicketState.notice, "jira-ticket-notice"),
        rx.cond(JiraTicketState.breakdown_open, breakdown_panel()),
        rx.heading("Description", size="3"),
        rx.box(rx.cond(JiraTicketState.description_html != "", rx.html(JiraTicketState.description_html),
                       rx.text("No description.", color=MUTED, size="2")),
               css=RICH_TEXT, width="100%", id="jira-description"),
        rx.heading("Comments (", JiraTicketState.comments.length(), ")", size="3"),
        rx.vstack(rx.foreach(JiraTicketState.comments, _comment), spacing="0", width="100%", id="jira-comments"),
        comment_box(),
        rx.cond(JiraTicketState.history.length() > 0, rx.vstack(
            rx.heading("History", size="3"),
            rx.table.root(rx.table.body(rx.foreach(JiraTicketState.history, _history)), size="1", width="100%"),
            width="100%", id="jira-history")),
        spacing="3", width="100%",
    )


def ticket_drawer() -> rx.Component:
    return rx.cond(
        JiraTicketState.key != "",
        rx.box(
            rx.vstack(
                rx.hstack(
                    rx.text(JiraTicketState.key, weight="bold", id="jira-drawer-key"),
                    rx.spacer(),
                    rx.icon_button(rx.icon("x", size=16), variant="ghost", on_click=JiraTicketState.close,
                                   id="jira-drawer-close"),
                    width="100%", align="center",
                ),
                rx.heading(JiraTicketState.summary, size="4", id="jira-drawer-summary"),
                rx.cond(JiraTicketState.loading, rx.hstack(rx.spinner(), rx.text("Loading from JIRA…", size="2")),
                        _details()),
                spacing="3", width="100%",
            ),
            position="fixed", top="0", right="0", height="100vh", width="min(44rem, 100vw)", overflow_y="auto",
            padding="1rem", background=rx.color("gray", 1), border_left=f"1px solid {rx.color('gray', 6)}",
            box_shadow="-8px 0 24px rgba(0,0,0,0.12)", z_index="20", id="jira-drawer",
        ),
    )
