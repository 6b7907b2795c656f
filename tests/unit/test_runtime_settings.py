"""Admin settings in the database: validation, encryption at rest, masking, .env import."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session, select

from services import crypto, redaction, runtime_settings as rs
from services.auth.errors import ValidationError
from services.db import session_scope
from services.db.engine import build_engine
from services.db.models import Setting
from services.settings import reset_settings_cache

OPENAI = "sk-proj-Abc123Def456Ghi789Jkl"


def raw_row(db_url: str, key: str):
    """The row as stored, read through an engine of its own (not the app's)."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT key, value, is_secret, updated_by FROM setting WHERE key = :k"), {"k": key}
            ).first()
    finally:
        engine.dispose()


def count_rows() -> int:
    with session_scope() as session:
        return len(session.exec(select(Setting)).all())


def test_unset_known_setting_returns_its_default(db):
    assert rs.get("jobs.export_keep_days") == "7"
    assert rs.get_int("auth.max_failed_logins") == 5
    assert rs.get("jira.url") == ""
    assert rs.get("some.custom") == ""


def test_set_and_get_a_plain_value(db):
    view = rs.set_value("jira.url", "https://jira.example.com")
    assert view.display == "https://jira.example.com"
    assert view.is_set and not view.secret
    assert rs.get("jira.url") == "https://jira.example.com"
    row = raw_row(db, "jira.url")
    assert row.value == "https://jira.example.com"
    assert not row.is_secret


def test_set_value_normalises_the_key(db):
    rs.set_value("  Jira.URL ", "https://j.example")
    assert rs.get("jira.url") == "https://j.example"


def test_secret_is_encrypted_in_the_row_and_decrypted_by_get(db):
    view = rs.set_value("openai.api_key", OPENAI)
    row = raw_row(db, "openai.api_key")
    assert row.is_secret
    assert row.value != OPENAI
    assert OPENAI not in row.value
    assert crypto.decrypt(row.value) == OPENAI
    assert rs.get("openai.api_key") == OPENAI
    assert view.display == "••••9Jkl"
    assert OPENAI not in view.display


def test_views_show_secrets_masked(db):
    rs.set_value("openai.api_key", OPENAI)
    rs.set_value("jira.url", "https://jira.example.com")
    single = rs.view("openai.api_key")
    assert single.display == crypto.mask(OPENAI) and single.is_set and single.secret
    views = {v.key: v for v in rs.list_views()}
    assert views["openai.api_key"].display == crypto.mask(OPENAI)
    assert all(OPENAI not in v.display for v in views.values())
    assert views["jira.url"].display == "https://jira.example.com"
    assert views["anthropic.api_key"].is_set is False
    assert views["anthropic.api_key"].display == ""
    assert views["jobs.export_keep_days"].display == "7"
    assert views["jobs.export_keep_days"].is_set is False


def test_list_views_has_known_settings_in_order_then_custom_ones_sorted(db):
    rs.set_value("zzz.custom", "1")
    rs.set_value("aaa.custom", "2")
    keys = [v.key for v in rs.list_views()]
    known = [spec.key for spec in rs.KNOWN]
    assert keys[: len(known)] == known
    assert keys[len(known):] == ["aaa.custom", "zzz.custom"]


def test_custom_keys_that_look_secret_are_encrypted(db):
    view = rs.set_value("acme.api_token", "tok-1234567890abcdef")
    assert view.secret
    row = raw_row(db, "acme.api_token")
    assert row.is_secret and row.value != "tok-1234567890abcdef"
    assert rs.get("acme.api_token") == "tok-1234567890abcdef"
    plain = rs.set_value("acme.region", "eu-west-1")
    assert not plain.secret and raw_row(db, "acme.region").value == "eu-west-1"


def test_updated_by_is_recorded(db, make_user):
    admin = make_user("admin@example.com", role="admin")
    rs.set_value("jira.url", "https://x.example", updated_by=admin.id)
    assert raw_row(db, "jira.url").updated_by == admin.id


def test_int_setting_is_validated_and_the_previous_value_kept(db):
    rs.set_value("jobs.export_keep_days", "120")
    with pytest.raises(ValidationError, match="whole number") as info:
        rs.set_value("jobs.export_keep_days", "lots")
    assert "'lots'" in str(info.value)
    assert "Keep data exports for" in str(info.value)
    assert rs.get("jobs.export_keep_days") == "120"

    with pytest.raises(ValidationError, match="at least 1"):
        rs.set_value("jobs.export_keep_days", "0")
    with pytest.raises(ValidationError, match="at least 1"):
        rs.set_value("auth.max_failed_logins", "0")
    with pytest.raises(ValidationError):
        rs.set_value("jobs.export_keep_days", "")
    with pytest.raises(ValidationError):
        rs.set_value("jobs.export_keep_days", "1.5")
    assert rs.get_int("jobs.export_keep_days") == 120


