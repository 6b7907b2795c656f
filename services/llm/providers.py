"""The provider chain: ordered deployments an admin edits, their keys and cool-downs."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlparse

from sqlalchemy import update as sql_update
from sqlmodel import Session, col, select

from services import crypto, runtime_settings
from services.auth.errors import ValidationError
from services.db import session_scope
from services.db.models import LLMDeployment
from services.db.models.base import utcnow
from services.llm.config import Fresh

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,79}$")
# Providers that run on the user's own machine: no key needed, zero price is real.
LOCAL_PREFIXES = ("ollama/", "ollama_chat/", "lm_studio/", "llamafile/")
KEY_PREFIX = "provider_key."

@dataclass(frozen=True)
class Deployment:
    id: int
    name: str
    model: str
    api_base: str
    key_ref: str
    enabled: bool
    position: int
    input_price: str
    output_price: str
    cached_input_price: str
    consecutive_failures: int
    cooldown_until: datetime | None

    @property
    def is_local(self) -> bool:
        return self.model.startswith(LOCAL_PREFIXES)

    @property
    def has_admin_prices(self) -> bool:
        return bool(self.input_price and self.output_price)

    def cooling_down(self, now: datetime) -> bool:
        return self.cooldown_until is not None and self.cooldown_until > now


def _view(row: LLMDeployment) -> Deployment:
    assert row.id is not None
    return Deployment(
        row.id, row.name, row.model, row.api_base, row.key_ref, row.enabled, row.position, row.input_price,
        row.output_price, row.cached_input_price, row.consecutive_failures, row.cooldown_until,
    )


def chain() -> list[Deployment]:
    with session_scope() as session:
        rows = session.exec(select(LLMDeployment).order_by(col(LLMDeployment.position), col(LLMDeployment.id))).all()
        return [_view(row) for row in rows]


def keys_for(deployments: list[Deployment]) -> dict[str, str]:
    """API keys by deployment name, read in one query."""
    refs = {d.name: d.key_ref for d in deployments if d.key_ref}
    values = runtime_settings.get_values(refs.values())
    return {name: values.get(ref, "") for name, ref in refs.items()}


def _load_current() -> tuple[list[Deployment], dict[str, str]]:
    deployments = chain()
    return deployments, keys_for(deployments)


# The chain and its keys as the gateway reads them per call (see config.Fresh).
current = Fresh(_load_current)


def usable(deployment: Deployment, key: str) -> bool:
    """Enabled and able to authenticate: a key, or a local/self-hosted endpoint that needs none."""
    return deployment.enabled and bool(key or deployment.is_local or (deployment.api_base and not deployment.key_ref))


def _check_price(label: str, value: str) -> str:
    if value == "":
        return ""
    return str(runtime_settings.parse_decimal(label, value))


def _check_api_base(api_base: str) -> str:
    api_base = api_base.strip()
    if api_base:
        parsed = urlparse(api_base)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValidationError(f"API base must be an http(s) URL, not {api_base!r}.")
    return api_base


def _check_model(model: str) -> str:
    model = model.strip()
    if not model or " " in model:
        raise ValidationError("Model must be a litellm model id such as gpt-4o or gemini/gemini-2.5-pro.")
    return model


def _check_prices(input_price: str, output_price: str, cached_input_price: str) -> list[str]:
    prices = [_check_price(label, value) for label, value in (
        ("Input price", input_price), ("Output price", output_price), ("Cached input price", cached_input_price))]
    if bool(prices[0]) != bool(prices[1]):
        raise ValidationError("Give both the input and the output price, or neither (then the cost map applies).")
    return prices


def _ordered(session: Session) -> list[LLMDeployment]:
    """The chain's rows in order, locked (PostgreSQL) so concurrent reorders renumber one at a time."""
    query = select(LLMDeployment).order_by(col(LLMDeployment.position), col(LLMDeployment.id)).with_for_update()
    return list(session.exec(query).all())


def _renumber(session: Session, ordered: list[LLMDeployment]) -> None:
    """Positions 1..n in this order: dense, so 'move to 2' always means second."""
    for number, row in enumerate(ordered, start=1):
        if row.position != number:
            row.position, row.updated_at = number, utcnow()
        session.add(row)


def add(*, name: str, model: str, api_base: str = "", api_key: str | None = None, key_ref: str = "",
        input_price: str = "", output_price: str = "", cached_input_price: str = "",
        position: int | None = None, enabled: bool = True) -> Deployment:
    """Adds a deployment at `position` (1 = first; default last). A given key is stored
    encrypted as its own setting; `key_ref` instead points at an existing setting."""
    name = name.strip().lower()
    if not _NAME_RE.match(name):
        raise ValidationError("Provider name: lower-case letters, digits, '.', '_' or '-', at most 80 characters.")
    model = _check_model(model)
    prices = _check_prices(input_price, output_price, cached_input_price)
    api_base = _check_api_base(api_base)
    with session_scope() as session:
        if session.exec(select(LLMDeployment).where(LLMDeployment.name == name)).first():
            raise ValidationError(f"A provider named {name!r} exists already.")
    if api_key:
        key_ref = KEY_PREFIX + name
        runtime_settings.set_value(key_ref, api_key)
    elif key_ref:
        key_ref = runtime_settings.normalise_key(key_ref)
    with session_scope() as session:
        ordered = _ordered(session)
        index = len(ordered) if position is None else min(max(position, 1), len(ordered) + 1) - 1
        row = LLMDeployment(name=name, model=model, api_base=api_base, key_ref=key_ref, enabled=enabled,
                            input_price=prices[0], output_price=prices[1], cached_input_price=prices[2])
        ordered.insert(index, row)
        _renumber(session, ordered)
        session.flush()
        added = _view(row)
    current.clear()
    return added


