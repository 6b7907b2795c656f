"""LLM plugins: discovery (built-in, entry point, module path), hooks, and PII redaction."""

from __future__ import annotations

import copy
import logging
import uuid
from importlib import metadata

import pytest

from services import redaction
from services.llm import plugins
from services.llm.plugins import LLMPlugin, PluginContext, RedactPIIPlugin

CTX = PluginContext(feature="inbox", task="reply", project="acme", user_id=1)

PLUGIN_SOURCE = '''
from services.llm.plugins import LLMPlugin


class Shout(LLMPlugin):
    name = "shout"

    def system_extension(self, ctx):
        return "Answer in capitals."

    def process_response(self, text, ctx):
        return text.upper()


def broken():
    raise RuntimeError("boom")


class NotAPlugin:
    pass
'''


@pytest.fixture(autouse=True)
def _fresh_plugin_cache():
    plugins.reset_plugin_cache()
    yield
    plugins.reset_plugin_cache()


@pytest.fixture
def installed(tmp_path, monkeypatch) -> str:
    """A package installed the way pip would: a module plus a dist-info with entry points."""
    module = f"acme_plugins_{uuid.uuid4().hex[:8]}"
    site = tmp_path / "site"
    site.mkdir()
    (site / f"{module}.py").write_text(PLUGIN_SOURCE, encoding="utf-8")
    dist_info = site / f"{module}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n", encoding="utf-8")
    (dist_info / "entry_points.txt").write_text(
        "[llmcoder.llm_plugins]\n"
        f"shout = {module}:Shout\n"
        f"broken = {module}:broken\n"
        f"not_a_plugin = {module}:NotAPlugin\n"
        f"gone = {module}_missing:Thing\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(site))
    return module


def warnings_in(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == plugins.__name__]


# --- discovery ----------------------------------------------------------------------------

def test_builtin_redact_pii_is_loaded_with_its_kinds():
    [plugin] = plugins.load_plugins(["redact_pii"], redact_kinds=["emails", "phones"])
    assert isinstance(plugin, RedactPIIPlugin)
    assert plugin.kinds == {"emails", "phones"}


def test_entry_point_plugin_is_discovered_and_order_is_kept(installed):
    loaded = plugins.load_plugins(["shout", "redact_pii"], redact_kinds=["emails"])
    assert [p.name for p in loaded] == ["shout", "redact_pii"]
    assert type(loaded[0]).__module__ == installed


def test_module_path_plugin_is_loaded(installed):
    [plugin] = plugins.load_plugins([f"{installed}:Shout"], redact_kinds=[])
    assert plugin.name == "shout"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("no_such_plugin", "unknown"),
        ("broken", "could not be loaded"),
        ("gone", "could not be loaded"),
        ("not_a_plugin", "did not produce an LLMPlugin"),
        ("nowhere.at_all:Plugin", "could not be loaded"),
    ],
)
def test_bad_plugins_are_skipped_with_one_warning(installed, caplog, name, expected):
    caplog.set_level(logging.WARNING, logger=plugins.__name__)
    loaded = plugins.load_plugins([name, "redact_pii"], redact_kinds=["emails"])
    assert [p.name for p in loaded] == ["redact_pii"]
    # Another configuration misses the cache but does not repeat the warning.
    plugins.load_plugins([name], redact_kinds=["phones"])
    messages = warnings_in(caplog)
    assert len(messages) == 1
    assert repr(name) in messages[0] and expected in messages[0]


