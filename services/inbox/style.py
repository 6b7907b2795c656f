""""Your style": how the user writes, learned from their own sent messages and from how
they edit AI drafts before sending, turned into an instruction block for the drafting prompt.

A profile keeps counters rather than texts, so it grows one message at a time (`add`) and
stays small in the database (`to_json`); it is kept per mail account and per Slack channel
because people write differently in each. Only what the user wrote counts: quoted replies
and signatures are left out (`needs_reply.own_text`). The user's edits on the card
(`StyleOverrides`) win over anything learned.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

from services.inbox.needs_reply import is_question, own_text, sentences

NONE = "(none)"  # key of "no greeting" / "no sign-off" in the counters
MAX_LENGTHS = 200  # recent message lengths kept for the median and quartiles
MAX_KEYS = 50  # distinct greetings, sign-offs, emoji kept; the rarest, least recent go first
MAX_PHRASES = 100  # distinct deleted sentences remembered while waiting for a repeat
EDIT_EMA = 0.3  # weight of the newest edit in the length ratio
MIN_LESSON = 2  # an edit becomes a lesson once it happened this often
FORMAL_AT, CASUAL_AT = 0.65, 0.35
MAX_FORMAL_PER_MESSAGE = 2  # a letter full of formulas is not more formal than one with two

_GREETING = re.compile(
    r"(?P<word>(?i:hi|hello|hey|heya|hiya|dear|good (?:morning|afternoon|evening)|morning|greetings))"
    r"(?P<rest>(?:[ \t]+(?:(?i:mr|mrs|ms|dr|prof)\.|[^\s,!.:;?]+)){0,3}?)"
    r"(?:[ \t]*(?P<punct>[,!.:;]+)|[ \t]*$)", re.MULTILINE)
_GROUP_WORDS = frozenset({"all", "everyone", "everybody", "team", "folks", "guys", "there", "both",
                          "you", "y'all", "again", "people", "friends", "colleagues", "sir", "madam"})
_SIGN_OFF = re.compile(
    r"(?P<phrase>(?i:(?:many |a lot of )?thanks(?: again| so much| a lot| in advance)?"
    r"|thank you(?: so much| again| in advance)?|thx|cheers|best(?: regards| wishes)?|kind regards"
    r"|warm(?:est)? regards|regards|all the best|(?:yours )?sincerely|yours truly|talk soon|speak soon"
    r"|see you(?: soon| tomorrow)?|ttyl)(?P<punct>[,!.]*))"
    r"(?:[ \t]+[A-Z][\w.'-]*(?:[ \t]+[A-Z][\w.'-]*){0,2})?[ \t]*$")
_NAME_LINE = re.compile(r"[-–—~ \t]*[A-Z][\w.'-]*(?:[ \t]+[A-Z][\w.'-]*){0,2}[ \t]*$")
_CONTRACTION = re.compile(
    r"\b(?:\w+n['’]t|(?:i|you|we|they|he|she|it|that|there|here|what|who|where|let)['’](?:s|re|ve|ll|d|m))\b",
    re.IGNORECASE)
_INFORMAL = frozenset({"hey", "yeah", "yep", "yup", "nope", "gonna", "wanna", "gotta", "kinda", "lol", "haha",
                       "btw", "cool", "awesome", "np", "thx", "pls", "plz", "ok", "okay", "omg", "tbh", "imo",
                       "guys", "folks", "cheers", "super", "yay", "ya", "cya", "ttyl"})
_FORMAL = re.compile(
    r"\b(?:dear|kind regards|best regards|warm regards|sincerely|please find|i would like to|i am writing"
    r"|further to|do not hesitate|at your earliest convenience|i look forward|we look forward"
    r"|would be grateful|please be advised|as per|with regards to|thank you for your)\b", re.IGNORECASE)
_EMOJI = re.compile(
    "[\U0001F1E6-\U0001F1FF]{2}"
    "|[\U0001F300-\U0001FAFF\u2600-\u27BF\u2B50\u2B55][\U0001F3FB-\U0001F3FF]?\uFE0F?"
    "(?:\u200D[\U0001F300-\U0001FAFF\u2600-\u27BF][\U0001F3FB-\U0001F3FF]?\uFE0F?)*"
    r"|(?<!\w):(?:[+-]1|[a-z0-9_+-]*[a-z][a-z0-9_+-]*):(?::skin-tone-[2-6]:)?")
_SKIN_TONE = re.compile(r":skin-tone-[2-6]:|\uFE0F")
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>|<!(?:here|channel|everyone)(?:\|[^>]*)?>"
                      r"|(?<![\w.])@[A-Za-z][\w.-]*")
_LENGTHS = {"short": "short, under 50 words", "medium": "medium, about 50-150 words",
            "long": "long, 150 words or more"}


@dataclass
class StyleProfile:
    """Counters over the user's sent messages, plus what their edits of AI drafts taught."""

    messages: int = 0
    lengths: list[int] = field(default_factory=list)  # body words of the last MAX_LENGTHS messages
    sentences: int = 0
    sentence_words: int = 0
    greetings: dict[str, int] = field(default_factory=dict)  # "Hi {name},", "Hey", NONE
    sign_offs: dict[str, int] = field(default_factory=dict)  # "Thanks,", "Best regards", NONE
    contractions: int = 0
    exclamations: int = 0
    lowercase_starts: int = 0
    informal_words: int = 0
    formal_phrases: int = 0  # at most MAX_FORMAL_PER_MESSAGE per message
    emoji: int = 0
    emoji_counts: dict[str, int] = field(default_factory=dict)
    mentions: int = 0
    addressed_by_name: int = 0  # messages opening with the recipient's name or a mention
    questions: int = 0
    edits: int = 0
    length_ratio: float = 1.0  # moving average of sent words / draft words
    greeting_edits: dict[str, int] = field(default_factory=dict)  # what replaced the draft's greeting
    sign_off_edits: dict[str, int] = field(default_factory=dict)
    deleted_phrases: dict[str, int] = field(default_factory=dict)  # draft sentences the user cut


