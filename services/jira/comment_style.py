"""The user's JIRA comment style, learned from their own past comments (JIRA wiki markup), turned
into a small table for the board and an instruction block for the drafting prompt.

Prose and markup are measured apart. Markup habits ({code} blocks, lists, mentions, links, ...) are
counted as the share of comments using them. The prose is what is left once code blocks, quoted
text ({quote} blocks, "bq. " lines) and markup are taken out; it goes through the e-mail style
learner (`services.inbox.style`), which already knows lengths, greetings, sign-offs and formality,
so both learners judge tone the same way. JIRA mentions reach it as "@someone", so "Hi [~anna],"
is a greeting with a name and a comment that opens with a mention is addressed to someone; smileys
such as :) reach it as emoji, a casual signal, while icons such as (/) and (x) are left out.

Like the e-mail profile, this one keeps counters and never texts. Each comment is cut to
MAX_CHARS first, so a pasted log cannot make learning slow.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from services.inbox import style
from services.inbox.needs_reply import own_text
from services.inbox.style import StyleProfile

MAX_CHARS = 20_000
USE_AT = 0.1  # markup used in at least this share of comments is a habit the drafts copy
MENTION_STAND_IN = "@someone"
OPENINGS = {"mention": "mentions someone", "greeting": "greeting", "direct": "straight to the point"}


@dataclass(frozen=True)
class _Feature:
    label: str  # in the summary table
    advice: str  # in the drafting prompt, when it is a habit


STRUCTURE = {
    "bullets": _Feature("bullet lists", 'Use "* " bullet lists for several points.'),
    "numbered": _Feature("numbered lists", 'Use "# " numbered lists for steps.'),
    "heading": _Feature("h1.-h6. headings", 'Use headings ("h3. Title") to structure longer comments.'),
}
MARKUP = {
    "code": _Feature("{code}/{noformat}", "Put code, commands and logs in {code} blocks."),
    "quote": _Feature("{quote}", "Quote what you answer in a {quote} block."),
    "bold": _Feature("*bold*", "Use *bold* for emphasis."),
    "italic": _Feature("_italic_", "Use _italic_ for emphasis."),
    "mention": _Feature("mentions", "Mention the people concerned."),
    "link": _Feature("[text|link] links", "Write links as [text|url]."),
    "table": _Feature("|| tables", "Use ||heading|| tables for tabular data."),
    "emoticon": _Feature("emoticons", "JIRA emoticons such as (/) (x) (!) :) are fine where they fit."),
}

_CODE = re.compile(r"\{(code|noformat)(?::[^{}\n]*)?\}.*?(?:\{\1\}|\Z)", re.DOTALL)
_QUOTE = re.compile(r"\{quote\}.*?(?:\{quote\}|\Z)|^[ \t]*bq\.[ \t][^\n]*", re.DOTALL | re.MULTILINE)
_MENTION = re.compile(r"\[~[^\[\]\n|]+\]")  # [~name] on Server, [~accountid:...] on Cloud
_LINK = re.compile(r"\[(?!~)([^\[\]\n|]*)\|[^\[\]\n]+\]|\[(?:https?|ftp|mailto|file):[^\[\]\s]*\]")
_SMILEYS = {":)": "🙂", ":(": "🙁", ":P": "😛", ":D": "😀", ";)": "😉", "(y)": "👍", "(n)": "👎"}
_EMOTICON = re.compile(r"(?<!\w)(?::\)|:\(|:P(?!\w)|:D(?!\w)|;\)"
                       r"|\((?:y|n|i|/|x|!|\+|-|\?|on|off|\*[rgby]?|flag|flagoff)\))")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+)(?<=\S)_(?![\w_])")
_PATTERNS = {
    "bullets": re.compile(r"^[ \t]*(?:\*+|-)[ \t]+\S", re.MULTILINE),
    "numbered": re.compile(r"^[ \t]*#+[ \t]+\S", re.MULTILINE),
    "heading": re.compile(r"^[ \t]*h[1-6]\.[ \t]", re.MULTILINE),
    "bold": _BOLD,
    "italic": _ITALIC,
    "mention": _MENTION,
    "link": _LINK,
    "table": re.compile(r"^[ \t]*\|[^\n]*\|[ \t]*$", re.MULTILINE),
    "emoticon": _EMOTICON,
}
_BARE_URL = re.compile(r"(?:https?|ftp)://\S+")
_MONOSPACE = re.compile(r"\{\{([^{}\n]+)\}\}")
_MACRO_TAG = re.compile(r"\{[a-z]+(?::[^{}\n]*)?\}")  # {color:red}, {panel}, ... around prose
_HEADING_MARK = re.compile(r"^[ \t]*h[1-6]\.[ \t]*", re.MULTILINE)
_LIST_MARK = re.compile(r"^[ \t]*[*#-]+[ \t]+", re.MULTILINE)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


@dataclass
class CommentStyle:
    comments: int = 0
    uses: dict[str, int] = field(default_factory=dict)  # STRUCTURE/MARKUP key -> comments using it
    prose: StyleProfile = field(default_factory=StyleProfile)  # of the comments with any prose
    paragraphs: int = 0  # blocks of prose between blank lines or code, greeting and sign-off included
    mention_openings: int = 0  # comments with prose that open with a mention


@dataclass(frozen=True)
class _Reading:
    uses: frozenset[str]
    prose: str  # "" for a comment of only code, quotes or markup


def add(profile: CommentStyle, text: str) -> CommentStyle:
    """A new profile that has also seen `text` (one comment); `profile` is left as it was."""
    updated = copy.deepcopy(profile)
    _record(updated, text)
    return updated


def build(texts: Iterable[str]) -> CommentStyle:
    profile = CommentStyle()
    for text in texts:
        _record(profile, text)
    return profile


def to_json(profile: CommentStyle) -> str:
    return json.dumps(asdict(profile), ensure_ascii=False, sort_keys=True)


def from_json(text: str | None) -> CommentStyle:
    """A profile from `to_json` output; keys it lacks (older formats) get their defaults and keys
    it does not know are dropped."""
    data = json.loads(text) if text and text.strip() else {}
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object for CommentStyle, got {type(data).__name__}")
    known = {spec.name for spec in fields(CommentStyle)} - {"prose"}
    values: dict[str, Any] = {name: value for name, value in data.items() if name in known and value is not None}
    # The e-mail learner's own loader keeps its tolerance for old and unknown keys.
    return CommentStyle(**values, prose=style.from_json(json.dumps(data.get("prose") or {})))


def summary(profile: CommentStyle) -> list[tuple[str, str]]:
    """(label, value) rows for the style table on the board."""
    rows = [("Comments learned", str(profile.comments))]
    if not profile.comments:
        return rows
    figures = style.summary(profile.prose)
    if profile.prose.messages:
        low, high = figures["length_range"]
        rows += [("Typical length", f"{figures['typical_length_words']} words (usually {low}-{high})"),
                 ("Tone", figures["formality"][0])]
    structure = ", ".join(f"{feature.label} {_share(profile, key):.0%}" for key, feature in STRUCTURE.items())
    rows.append(("Structure", f"{_paragraphs_per_comment(profile):.1f} paragraphs; {structure}"))
    used = sorted(((_share(profile, key), feature.label) for key, feature in MARKUP.items()
                   if profile.uses.get(key)), key=lambda item: -item[0])
    rows.append(("Markup", ", ".join(f"{label} {share:.0%}" for share, label in used) or "none"))
    if profile.prose.messages:
        openings = sorted(_opening_shares(profile).items(), key=lambda item: -item[1])
        rows.append(("Opening", ", ".join(f"{OPENINGS[kind]} {share:.0%}" for kind, share in openings if share)))
        rows.append(("Sign-off", ", ".join(f"{_quoted(text)} {share:.0%}" for text, share in figures["sign_offs"])))
    return rows


def describe(profile: CommentStyle) -> str:
    """The style instructions for drafting a JIRA comment."""
    if not profile.comments:
        return ("Write like this user: no JIRA comments of theirs learned yet, so be concise and go straight to "
                "the point, without a greeting or a sign-off.\n"
                'Use JIRA wiki markup, not Markdown: {code} blocks for code and logs, "* " for bullet lists, '
                "*bold* for emphasis.")
    lines = [f"Write like this user (learned from {profile.comments} of their JIRA comments):"]
    if profile.prose.messages:
        lines += [f"- {line}" for line in _prose_lines(profile)]
    lines.append("Use JIRA wiki markup, not Markdown:")
    habits = [feature.advice for key, feature in (STRUCTURE | MARKUP).items() if _share(profile, key) >= USE_AT]
    lines += [f"- {advice}" for advice in habits] or ["- Plain paragraphs; markup only where it clearly helps."]
    return "\n".join(lines)


def _record(profile: CommentStyle, text: str) -> None:
    if not text.strip():
        return
    reading = _read(text)
    profile.comments += 1
    for key in reading.uses:
        profile.uses[key] = profile.uses.get(key, 0) + 1
    prose = reading.prose.strip()
    if not prose:
        return
    profile.prose = style.add(profile.prose, prose)
    profile.paragraphs += sum(1 for block in _PARAGRAPH_BREAK.split(prose) if block.strip())
    profile.mention_openings += prose.startswith(MENTION_STAND_IN)


def _read(text: str) -> _Reading:
    """Markup used in one comment, and its prose. Code and quotes count as markup but are not
    searched for more, nor is a pasted e-mail reply or a signature: that is not the user's habit."""
    markup = text[:MAX_CHARS].replace("\r\n", "\n").replace("\r", "\n")
    uses: set[str] = set()
    for key, block in (("code", _CODE), ("quote", _QUOTE)):
        markup, found = block.subn("\n\n", markup)
        if found:
            uses.add(key)
    markup = own_text(markup)
    uses.update(key for key, pattern in _PATTERNS.items() if pattern.search(markup))
    return _Reading(uses=frozenset(uses), prose=_prose(markup))


