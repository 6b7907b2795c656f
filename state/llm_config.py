"""Admin LLM config page: the provider chain, the gateway's settings, connection tests."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

import reflex as rx

from services import runtime_settings
from services.auth.errors import AuthError, ValidationError
from services.llm import gateway, providers
from services.llm.providers import ProviderStatus
from state.formatting import when
from state.session import SessionState

# The settings this page edits, in the order it shows them (the rest stay on the Settings page).
CONFIG_KEYS = (
    "llm.monthly_budget_usd", "llm.feature_allocations", "llm.daily_call_limit", "llm.daily_cost_alert_usd",
    "llm.alert_levels", "llm.attempts_per_provider", "llm.backoff_base_seconds", "llm.min_quality_score",
    "llm.cross_validation", "llm.templates_enabled", "llm.template_similarity", "llm.cache_enabled",
    "llm.cache_ttl_days", "llm.dry_run",
)


@dataclasses.dataclass
class ProviderRow:
    name: str
    model: str
    api_base: str
    key: str
    key_setting: str
    prices: str
    input_price: str
    output_price: str
    cached_input_price: str
    enabled: bool
    status: str
    position: int
    last: bool


@dataclasses.dataclass
class SettingField:
    key: str
    slug: str  # the key as an element id (no dots)
    label: str
    kind: str
    help: str
    value: str
    error: str


@dataclasses.dataclass
class CheckRow:
    name: str
    model: str
    ok: bool
    latency_ms: int
    error: str


def _prices(d: providers.Deployment) -> str:
    if not d.has_admin_prices:
        return "cost map"
    cached = f", cached ${d.cached_input_price}" if d.cached_input_price else ""
    return f"${d.input_price} in / ${d.output_price} out{cached} per 1M"


def _status(s: ProviderStatus) -> str:
    d = s.deployment
    if not d.enabled:
        return "disabled"
    if s.cooling_down:
        return f"cooling down until {when(d.cooldown_until)}"
    if not s.usable:
        return "not usable: no key"
    if d.consecutive_failures:
        return f"{d.consecutive_failures} failure(s) in a row"
    return "ready"


def _row(s: ProviderStatus, count: int) -> ProviderRow:
    d = s.deployment
    return ProviderRow(d.name, d.model, d.api_base, s.key_display, s.key_setting, _prices(d), d.input_price,
                       d.output_price, d.cached_input_price, d.enabled, _status(s), d.position, d.position >= count)


def _slug(key: str) -> str:
    return "cfg-" + key.replace(".", "-").replace("_", "-")


class LLMConfigState(SessionState):
    chain: list[ProviderRow] = []
    chain_error: str = ""
    chain_notice: str = ""
    editing: str = ""  # the provider whose edit form is open
    fields: list[SettingField] = []
    settings_error: str = ""
    settings_notice: str = ""
    checks: list[CheckRow] = []
    checks_error: str = ""
    testing: bool = False

    def _reload_chain(self) -> None:
        statuses = providers.admin_view()
        self.chain = [_row(s, len(statuses)) for s in statuses]

    def _reload_fields(self) -> None:
        values = runtime_settings.get_values(CONFIG_KEYS)
        self.fields = []
        for key in CONFIG_KEYS:
            spec = runtime_settings.spec_for(key)
            self.fields.append(SettingField(key, _slug(key), spec.label, spec.kind, spec.help, values[key], ""))

    def _chain_action(self, action: Callable[[], str]) -> None:
        """One change to the chain; its message, or the refusal, is shown above the table."""
        self.chain_error, self.chain_notice = "", ""
        try:
            self.chain_notice = action()
        except AuthError as exc:
            self.chain_error = str(exc)
        self._reload_chain()

    @rx.event
    def load(self):
        self._require_admin()
        self.chain_error = self.chain_notice = self.settings_error = self.settings_notice = ""
        self.editing = ""
        self._reload_chain()
        self._reload_fields()

    # -- the chain

    @rx.event
    def move(self, name: str, position: int):
        self._require_admin()

        def act() -> str:
            moved = providers.move(name, position)
            return f"{moved.name} is now number {moved.position} in the chain; the next call uses this order."

        self._chain_action(act)

    @rx.event
    def set_provider_enabled(self, name: str, enabled: bool):
        self._require_admin()

        def act() -> str:
            changed = providers.set_enabled(name, enabled)
            return f"{changed.name} is {'enabled' if changed.enabled else 'disabled'}."

        self._chain_action(act)

    @rx.event
    def start_edit(self, name: str):
        self._require_admin()
        self.editing = name

    @rx.event
    def cancel_edit(self):
        self._require_admin()
        self.editing = ""

    @rx.event
    def save_provider(self, form: dict):
        self._require_admin()
        name = self.editing

        def act() -> str:
            changed = providers.update(
                name, model=form.get("model", ""), api_base=form.get("api_base", ""),
                api_key=form.get("api_key") or None, input_price=form.get("input_price", ""),
                output_price=form.get("output_price", ""), cached_input_price=form.get("cached_input_price", ""),
            )
            self.editing = ""
            return f"Saved {changed.name}."

        self._chain_action(act)

    @rx.event
    def remove_provider(self, name: str):
        self._require_admin()

        def act() -> str:
            providers.remove(name)
            self.editing = "" if self.editing == name else self.editing
            return f"Removed {name}."

        self._chain_action(act)

    @rx.event
    def add_provider(self, form: dict):
        self._require_admin()

        def act() -> str:
            position = form.get("position", "").strip()
            if position and not position.isdigit():
                raise ValidationError("Position must be a whole number (1 = tried first).")
            added = providers.add(
                name=form.get("name", ""), model=form.get("model", ""), api_base=form.get("api_base", ""),
                api_key=form.get("api_key") or None, input_price=form.get("input_price", ""),
                output_price=form.get("output_price", ""), cached_input_price=form.get("cached_input_price", ""),
                position=int(position) if position else None,
            )
            return f"Added {added.name} at position {added.position}."

        self._chain_action(act)

    # -- the settings form

    def _set(self, key: str, value: str) -> None:
        self.fields = [dataclasses.replace(f, value=value, error="") if f.key == key else f for f in self.fields]

    @rx.event
    def set_field(self, key: str, value: str):
        self._require_admin()
        self._set(key, value)

    @rx.event
    def set_flag(self, key: str, value: bool):
        self._require_admin()
        self._set(key, "true" if value else "false")

    @rx.event
    def save_settings(self):
        admin = self._require_admin()
        self.settings_error, self.settings_notice = "", ""
        try:
            changed = runtime_settings.set_many({f.key: f.value for f in self.fields}, updated_by=admin.id)
        except runtime_settings.SettingsInvalid as exc:
            self.fields = [dataclasses.replace(f, error=exc.problems.get(f.key, "")) for f in self.fields]
            self.settings_error = f"Nothing was saved: fix the {len(exc.problems)} marked field(s)."
            return
        except AuthError as exc:
            self.settings_error = str(exc)
            return
        self._reload_fields()
        self.settings_notice = (f"Saved {len(changed)} setting(s); the next call uses them." if changed
                                else "Nothing changed.")

    # -- connection tests

    @rx.event(background=True)
    async def test_connections(self):
        async with self:
            admin = self._require_admin()
            self.testing, self.checks, self.checks_error = True, [], ""
        try:
            # Blocks up to the provider timeout (in parallel): off this loop, and the page stays live.
            checks = await asyncio.to_thread(gateway.test_providers, admin.id)
        except Exception:
            async with self:
                self.testing = False
            raise
        async with self:
            self.testing = False
            self.checks = [CheckRow(c.name, c.model, c.ok, c.latency_ms, c.error) for c in checks]
            self.checks_error = "" if checks else "No provider is enabled."
