"""Runtime settings: admin-editable values kept in the database.

Every read goes to the database, so a change made in the Settings page (or
with the CLI, or by another process) applies at once, without a restart.
Secret values are encrypted at rest and registered with the log redactor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values
from sqlmodel import select

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
    kind: str = "text"  # text | int
    help: str = ""
    minimum: int = 0


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
    SettingSpec("slack.signing_secret", "Slack signing secret", "Integrations", secret=True),
    SettingSpec("jira.url", "Jira URL", "Integrations"),
    SettingSpec("jira.api_token", "Jira API token", "Integrations", secret=True),
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
)
_BY_KEY = {spec.key: spec for spec in KNOWN}
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


def _validate(spec: SettingSpec, value: str) -> str:
    if spec.kind == "int":
        try:
            number = int(value.strip())
        except ValueError:
            raise ValidationError(f"{spec.label} must be a whole number, not {value!r}.") from None
        if number < spec.minimum:
            raise ValidationError(f"{spec.label} must be at least {spec.minimum}.")
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


def get_int(key: str) -> int:
    return int(get(key) or spec_for(key).default or 0)


def set_value(key: str, value: str, *, updated_by: int | None = None) -> SettingView:
    key = normalise_key(key)
    spec = spec_for(key)
    value = _validate(spec, value)
    with session_scope() as session:
        row = session.get(Setting, key) or Setting(key=key)
        row.is_secret = spec.secret
        row.value = crypto.encrypt(value) if spec.secret else value
        row.updated_at = utcnow()
        row.updated_by = updated_by
        session.add(row)
    if spec.secret:
        redaction.register(value)
    return _view(spec, value, True)


def unset(key: str) -> None:
    with session_scope() as session:
        row = session.get(Setting, normalise_key(key))
        if row is not None:
            session.delete(row)


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
