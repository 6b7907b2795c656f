"""The gateway's settings as one snapshot.

Reading settings, the provider chain and keys costs several queries, more than the whole
gateway may add to a call. So each process keeps what it read for one second: a change
made in this process applies to the next call, one made elsewhere within a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Generic, TypeVar

from services import runtime_settings as rs
from services.llm.costs import Prices, usd_to_nanos


@dataclass(frozen=True)
class GatewayConfig:
    monthly_budget_nanos: int
    allocations_nanos: dict[str, int]
    daily_call_limit: int
    daily_cost_alert_nanos: int
    alert_levels: tuple[int, ...]
    fallback_prices: Prices
    attempts_per_provider: int
    backoff_base: float
    max_backoff: float
    timeout: float
    cooldown_after_failures: int
    cooldown_seconds: int
    cache_enabled: bool
    cache_ttl_days: int
    cache_off_features: frozenset[str]
    log_retention_days: int
    dry_run: bool
    plugins: tuple[str, ...]
    redact_kinds: tuple[str, ...]
    min_quality: int
    cross_validation: bool
    templates_enabled: bool
    template_similarity: float
    template_features: frozenset[str]
    template_floor: int

    def templates_allowed(self, feature: str) -> bool:
        return self.templates_enabled and feature in self.template_features

    def cache_allowed(self, feature: str) -> bool:
        return self.cache_enabled and feature not in self.cache_off_features


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def load() -> GatewayConfig:
    v = rs.get_many("llm.")

    def number(key: str) -> Decimal:
        return rs.parse_decimal(rs.spec_for(key).label, v[key])

    return GatewayConfig(
        monthly_budget_nanos=usd_to_nanos(number("llm.monthly_budget_usd")),
        allocations_nanos={
            name: usd_to_nanos(amount)
            for name, amount in rs.parse_allocations("Budget per feature", v["llm.feature_allocations"]).items()
        },
        daily_call_limit=int(v["llm.daily_call_limit"]),
        daily_cost_alert_nanos=usd_to_nanos(number("llm.daily_cost_alert_usd")),
        alert_levels=tuple(rs.parse_levels("Budget alert levels", v["llm.alert_levels"])),
        fallback_prices=Prices.per_million(
            number("llm.fallback_input_price"), number("llm.fallback_output_price"), source="fallback", unpriced=True
        ),
        attempts_per_provider=max(1, int(v["llm.attempts_per_provider"])),
        backoff_base=float(number("llm.backoff_base_seconds")),
        max_backoff=float(number("llm.max_backoff_seconds")),
        timeout=float(v["llm.timeout_seconds"]),
        cooldown_after_failures=max(1, int(v["llm.cooldown_after_failures"])),
        cooldown_seconds=int(v["llm.cooldown_seconds"]),
        cache_enabled=rs.parse_bool(v["llm.cache_enabled"]),
        cache_ttl_days=max(1, int(v["llm.cache_ttl_days"])),
        cache_off_features=frozenset(_names(v["llm.cache_off_features"])),
        log_retention_days=max(1, int(v["llm.log_retention_days"])),
        dry_run=rs.parse_bool(v["llm.dry_run"]),
        plugins=_names(v["llm.plugins"]),
        redact_kinds=_names(v["llm.redact"]),
        min_quality=min(100, max(0, int(v["llm.min_quality_score"]))),
        cross_validation=rs.parse_bool(v["llm.cross_validation"]),
        templates_enabled=rs.parse_bool(v["llm.templates_enabled"]),
        template_similarity=min(1.0, max(0.0, float(number("llm.template_similarity")))),
        template_features=frozenset(_names(v["llm.template_features"])),
        template_floor=min(100, max(0, int(v["llm.template_floor"]))),
    )


T = TypeVar("T")
K = TypeVar("K")
FRESH_SECONDS = 1.0
_instances: list[FreshMap] = []


def clear_caches() -> None:
    """Forget every cached read (tests switch databases under a running process)."""
    for fresh in _instances:
        fresh.clear()


class FreshMap(Generic[K, T]):
    """Values re-read per key (e.g. the prompt of one feature/task/project) when older than
    FRESH_SECONDS, or after `clear()` (which any settings change in this process triggers)."""

    def __init__(self, load: Callable[[K], T]) -> None:
        self._load = load
        self._values: dict[K, tuple[float, T]] = {}
        self._lock = threading.Lock()
        rs.on_change(self.clear)
        _instances.append(self)

    def get(self, key: K) -> T:
        now = time.monotonic()
        with self._lock:
            found = self._values.get(key)
        if found is not None and now - found[0] < FRESH_SECONDS:
            return found[1]
        value = self._load(key)
        with self._lock:
            self._values[key] = (now, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


class Fresh(FreshMap[None, T]):
    """One value, as FreshMap keeps one per key."""

    def __init__(self, load: Callable[[], T]) -> None:
        super().__init__(lambda _key: load())

    def get(self) -> T:  # type: ignore[override]
        return super().get(None)


current = Fresh(load)
