"""What the agent must never capture, decided on the workstation before anything is stored.

Two jobs: ``Privacy.excludes`` says whether a focused window is off limits (screen and
keys ask it *before* grabbing or recording, so an excluded window is never captured, not
even once), and ``redact_strokes`` replaces secret-looking typing by one REDACTED_KEY
stroke before a batch leaves the machine. Audio does not depend on windows: a microphone
hears the room whatever is focused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from capture_agent.protocol import REDACTED_KEY, KeyStroke, WindowInfo

# Matched case-insensitively as substrings of the app (WM_CLASS class or process name).
DEFAULT_EXCLUDED_APPS = (
    "keepass",  # KeePass, KeePassXC
    "1password",
    "bitwarden",
    "lastpass",
    "enpass",
    "dashlane",
    "gnome-keyring",
    "seahorse",
    "kwalletmanager",
    "tor browser",
)
# Matched case-insensitively against the window title (search, not full match).
DEFAULT_EXCLUDED_TITLE_PATTERNS = (
    r"keepass|1password|bitwarden|lastpass|enpass|dashlane|kwallet",  # web vaults in a browser
    r"\bbank(s|ing)?\b",
    r"\bpaypal\b",
    r"incognito|\binprivate\b|private browsing|private window|tor browser",
)

ENTER, TAB, BACKSPACE, SPACE = "<enter>", "<tab>", "<backspace>", "<space>"
_LINE_ENDS = {ENTER, TAB}  # a tab moves to the next form field: a prompt's value ends there
_WORD_ENDS = _LINE_ENDS | {SPACE, " "}

_KNOWN_SECRETS = re.compile(
    r"sk-[A-Za-z0-9_-]{16,}"  # OpenAI / Anthropic style keys
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|xox[abpr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|(AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key ids
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"  # JWT
    r"|llm[cd]_[A-Za-z0-9_-]{16,}"  # this app's own API (llmc_) and device (llmd_) tokens
)
_TOKEN_RUN = re.compile(r"[A-Za-z0-9_+=-]{20,}")
# A typed prompt whose value follows on the same line: "password: hunter2", "passwd=...".
_PROMPT = re.compile(r"(pass(word|wd|phrase)?|pwd|secret|token|api[_-]?key)\s*[:=]", re.IGNORECASE)
_PROMPT_AT_END = re.compile(_PROMPT.pattern + r"\s*$", re.IGNORECASE)
_MIN_CLASS_SWITCHES = 0.3  # random base62 switches lower/upper/digit at ~0.6 per char, words at < 0.25


class Privacy:
    """The exclusion rules: built-in defaults plus the user's apps, title substrings and
    title regexes from the agent config, all case-insensitive."""

    def __init__(
        self,
        apps: Iterable[str] = (),
        titles: Iterable[str] = (),
        title_patterns: Iterable[str] = (),
        *,
        defaults: bool = True,
    ) -> None:
        self.apps = tuple(app.strip().lower() for app in (*(DEFAULT_EXCLUDED_APPS if defaults else ()), *apps)
                          if app.strip())
        patterns = [re.escape(title.strip()) for title in titles if title.strip()]
        for pattern in (*(DEFAULT_EXCLUDED_TITLE_PATTERNS if defaults else ()), *title_patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"Invalid excluded-title pattern {pattern!r}: {exc}") from None
            patterns.append(pattern)
        self._titles = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE) if patterns else None

    def excludes(self, window: WindowInfo) -> bool:
        app = window.app.lower()
        if app and any(rule in app for rule in self.apps):
            return True
        return bool(self._titles and self._titles.search(window.title))


def looks_secret(word: str) -> bool:
    """A known key format anywhere in the word, or a long run that switches between
    lower case, upper case and digits as often as random text does."""
    if _KNOWN_SECRETS.search(word):
        return True
    return any(_random_looking(run) for run in _TOKEN_RUN.findall(word))


def _random_looking(run: str) -> bool:
    chars = [c for c in run if c.isalnum()]
    if len(chars) < 20 or not any(c.isdigit() for c in chars) or not any(c.isalpha() for c in chars):
        return False
    kinds = ["d" if c.isdigit() else "u" if c.isupper() else "l" for c in chars]
    switches = sum(a != b for a, b in zip(kinds, kinds[1:], strict=False))
    return switches / (len(chars) - 1) >= _MIN_CLASS_SWITCHES


def _typed(keys: Iterable[str], into: list[str]) -> list[str]:
    """Apply keys to typed text: characters append, backspace removes, other names are
    ignored (modifiers carry no text)."""
    for key in keys:
        if len(key) == 1:
            into.append(key)
        elif key == SPACE:
            into.append(" ")
        elif key == BACKSPACE and into:
            into.pop()
    return into


def redact_strokes(strokes: Sequence[KeyStroke]) -> list[KeyStroke]:
    """Each word that looks like a secret, and the rest of a line after a password-style
    prompt, becomes one REDACTED_KEY stroke (timed like its first stroke); modifiers
    inside it go too, since shift presses would spell out the letter case."""
    out: list[KeyStroke] = []
    line: list[str] = []  # the text typed on the current line so far
    i = 0
    while i < len(strokes):
        key = strokes[i].key
        if key in _WORD_ENDS:
            out.append(strokes[i])
            line = [] if key in _LINE_ENDS else _typed([key], line)
            i += 1
            continue
        end = i
        while end < len(strokes) and strokes[end].key not in _WORD_ENDS:
            end += 1
        word = "".join(_typed((s.key for s in strokes[i:end]), []))
        prompt = _PROMPT.search(word)
        if _PROMPT_AT_END.search("".join(line)) or (prompt and prompt.end() < len(word.rstrip())):
            end = i  # the value runs to the end of the line, spaces included
            while end < len(strokes) and strokes[end].key not in _LINE_ENDS:
                end += 1
            out.append(KeyStroke(ms=strokes[i].ms, key=REDACTED_KEY))
        elif looks_secret(word):
            out.append(KeyStroke(ms=strokes[i].ms, key=REDACTED_KEY))
        else:
            out.extend(strokes[i:end])
        line = _typed((s.key for s in strokes[i:end]), line)
        i = end
    return out


def settled_length(keys: Sequence[str]) -> int:
    """How many leading keys can be redacted and sent now: everything up to the last word
    end, or up to the last line end while the current line holds a prompt (its value may
    still be being typed). The rest waits for more keys, so a secret typed across two
    batches is still seen whole."""
    last_line_end = max((i for i, key in enumerate(keys) if key in _LINE_ENDS), default=-1)
    if _PROMPT.search("".join(_typed(keys[last_line_end + 1:], []))):
        return last_line_end + 1
    return max((i for i, key in enumerate(keys) if key in _WORD_ENDS), default=-1) + 1
