"""JQL built from the user's saved filter, without ever pasting untrusted text into it raw.

The board narrows the user's own filter (a sync window, a set of keys, a search box) by wrapping
its WHERE part in parentheses and appending a clause; the ORDER BY part has to stay last, so it is
split off first, outside quoted strings and parentheses. Every value that comes from elsewhere is
either validated (issue keys) or written as a quoted JQL string literal (`quote`). A key the user
typed goes through `checked_key`, whose refusal is a message for the form.

Times are relative ("-15m") on purpose: JIRA reads absolute dates in the user's JIRA time zone,
which the app does not know.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from services.auth.errors import ValidationError

DEFAULT_FILTER = "assignee = currentUser() AND statusCategory != Done ORDER BY updated DESC"
MAX_LENGTH = 4000

_TOKENS = re.compile(
    r"""(?P<string>"(?:[^"\\]|\\.)*+(?:"|\\?\Z)|'(?:[^'\\]|\\.)*+(?:'|\\?\Z))"""
    r"|(?P<open>\()|(?P<close>\))"
    r"|(?P<order>(?<![\w.])order\s+by\b)",
    re.IGNORECASE | re.DOTALL)
_ORDER_CLAUSE = re.compile(r"order\s+by\b", re.IGNORECASE)
_KEY = re.compile(r"[A-Z][A-Z0-9_]+-\d+")
_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# What JQL's grammar refuses raw inside a string: control characters and the non-characters.
_NEEDS_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff]')
# Characters the text search (Lucene) treats as syntax; JIRA wants them escaped with a backslash.
_TEXT_SEARCH_SYNTAX = re.compile(r'[+\-&|!(){}\[\]^~*?\\:"]')


def split_order_by(jql: str) -> tuple[str, str]:
    """The WHERE part and the "ORDER BY ..." part ("" when there is none), both stripped."""
    depth = 0
    for token in _TOKENS.finditer(jql):
        kind = token.lastgroup
        if kind == "open":
            depth += 1
        elif kind == "close":
            depth = max(depth - 1, 0)
        elif kind == "order" and depth == 0:
            return jql[:token.start()].strip(), jql[token.start():].strip()
    return jql.strip(), ""


def updated_since(jql: str, minutes: int) -> str:
    """The filter narrowed to tickets updated in the last `minutes`."""
    if minutes < 1:
        raise ValueError(f"minutes must be at least 1, got {minutes}")
    return _narrow(jql, f'updated >= "-{minutes}m"')


def with_keys(keys: Iterable[str], order_by: str = "") -> str:
    """`key in (A-1, B-2)`, each key checked so that nothing else can ride along."""
    unique = list(dict.fromkeys(keys))
    if not unique:
        raise ValueError("no issue keys given")
    bad = [key for key in unique if not _KEY.fullmatch(key)]
    if bad:
        raise ValueError(f"not JIRA issue keys: {', '.join(map(repr, bad))}")
    if order_by.strip() and not _ORDER_CLAUSE.match(order_by.strip()):
        raise ValueError(f"not an ORDER BY clause: {order_by!r}")
    return _join(f"key in ({', '.join(unique)})", order_by.strip())


def in_projects(keys: Iterable[str]) -> str:
    """`project in ("A", "B")` for the projects of these issue keys (each key checked)."""
    projects = list(dict.fromkeys(key.rsplit("-", 1)[0] for key in keys if _KEY.fullmatch(key)))
    if not projects:
        raise ValueError("no issue keys given")
    return f"project in ({', '.join(quote(project) for project in projects)})"


def checked_key(key: str) -> str:
    """A key the user typed or a URL carried, stripped and upper-cased."""
    normalised = key.strip().upper()
    if not _KEY.fullmatch(normalised):
        raise ValidationError(f"{key!r} is not a JIRA issue key such as ABC-123.")
    return normalised


def quote(text: str) -> str:
    """`text` as a JQL string literal, escaped the way JIRA's own JQL writer escapes it."""
    return '"' + _NEEDS_ESCAPE.sub(_escape_character, text) + '"'


def text_filter(jql: str, term: str) -> str:
    """The filter narrowed to tickets whose text contains `term`, searched as plain words: JIRA's
    search syntax characters in it are escaped. A blank term narrows nothing."""
    if not term.strip():
        return jql.strip()
    searched = _TEXT_SEARCH_SYNTAX.sub(lambda found: "\\" + found[0], term.strip())
    return _narrow(jql, f"text ~ {quote(searched)}")


def check_length(jql: str) -> str:
    """The stripped query; ValueError, in words for the filter form, when it is empty or longer
    than MAX_LENGTH."""
    stripped = jql.strip()
    if not stripped:
        raise ValueError("The JQL query is empty.")
    if len(stripped) > MAX_LENGTH:
        raise ValueError(f"The JQL query has {len(stripped)} characters; at most {MAX_LENGTH} are allowed.")
    return stripped


def _narrow(jql: str, clause: str) -> str:
    where, order_by = split_order_by(jql)
    return _join(f"({where}) AND {clause}" if where else clause, order_by)


def _join(where: str, order_by: str) -> str:
    return f"{where} {order_by}" if order_by else where


def _escape_character(found: re.Match[str]) -> str:
    character = found[0]
    return _STRING_ESCAPES.get(character) or f"\\u{ord(character):04x}"