def _require(session: Session, name: str) -> LLMDeployment:
    row = session.exec(select(LLMDeployment).where(LLMDeployment.name == name.strip().lower())).first()
    if row is None:
        raise ValidationError(f"No provider named {name!r}.")
    return row


def remove(name: str) -> None:
    with session_scope() as session:
        row = _require(session, name)
        key_ref = row.key_ref
        session.delete(row)
    if key_ref.startswith(KEY_PREFIX):
        runtime_settings.unset(key_ref)
    current.clear()


def update(name: str, *, model: str | None = None, api_base: str | None = None, api_key: str | None = None,
           input_price: str | None = None, output_price: str | None = None,
           cached_input_price: str | None = None) -> Deployment:
    """Changes the given fields; None (and an empty `api_key`) keeps a field as it is, "" clears
    a price or the API base. A new key is stored as the provider's own setting, so a shared key
    (`key_ref` such as openai.api_key) is never overwritten for everyone. A change of model,
    endpoint or key ends a cool-down: the old failures say nothing about the new set-up."""
    with session_scope() as session:
        row = _require(session, name)
        model = row.model if model is None else _check_model(model)
        api_base = row.api_base if api_base is None else _check_api_base(api_base)
        prices = _check_prices(
            row.input_price if input_price is None else input_price,
            row.output_price if output_price is None else output_price,
            row.cached_input_price if cached_input_price is None else cached_input_price,
        )
        name = row.name
    if api_key:
        runtime_settings.set_value(KEY_PREFIX + name, api_key)
    with session_scope() as session:
        row = _require(session, name)
        reconnect = bool(api_key) or (model, api_base) != (row.model, row.api_base)
        row.model, row.api_base = model, api_base
        row.input_price, row.output_price, row.cached_input_price = prices
        if api_key:
            row.key_ref = KEY_PREFIX + name
        if reconnect:
            row.consecutive_failures, row.cooldown_until = 0, None
        row.updated_at = utcnow()
        session.add(row)
        changed = _view(row)
    current.clear()
    return changed


def move(name: str, position: int) -> Deployment:
    """Puts a deployment at `position` (1 = tried first) and renumbers the chain densely."""
    with session_scope() as session:
        ordered = _ordered(session)
        row = _require(session, name)
        if not 1 <= position <= len(ordered):
            raise ValidationError(f"Position must be between 1 and {len(ordered)}, not {position}.")
        ordered.remove(row)
        ordered.insert(position - 1, row)
        _renumber(session, ordered)
        session.flush()
        moved = _view(row)
    current.clear()
    return moved


@dataclass(frozen=True)
class ProviderStatus:
    """One deployment as the admin sees it: the key only masked, never the key itself."""

    deployment: Deployment
    key_display: str  # "••••abcd", "no key", or why the key cannot be read
    key_setting: str  # the runtime setting holding the key (a name, not a secret)
    usable: bool
    cooling_down: bool


def _masked_key(key_ref: str) -> tuple[str, str]:
    """(masked key, key) of one setting; a key that no longer decrypts breaks only its own row."""
    if not key_ref:
        return "no key", ""
    try:
        key = runtime_settings.get(key_ref)
    except crypto.SecretDecryptError:
        return "unreadable key: set it again", ""
    return (crypto.mask(key) if key else "no key"), key


def admin_view() -> list[ProviderStatus]:
    """The chain for the admin pages, in order."""
    now = utcnow()
    statuses = []
    for deployment in chain():
        shown, key = _masked_key(deployment.key_ref)
        statuses.append(ProviderStatus(deployment, shown, deployment.key_ref, usable(deployment, key),
                                       deployment.cooling_down(now)))
    return statuses


def set_enabled(name: str, enabled: bool) -> Deployment:
    with session_scope() as session:
        row = _require(session, name)
        row.enabled, row.updated_at = enabled, utcnow()
        if enabled:  # an admin re-enabling a provider means "try it now"
            row.consecutive_failures, row.cooldown_until = 0, None
        session.add(row)
        changed = _view(row)
    current.clear()
    return changed


def record_failure(deployment: Deployment, *, after: int, cooldown_seconds: int) -> None:
    """One more failed request; the `after`-th in a row starts a cool-down."""
    with session_scope() as session:
        session.exec(sql_update(LLMDeployment).where(col(LLMDeployment.id) == deployment.id)
                     .values(consecutive_failures=LLMDeployment.consecutive_failures + 1))
        row = session.get(LLMDeployment, deployment.id)
        if row is not None and row.consecutive_failures >= after and cooldown_seconds > 0:
            row.cooldown_until = utcnow() + timedelta(seconds=cooldown_seconds)
            row.consecutive_failures = 0
            session.add(row)
            log.warning("LLM provider %s failed %d requests in a row; cooling down for %d s",
                        row.name, after, cooldown_seconds)
    current.clear()


def record_success(deployment: Deployment) -> None:
    if deployment.consecutive_failures or deployment.cooldown_until:
        with session_scope() as session:
            session.exec(sql_update(LLMDeployment).where(col(LLMDeployment.id) == deployment.id)
                         .values(consecutive_failures=0, cooldown_until=None))
        current.clear()
