"""Prompt plugins: hooks that see every LLM call's messages and response.

A plugin is found by name among the built-ins, then among the `llmcoder.llm_plugins`
entry points of installed packages, then as a `package.module:ClassName` path. A name
that cannot be loaded is skipped with one warning: a typo in the settings must not stop
every LLM call.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata

from services import redaction

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "llmcoder.llm_plugins"


@dataclass(frozen=True)
class PluginContext:
    feature: str
    task: str = ""
    project: str = ""
    user_id: int | None = None


class LLMPlugin:
    """Subclass and override what you need; every hook defaults to doing nothing."""

    name: str = ""

    def system_extension(self, ctx: PluginContext) -> str:
        """Text appended to the system message."""
        return ""

    def process_prompt(self, messages: list[dict], ctx: PluginContext) -> list[dict]:
        """OpenAI-style messages in, messages out; return new dicts, never mutate the input."""
        return list(messages)

    def process_response(self, text: str, ctx: PluginContext) -> str:
        return text


def _map_text(content: object, change: Callable[[str], str]) -> object:
    """Apply `change` to a message content: a string, or a list of parts with text parts."""
    if isinstance(content, str):
        return change(content)
    if isinstance(content, list):
        return [
            {**part, "text": change(part["text"])}
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
            else part
            for part in content
        ]
    return content


# --- redact_pii ---------------------------------------------------------------------------

REDACT_KINDS = ("emails", "phones", "api_keys")
EMAIL_MASK, PHONE_MASK, KEY_MASK = "[email]", "[phone]", "[api key]"

_KEY_NAME = (
    r"(?:key|Key|KEY|secret|Secret|SECRET|token|Token|TOKEN|password|Password|PASSWORD"
    r"|passwd|PASSWD|pwd|PWD)"
)
# `api_key = v`, `"password": "v"`, `apiKey: v`: the name ends in one of the words, either
# alone, after a separator or camel-cased, so "monkey: x" or "keyboard = y" stay as they are.
_ASSIGNMENT = re.compile(
    r"(?P<head>\b(?:[A-Za-z0-9_.\-]*[_.\-]|[a-z][a-z0-9]*(?=[A-Z]))?" + _KEY_NAME
    + r"[\"']?\s*[:=]\s*)"
    r"(?:\"(?P<dq>[^\"\n]+)\"|'(?P<sq>[^'\n]+)'|(?P<bare>(?!Bearer\s)[^\s\"'`,;&]+))"
)
_TOKEN_PATTERNS = tuple(re.compile(p) for p in (
    r"(?<![\w\-])sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{16,}",  # OpenAI, Anthropic
    r"(?<![\w\-])AIza[0-9A-Za-z_\-]{35}(?![\w\-])",  # Google
    r"(?<![A-Z0-9])A(?:KIA|SIA)[0-9A-Z]{16}(?![A-Z0-9])",  # AWS access key ids
    r"(?<![\w])(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})",  # GitHub
    r"(?<![\w\-])xox[abposr]-[A-Za-z0-9\-]{10,}",  # Slack
    r"(?<![\w])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe
    r"(?<![\w\-])eyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*",  # JWT
))
# A bearer token is long and has a digit, or is very long: "Bearer authentication" is prose.
_BEARER = re.compile(
    r"\b(?P<head>[Bb]earer\s+)(?:(?=[A-Za-z\-._~+/]*\d)[A-Za-z0-9\-._~+/]{16,}|[A-Za-z0-9\-._~+/]{24,})=*"
)
_EMAIL = re.compile(r"(?<![\w.%+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b")
# With a country code: groups of digits, "(0)" style parts allowed; at least 8 digits in all.
_INTERNATIONAL_PHONE = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .\-]?(?:\(\d{1,4}\)|\d{1,5})){2,6}(?!\d)")
# North American: (555) 123-4567, 555-123-4567, 1-800-555-0199. Groups of 3-3-4 with one
# kind of separator, so dates (2026-11-21), versions and "INV-2024-0001" never fit.
_NATIONAL_PHONE = re.compile(
    r"(?<![\w.\-+/])(?:1[-. ])?(?:\(\d{3}\) ?\d{3}[-. ]|\d{3}([-. ])\d{3}\1)\d{4}(?!\w|[.\-/]\d)"
)
_MIN_PHONE_DIGITS = 8


def _redact_assignment(match: re.Match[str]) -> str:
    if match["dq"] is not None:
        return f'{match["head"]}"{KEY_MASK}"'
    if match["sq"] is not None:
        return f"{match['head']}'{KEY_MASK}'"
    return match["head"] + KEY_MASK


def _redact_international_phone(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match[0])
    return PHONE_MASK if digits >= _MIN_PHONE_DIGITS else match[0]


class RedactPIIPlugin(LLMPlugin):
    """Masks e-mail addresses, phone numbers, API keys and every registered secret
    in the prompt, so they never leave the machine."""

    name = "redact_pii"

    def __init__(self, kinds: Sequence[str] = REDACT_KINDS) -> None:
        unknown = sorted(set(kinds) - set(REDACT_KINDS))
        if unknown:
            raise ValueError(f"Unknown redaction kind(s) {', '.join(unknown)}; known: {', '.join(REDACT_KINDS)}.")
        self.kinds = frozenset(kinds)

    def redact(self, text: str) -> str:
        # Registered secrets first, so they are masked whole; keys before e-mails and
        # phones, whose patterns could otherwise bite into a key's characters.
        text = redaction.redact(text)
        if "api_keys" in self.kinds:
            text = _ASSIGNMENT.sub(_redact_assignment, text)
            for pattern in _TOKEN_PATTERNS:
                text = pattern.sub(KEY_MASK, text)
            text = _BEARER.sub(lambda m: m["head"] + KEY_MASK, text)
        if "emails" in self.kinds:
            text = _EMAIL.sub(EMAIL_MASK, text)
        if "phones" in self.kinds:
            text = _INTERNATIONAL_PHONE.sub(_redact_international_phone, text)
            text = _NATIONAL_PHONE.sub(PHONE_MASK, text)
        return text

    def process_prompt(self, messages: list[dict], ctx: PluginContext) -> list[dict]:
        return [{**m, "content": _map_text(m.get("content"), self.redact)} if "content" in m else dict(m)
                for m in messages]


# --- discovery ----------------------------------------------------------------------------

BUILTINS: dict[str, Callable[[Sequence[str]], LLMPlugin]] = {
    RedactPIIPlugin.name: RedactPIIPlugin,
}
_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


def _factory(name: str) -> Callable[[], object] | None:
    """The class or factory a name points at, or None when nothing is called that."""
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name == name:
            return entry_point.load()
    if ":" in name:
        module_name, _, attribute = name.partition(":")
        target: object = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
        return target  # type: ignore[return-value]
    return None


def _load_one(name: str, redact_kinds: tuple[str, ...]) -> LLMPlugin | None:
    if name in BUILTINS:
        return BUILTINS[name](redact_kinds)
    try:
        factory = _factory(name)
        if factory is None:
            _warn_once(f"LLM plugin {name!r} is unknown and is skipped; built-in plugins: {', '.join(BUILTINS)}.")
            return None
        plugin = factory()
    except Exception as exc:  # a broken third-party plugin must not break LLM calls
        _warn_once(f"LLM plugin {name!r} could not be loaded and is skipped: {type(exc).__name__}: {exc}")
        return None
    if not isinstance(plugin, LLMPlugin):
        _warn_once(f"LLM plugin {name!r} did not produce an LLMPlugin (got {type(plugin).__name__}) and is skipped.")
        return None
    return plugin


@lru_cache(maxsize=32)
def _load(names: tuple[str, ...], redact_kinds: tuple[str, ...]) -> tuple[LLMPlugin, ...]:
    kinds = tuple(kind for kind in redact_kinds if kind in REDACT_KINDS)
    for kind in sorted(set(redact_kinds) - set(REDACT_KINDS)):
        _warn_once(f"Unknown redaction kind {kind!r} is ignored; known: {', '.join(REDACT_KINDS)}.")
    return tuple(plugin for name in names if (plugin := _load_one(name, kinds)) is not None)


def load_plugins(names: Sequence[str], *, redact_kinds: Sequence[str]) -> list[LLMPlugin]:
    """The plugins in the order named; cached, because this runs on every call."""
    cleaned = tuple(name.strip() for name in names if name.strip())
    kinds = tuple(kind.strip().lower() for kind in redact_kinds if kind.strip())
    return list(_load(cleaned, kinds))


def reset_plugin_cache() -> None:
    """Forget loaded plugins and given warnings (packages were installed, or in tests)."""
    _load.cache_clear()
    _warned.clear()


# --- applying -----------------------------------------------------------------------------

def _with_system_text(messages: list[dict], extra: str) -> list[dict]:
    for index, message in enumerate(messages):
        if message.get("role") == "system":
            content = message.get("content")
            if isinstance(content, list):
                content = [*content, {"type": "text", "text": extra}]
            else:
                content = f"{content}\n\n{extra}" if content else extra
            return [*messages[:index], {**message, "content": content}, *messages[index + 1:]]
    return [{"role": "system", "content": extra}, *messages]


def apply_prompt(plugins: Sequence[LLMPlugin], messages: list[dict], ctx: PluginContext) -> list[dict]:
    """System extensions first, then every process_prompt in order, so that redaction
    also covers what other plugins added."""
    extensions = [text for plugin in plugins if (text := plugin.system_extension(ctx).strip())]
    result = _with_system_text(messages, "\n\n".join(extensions)) if extensions else list(messages)
    for plugin in plugins:
        result = plugin.process_prompt(result, ctx)
    return result


def apply_response(plugins: Sequence[LLMPlugin], text: str, ctx: PluginContext) -> str:
    for plugin in plugins:
        text = plugin.process_response(text, ctx)
    return text
