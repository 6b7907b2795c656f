"""Runtime settings: admin-editable values kept in the database.

Every read goes to the database, so a change made in the Settings page (or
with the CLI, or by another process) applies at once, without a restart.
Secret values are encrypted at rest and registered with the log redactor.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from dotenv import dotenv_values
from sqlmodel import Session, select

from services import crypto, redaction
from services.auth.errors import ValidationError
from services.db import session_scope
from services.db.models import Setting
from services.db.models.base import utcnow


@dataclass(frozen=True)
class SettingSpec:
    key: str
    label: str
    group: str
    secret: bool = False
    default: str = ""
    kind: str = "text"  # text | int | decimal | bool | levels | allocations
    help: str = ""
    minimum: int = 0
    maximum: int | None = None  # for int and decimal kinds


# The settings the app knows. Later features append theirs here.
KNOWN: tuple[SettingSpec, ...] = (
    SettingSpec("openai.api_key", "OpenAI API key", "LLM providers", secret=True),
    SettingSpec("anthropic.api_key", "Anthropic API key", "LLM providers", secret=True),
    SettingSpec("gemini.api_key", "Google Gemini API key", "LLM providers", secret=True),
    SettingSpec("google.client_id", "Google OAuth client ID", "Integrations"),
    SettingSpec("google.client_secret", "Google OAuth client secret", "Integrations", secret=True),
    SettingSpec("microsoft.client_id", "Microsoft OAuth client ID", "Integrations"),
    SettingSpec("microsoft.client_secret", "Microsoft OAuth client secret", "Integrations", secret=True),
    SettingSpec("slack.bot_token", "Slack bot token", "Integrations", secret=True),
    SettingSpec("slack.client_id", "Slack app client ID", "Integrations",
                help="For 'Add to Slack' on the Inbox accounts page; a pasted token works without it."),
    SettingSpec("slack.client_secret", "Slack app client secret", "Integrations", secret=True),
    SettingSpec("slack.signing_secret", "Slack signing secret", "Integrations", secret=True),
    SettingSpec("jira.url", "JIRA address offered when users connect", "Integrations"),
    SettingSpec("confluence.url", "Confluence URL", "Integrations"),
    SettingSpec("confluence.api_token", "Confluence API token", "Integrations", secret=True),
    SettingSpec(
        "auth.max_failed_logins", "Failed sign-ins before lockout", "Limits", default="5", kind="int",
        help="Consecutive wrong passwords before an account is locked.", minimum=1,
    ),
    SettingSpec("auth.lockout_minutes", "Lockout duration (minutes)", "Limits", default="15", kind="int", minimum=1),
    SettingSpec(
        "jobs.export_keep_days", "Keep data exports for (days)", "Limits", default="7", kind="int", minimum=1,
        help="Older export files are deleted when the user starts a new export.",
    ),
    SettingSpec(
        "llm.monthly_budget_usd", "Monthly LLM budget (USD)", "LLM budget", default="1000", kind="decimal",
        help="Provider calls are refused once the month's spending would pass this amount.",
    ),
    SettingSpec(
        "llm.feature_allocations", "Budget per feature (USD)", "LLM budget", kind="allocations",
        help="Optional caps inside the monthly budget, e.g. 'inbox=200, docs=100'.",
    ),
    SettingSpec(
        "llm.daily_call_limit", "Daily provider call limit", "LLM budget", default="0", kind="int",
        help="0 means no limit.",
    ),
    SettingSpec(
        "llm.daily_cost_alert_usd", "Daily cost alert (USD)", "LLM budget", default="0", kind="decimal",
        help="Admins are notified once a day when the day's spending passes this; 0 turns it off.",
    ),
    SettingSpec(
        "llm.alert_levels", "Budget alert levels (%)", "LLM budget", default="50,70,80,90,95,99,100",
        kind="levels", help="Each level notifies the admins once per month.",
    ),
    SettingSpec(
        "llm.fallback_input_price", "Price of unpriced models, input (USD per 1M tokens)", "LLM budget",
        default="15", kind="decimal",
        help="Charged when a model has no known price, so an unpriced call never counts as free.",
    ),
    SettingSpec(
        "llm.fallback_output_price", "Price of unpriced models, output (USD per 1M tokens)", "LLM budget",
        default="75", kind="decimal",
    ),
    SettingSpec("llm.attempts_per_provider", "Attempts per provider", "LLM gateway", default="3", kind="int",
                minimum=1),
    SettingSpec(
        "llm.backoff_base_seconds", "Retry backoff base (seconds)", "LLM gateway", default="2", kind="decimal",
        help="Waits are base, 2x base, 4x base ... with jitter; a provider's Retry-After wins when longer.",
    ),
    SettingSpec("llm.max_backoff_seconds", "Longest retry wait (seconds)", "LLM gateway", default="60",
                kind="decimal"),
    SettingSpec("llm.timeout_seconds", "Provider timeout (seconds)", "LLM gateway", default="120", kind="int",
                minimum=1),
    SettingSpec(
        "llm.cooldown_after_failures", "Failed requests before a provider cools down", "LLM gateway",
        default="3", kind="int", minimum=1,
    ),
    SettingSpec("llm.cooldown_seconds", "Provider cool-down (seconds)", "LLM gateway", default="300", kind="int"),
    SettingSpec("llm.cache_enabled", "Response cache", "LLM gateway", default="true", kind="bool"),
    SettingSpec("llm.cache_ttl_days", "Cache lifetime (days)", "LLM gateway", default="90", kind="int", minimum=1),
    SettingSpec(
        "llm.cache_off_features", "Features that never use the cache", "LLM gateway",
        help="Comma-separated feature names, e.g. 'turbo'.",
    ),
    SettingSpec(
        "llm.log_retention_days", "Keep prompts and responses for (days)", "LLM gateway", default="90",
        kind="int", minimum=1, help="Older call logs keep their tokens and costs; their texts are deleted.",
    ),
    SettingSpec(
        "llm.dry_run", "Dry run (no provider calls)", "LLM gateway", default="false", kind="bool",
        help="Every call returns a labelled dry-run result without contacting a provider.",
    ),
    SettingSpec(
        "llm.plugins", "Prompt plugins", "LLM gateway", default="redact_pii",
        help="Comma-separated plugin names, applied in order.",
    ),
    SettingSpec(
        "llm.redact", "Redact before sending", "LLM gateway", default="emails,phones,api_keys",
        help="What the redact_pii plugin removes from prompts: emails, phones, api_keys.",
    ),
    SettingSpec(
        "llm.min_quality_score", "Minimum quality score to learn from", "LLM learning", default="90", kind="int",
        maximum=100, help="0-100. An accepted output becomes a learned template only at or above this score.",
    ),
    SettingSpec(
        "llm.cross_validation", "Second-provider review of sensitive code", "LLM learning", default="true",
        kind="bool", help="Code for payment, auth, SQL, migrations ... is reviewed by another provider.",
    ),
    SettingSpec(
        "llm.templates_enabled", "Answer repeat work from learned templates", "LLM learning", default="true",
        kind="bool",
    ),
    SettingSpec(
        "llm.template_similarity", "Template match threshold (0-1)", "LLM learning", default="0.80",
        kind="decimal", maximum=1, help="Cosine similarity a new request needs to be answered from a template.",
    ),
    SettingSpec(
        "llm.template_features", "Features answered from templates", "LLM learning",
        default="assistant,inbox,jira", help="Comma-separated feature names.",
    ),
    SettingSpec(
        "llm.template_floor", "Disable templates below quality", "LLM learning", default="60", kind="int",
        maximum=100, help="Bad ratings and heavy edits lower a template's quality; below this it stops answering.",
    ),
    SettingSpec(
        "docs.min_similarity", "Answer only above similarity (0-1)", "Doc Q&A", default="0.2", kind="decimal",
        maximum=1, help="Below this cosine similarity between the question and its best passage, Doc Q&A says it "
                        "cannot find the answer instead of guessing (up to 0.35 the passage must also share a "
                        "word with the question).",
    ),
    SettingSpec("docs.passages", "Passages per answer", "Doc Q&A", default="6", kind="int", minimum=1, maximum=20,
                help="How many retrieved passages are sent to the model and cited."),
    SettingSpec("capture.retention_hours", "Keep captures for (hours)", "Capture", default="24", kind="int",
                minimum=1, help="Screen frames, audio and typed text from capture agents are deleted after this."),
    SettingSpec("capture.turbo_interval_seconds", "Turbo mode: seconds between suggestion runs", "Capture",
                default="10", kind="int", minimum=3, maximum=600,
                help="At most one run per user per interval, and only when the agent sent something new."),
    SettingSpec("capture.transcription", "Speech transcription", "Capture", default="none",
                help="'none': captured audio is kept untranscribed. 'gateway': sent to the provider below through "
                     "the LLM gateway, budgeted and costed like every LLM call."),
    SettingSpec("capture.transcription_provider", "Transcription provider", "Capture",
                help="A provider name from the LLM chain whose OpenAI-compatible endpoint transcribes (OpenAI, "
                     "Groq, a self-hosted Whisper server); empty: every OpenAI-compatible provider, in chain order."),
    SettingSpec("capture.transcription_model", "Transcription model", "Capture", default="whisper-1",
                help="The model on that endpoint, e.g. whisper-1 or gpt-4o-mini-transcribe."),
    SettingSpec("capture.transcription_price_per_minute", "Transcription price (USD per minute of audio)",
                "Capture", kind="decimal",
                help="Overrides the model's known price; clear it to use the known price. A model with no known "
                     "price is charged the fallback price; a self-hosted endpoint without a key is free."),
)
_BY_KEY = {spec.key: spec for spec in KNOWN}
# Called after any change, so caches of settings in this process drop at once.
_listeners: list[Callable[[], None]] = []


def on_change(listener: Callable[[], None]) -> None:
    _listeners.append(listener)


def _changed() -> None:
    for listener in _listeners:
        listener()
_KEY_RE = re.compile(r"^[a-z0-9_][a-z0-9_.\-]{0,119}$")
_SECRET_WORDS = ("key", "secret", "token", "password", "passwd", "credential")

# Bootstrap settings stay in the environment: importing them would be misleading.
BOOTSTRAP_ENV_KEYS = frozenset(
    {"DATABASE_URL", "REDIS_URL", "LLMCODER_SECRET_KEY", "LLMCODER_DATA_DIR", "LLMCODER_FRONTEND_PORT",
     "LLMCODER_BACKEND_PORT", "LLMCODER_WORKERS", "LLMCODER_WEB_WORKERS", "LLMCODER_PUBLIC_URL", "LLMCODER_INPROCESS_THREADS", "LLMCODER_SESSION_DAYS",
     "LLMCODER_LOG_LEVEL",
     # The settings module's comment promises the prefixed forms too; they hold passwords.
     "LLMCODER_DATABASE_URL", "LLMCODER_REDIS_URL"}
)


@dataclass(frozen=True)
class SettingView:
    """What the UI and CLI may show: secrets only masked."""

    key: str
    label: str
    group: str
    secret: bool
    display: str
    is_set: bool
    kind: str
    help: str
    problem: str = ""  # set when the stored value cannot be shown


def spec_for(key: str) -> SettingSpec:
    if key in _BY_KEY:
        return _BY_KEY[key]
    return SettingSpec(key, key, "Other", secret=looks_secret(key))


def looks_secret(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def normalise_key(key: str) -> str:
    key = key.strip().lower()
    if not _KEY_RE.match(key):
        raise ValidationError(
            f"{key!r} is not a valid setting name: use lower-case letters, digits, '.', '_' or '-'."
        )
    return key


def parse_decimal(label: str, value: str) -> Decimal:
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise ValidationError(f"{label} must be a number, not {value!r}.") from None
    if not number.is_finite() or number < 0:
        raise ValidationError(f"{label} must be zero or more.")
    return number


def parse_bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def parse_levels(label: str, value: str) -> list[int]:
    """'50, 70,100' -> [50, 70, 100]: whole percentages from 1 to 100, sorted, unique."""
    try:
        levels = sorted({int(part) for part in value.split(",") if part.strip()})
    except ValueError:
        raise ValidationError(f"{label} must be whole percentages separated by commas.") from None
    if any(level < 1 or level > 100 for level in levels):
        raise ValidationError(f"{label} must be between 1 and 100.")
    return levels


def parse_allocations(label: str, value: str) -> dict[str, Decimal]:
    """'inbox=200, docs=100' -> {'inbox': 200, 'docs': 100}."""
    allocations: dict[str, Decimal] = {}
    for part in value.split(","):
        if not part.strip():
            continue
        name, sep, amount = part.partition("=")
        if not sep or not name.strip():
            raise ValidationError(f"{label}: write each entry as feature=USD, not {part.strip()!r}.")
        allocations[name.strip()] = parse_decimal(f"{label} ({name.strip()})", amount)
    return allocations


def _check_maximum(spec: SettingSpec, number: int | Decimal) -> None:
    if spec.maximum is not None and number > spec.maximum:
        raise ValidationError(f"{spec.label} must be at most {spec.maximum}.")


def _validate(spec: SettingSpec, value: str) -> str:
    if spec.kind == "decimal":
        decimal = parse_decimal(spec.label, value)
        _check_maximum(spec, decimal)
        return str(decimal)
    if spec.kind == "bool":
        return "true" if parse_bool(value) else "false"
    if spec.kind == "levels":
        return ",".join(str(level) for level in parse_levels(spec.label, value))
    if spec.kind == "allocations":
        return ", ".join(f"{k}={v}" for k, v in parse_allocations(spec.label, value).items())
    if spec.kind == "int":
        try:
            number = int(value.strip())
        except ValueError:
            raise ValidationError(f"{spec.label} must be a whole number, not {value!r}.") from None
        if number < spec.minimum:
            raise ValidationError(f"{spec.label} must be at least {spec.minimum}.")
        _check_maximum(spec, number)
        return str(number)
    return value


def get(key: str) -> str:
    """The current value (decrypted), or the default when unset."""
    spec = spec_for(normalise_key(key))
    with session_scope() as session:
        row = session.get(Setting, spec.key)
    if row is None:
        return spec.default
    if row.is_secret:
        value = crypto.decrypt(row.value)
        redaction.register(value)
        return value
    return row.value


def get_many(prefix: str) -> dict[str, str]:
    """Every setting under a prefix, defaults included, in one query: hot paths such as
    the LLM gateway read their whole configuration per call without N round trips."""
    values = {spec.key: spec.default for spec in KNOWN if spec.key.startswith(prefix)}
    with session_scope() as session:
        rows = session.exec(select(Setting).where(Setting.key.startswith(prefix))).all()  # type: ignore[attr-defined]
    values.update(_decoded(rows))
    return values


def get_values(keys: Iterable[str]) -> dict[str, str]:
    """Several named settings in one query (defaults for the unset ones)."""
    wanted = {normalise_key(key) for key in keys}
    values = {key: spec_for(key).default for key in wanted}
    if wanted:
        with session_scope() as session:
            rows = session.exec(select(Setting).where(Setting.key.in_(wanted))).all()  # type: ignore[attr-defined]
        values.update(_decoded(rows))
    return values


def _decoded(rows: Iterable[Setting]) -> dict[str, str]:
    values = {}
    for row in rows:
        if row.is_secret:
            values[row.key] = crypto.decrypt(row.value)
            redaction.register(values[row.key])
        else:
            values[row.key] = row.value
    return values


def get_int(key: str) -> int:
    return int(get(key) or spec_for(key).default or 0)


def set_value(key: str, value: str, *, updated_by: int | None = None) -> SettingView:
    key = normalise_key(key)
    spec = spec_for(key)
    value = _validate(spec, value)
    with session_scope() as session:
        _write(session, spec, value, updated_by)
    _changed()
    return _view(spec, value, True)


def _write(session: Session, spec: SettingSpec, value: str, updated_by: int | None) -> None:
    """Store one validated value (encrypted when secret); the caller commits and notifies."""
    row = session.get(Setting, spec.key) or Setting(key=spec.key)
    row.is_secret = spec.secret
    row.value = crypto.encrypt(value) if spec.secret else value
    row.updated_at = utcnow()
    row.updated_by = updated_by
    session.add(row)
    if spec.secret:
        redaction.register(value)


class SettingsInvalid(ValidationError):
    """Several values refused at once, by key, so a form can mark each field."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(" ".join(problems.values()))
        self.problems = problems


