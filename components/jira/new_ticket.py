"""The New ticket page: "describe it" beside the form JIRA's create screen defines."""

from __future__ import annotations

import reflex as rx

from components.common.widgets import error_callout
from state.jira_new import FieldRow, JiraNewState

MUTED = rx.color("gray", 11)


def _input(field: FieldRow) -> rx.Component:
    value = JiraNewState.values[field["id"]]
    common = {"name": field["id"], "default_value": value, "width": "100%",
              "id": "jira-new-field-" + field["id"], "key": JiraNewState.form_key + field["id"]}
    return rx.match(
        field["kind"],
        ("textarea", rx.text_area(rows="8", **common)),
        ("number", rx.input(type="number", step="any", **common)),
        ("select", rx.el.select(rx.el.option("—", value=""),
                                rx.foreach(field["options"], lambda o: rx.el.option(o, value=o)),
                                padding="0.3rem 0.5rem", border=f"1px solid {rx.color('gray', 7)}",
                                border_radius="max(var(--radius-2), var(--radius-full))",
                                background=rx.color("gray", 1), font_size="var(--font-size-2)", **common)),
        rx.input(**common),
    )


def _field(field: FieldRow) -> rx.Component:
    return rx.vstack(
        rx.text(field["name"], rx.cond(field["required"], rx.text.span(" *", color="red")), size="2",
                weight="medium"),
        _input(field),
        rx.cond(field["kind"] == "labels", rx.text("Separate labels with spaces.", size="1", color=MUTED)),
        spacing="1", width="100%",
    )


def describe_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Describe it", size="3"),
            rx.text("Say what you need in plain words: the assistant fills the form and asks for what is missing. "
                    "You check everything before anything is created.", size="1", color=MUTED),
            rx.form(
                rx.vstack(
                    rx.text_area(name="described", default_value=JiraNewState.described, rows="6", width="100%",
                                 id="jira-describe-text", key=JiraNewState.form_key,
                                 placeholder="e.g. The export to CSV drops rows with commas in names; customers "
                                             "hit it since 2.3. High priority, about 3 points."),
                    rx.cond(JiraNewState.questions.length() > 0, rx.vstack(
                        rx.text("The assistant asks:", size="2", weight="medium"),
                        rx.foreach(JiraNewState.questions,
                                   lambda q: rx.text("• ", q, size="2", class_name="jira-question")),
                        rx.text_area(name="answers", default_value=JiraNewState.answers, rows="3", width="100%",
                                     id="jira-describe-answers", placeholder="Your answers",
                                     key=JiraNewState.form_key),
                        spacing="1", width="100%", id="jira-describe-questions")),
                    rx.button(rx.icon("sparkles", size=14), "Fill the form", type="submit",
                              loading=JiraNewState.filling, disabled=JiraNewState.fields.length() == 0,
                              id="jira-describe-fill"),
                    spacing="2", width="100%",
                ),
                on_submit=JiraNewState.fill_from_description, reset_on_submit=False, width="100%",
            ),
            rx.cond(JiraNewState.assist_notice != "", rx.text(JiraNewState.assist_notice, size="1", color=MUTED)),
            spacing="2", width="100%",
        ),
        flex="1", min_width="18rem",
    )


def form_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.vstack(rx.text("Project", size="2", weight="medium"), rx.select.root(
                    rx.select.trigger(id="jira-new-project", min_width="12rem"),
                    rx.select.content(rx.foreach(JiraNewState.projects,
                                                 lambda p: rx.select.item(p["label"], value=p["value"]))),
                    value=JiraNewState.project, on_change=JiraNewState.choose_project), spacing="1"),
                rx.vstack(rx.text("Type", size="2", weight="medium"), rx.select.root(
                    rx.select.trigger(id="jira-new-type", min_width="10rem"),
                    rx.select.content(rx.foreach(JiraNewState.types,
                                                 lambda t: rx.select.item(t["label"], value=t["value"]))),
                    value=JiraNewState.issue_type, on_change=JiraNewState.choose_type), spacing="1"),
                spacing="4", wrap="wrap",
            ),
            rx.form(
                rx.vstack(
                    rx.foreach(JiraNewState.fields, _field),
                    rx.button(rx.icon("square-plus", size=14), "Create ticket", type="submit",
                              loading=JiraNewState.creating, disabled=JiraNewState.fields.length() == 0,
                              id="jira-new-create"),
                    spacing="3", width="100%",
                ),
                on_submit=JiraNewState.create_ticket, reset_on_submit=False, width="100%",
            ),
            spacing="3", width="100%",
        ),
        flex="1.4", min_width="22rem",
    )


def new_ticket_view() -> rx.Component:
    return rx.vstack(
        rx.cond(JiraNewState.created_key != "",
                rx.callout(rx.text("Created ", rx.link(JiraNewState.created_key, href=JiraNewState.created_url,
                                                       is_external=True, id="jira-new-created-link"), "."),
                           icon="check", color_scheme="green", id="jira-new-created", width="100%")),
        error_callout(JiraNewState.error, "jira-new-error"),
        rx.flex(describe_card(), form_card(), spacing="4", width="100%", wrap="wrap", align="start"),
        spacing="3", width="100%",
    )