def _prose(markup: str) -> str:
    text = _MENTION.sub(MENTION_STAND_IN, markup)
    text = _LINK.sub(lambda link: link[1] or "", text)
    text = _BARE_URL.sub("", text)
    text = _EMOTICON.sub(lambda found: _SMILEYS.get(found[0], ""), text)
    text = _MACRO_TAG.sub("", _MONOSPACE.sub(r"\1", text))
    text = _HEADING_MARK.sub("", text)
    text = _LIST_MARK.sub("- ", text)
    text = _ITALIC.sub(r"\1", _BOLD.sub(r"\1", text))
    return text.replace("|", " ")


def _prose_lines(profile: CommentStyle) -> list[str]:
    figures = style.summary(profile.prose)
    low, high = figures["length_range"]
    paragraphs = _paragraphs_per_comment(profile)
    return [
        f"Length: keep to about {figures['typical_length_words']} words (they usually write {low}-{high}).",
        "Paragraphs: usually one." if paragraphs < 1.5 else f"Paragraphs: about {round(paragraphs)}.",
        f"Tone: {figures['formality'][0]}.",
        f"Opening: {_opening_advice(profile, figures)}.",
        f"Sign-off: {_quoted(figures['sign_offs'][0][0])}.",
    ]


def _opening_advice(profile: CommentStyle, figures: dict[str, Any]) -> str:
    shares = _opening_shares(profile)
    habit = max(shares, key=shares.__getitem__)
    if habit == "mention":
        return "start by mentioning the person addressed"
    if habit == "greeting":
        greeting = next(text for text, _ in figures["greetings"] if text != style.NONE)
        named = ", {name} being the first name of the person addressed" if "{name}" in greeting else ""
        return f"a greeting such as '{greeting}'{named}"
    return "straight to the point, no greeting"


def _opening_shares(profile: CommentStyle) -> dict[str, float]:
    """Mention first, greeting, or neither; the first two never overlap, as a greeting opens with
    a greeting word and a mention opening with the mention."""
    count = profile.prose.messages
    greeted = count - profile.prose.greetings.get(style.NONE, 0)
    return {"mention": profile.mention_openings / count, "greeting": greeted / count,
            "direct": (count - greeted - profile.mention_openings) / count}


def _paragraphs_per_comment(profile: CommentStyle) -> float:
    return profile.paragraphs / profile.prose.messages if profile.prose.messages else 0.0


def _share(profile: CommentStyle, key: str) -> float:
    return profile.uses.get(key, 0) / profile.comments if profile.comments else 0.0


def _quoted(text: str) -> str:
    return "none" if text == style.NONE else f"'{text}'"