def set_many(values: Mapping[str, str], *, updated_by: int | None = None) -> list[str]:
    """All or nothing, for forms: every value is validated before any is stored (SettingsInvalid
    names each bad one), then the changed ones are written in one transaction. Returns the keys
    whose value changed; an unchanged value is not written, so an unset setting keeps following
    its default."""
    problems: dict[str, str] = {}
    checked: dict[str, str] = {}
    for raw_key, value in values.items():
        try:
            key = normalise_key(raw_key)
            checked[key] = _validate(spec_for(key), value)
        except ValidationError as exc:
            problems[raw_key] = str(exc)
    if problems:
        raise SettingsInvalid(problems)
    stored = get_values(checked)
    changed = [key for key, value in checked.items() if stored[key] != value]
    if not changed:
        return []
    with session_scope() as session:
        for key in changed:
            _write(session, spec_for(key), checked[key], updated_by)
    _changed()
    return changed


def unset(key: str) -> None:
    with session_scope() as session:
        row = session.get(Setting, normalise_key(key))
        if row is not None:
            session.delete(row)
    _changed()


UNREADABLE = (
    "This secret cannot be decrypted: the secret key changed (LLMCODER_SECRET_KEY or data/secret.key). "
    "Restore the key or set the value again."
)


def _stored_view(spec: SettingSpec, row: Setting) -> SettingView:
    """A row as the UI shows it; one undecryptable secret must not break the whole list."""
    if not row.is_secret:
        return _view(spec, row.value, True)
    try:
        return _view(spec, crypto.decrypt(row.value), True)
    except crypto.SecretDecryptError:
        return SettingView(spec.key, spec.label, spec.group, True, "", True, spec.kind, spec.help, problem=UNREADABLE)