def test_int_setting_is_stored_canonical(db):
    rs.set_value("auth.lockout_minutes", " 0030 ")
    assert rs.get("auth.lockout_minutes") == "30"
    assert rs.get_int("auth.lockout_minutes") == 30


@pytest.mark.parametrize(
    "bad_key", ["", "   ", "has space", "semi;colon", "../etc/passwd", "ключ", "x" * 121, ".leading.dot", "a=b"]
)
def test_invalid_keys_are_refused_and_nothing_is_stored(db, bad_key):
    with pytest.raises(ValidationError, match="not a valid setting name"):
        rs.set_value(bad_key, "value")
    assert count_rows() == 0


def test_view_and_unset_refuse_invalid_keys(db):
    with pytest.raises(ValidationError):
        rs.view("bad key")
    with pytest.raises(ValidationError):
        rs.unset("bad key")


def test_unset_returns_to_the_default(db):
    rs.set_value("jobs.export_keep_days", "10")
    rs.unset("jobs.export_keep_days")
    assert rs.get("jobs.export_keep_days") == "7"
    assert rs.view("jobs.export_keep_days").is_set is False
    rs.unset("never.set")  # no error for a missing row
    assert count_rows() == 0


def test_a_change_is_visible_to_a_fresh_read_without_restart(db):
    """Another process (here: another engine) changes a value; the next get() sees it."""
    rs.set_value("auth.max_failed_logins", "7")
    other = build_engine(db)
    try:
        with Session(other) as session:
            assert session.get(Setting, "auth.max_failed_logins").value == "7"
            row = session.get(Setting, "auth.max_failed_logins")
            row.value = "3"
            session.add(row)
            session.commit()
    finally:
        other.dispose()
    assert rs.get_int("auth.max_failed_logins") == 3
    assert rs.view("auth.max_failed_logins").display == "3"


def test_secret_set_by_another_process_is_readable_here(db):
    other = build_engine(db)
    try:
        with Session(other) as session:
            session.add(Setting(key="slack.bot_token", value=crypto.encrypt("xoxb-000-111-secret"), is_secret=True))
            session.commit()
    finally:
        other.dispose()
    assert rs.get("slack.bot_token") == "xoxb-000-111-secret"


def test_set_value_registers_the_secret_with_the_redactor(db):
    rs.set_value("openai.api_key", OPENAI)
    assert redaction.redact(f"key={OPENAI}") == "key=[REDACTED]"
    rs.set_value("jira.url", "https://jira.example.com")
    assert "https://jira.example.com" not in redaction._secrets


def test_load_secrets_into_redactor_registers_every_stored_secret(db):
    rs.set_value("openai.api_key", OPENAI)
    rs.set_value("slack.client_secret", "slack-secret-0987654321")
    rs.set_value("jira.url", "https://jira.example.com")
    redaction._secrets.clear()  # as in a new process

    assert rs.load_secrets_into_redactor() == 2
    assert redaction._secrets == {OPENAI, "slack-secret-0987654321"}
    assert redaction.redact(f"{OPENAI} slack-secret-0987654321") == "[REDACTED] [REDACTED]"


def test_load_secrets_skips_values_encrypted_with_another_key(db, monkeypatch):
    rs.set_value("openai.api_key", OPENAI)
    monkeypatch.setenv("LLMCODER_SECRET_KEY", "a brand new key")
    reset_settings_cache()
    crypto.reset_key_cache()
    rs.set_value("anthropic.api_key", "sk-ant-new-key-123456")
    redaction._secrets.clear()

    assert rs.load_secrets_into_redactor() == 1
    assert redaction._secrets == {"sk-ant-new-key-123456"}
    with pytest.raises(crypto.SecretDecryptError):
        rs.get("openai.api_key")


ENV_TEXT = """\
# copied from an old deployment
OPENAI_API_KEY=sk-test-openai-1234567890
JIRA_URL=https://jira.example.com
MY_SERVICE_TOKEN=tok-abcdef123456
CUSTOM_FLAG=yes
export QUOTED="hello world"
DATABASE_URL=postgresql://app:dbpass@db/app
REDIS_URL=redis://localhost:6379/0
LLMCODER_SECRET_KEY=keep-me-in-the-env
LLMCODER_DATA_DIR=/srv/data
EMPTY_ONE=
BARE_KEY
JOBS_EXPORT_KEEP_DAYS=lots
"""


