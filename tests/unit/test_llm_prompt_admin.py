"""What the prompts admin page relies on: trying unsaved wording (render_text), demo values,
the projects with overrides, and the line diff between versions."""

from __future__ import annotations

import pytest

from services.auth.errors import ValidationError
from services.llm import prompts
from services.llm.prompt_diff import DiffLine, diff_lines

ALLOWED = ("name", "topic")


# ------------------------------------------------------------------ render_text

def test_render_text_fills_unsaved_wording():
    system, user = prompts.render_text("You greet {name}.", "Hello {name}, about {topic}. {{literal}}",
                                       {"name": "Ada", "topic": "{x} tests", "extra": "ignored"}, ALLOWED)
    assert system == "You greet Ada."
    assert user == "Hello Ada, about {x} tests. {literal}"  # values are not formatted again


@pytest.mark.parametrize(
    ("system", "user", "message"),
    [
        ("", "Hi {nme}", "User prompt uses unknown variable(s) {nme}; allowed: {name}, {topic}."),
        ("Greet {who}", "Hi", "System prompt uses unknown variable(s) {who}; allowed: {name}, {topic}."),
        ("", "Hi {name", "User prompt has an unmatched '{' or '}'"),
        ("", "Hi name}", "User prompt has an unmatched '{' or '}'"),
        ("", "Hi {name.__class__}", "User prompt {name.__class__} is not allowed"),
        ("", "Hi {name!r}", "User prompt {name!r} is not allowed"),
        ("", "   ", "The user prompt cannot be empty."),
    ],
)
def test_render_text_refuses_what_a_save_refuses(system, user, message):
    with pytest.raises(ValidationError) as refused:
        prompts.render_text(system, user, {"name": "Ada", "topic": "tests"}, ALLOWED)
    assert str(refused.value).startswith(message)


def test_save_and_render_text_share_their_messages(db):
    for system, user in (("", "Hi {nme}"), ("", "Hi {text"), ("", " ")):
        with pytest.raises(ValidationError) as saving:
            prompts.save_override("general", "complete", system=system, user=user)
        with pytest.raises(ValidationError) as trying:
            prompts.render_text(system, user, {"text": "x"}, ("text",))
        assert str(saving.value) == str(trying.value)
    assert prompts.history("general", "complete") == []


def test_render_text_names_every_missing_value():
    with pytest.raises(ValidationError, match=r"^Give a value for: name, topic\.$"):
        prompts.render_text("About {topic}.", "Hi {name}", {}, ALLOWED)


def test_demo_values_cover_every_variable():
    values = prompts.demo_values(("text", "ticket_id"))
    assert list(values) == ["text", "ticket_id"]
    assert values["text"].strip() and values["ticket_id"] == "example ticket id"
    # And they are enough to render the built-in prompts.
    for default in prompts.defaults():
        prompts.render_text(default.system, default.user, prompts.demo_values(default.variables), default.variables)


def test_override_projects_lists_each_project_once(db):
    assert prompts.override_projects("general", "complete") == []
    prompts.save_override("general", "complete", system="", user="A {text}")  # admin level: not a project
    prompts.save_override("general", "complete", system="", user="B {text}", project="zeta")
    prompts.save_override("general", "complete", system="", user="C {text}", project="alpha")
    prompts.reset("general", "complete", project="zeta")
    prompts.save_override("general", "summarize", system="", user="D {text}", project="other-pair")

    assert prompts.override_projects("general", "complete") == ["alpha", "zeta"]


# ------------------------------------------------------------------ diff

def test_diff_shows_the_changed_line_of_each_part():
    old = ("Be brief.", "Line one\nSay hello to {name}\nLine three")
    new = ("Be brief.", "Line one\nSay goodbye to {name}\nLine three")

    lines = diff_lines(old, new, old_label="v1", new_label="v2")

    assert lines == [
        DiffLine("header", "--- v1 (user)"),
        DiffLine("header", "+++ v2 (user)"),
        DiffLine("hunk", "@@ -1,3 +1,3 @@"),
        DiffLine("same", " Line one"),
        DiffLine("removed", "-Say hello to {name}"),
        DiffLine("added", "+Say goodbye to {name}"),
        DiffLine("same", " Line three"),
    ]


def test_diff_of_both_parts_and_of_identical_text():
    lines = diff_lines(("old system", "u"), ("new system", "u2"), old_label="default", new_label="editor")
    assert [line.text for line in lines if line.kind == "header"] == [
        "--- default (system)", "+++ editor (system)", "--- default (user)", "+++ editor (user)"]
    assert [(line.kind, line.text) for line in lines if line.kind in ("added", "removed")] == [
        ("removed", "-old system"), ("added", "+new system"), ("removed", "-u"), ("added", "+u2")]
    assert diff_lines(("s", "u"), ("s", "u"), old_label="a", new_label="b") == []


def test_diff_lines_that_look_like_headers_are_content():
    lines = diff_lines(("", "--- a rule\nkeep"), ("", "keep"), old_label="a", new_label="b")
    assert DiffLine("removed", "---- a rule") in lines
    assert [line.kind for line in lines].count("header") == 2
