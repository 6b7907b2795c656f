"""Prompt templates: default, admin and project levels, versions, resets, validation, rendering."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from services.auth.errors import ValidationError
from services.db import get_engine
from services.llm import prompts

F, T = "general", "complete"


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the defaults, with a two-variable test prompt."""
    monkeypatch.setattr(prompts, "_DEFAULTS", dict(prompts._DEFAULTS))
    prompts.register_default(
        "test", "greet", system="You greet {name}.", user="Say hello to {name} about {topic}.",
        variables=("name", "topic"),
    )


def test_builtin_defaults_are_registered():
    pairs = {(d.feature, d.task) for d in prompts.defaults()}
    assert {("general", "complete"), ("general", "summarize")} <= pairs
    complete = prompts.get_default("general", "complete")
    assert complete.user == "{text}" and complete.variables == ("text",)
    assert "LLMCoder" in complete.system
    summarize = prompts.get_default("general", "summarize")
    assert "{text}" in summarize.user and summarize.variables == ("text",)


def test_unknown_pair_is_a_validation_error_naming_it():
    with pytest.raises(ValidationError, match="'nope'.*'missing'"):
        prompts.get_default("nope", "missing")


def test_current_without_overrides_is_the_default(db):
    view = prompts.current(F, T, project="acme")
    assert (view.source, view.version, view.project) == ("default", 0, "acme")
    assert view.user == "{text}" and view.variables == ("text",)


def test_register_default_refuses_undeclared_variables(registry):
    with pytest.raises(ValueError, match=r"test/bad.*\{other\}"):
        prompts.register_default("test", "bad", system="", user="{text} {other}", variables=("text",))
    with pytest.raises(ValueError, match="unmatched"):
        prompts.register_default("test", "bad", system="{oops", user="{text}", variables=("text",))
    with pytest.raises(ValidationError):
        prompts.get_default("test", "bad")


def test_register_default_again_replaces_it(registry):
    prompts.register_default("test", "greet", system="New", user="Hi {name}", variables=("name",))
    assert prompts.get_default("test", "greet").user == "Hi {name}"
    assert [d for d in prompts.defaults() if d.feature == "test"] == [prompts.get_default("test", "greet")]


def test_three_levels_project_wins_then_admin_then_default(db):
    assert prompts.save_override(F, T, system="Admin", user="Admin: {text}") == 1
    assert prompts.save_override(F, T, system="Acme", user="Acme: {text}", project="acme") == 1

    acme = prompts.current(F, T, project="acme")
    assert (acme.source, acme.version, acme.user) == ("project", 1, "Acme: {text}")
    other = prompts.current(F, T, project="other")
    assert (other.source, other.version, other.user) == ("admin", 1, "Admin: {text}")
    admin = prompts.current(F, T)
    assert (admin.source, admin.system) == ("admin", "Admin")
    # Other pairs are untouched.
    assert prompts.current("general", "summarize", project="acme").source == "default"


def test_newest_version_applies(db):
    prompts.save_override(F, T, system="", user="v1 {text}")
    assert prompts.save_override(F, T, system="", user="v2 {text}") == 2
    view = prompts.current(F, T)
    assert (view.version, view.user) == (2, "v2 {text}")


def test_reset_falls_through_to_the_next_level(db):
    prompts.save_override(F, T, system="", user="admin {text}")
    prompts.save_override(F, T, system="", user="acme {text}", project="acme")

    assert prompts.reset(F, T, project="acme") == 2
    view = prompts.current(F, T, project="acme")
    assert (view.source, view.user, view.version) == ("admin", "admin {text}", 1)

    assert prompts.reset(F, T) == 2
    assert prompts.current(F, T, project="acme").source == "default"
    assert prompts.current(F, T).user == "{text}"

    # Saving after a reset applies again.
    assert prompts.save_override(F, T, system="", user="acme again {text}", project="acme") == 3
    view = prompts.current(F, T, project="acme")
    assert (view.source, view.version, view.user) == ("project", 3, "acme again {text}")


def test_reset_of_an_older_version_does_not_hide_a_newer_save(db):
    prompts.save_override(F, T, system="", user="one {text}")
    prompts.reset(F, T)
    prompts.save_override(F, T, system="", user="three {text}")
    assert prompts.current(F, T).user == "three {text}"


def test_history_is_newest_first_and_kept_per_level(db, make_user):
    admin = make_user("admin@example.com", role="admin")
    prompts.save_override(F, T, system="s1", user="u1 {text}", user_id=admin.id)
    prompts.save_override(F, T, system="s2", user="u2 {text}")
    prompts.reset(F, T, user_id=admin.id)
    prompts.save_override(F, T, system="p", user="p {text}", project="acme")

    rows = prompts.history(F, T)
    assert [(r.version, r.user, r.is_reset, r.created_by) for r in rows] == [
        (3, "", True, admin.id), (2, "u2 {text}", False, None), (1, "u1 {text}", False, admin.id),
    ]
    assert rows[0].created_at >= rows[1].created_at >= rows[2].created_at
    assert rows[1].system == "s2"
    assert [r.version for r in prompts.history(F, T, project="acme")] == [1]
    assert prompts.history("general", "summarize") == []


def test_project_names_are_trimmed_and_limited(db):
    prompts.save_override(F, T, system="", user="x {text}", project="  acme ")
    assert prompts.current(F, T, project="acme").source == "project"
    with pytest.raises(ValidationError, match="at most 120"):
        prompts.save_override(F, T, system="", user="{text}", project="p" * 121)