def test_import_env_file_imports_skips_and_reports(db, tmp_path):
    env = tmp_path / ".env"
    env.write_text(ENV_TEXT, encoding="utf-8")
    before = env.read_bytes()
    before_stat = env.stat()

    report = rs.import_env_file(env, updated_by=None)

    assert sorted(report.imported) == sorted(
        ["openai.api_key", "jira.url", "my_service_token", "custom_flag", "quoted"]
    )
    skipped = "\n".join(report.skipped)
    for key in ("DATABASE_URL", "REDIS_URL", "LLMCODER_SECRET_KEY", "LLMCODER_DATA_DIR"):
        assert f"{key} (bootstrap setting" in skipped
    assert "EMPTY_ONE (empty)" in skipped
    assert "BARE_KEY (empty)" in skipped
    assert "JOBS_EXPORT_KEEP_DAYS" in skipped and "whole number" in skipped
    assert len(report.skipped) == 7

    # Values landed, secrets encrypted, the rest plain.
    assert rs.get("openai.api_key") == "sk-test-openai-1234567890"
    assert raw_row(db, "openai.api_key").is_secret
    assert raw_row(db, "openai.api_key").value != "sk-test-openai-1234567890"
    assert raw_row(db, "my_service_token").is_secret
    assert rs.get("my_service_token") == "tok-abcdef123456"
    assert not raw_row(db, "custom_flag").is_secret
    assert rs.get("custom_flag") == "yes"
    assert rs.get("quoted") == "hello world"
    assert rs.get("jobs.export_keep_days") == "7"
    # Bootstrap values never enter the database.
    for key in ("database_url", "redis_url", "llmcoder_secret_key", "llmcoder_data_dir"):
        assert raw_row(db, key) is None

    # The file is untouched: still there, byte for byte.
    assert env.is_file()
    assert env.read_bytes() == before
    assert env.stat().st_mtime_ns == before_stat.st_mtime_ns
    # Imported secrets are redacted from logs at once.
    assert redaction.redact("sk-test-openai-1234567890") == "[REDACTED]"


def test_import_env_file_skips_bootstrap_keys_in_any_case(db, tmp_path):
    # pydantic-settings reads .env names case-insensitively, so these are bootstrap settings too.
    env = tmp_path / "lower.env"
    env.write_text(
        "database_url=postgresql://u:pw@h/db\nLlmcoder_Secret_Key=abcdefgh\n"
        "LLMCODER_REDIS_URL=redis://:pw@h/0\nok_value=1\n"
    )
    report = rs.import_env_file(env)
    assert report.imported == ["ok_value"]
    assert raw_row(db, "database_url") is None
    assert raw_row(db, "llmcoder_secret_key") is None
    assert raw_row(db, "llmcoder_redis_url") is None
    assert len(report.skipped) == 3 and all("bootstrap setting" in line for line in report.skipped)


def test_import_env_file_twice_updates_values(db, tmp_path):
    env = tmp_path / ".env"
    env.write_text("JIRA_URL=https://old.example\n")
    rs.import_env_file(env)
    env.write_text("JIRA_URL=https://new.example\n")
    rs.import_env_file(env)
    assert rs.get("jira.url") == "https://new.example"
    assert count_rows() == 1


def test_import_env_file_missing_file_is_a_validation_error(db, tmp_path):
    with pytest.raises(ValidationError, match="No file at"):
        rs.import_env_file(tmp_path / "nope.env")
    with pytest.raises(ValidationError, match="No file at"):
        rs.import_env_file(tmp_path)  # a directory is not a file
    assert count_rows() == 0


def test_import_env_file_that_is_not_utf8_is_a_validation_error(db, tmp_path):
    env = tmp_path / "latin1.env"
    env.write_bytes(b"JIRA_URL=https://caf\xe9.example\n\xff\xfe=x\n")
    with pytest.raises(ValidationError, match="Cannot read"):
        rs.import_env_file(env)
    assert count_rows() == 0
    assert env.read_bytes() == b"JIRA_URL=https://caf\xe9.example\n\xff\xfe=x\n"


def test_env_key_to_setting_maps_known_names():
    assert rs.env_key_to_setting("OPENAI_API_KEY") == "openai.api_key"
    assert rs.env_key_to_setting("JIRA_URL") == "jira.url"
    assert rs.env_key_to_setting("AUTH_MAX_FAILED_LOGINS") == "auth.max_failed_logins"
    assert rs.env_key_to_setting("SOMETHING_ELSE") == "something_else"


@pytest.mark.parametrize(
    ("key", "secret"),
    [("x.api_key", True), ("MY_PASSWORD", True), ("db.passwd", True), ("gcp.credentials", True),
     ("a.client_secret", True), ("jira.url", False), ("google.client_id", False), ("region", False)],
)
def test_looks_secret(key, secret):
    assert rs.looks_secret(key) is secret


def test_one_undecryptable_secret_does_not_break_the_settings_list(db, monkeypatch):
    rs.set_value("openai.api_key", "sk-before-the-key-rotation-1")
    rs.set_value("jira.url", "https://jira.example")
    monkeypatch.setenv("LLMCODER_SECRET_KEY", "a different key")
    reset_settings_cache()
    crypto.reset_key_cache()
    views = {v.key: v for v in rs.list_views()}
    assert "cannot be decrypted" in views["openai.api_key"].problem
    assert views["openai.api_key"].display == ""
    assert views["jira.url"].display == "https://jira.example" and views["jira.url"].problem == ""