@dataclass
class StyleOverrides:
    """The user's corrections on the card; an empty field means "use what was learned"."""

    greeting: str = ""
    sign_off: str = ""
    formality: str = ""  # "formal" | "neutral" | "casual" | ""
    length: str = ""  # "short" | "medium" | "long" | ""
    notes: str = ""


_Loaded = TypeVar("_Loaded", StyleProfile, StyleOverrides)


@dataclass(frozen=True)
class _Parts:
    greeting: str
    body: str
    sign_off: str
    text: str  # greeting, body and sign-off, without quotes and signature


def add(profile: StyleProfile, text: str) -> StyleProfile:
    """A new profile that has also seen `text` (one sent message)."""
    updated = copy.deepcopy(profile)
    _record(updated, text)
    return updated


def build(texts: Iterable[str]) -> StyleProfile:
    profile = StyleProfile()
    for text in texts:
        _record(profile, text)
    return profile


def learn_edit(profile: StyleProfile, draft: str, sent: str) -> StyleProfile:
    """A new profile that also knows how the user changed `draft` into `sent`. The sent
    message itself is learned separately, with `add`, like any other sent message."""
    updated = copy.deepcopy(profile)
    before, after = _split(draft), _split(sent)
    draft_words = len(_words(before.body))
    if draft_words:
        ratio = min(max(len(_words(after.body)) / draft_words, 0.2), 5.0)
        updated.length_ratio = round(ratio if not updated.edits
                                     else updated.length_ratio + EDIT_EMA * (ratio - updated.length_ratio), 4)
    updated.edits += 1
    if before.greeting != after.greeting:
        _bump(updated.greeting_edits, after.greeting, MAX_KEYS)
    if before.sign_off != after.sign_off:
        _bump(updated.sign_off_edits, after.sign_off, MAX_KEYS)
    kept = {_phrase(sentence).casefold() for sentence in sentences(after.body)}
    for sentence in sentences(before.body):
        phrase = _phrase(sentence)
        if 3 <= len(phrase.split()) <= 20 and phrase.casefold() not in kept:
            _bump(updated.deleted_phrases, phrase, MAX_PHRASES)
    return updated


def summary(profile: StyleProfile) -> dict[str, Any]:
    """The figures of the "Your style" card."""
    count = profile.messages
    score = formality_score(profile)
    return {
        "messages": count,
        "typical_length_words": _percentile(profile.lengths, 0.5),
        "length_range": (_percentile(profile.lengths, 0.25), _percentile(profile.lengths, 0.75)),
        "sentence_length_words": round(profile.sentence_words / profile.sentences, 1) if profile.sentences else 0.0,
        "greetings": _shares(profile.greetings, count),
        "sign_offs": _shares(profile.sign_offs, count),
        "formality": (_formality_label(score), score),
        "emoji_per_message": _rate(profile.emoji, count),
        "favourite_emoji": [emoji for emoji, _ in _top(profile.emoji_counts, 5)],
        "mentions_per_message": _rate(profile.mentions, count),
        "addressed_by_name": _rate(profile.addressed_by_name, count),
        "questions_per_message": _rate(profile.questions, count),
    }