@pytest.mark.parametrize(
    ("system", "user", "message"),
    [
        ("", "Hello {name}", r"User prompt uses unknown variable\(s\) \{name\}; allowed: \{text\}"),
        ("{who} {when}", "{text}", r"System prompt uses unknown variable\(s\) \{when\}, \{who\}; allowed: \{text\}"),
        ("", "{unclosed", r"User prompt has an unmatched '\{' or '\}'"),
        ("stray } brace", "{text}", r"System prompt has an unmatched"),
        ("", "{text.upper}", r"\{text\.upper\} is not allowed.*without '\.' or '\[\.\.\.\]'"),
        ("", "{text[0]}", r"\{text\[0\]\} is not allowed"),
        ("", "{text!r}", r"\{text!r\} is not allowed: conversions"),
        ("", "{text:>10}", r"\{text:>10\} is not allowed.*format specs"),
        ("", "{text:{text}}", r"format specs"),
        ("", "{}", r"\{\} is not a variable name"),
        ("", "{0}", r"\{0\} is not a variable name"),
        ("", "   ", r"The user prompt cannot be empty"),
    ],
)
def test_invalid_overrides_are_refused_and_nothing_is_stored(db, system, user, message):
    with pytest.raises(ValidationError, match=message):
        prompts.save_override(F, T, system=system, user=user)
    assert prompts.history(F, T) == []


def test_unknown_variable_message_when_the_prompt_takes_none(db, registry):
    prompts.register_default("test", "fixed", system="", user="Tell a joke.", variables=())
    with pytest.raises(ValidationError, match=r"\{topic\}; allowed: none"):
        prompts.save_override("test", "fixed", system="", user="Joke about {topic}")


def test_overrides_of_unknown_pairs_are_refused(db):
    with pytest.raises(ValidationError, match="'nope'"):
        prompts.save_override("nope", "x", system="", user="hi")
    with pytest.raises(ValidationError, match="'nope'"):
        prompts.reset("nope", "x")


def test_render_fills_the_applicable_template(db, registry):
    rendered = prompts.render("test", "greet", {"name": "Ada", "topic": "engines"})
    assert rendered == prompts.RenderedPrompt("You greet Ada.", "Say hello to Ada about engines.", "default", 0)

    prompts.save_override("test", "greet", system="", user="{topic} for {name}", project="acme")
    rendered = prompts.render("test", "greet", {"name": "Ada", "topic": "engines", "extra": 1}, project="acme")
    assert rendered == prompts.RenderedPrompt("", "engines for Ada", "project", 1)


def test_render_inserts_values_verbatim(db, registry):
    value = "{topic} {{name}} {0} {name.__class__} }{"
    rendered = prompts.render("test", "greet", {"name": value, "topic": 42})
    assert rendered.user == f"Say hello to {value} about 42."


def test_literal_braces_render_as_single_braces(db):
    prompts.save_override(F, T, system='Reply as JSON like {{"answer": ...}}', user="{text}")
    assert prompts.render(F, T, {"text": "q"}).system == 'Reply as JSON like {"answer": ...}'


def test_missing_variables_name_each_one_and_the_template(db, registry):
    with pytest.raises(prompts.PromptRenderError) as info:
        prompts.render("test", "greet", {"other": "x"})
    message = str(info.value)
    assert "name" in message and "topic" in message and "test/greet (default)" in message
    assert isinstance(info.value, ValueError)

    prompts.save_override(F, T, system="", user="{text}", project="acme")
    with pytest.raises(prompts.PromptRenderError, match=r"general/complete \(project 'acme' override v1\).*text"):
        prompts.render(F, T, {}, project="acme")


def test_render_makes_one_query(db):
    prompts.save_override(F, T, system="", user="admin {text}")
    prompts.save_override(F, T, system="", user="acme {text}", project="acme")
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith("PRAGMA"):
            statements.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert prompts.render(F, T, {"text": "hi"}, project="acme").user == "acme hi"
        assert len(statements) == 1
        assert prompts.render(F, T, {"text": "hi"}, project="other").user == "admin hi"
        assert len(statements) == 2
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_concurrent_saves_get_distinct_versions(db):
    savers = 8
    barrier = threading.Barrier(savers)
    versions: list[int] = []
    errors: list[BaseException] = []

    def save(n: int) -> None:
        try:
            barrier.wait()
            versions.append(prompts.save_override(F, T, system="", user=f"{n} {{text}}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(n,)) for n in range(savers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(versions) == list(range(1, savers + 1))
    assert [r.version for r in prompts.history(F, T)] == list(range(savers, 0, -1))


def test_a_save_that_loses_the_race_retries_with_the_next_number(db, monkeypatch):
    prompts.save_override(F, T, system="", user="first {text}")
    real = prompts._latest_version
    calls = []

    def stale_once(*args):
        calls.append(args)
        return 0 if len(calls) == 1 else real(*args)  # as if read before the other save

    monkeypatch.setattr(prompts, "_latest_version", stale_once)
    assert prompts.save_override(F, T, system="", user="second {text}") == 2
    assert [r.user for r in prompts.history(F, T)] == ["second {text}", "first {text}"]


def test_other_integrity_errors_are_not_retried(db):
    with pytest.raises(IntegrityError):
        prompts.save_override(F, T, system="", user="{text}", user_id=987654)
    assert prompts.history(F, T) == []