def test_result_is_cached_per_configuration(installed, monkeypatch):
    calls = []
    real = metadata.entry_points

    def counting(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(metadata, "entry_points", counting)
    first = plugins.load_plugins(["shout", "redact_pii"], redact_kinds=["emails"])
    second = plugins.load_plugins(("shout", " redact_pii "), redact_kinds=("emails",))
    assert [id(p) for p in first] == [id(p) for p in second]
    assert calls == [{"group": plugins.ENTRY_POINT_GROUP}]
    other = plugins.load_plugins(["redact_pii"], redact_kinds=["phones"])
    assert other[0] is not first[1] and other[0].kinds == {"phones"}


def test_unknown_redaction_kinds_are_ignored_with_a_warning(caplog):
    caplog.set_level(logging.WARNING, logger=plugins.__name__)
    [plugin] = plugins.load_plugins(["redact_pii"], redact_kinds=["Emails", "faces", ""])
    assert plugin.kinds == {"emails"}
    assert any("'faces'" in m for m in warnings_in(caplog))


def test_redact_plugin_refuses_unknown_kinds_when_built_directly():
    with pytest.raises(ValueError, match="faces"):
        RedactPIIPlugin(["faces"])


def test_empty_names_load_nothing():
    assert plugins.load_plugins(["", "  "], redact_kinds=["emails"]) == []


# --- applying hooks -----------------------------------------------------------------------

class Tagger(LLMPlugin):
    def __init__(self, tag: str, extension: str = "") -> None:
        self.name = tag
        self.extension = extension

    def system_extension(self, ctx: PluginContext) -> str:
        return self.extension

    def process_prompt(self, messages: list[dict], ctx: PluginContext) -> list[dict]:
        return [{**m, "content": f"{m['content']}<{self.name}>"} if m["role"] == "user" else dict(m)
                for m in messages]

    def process_response(self, text: str, ctx: PluginContext) -> str:
        return f"{text}<{self.name}:{ctx.feature}>"


def test_apply_prompt_runs_plugins_in_order_and_appends_extensions():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    before = copy.deepcopy(messages)
    result = plugins.apply_prompt(
        [Tagger("a", "Rule A."), Tagger("b", "  "), Tagger("c", "Rule C.")], messages, CTX
    )
    assert result == [
        {"role": "system", "content": "Be brief.\n\nRule A.\n\nRule C."},
        {"role": "user", "content": "hi<a><b><c>"},
    ]
    assert messages == before


def test_apply_prompt_creates_a_system_message_when_absent():
    messages = [{"role": "user", "content": "hi"}]
    result = plugins.apply_prompt([Tagger("a", "Rule A.")], messages, CTX)
    assert result == [{"role": "system", "content": "Rule A."}, {"role": "user", "content": "hi<a>"}]
    assert messages == [{"role": "user", "content": "hi"}]


def test_apply_prompt_without_extensions_leaves_the_system_message_alone():
    messages = [{"role": "user", "content": "hi"}]
    assert plugins.apply_prompt([LLMPlugin()], messages, CTX) == messages
    assert plugins.apply_prompt([], messages, CTX) == messages


def test_extensions_are_redacted_too():
    class Leaky(LLMPlugin):
        def system_extension(self, ctx):
            return "Escalate to boss@example.com."

    result = plugins.apply_prompt([Leaky(), RedactPIIPlugin()], [{"role": "user", "content": "x"}], CTX)
    assert result[0] == {"role": "system", "content": "Escalate to [email]."}


def test_apply_response_runs_in_order():
    assert plugins.apply_response([Tagger("a"), Tagger("b")], "ok", CTX) == "ok<a:inbox><b:inbox>"
    assert plugins.apply_response([], "ok", CTX) == "ok"


def test_entry_point_plugin_hooks_apply(installed):
    loaded = plugins.load_plugins(["shout"], redact_kinds=[])
    result = plugins.apply_prompt(loaded, [{"role": "system", "content": "S"}], CTX)
    assert result == [{"role": "system", "content": "S\n\nAnswer in capitals."}]
    assert plugins.apply_response(loaded, "quiet", CTX) == "QUIET"


# --- redaction ----------------------------------------------------------------------------

def redact(text: str, kinds=plugins.REDACT_KINDS) -> str:
    [message] = RedactPIIPlugin(kinds).process_prompt([{"role": "user", "content": text}], CTX)
    return message["content"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Write to ada@example.com today", "Write to [email] today"),
        ("ada.lovelace+news@mail.example.co.uk.", "[email]."),
        ("<first_last@sub-domain.example.org>", "<[email]>"),
    ],
)
def test_emails_are_redacted(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "phone",
    [
        "+44 20 7946 0958", "(555) 123-4567", "555-123-4567", "+1-202-555-0143", "+1 (555) 123-4567",
        "+44 (0)20 7946 0958", "1-800-555-0199", "555.123.4567", "+4915112345678", "+33 1 23 45 67 89",
    ],
)
def test_phone_numbers_are_redacted(phone):
    assert redact(f"Call {phone}, thanks.") == "Call [phone], thanks."


@pytest.mark.parametrize(
    "text",
    [
        "Due 2026-11-21 at 12:30:45",
        "Meeting 2026-11-21T10:00:00+01:00 (UTC+01:00)",
        "Upgrade from 1.2.3 to v10.15.7 or 2.31.0-rc.1",
        "Invoice INV-2024-0001 and PO-555-1234",
        "Order 12345, ticket #4567, total 1234567890",
        "Server 192.168.100.200 port 8080",
        "Score +5 10 20, 3+4 = 7",
        "ISBN 978-3-16-148410-0",
        "Part 19555-123-4567, serial SN-555-123-4567, build 2.555.123.4567",
        "Population 8,100,000,000 in 2026",
    ],
)
def test_dates_times_versions_and_ids_are_not_phones(text):
    assert redact(text) == text


