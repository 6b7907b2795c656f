"""JQL built from a saved filter: ORDER BY split outside strings and parentheses, narrowing that
keeps the filter's own precedence and order, and values that cannot break out of their place."""

from __future__ import annotations

import re

import pytest

from services.auth.errors import ValidationError
from services.jira import jql
from services.jira.jql import DEFAULT_FILTER

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'", " ": " "}


def decode_jql_string(literal: str) -> str:
    """The value of a double-quoted JQL string literal, the way JIRA's JQL lexer reads it. Fails on
    a literal that ends before its last character (an unescaped quote inside)."""
    body = re.fullmatch(r'"((?:[^"\\]|\\u[0-9a-fA-F]{4}|\\[nrt\\"\' ])*)"', literal)
    assert body, f"not one JQL string literal: {literal!r}"
    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)",
                  lambda found: chr(int(found[1][1:], 16)) if len(found[1]) == 5 else _ESCAPES[found[1]], body[1])


@pytest.mark.parametrize(("query", "where", "order_by"), [
    ("project = A ORDER BY updated DESC", "project = A", "ORDER BY updated DESC"),
    ("project = A order by rank", "project = A", "order by rank"),
    ("project = A\nOrder\n  By created ASC, key", "project = A", "Order\n  By created ASC, key"),
    ("project = A", "project = A", ""),
    ("  ORDER BY created  ", "", "ORDER BY created"),
    ("", "", ""),
    ('summary ~ "order by" ORDER BY key', 'summary ~ "order by"', "ORDER BY key"),
    ("summary ~ 'sort order by hand'", "summary ~ 'sort order by hand'", ""),
    (r'summary ~ "say \"order by\" now"', r'summary ~ "say \"order by\" now"', ""),
    (r"summary ~ 'it\'s order by x' ORDER BY key", r"summary ~ 'it\'s order by x'", "ORDER BY key"),
    ('summary ~ "C:\\\\" order by key', 'summary ~ "C:\\\\"', "order by key"),
    ("issue in linkedIssues(ABC-1) AND (labels = x order by y) ORDER BY rank",
     "issue in linkedIssues(ABC-1) AND (labels = x order by y)", "ORDER BY rank"),
    ("labels = preorder by", "labels = preorder by", ""),
    ('summary ~ "unterminated order by x', 'summary ~ "unterminated order by x', ""),
    ('summary ~ "ends in a backslash\\', 'summary ~ "ends in a backslash\\', ""),
    ("project = A) ORDER BY key", "project = A)", "ORDER BY key"),  # a stray ")" does not hide the clause
])
def test_split_order_by(query, where, order_by):
    assert jql.split_order_by(query) == (where, order_by)


@pytest.mark.parametrize(("query", "minutes", "expected"), [
    (DEFAULT_FILTER, 15,
     '(assignee = currentUser() AND statusCategory != Done) AND updated >= "-15m" ORDER BY updated DESC'),
    ("project = A OR project = B", 10, '(project = A OR project = B) AND updated >= "-10m"'),
    ("ORDER BY key", 5, 'updated >= "-5m" ORDER BY key'),
    ("   ", 60, 'updated >= "-60m"'),
    ('summary ~ "order by"', 1, '(summary ~ "order by") AND updated >= "-1m"'),
])
def test_updated_since_narrows_with_a_relative_time_and_keeps_the_order(query, minutes, expected):
    assert jql.updated_since(query, minutes) == expected


@pytest.mark.parametrize("minutes", [0, -5])
def test_updated_since_refuses_an_empty_window(minutes):
    with pytest.raises(ValueError, match="minutes"):
        jql.updated_since(DEFAULT_FILTER, minutes)


@pytest.mark.parametrize(("keys", "order_by", "expected"), [
    (["ABC-1", "X2_Y-30"], "", "key in (ABC-1, X2_Y-30)"),
    (("ABC-1", "ABC-1", "DEF-2"), "", "key in (ABC-1, DEF-2)"),
    (iter(["ABC-1"]), " ORDER BY updated DESC ", "key in (ABC-1) ORDER BY updated DESC"),
    (["ABC-1"], "order by rank", "key in (ABC-1) order by rank"),
])
def test_with_keys(keys, order_by, expected):
    assert jql.with_keys(keys, order_by) == expected


@pytest.mark.parametrize("keys", [
    [],
    ["abc-1"],
    ["A-1"],  # project keys have at least two characters
    ["ABC-"],
    ["ABC-1 "],
    ["ABC-1\n"],
    ["ABC-1) OR project = SECRET OR key in (ABC-2"],
    ["ABC-1, DEF-2"],
    ["ABC-1", 'DEF-2" OR "x'],
    "ABC-1",  # a bare string is a sequence of characters, not of keys
])
def test_with_keys_refuses_anything_but_issue_keys(keys):
    with pytest.raises(ValueError):
        jql.with_keys(keys)


def test_in_projects_names_each_project_once_and_ignores_what_is_not_a_key():
    assert jql.in_projects(["ABC-1", "XY_2-30", "ABC-7", "ABC-1) OR project = SECRET"]) == 'project in ("ABC", "XY_2")'
    with pytest.raises(ValueError):
        jql.in_projects(["nope", ""])


@pytest.mark.parametrize(("typed", "key"), [("ABC-123", "ABC-123"), (" abc-7\n", "ABC-7"), ("x2_y-30", "X2_Y-30")])
def test_checked_key_normalises_what_the_user_typed(typed, key):
    assert jql.checked_key(typed) == key