def formality_score(profile: StyleProfile) -> float:
    """0 (casual) to 1 (formal), 0.56 for a message without any signal. Formal phrases ("Dear",
    "Kind regards", "please find") push up; informal words, emoji and lowercase sentence starts
    push down, contractions and "!" (common in neutral mail too) a quarter as much."""
    if not profile.messages:
        return 0.5
    casual = (profile.informal_words + profile.emoji + profile.lowercase_starts
              + 0.25 * (profile.contractions + profile.exclamations))
    balance = 0.25 + (profile.formal_phrases - casual) / profile.messages
    return round(1 / (1 + math.exp(-balance)), 2)


def describe(profile: StyleProfile, overrides: StyleOverrides | None = None) -> str:
    """The style instructions for the drafting prompt: learned figures, the user's overrides,
    lessons from their edits and their notes."""
    wish = overrides or StyleOverrides()
    facts = summary(profile)
    lines = ["Write in the user's own style."]
    if not profile.messages:
        lines.append("No sent messages to learn from yet: use a neutral, friendly tone.")
    lines.append(f"Length: {_LENGTHS[wish.length]}." if wish.length in _LENGTHS else _length_line(facts))
    if facts["sentence_length_words"]:
        lines.append(f"Sentences: about {round(facts['sentence_length_words'])} words each.")
    greeting = _habit_line("Greeting", wish.greeting, facts["greetings"], "'Hi {name},'")
    lines.append(greeting[:-1] + "; {name} is the recipient's first name." if "{name}" in greeting else greeting)
    lines.append(_habit_line("Sign-off", wish.sign_off, facts["sign_offs"], "'Thanks,'"))
    lines.append(f"Formality: {wish.formality or facts['formality'][0]}.")
    lines.append(_emoji_line(facts))
    if facts["mentions_per_message"] >= 0.1:
        lines.append(f"Mentions: about {facts['mentions_per_message']:.1f} @-mentions per message.")
    lessons = _lessons(profile, wish)
    if lessons:
        lines.append("Lessons from the user's edits of earlier drafts:")
        lines += [f"- {lesson}" for lesson in lessons]
    if wish.notes.strip():
        lines.append(f"The user's own notes: {wish.notes.strip()}")
    return "\n".join(lines)


def to_json(value: StyleProfile | StyleOverrides) -> str:
    return json.dumps(asdict(value), ensure_ascii=False, sort_keys=True)


def overrides_to_json(overrides: StyleOverrides) -> str:
    return to_json(overrides)


def from_json(text: str | None) -> StyleProfile:
    """A profile from `to_json` output; fields it lacks (older formats) get their defaults."""
    return _load(StyleProfile, text)


def overrides_from_json(text: str | None) -> StyleOverrides:
    return _load(StyleOverrides, text)


def _load(kind: type[_Loaded], text: str | None) -> _Loaded:
    data = json.loads(text) if text and text.strip() else {}
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object for {kind.__name__}, got {type(data).__name__}")
    known = {spec.name for spec in fields(kind)}
    return kind(**{name: value for name, value in data.items() if name in known and value is not None})


def _record(profile: StyleProfile, text: str) -> None:
    parts = _split(text)
    if not parts.text:
        return
    body_sentences = [sentence for sentence in sentences(parts.body) if _words(sentence)]
    profile.messages += 1
    profile.lengths = [*profile.lengths, len(_words(parts.body))][-MAX_LENGTHS:]
    profile.sentences += len(body_sentences)
    profile.sentence_words += sum(len(_words(sentence)) for sentence in body_sentences)
    _bump(profile.greetings, parts.greeting, MAX_KEYS)
    _bump(profile.sign_offs, parts.sign_off, MAX_KEYS)
    profile.contractions += len(_CONTRACTION.findall(parts.text))
    profile.exclamations += parts.text.count("!")
    profile.lowercase_starts += sum(sentence[0].islower() for sentence in sentences(parts.text))
    profile.informal_words += sum(word.strip(".,!?;:'\"()").lower() in _INFORMAL for word in parts.text.split())
    profile.formal_phrases += min(len(_FORMAL.findall(parts.text)), MAX_FORMAL_PER_MESSAGE)
    for emoji in filter(None, (_SKIN_TONE.sub("", found) for found in _EMOJI.findall(parts.text))):
        profile.emoji += 1
        _bump(profile.emoji_counts, emoji, MAX_KEYS)
    profile.mentions += len(_MENTION.findall(parts.text))
    profile.addressed_by_name += "{name}" in parts.greeting or bool(_MENTION.match(parts.body))
    profile.questions += sum(map(is_question, body_sentences))


def _split(text: str) -> _Parts:
    """Greeting (first line), sign-off (last lines, the name under it dropped) and body."""
    own = own_text(text)
    lines = own.split("\n")
    greeting = NONE
    match = _GREETING.match(lines[0])
    if match:
        greeting = _greeting_key(match)
        lines[0] = lines[0][match.end():].strip()
    sign_off, at = _find_sign_off(lines)
    return _Parts(greeting=greeting, body="\n".join(lines[:at]).strip(), sign_off=sign_off, text=own)