def _view(spec: SettingSpec, value: str, is_set: bool) -> SettingView:
    display = crypto.mask(value) if spec.secret else value
    return SettingView(spec.key, spec.label, spec.group, spec.secret, display, is_set, spec.kind, spec.help)


def view(key: str) -> SettingView:
    spec = spec_for(normalise_key(key))
    with session_scope() as session:
        row = session.get(Setting, spec.key)
    if row is None:
        return _view(spec, spec.default, False)
    return _stored_view(spec, row)


def list_views() -> list[SettingView]:
    """Every known setting plus any stored custom one, in display order."""
    with session_scope() as session:
        rows = {row.key: row for row in session.exec(select(Setting)).all()}
    views = []
    for key in [spec.key for spec in KNOWN] + sorted(k for k in rows if k not in _BY_KEY):
        spec = spec_for(key)
        row = rows.get(key)
        if row is None:
            views.append(_view(spec, spec.default, False))
        else:
            views.append(_stored_view(spec, row))
    return views


def load_secrets_into_redactor() -> int:
    """At start-up: every stored secret becomes unloggable before anything logs."""
    with session_scope() as session:
        rows = session.exec(select(Setting).where(Setting.is_secret)).all()
    count = 0
    for row in rows:
        try:
            redaction.register(crypto.decrypt(row.value))
            count += 1
        except crypto.SecretDecryptError:
            continue
    return count