@pytest.mark.parametrize(
    "secret",
    [
        "sk-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v2W3x4",  # OpenAI, legacy
        "sk-proj-Abc123Def456Ghi789Jkl_mn-op0123456789",  # OpenAI, project
        "sk-ant-api03-AbCdEf1234567890abcdEF-xyz_0987654321",  # Anthropic
        "AIza" + "SyA1234567890abcdefghijklmnopqrstuv",  # Google, 39 characters
        "AKIA" + "IOSFODNN7EXAMPLE",  # AWS
        "ghp_" + "a1B2" * 9,
        "gho_" + "Z9y8" * 9,
        "ghs_" + "0aA1" * 9,
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123",
        "xoxb-123456789012-1234567890123-abcdefghijklMNOPQRSTuvwx",
        "xoxp-123456789012-abcdefghijkl",
        "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
        "rk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ],
)
def test_api_keys_are_redacted(secret):
    assert redact(f"my key is {secret} ok") == "my key is [api key] ok"
    assert redact(f"({secret})") == "([api key])"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc123def456ghi789jkl", "Authorization: Bearer [api key]"),
        ("authorization: bearer eyJhbGciOi.eyJzdWIi.sig", "authorization: bearer [api key]"),
        ("api_key = hunter2abc", "api_key = [api key]"),
        ("OPENAI_API_KEY=sk-proj-Abc123Def456Ghi789Jkl", "OPENAI_API_KEY=[api key]"),
        ('{"password": "correct horse battery"}', '{"password": "[api key]"}'),
        ("client_secret='s3cr3t value'", "client_secret='[api key]'"),
        ("apiKey: zzz999", "apiKey: [api key]"),
        ("db.password:p@ss;next", "db.password:[api key];next"),
        ("https://x.io/?access_token=abc123&page=2", "https://x.io/?access_token=[api key]&page=2"),
        ("token: Bearer abc123def456ghi789jkl", "token: Bearer [api key]"),
    ],
)
def test_bearer_tokens_and_secret_assignments_are_redacted(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "monkey: banana", "keyboard = mechanical", "max_tokens: 1024", "Bearer authentication is used",
        "the bearer of bad news", "task-1234567890abcdefghij", "desk-organizer-deluxe-edition-2026",
        "AKIA is a prefix", "eyJ alone", "skeleton key", "Use the sk- prefix",
    ],
)
def test_ordinary_text_is_not_taken_for_a_key(text):
    assert redact(text) == text


def test_registered_secrets_are_redacted_whatever_the_kinds():
    redaction.register("corp-internal-passphrase-42")
    assert redact("use corp-internal-passphrase-42 now", kinds=()) == "use [REDACTED] now"


def test_only_the_configured_kinds_are_redacted():
    text = "ada@example.com 555-123-4567 sk-proj-Abc123Def456Ghi789Jkl"
    assert redact(text, kinds=("emails",)) == "[email] 555-123-4567 sk-proj-Abc123Def456Ghi789Jkl"
    assert redact(text, kinds=("phones",)) == "ada@example.com [phone] sk-proj-Abc123Def456Ghi789Jkl"
    assert redact(text, kinds=("api_keys",)) == "ada@example.com 555-123-4567 [api key]"
    assert redact(text, kinds=()) == text


def test_every_message_and_text_part_is_redacted_without_mutating_the_input():
    messages = [
        {"role": "system", "content": "Owner: ops@example.com"},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": [
            {"type": "text", "text": "Call (555) 123-4567"},
            {"type": "image_url", "image_url": {"url": "https://x.io/a@b.com.png"}},
        ], "name": "ada"},
        {"role": "assistant", "content": None, "tool_calls": []},
    ]
    before = copy.deepcopy(messages)
    result = RedactPIIPlugin().process_prompt(messages, CTX)
    assert result == [
        {"role": "system", "content": "Owner: [email]"},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": [
            {"type": "text", "text": "Call [phone]"},
            {"type": "image_url", "image_url": {"url": "https://x.io/a@b.com.png"}},
        ], "name": "ada"},
        {"role": "assistant", "content": None, "tool_calls": []},
    ]
    assert messages == before
    assert all(new is not old for new, old in zip(result, messages, strict=True))


def test_redaction_leaves_the_response_alone():
    assert RedactPIIPlugin().process_response("mail me at a@example.com", CTX) == "mail me at a@example.com"
