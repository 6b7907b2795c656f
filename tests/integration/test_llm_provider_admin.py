"""What the LLM config page relies on: editing and reordering the provider chain, masked keys,
all-or-nothing settings saves, and every change reaching the very next gateway call."""

from __future__ import annotations

import io
import sys

import pytest
from sqlmodel import select

from services import runtime_settings
from services.auth.errors import ValidationError
from services.cli.commands import main
from services.db import session_scope
from services.db.models import Setting
from services.llm import config, gateway, providers
from services.llm.types import CallStatus
from tests.fakes.llm_providers import ok, refused_url
from tests.llm_support import add_provider, ask

pytestmark = pytest.mark.integration

PRICED = {"input_price": "1", "output_price": "2"}
SECRET = "sk-test-AdminKeyNeverShown-4242"


def _names() -> list[tuple[int, str]]:
    return [(d.position, d.name) for d in providers.chain()]


def _chain_of(fake, *names: str) -> None:
    for name in names:
        add_provider(fake, name, "openai", f"m-{name}", **PRICED)


# ------------------------------------------------------------------ update

def test_update_changes_only_the_given_fields_and_keeps_the_key(fake_llm):
    add_provider(fake_llm, "alpha", "openai", "m-alpha", api_key=SECRET, **PRICED)

    changed = providers.update("alpha", model="openai/m-new", input_price="3", output_price="4",
                               cached_input_price="0.5", api_key="")

    assert (changed.model, changed.input_price, changed.output_price, changed.cached_input_price) == (
        "openai/m-new", "3", "4", "0.5")
    assert changed.api_base == fake_llm.api_base("openai")  # not given: unchanged
    assert runtime_settings.get("provider_key.alpha") == SECRET  # empty key: the old one stays
    # "" clears the prices (back to the cost map) and the API base.
    cleared = providers.update("alpha", input_price="", output_price="", cached_input_price="", api_base="")
    assert (cleared.input_price, cleared.output_price, cleared.api_base) == ("", "", "")
    assert not cleared.has_admin_prices


def test_a_new_key_becomes_the_providers_own_and_never_touches_a_shared_one(fake_llm):
    runtime_settings.set_value("openai.api_key", "sk-shared-team-key-1111")
    providers.add(name="team", model="openai/m-team", api_base=fake_llm.api_base("openai"), key_ref="openai.api_key")

    changed = providers.update("team", api_key="sk-team-own-key-2222")

    assert changed.key_ref == "provider_key.team"
    assert runtime_settings.get("provider_key.team") == "sk-team-own-key-2222"
    assert runtime_settings.get("openai.api_key") == "sk-shared-team-key-1111"
    with session_scope() as session:
        stored = session.get(Setting, "provider_key.team")
    assert stored is not None and stored.is_secret and "sk-team-own-key-2222" not in stored.value


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"input_price": "abc"}, "Input price must be a number, not 'abc'."),
        ({"output_price": "-1"}, "Output price must be zero or more."),
        ({"input_price": "", "output_price": "2"}, "Give both the input and the output price, or neither"),
        ({"api_base": "ftp://example.com"}, "API base must be an http(s) URL, not 'ftp://example.com'."),
        ({"api_base": "localhost:8080"}, "API base must be an http(s) URL"),
        ({"model": "gpt 4o"}, "Model must be a litellm model id"),
        ({"model": "   "}, "Model must be a litellm model id"),
    ],
)
def test_update_refuses_bad_input_and_changes_nothing(fake_llm, fields, message):
    add_provider(fake_llm, "alpha", "openai", "m-alpha", api_key=SECRET, **PRICED)
    before = providers.chain()

    with pytest.raises(ValidationError) as refused:
        providers.update("alpha", api_key="sk-would-be-new-key-9999", **fields)

    assert str(refused.value).startswith(message)
    assert providers.chain() == before
    assert runtime_settings.get("provider_key.alpha") == SECRET  # the new key was not stored either


def test_update_of_an_unknown_provider_is_refused(fake_llm):
    with pytest.raises(ValidationError, match="No provider named 'nobody'."):
        providers.update("nobody", model="openai/m")
    with session_scope() as session:
        assert session.get(Setting, "provider_key.nobody") is None


def test_a_new_setup_ends_the_cool_down_but_a_price_change_does_not(fake_llm):
    add_provider(fake_llm, "alpha", "openai", "m-alpha", **PRICED)
    providers.record_failure(providers.chain()[0], after=1, cooldown_seconds=300)
    assert providers.chain()[0].cooldown_until is not None

    assert providers.update("alpha", input_price="5", output_price="6").cooldown_until is not None
    assert providers.update("alpha", model="openai/m-other").cooldown_until is None