@pytest.mark.parametrize("typed", ["", "   ", "ABC", "ABC-", "A-1", "ABC 1", "ABC-1 OR project = SECRET", "ABC-1)",
                                   "https://jira.example.com/browse/ABC-1"])
def test_checked_key_refuses_with_a_message_for_the_form(typed):
    with pytest.raises(ValidationError, match="is not a JIRA issue key"):
        jql.checked_key(typed)


@pytest.mark.parametrize("order_by", ["OR project = SECRET", "AND key = X-1", ") OR (project = SECRET"])
def test_with_keys_refuses_an_order_by_that_is_not_one(order_by):
    with pytest.raises(ValueError, match="ORDER BY"):
        jql.with_keys(["ABC-1"], order_by)


@pytest.mark.parametrize(("text", "literal"), [
    ("login page", '"login page"'),
    ("", '""'),
    ('say "hi"', r'"say \"hi\""'),
    ("C:\\temp\\", r'"C:\\temp\\"'),
    ("it's", '"it\'s"'),
    ("two\nlines\r\twith tab", r'"two\nlines\r\twith tab"'),
    ("bell\x07 del\x7f c1\x85 nonchar\ufdd0\uffff", r'"bell\u0007 del\u007f c1\u0085 nonchar\ufdd0\uffff"'),
    ("émoji 🎉 stay", '"émoji 🎉 stay"'),
])
def test_quote_escapes_like_jiras_jql_writer(text, literal):
    assert jql.quote(text) == literal
    assert decode_jql_string(literal) == text


@pytest.mark.parametrize("attack", [
    '" OR project = SECRET OR summary ~ "',
    '\\" OR project = SECRET OR summary ~ \\"',
    '\\',
    '"""',
    '\\\\"',
    '\n" ORDER BY key',
])
def test_quoted_text_stays_one_string(attack):
    assert decode_jql_string(jql.quote(attack)) == attack
    assert jql.split_order_by(f"summary ~ {jql.quote(attack)}") == (f"summary ~ {jql.quote(attack)}", "")


@pytest.mark.parametrize(("query", "term", "expected"), [
    (DEFAULT_FILTER, " login page ",
     '(assignee = currentUser() AND statusCategory != Done) AND text ~ "login page" ORDER BY updated DESC'),
    ("project = A OR project = B", "crash", '(project = A OR project = B) AND text ~ "crash"'),
    ("ORDER BY key", "crash", 'text ~ "crash" ORDER BY key'),
    ("project = A", "C++", r'(project = A) AND text ~ "C\\+\\+"'),
    ("project = A", 'the "quoted" word', r'(project = A) AND text ~ "the \\\"quoted\\\" word"'),
])
def test_text_filter(query, term, expected):
    assert jql.text_filter(query, term) == expected


@pytest.mark.parametrize("character", list("+-&|!(){}[]^~*?\\:\""))
def test_text_filter_escapes_every_search_syntax_character(character):
    narrowed = jql.text_filter("", f"a{character}b")
    literal = narrowed.removeprefix("text ~ ")
    # Inside the JQL string the character is preceded by an escaped backslash ("\\"), which JIRA's
    # search reads as "take the next character literally".
    assert decode_jql_string(literal) == f"a\\{character}b"


@pytest.mark.parametrize("attack", [
    '") OR project = SECRET OR text ~ ("',
    '\\") OR project = SECRET ORDER BY key',
    "x ORDER BY created",
])
def test_text_filter_keeps_an_injection_attempt_inside_the_search_string(attack):
    narrowed = jql.text_filter("project = A ORDER BY key", attack)
    where, order_by = jql.split_order_by(narrowed)
    assert order_by == "ORDER BY key"
    literal = where.removeprefix("(project = A) AND text ~ ")
    assert "SECRET" not in where.replace(literal, "")
    assert decode_jql_string(literal).replace("\\", "") == attack.replace("\\", "")


@pytest.mark.parametrize("term", ["", "   ", "\n\t"])
def test_a_blank_search_narrows_nothing(term):
    assert jql.text_filter(f" {DEFAULT_FILTER} ", term) == DEFAULT_FILTER


def test_narrowing_twice_keeps_one_order_by_at_the_end():
    narrowed = jql.updated_since(jql.text_filter(DEFAULT_FILTER, "crash"), 30)
    assert narrowed == ('((assignee = currentUser() AND statusCategory != Done) AND text ~ "crash") '
                        'AND updated >= "-30m" ORDER BY updated DESC')


@pytest.mark.parametrize(("query", "expected"), [
    ("  project = A \n", "project = A"),
    ("x" * jql.MAX_LENGTH, "x" * jql.MAX_LENGTH),
    ("  " + "x" * jql.MAX_LENGTH + "\n", "x" * jql.MAX_LENGTH),  # surrounding blanks do not count
])
def test_check_length_accepts(query, expected):
    assert jql.check_length(query) == expected


@pytest.mark.parametrize(("query", "message"), [
    ("", "empty"),
    (" \n\t ", "empty"),
    ("x" * (jql.MAX_LENGTH + 1), "4001 characters"),
])
def test_check_length_refuses(query, message):
    with pytest.raises(ValueError, match=message):
        jql.check_length(query)


def test_default_filter_is_the_users_open_work_newest_first():
    assert jql.split_order_by(DEFAULT_FILTER) == ("assignee = currentUser() AND statusCategory != Done",
                                                  "ORDER BY updated DESC")
    assert jql.check_length(DEFAULT_FILTER) == DEFAULT_FILTER
