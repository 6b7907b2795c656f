"""Pricing arithmetic, the gateway's settings and their validation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services import runtime_settings
from services.auth.errors import ValidationError
from services.llm import config
from services.llm.costs import Prices, Usage, cost_nanos, format_usd, usd_to_nanos, worst_case_nanos


def test_cost_is_exact_and_rounds_up_to_a_nano_dollar():
    assert cost_nanos(Usage(1, 1), Prices.per_million("0.0001", "0.0001")) == 1  # 0.2 nano-dollars rounds up
    prices = Prices.per_million("0.075", "0.3")
    assert cost_nanos(Usage(1, 1), prices) == 375
    # A thousand identical calls cost a thousand times one call: no float drift.
    assert sum(cost_nanos(Usage(123, 45), prices) for _ in range(1000)) == 1000 * cost_nanos(Usage(123, 45), prices)
    assert cost_nanos(Usage(1_000_000, 1_000_000), prices) == 375_000_000


def test_cached_and_reasoning_tokens_use_their_own_prices():
    prices = Prices(Decimal("0.000002"), Decimal("0.00001"), cached_input=Decimal("0.0000005"),
                    reasoning=Decimal("0.00002"))
    usage = Usage(input_tokens=1000, output_tokens=300, cached_tokens=400, reasoning_tokens=100)
    assert cost_nanos(usage, prices) == 600 * 2000 + 400 * 500 + 200 * 10_000 + 100 * 20_000


def test_worst_case_covers_any_real_outcome():
    prices = Prices(Decimal("0.000002"), Decimal("0.00001"), cached_input=Decimal("0.000001"),
                    reasoning=Decimal("0.00003"))
    worst = worst_case_nanos(500, 200, prices)
    for cached in (0, 250, 500):
        for reasoning in (0, 100, 200):
            assert cost_nanos(Usage(500, 200, cached, reasoning), prices) <= worst


@pytest.mark.parametrize(("nanos", "shown"), [
    (0, "$0.00"), (1_234_560_000_000, "$1,234.56"), (123_000, "$0.000123"), (1, "$0.000000001"),
    (50_000_000, "$0.05"), (55_000_000, "$0.0550"),
])
def test_format_usd_never_shows_a_real_cost_as_zero(nanos, shown):
    assert format_usd(nanos) == shown


def test_usd_to_nanos():
    assert usd_to_nanos("1000") == 1_000_000_000_000 and usd_to_nanos(Decimal("0.1")) == 100_000_000


def test_gateway_settings_defaults(db):
    cfg = config.load()
    assert cfg.monthly_budget_nanos == 1_000_000_000_000
    assert cfg.alert_levels == (50, 70, 80, 90, 95, 99, 100)
    assert (cfg.attempts_per_provider, cfg.backoff_base, cfg.cache_ttl_days) == (3, 2.0, 90)
    assert cfg.fallback_prices.unpriced and cfg.fallback_prices.input > 0
    assert cfg.plugins == ("redact_pii",) and not cfg.dry_run and cfg.cache_enabled


@pytest.mark.parametrize(("key", "value", "stored"), [
    ("llm.monthly_budget_usd", " 250.50 ", "250.50"),
    ("llm.alert_levels", "90, 50,50 ,100", "50,90,100"),
    ("llm.feature_allocations", "inbox = 200, docs=12.5", "inbox=200, docs=12.5"),
    ("llm.cache_enabled", "No", "false"),
    ("llm.dry_run", "on", "true"),
])
def test_llm_settings_are_normalised(db, key, value, stored):
    runtime_settings.set_value(key, value)
    assert runtime_settings.get(key) == stored
    config.load()  # and the gateway can read it


@pytest.mark.parametrize(("key", "value", "message"), [
    ("llm.monthly_budget_usd", "lots", "must be a number"),
    ("llm.monthly_budget_usd", "-5", "zero or more"),
    ("llm.monthly_budget_usd", "NaN", "zero or more"),
    ("llm.alert_levels", "50,abc", "whole percentages"),
    ("llm.alert_levels", "0,150", "between 1 and 100"),
    ("llm.feature_allocations", "inbox", "feature=USD"),
    ("llm.feature_allocations", "inbox=-1", "zero or more"),
    ("llm.attempts_per_provider", "0", "at least 1"),
])
def test_bad_llm_settings_are_refused_and_nothing_changes(db, key, value, message):
    before = runtime_settings.get(key)
    with pytest.raises(ValidationError, match=message):
        runtime_settings.set_value(key, value)
    assert runtime_settings.get(key) == before


def test_a_change_in_this_process_applies_to_the_next_read(db):
    assert config.current.get().monthly_budget_nanos == usd_to_nanos("1000")
    runtime_settings.set_value("llm.monthly_budget_usd", "5")
    assert config.current.get().monthly_budget_nanos == usd_to_nanos("5")
    runtime_settings.unset("llm.monthly_budget_usd")
    assert config.current.get().monthly_budget_nanos == usd_to_nanos("1000")


def test_get_values_reads_several_settings_and_decrypts_secrets(db):
    runtime_settings.set_value("openai.api_key", "sk-secret-value-123")
    values = runtime_settings.get_values(["openai.api_key", "auth.lockout_minutes", "gemini.api_key"])
    assert values == {"openai.api_key": "sk-secret-value-123", "auth.lockout_minutes": "15", "gemini.api_key": ""}