def test_duplicate_name_is_refused(fake_llm):
    add_provider(fake_llm, "alpha", "openai", "m-alpha")
    with pytest.raises(ValidationError, match="A provider named 'alpha' exists already."):
        providers.add(name="Alpha", model="openai/m-x")


# ------------------------------------------------------------------ move

def test_move_renumbers_everyone_densely(fake_llm):
    _chain_of(fake_llm, "a", "b", "c", "d")

    assert providers.move("d", 1).position == 1
    assert _names() == [(1, "d"), (2, "a"), (3, "b"), (4, "c")]
    providers.move("d", 4)
    assert _names() == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
    providers.move("b", 3)
    assert _names() == [(1, "a"), (2, "c"), (3, "b"), (4, "d")]
    providers.remove("c")  # a gap in the numbers ...
    providers.move("d", 2)  # ... is closed by the next move
    assert _names() == [(1, "a"), (2, "d"), (3, "b")]


@pytest.mark.parametrize(("name", "position", "message"), [
    ("a", 0, "Position must be between 1 and 2, not 0."),
    ("a", 3, "Position must be between 1 and 2, not 3."),
    ("nobody", 1, "No provider named 'nobody'."),
])
def test_move_refuses_bad_positions_and_unknown_names(fake_llm, name, position, message):
    _chain_of(fake_llm, "a", "b")
    with pytest.raises(ValidationError) as refused:
        providers.move(name, position)
    assert str(refused.value) == message
    assert _names() == [(1, "a"), (2, "b")]


# ------------------------------------------------------------------ masked keys

def test_admin_view_masks_keys_and_never_returns_them(fake_llm):
    add_provider(fake_llm, "own", "openai", "m-own", api_key=SECRET, **PRICED)
    providers.add(name="shared", model="openai/m-shared", api_base=fake_llm.api_base("openai"),
                  key_ref="openai.api_key")  # that setting is empty
    providers.add(name="local", model="ollama/llama3.1", api_base="http://127.0.0.1:11434")

    statuses = {s.deployment.name: s for s in providers.admin_view()}

    assert statuses["own"].key_display == "••••4242" and statuses["own"].usable
    assert statuses["shared"].key_display == "no key" and not statuses["shared"].usable
    assert statuses["shared"].key_setting == "openai.api_key"
    assert statuses["local"].key_display == "no key" and statuses["local"].usable  # needs none
    assert SECRET not in repr(providers.admin_view())
    assert [s.deployment.name for s in providers.admin_view()] == ["own", "shared", "local"]


def test_an_undecryptable_key_breaks_only_its_own_row(fake_llm):
    add_provider(fake_llm, "good", "openai", "m-good", api_key=SECRET)
    add_provider(fake_llm, "broken", "openai", "m-broken", api_key="sk-will-be-garbled-0000")
    with session_scope() as session:
        row = session.get(Setting, "provider_key.broken")
        assert row is not None
        row.value = "not-a-fernet-token"
        session.add(row)

    statuses = {s.deployment.name: s for s in providers.admin_view()}

    assert statuses["broken"].key_display.startswith("unreadable key")
    assert not statuses["broken"].usable
    assert statuses["good"].key_display == "••••4242"


def test_admin_view_shows_the_cool_down(fake_llm):
    add_provider(fake_llm, "alpha", "openai", "m-alpha")
    assert not providers.admin_view()[0].cooling_down
    providers.record_failure(providers.chain()[0], after=1, cooldown_seconds=300)
    assert providers.admin_view()[0].cooling_down


# ------------------------------------------------------------------ settings form: all or nothing

def test_set_many_saves_nothing_when_one_value_is_bad(fake_llm):
    with pytest.raises(runtime_settings.SettingsInvalid) as refused:
        runtime_settings.set_many({"llm.monthly_budget_usd": "55", "llm.daily_call_limit": "abc",
                                   "llm.template_similarity": "1.5", "llm.dry_run": "true"})

    assert set(refused.value.problems) == {"llm.daily_call_limit", "llm.template_similarity"}
    assert refused.value.problems["llm.daily_call_limit"] == "Daily provider call limit must be a whole number, not 'abc'."
    assert refused.value.problems["llm.template_similarity"] == "Template match threshold (0-1) must be at most 1."
    assert runtime_settings.get("llm.monthly_budget_usd") == "1000"
    assert runtime_settings.get("llm.dry_run") == "false"