def _find_sign_off(lines: list[str]) -> tuple[str, int]:
    """The sign-off and the number of its line: the last line ("Cheers", "Thanks, Bob"), or
    the one before a name line ("Best regards" above "Bob"). Never the only line of text."""
    filled = [number for number, line in enumerate(lines) if line.strip()]
    for position in (-1, -2)[:max(len(filled) - 1, 0)]:
        found = _SIGN_OFF.match(lines[filled[position]].strip())
        if found:
            return found["phrase"], filled[position]
        if not _NAME_LINE.match(lines[filled[-1]]):
            break
    return NONE, len(lines)


def _greeting_key(match: re.Match[str]) -> str:
    """"Hi Anna and Bob," -> "Hi {name},"; group words such as "team" or "all" stay."""
    words: list[str] = []
    for token in match["rest"].split():
        if token.lower() in _GROUP_WORDS:
            words.append(token)
        elif token.lower() not in {"and", "&"} and (not words or words[-1] != "{name}"):
            words.append("{name}")
    return " ".join([match["word"], *words]) + (match["punct"] or "")


def _words(text: str) -> list[str]:
    """Words, not emoji (":tada:" included) or punctuation such as a dash."""
    return [token for token in _EMOJI.sub(" ", text).split() if any(char.isalnum() for char in token)]


def _phrase(sentence: str) -> str:
    return " ".join(sentence.split()).rstrip(".!?,;: ")


def _bump(counter: dict[str, int], key: str, limit: int) -> None:
    """Count `key` and make it the most recent; past `limit` the rarest, least recent key goes."""
    counter[key] = counter.pop(key, 0) + 1
    if len(counter) > limit:
        del counter[min(counter, key=counter.__getitem__)]


def _top(counter: dict[str, int], count: int) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:count]


def _shares(counter: dict[str, int], messages: int) -> list[tuple[str, float]]:
    return [(text, _rate(times, messages)) for text, times in _top(counter, 3)]


def _rate(count: int, messages: int) -> float:
    return round(count / messages, 2) if messages else 0.0


def _percentile(values: list[int], share: float) -> int:
    """Nearest-rank percentile, so the figure is a length some message really had."""
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def _formality_label(score: float) -> str:
    return "formal" if score >= FORMAL_AT else "casual" if score <= CASUAL_AT else "neutral"


def _length_line(facts: dict[str, Any]) -> str:
    if not facts["messages"]:
        return "Length: short, about 50-100 words."
    low, high = facts["length_range"]
    return f"Typical length: about {facts['typical_length_words']} words ({low}-{high})."


def _habit_line(label: str, override: str, shares: list[tuple[str, float]], default: str) -> str:
    if override.strip():
        return f"{label}: '{override.strip()}'."
    if not shares:
        return f"{label}: {default}."
    quoted = [f"'{text}' ({share:.0%})" if text != NONE else f"none ({share:.0%})"
              for number, (text, share) in enumerate(shares) if number == 0 or share >= 0.2]
    return f"{label}: {quoted[0]}" + (f", also {', '.join(quoted[1:])}" if quoted[1:] else "") + "."


def _emoji_line(facts: dict[str, Any]) -> str:
    rate = facts["emoji_per_message"]
    if not rate:
        return "Emoji: none."
    how = "rarely" if rate < 0.2 else "sometimes" if rate < 1 else "often"
    return f"Emoji: {how} ({rate:.2f} per message), favourites {' '.join(facts['favourite_emoji'])}."


def _lessons(profile: StyleProfile, wish: StyleOverrides) -> list[str]:
    lessons = []
    if profile.edits >= MIN_LESSON and abs(profile.length_ratio - 1) >= 0.15:
        change = max(round(abs(profile.length_ratio - 1) * 10) * 10, 10)
        lessons.append(f"Keep drafts about {change}% {'shorter' if profile.length_ratio < 1 else 'longer'}"
                       " than you would.")
    for label, override, edits in (("greeting", wish.greeting, profile.greeting_edits),
                                   ("sign-off", wish.sign_off, profile.sign_off_edits)):
        top = _top(edits, 1)
        if not override.strip() and top and top[0][1] >= MIN_LESSON:
            lessons.append(f"Leave out the {label}." if top[0][0] == NONE else f"Use '{top[0][0]}' as the {label}.")
    lessons += [f"Never write '{phrase}'." for phrase, times in _top(profile.deleted_phrases, 5)
                if times >= MIN_LESSON]
    return lessons