@dataclass(frozen=True)
class ImportReport:
    imported: list[str]
    skipped: list[str]


def env_key_to_setting(env_key: str) -> str:
    """OPENAI_API_KEY -> openai.api_key, JIRA_URL -> jira.url; unknown keys keep their words."""
    lowered = env_key.strip().lower()
    for spec in KNOWN:
        if spec.key.replace(".", "_") == lowered:
            return spec.key
    return lowered


def import_env_file(path: str | Path, *, updated_by: int | None = None) -> ImportReport:
    """Copy a .env file's values into runtime settings; the file itself is left alone."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValidationError(f"No file at {path}.")
    try:
        values = dotenv_values(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"Cannot read {path}: {exc}") from exc
    imported, skipped = [], []
    for env_key, value in values.items():
        # Case-insensitive, as pydantic-settings reads them: database_url is DATABASE_URL.
        if env_key.strip().upper() in BOOTSTRAP_ENV_KEYS:
            skipped.append(f"{env_key} (bootstrap setting: stays in the environment)")
            continue
        if value is None or value == "":
            skipped.append(f"{env_key} (empty)")
            continue
        try:
            key = normalise_key(env_key_to_setting(env_key))
            set_value(key, value, updated_by=updated_by)
        except ValidationError as exc:
            skipped.append(f"{env_key} ({exc})")
            continue
        imported.append(key)
    return ImportReport(imported, skipped)