def test_set_many_writes_only_changed_values(fake_llm):
    changed = runtime_settings.set_many({"llm.monthly_budget_usd": "250.50", "llm.cache_ttl_days": "90",
                                         "llm.alert_levels": "90, 50"}, updated_by=None)

    assert changed == ["llm.monthly_budget_usd", "llm.alert_levels"]
    with session_scope() as session:
        keys = set(session.exec(select(Setting.key)).all())
    assert "llm.cache_ttl_days" not in keys  # unchanged default: still follows the default
    assert runtime_settings.get("llm.alert_levels") == "50,90"
    assert config.current.get().monthly_budget_nanos == 250_500_000_000
    assert runtime_settings.set_many({"llm.monthly_budget_usd": "250.50"}) == []


# ------------------------------------------------------------------ applied live

def test_a_move_applies_to_the_very_next_call(fake_llm):
    add_provider(fake_llm, "first", "openai", "m1", **PRICED)
    add_provider(fake_llm, "second", "openai", "m2", **PRICED)
    fake_llm.default("m1", ok("from m1"))
    fake_llm.default("m2", ok("from m2"))
    assert gateway.complete(ask("one", use_cache=False)).provider == "first"  # the chain is now cached

    providers.move("second", 1)
    result = gateway.complete(ask("two", use_cache=False))

    assert (result.provider, result.text) == ("second", "from m2")
    assert [r.model for r in fake_llm.requests] == ["m1", "m2"]


def test_dry_run_setting_applies_to_the_very_next_call(fake_llm):
    add_provider(fake_llm, "first", "openai", "m1", **PRICED)
    assert gateway.complete(ask("one", use_cache=False)).status == CallStatus.ok  # config is now cached

    runtime_settings.set_many({"llm.dry_run": "true"})
    result = gateway.complete(ask("two", use_cache=False))

    assert result.status == CallStatus.dry_run and result.text.startswith("[dry run]")
    assert fake_llm.count("m1") == 1


def test_disabling_and_editing_apply_to_the_very_next_call(fake_llm):
    add_provider(fake_llm, "first", "openai", "m1", **PRICED)
    add_provider(fake_llm, "second", "openai", "m2", **PRICED)
    assert gateway.complete(ask("one", use_cache=False)).model == "openai/m1"

    providers.set_enabled("first", False)
    assert gateway.complete(ask("two", use_cache=False)).model == "openai/m2"
    providers.update("second", model="openai/m3")
    assert gateway.complete(ask("three", use_cache=False)).model == "openai/m3"
    assert [r.model for r in fake_llm.requests] == ["m1", "m2", "m3"]


def test_connection_test_reports_a_dead_provider_with_its_error(fake_llm):
    add_provider(fake_llm, "fine", "openai", "m1", **PRICED)
    providers.add(name="down", model="openai/m-down", api_base=refused_url() + "/v1", api_key="k-down-0000", **PRICED)

    checks = {c.name: c for c in gateway.test_providers()}

    assert checks["fine"].ok and checks["fine"].error == "" and checks["fine"].latency_ms >= 0
    assert not checks["down"].ok and checks["down"].error


# ------------------------------------------------------------------ CLI: edit and move

@pytest.fixture
def cli(fake_llm, capsys, monkeypatch, restore_logging):
    def run(*argv: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(""))
        code = main(["llm", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    capsys.readouterr()
    return run


def test_cli_edit_and_move(cli, fake_llm):
    _chain_of(fake_llm, "a", "b")

    assert cli("provider", "move", "b", "1") == (0, "b is now at position 1.\n", "")
    assert _names() == [(1, "b"), (2, "a")]
    code, out, _ = cli("provider", "edit", "a", "--model", "openai/m-z", "--api-key", SECRET, "--input-price", "7",
                       "--output-price", "8")
    assert (code, out) == (0, "Updated a (openai/m-z).\n")
    a = providers.chain()[1]
    assert (a.model, a.input_price, a.output_price, a.api_base) == ("openai/m-z", "7", "8", fake_llm.api_base("openai"))
    assert runtime_settings.get("provider_key.a") == SECRET

    assert cli("provider", "move", "a", "5") == (2, "", "error: Position must be between 1 and 2, not 5.\n")
    code, out, err = cli("provider", "edit", "a", "--input-price", "x")
    assert (code, out, err) == (2, "", "error: Input price must be a number, not 'x'.\n")
