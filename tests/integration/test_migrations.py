"""Alembic migrations against SQLite and the real PostgreSQL, and the drift check itself."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import Column, Integer, MetaData, String, create_engine, inspect, text
from sqlmodel import SQLModel

from services import runtime_settings
from services.auth import api_tokens, sessions, users
from services.auth.errors import AccessDenied, AccountLocked, InvalidCredentials, ValidationError
from services.db import get_engine, migrate
from services.notifications import service as notes
from tests.conftest import reset_process_caches

pytestmark = [
    pytest.mark.integration,
    # The call log's trigram index exists on PostgreSQL only; Alembic says on every SQLite drift
    # check that it cannot compare it there.
    pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index"),
]

HEAD = "0011_turbo"

APP_TABLES = {"user", "auth_session", "api_token", "setting", "job_run", "notification",
              "llm_deployment", "llm_budget_month", "llm_budget_feature", "llm_daily_usage", "llm_reservation",
              "llm_budget_alert", "llm_call", "llm_feedback", "llm_cache", "llm_failure_report",
              "llm_prompt_version", "llm_outcome", "llm_learned_template",
              "doc_source", "doc_document", "doc_chunk", "doc_symbol", "doc_question",
              "inbox_account", "inbox_message", "inbox_draft", "inbox_style", "inbox_oauth_state", "inbox_event",
              "jira_connection", "jira_filter", "jira_issue", "jira_filter_issue", "jira_comment",
              "jira_status_change", "jira_tracked", "jira_comment_draft",
              "capture_device", "capture_pairing", "capture_frame", "capture_audio", "capture_keys",
              "capture_event", "turbo_session", "turbo_suggestion"}


def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def revision_of(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if "alembic_version" not in inspect(conn).get_table_names():
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def test_models_define_exactly_the_app_tables():
    assert set(SQLModel.metadata.tables) == APP_TABLES


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request, tmp_path, data_dir):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrations.db'}"
    return request.getfixturevalue("pg_url")


def test_upgrade_drift_downgrade_and_upgrade_again(any_url):
    migrate.upgrade(url=any_url)
    assert APP_TABLES <= table_names(any_url)
    assert revision_of(any_url) == migrate.head_revision()
    assert migrate.drift(url=any_url) == []

    migrate.upgrade(url=any_url)  # already at head: a no-op
    assert revision_of(any_url) == migrate.head_revision()

    migrate.downgrade(url=any_url)
    assert table_names(any_url) & APP_TABLES == set()
    assert table_names(any_url) <= {"alembic_version"}
    assert revision_of(any_url) is None

    migrate.upgrade(url=any_url)
    assert APP_TABLES <= table_names(any_url)
    assert migrate.drift(url=any_url) == []


def test_upgrade_without_url_uses_the_configured_database(db, data_dir):
    assert (data_dir / "llmcoder.db").is_file()
    assert migrate.current_revision() == migrate.head_revision()
    assert migrate.drift() == []
    assert APP_TABLES <= table_names(db)


def _metadata_with_an_extra_column() -> MetaData:
    copy = MetaData()
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(copy)
    copy.tables["setting"].append_column(Column("throwaway", String(10), nullable=True))
    return copy


def test_drift_detects_a_model_column_missing_from_the_migrations(any_url, monkeypatch):
    migrate.upgrade(url=any_url)
    copy = _metadata_with_an_extra_column()
    # drift() compares against migrate.SQLModel.metadata: point it at the copy only.
    monkeypatch.setattr(migrate, "SQLModel", SimpleNamespace(metadata=copy))
    diffs = migrate.drift(url=any_url)
    monkeypatch.undo()
    assert any(d[0] == "add_column" and d[2] == "setting" and d[3].name == "throwaway" for d in diffs), diffs
    assert "throwaway" not in SQLModel.metadata.tables["setting"].c  # the real models are untouched
    assert migrate.drift(url=any_url) == []


def test_drift_detects_a_column_added_to_a_live_model_table(any_url):
    migrate.upgrade(url=any_url)
    table = SQLModel.metadata.tables["notification"]
    column = Column("throwaway_flag", Integer, nullable=True)
    table.append_column(column)
    try:
        diffs = migrate.drift(url=any_url)
    finally:
        table._columns.remove(column)
    assert "throwaway_flag" not in table.c
    assert [d[0] for d in diffs] == ["add_column"], diffs
    assert migrate.drift(url=any_url) == []


def test_drift_detects_a_schema_changed_outside_the_migrations(any_url):
    migrate.upgrade(url=any_url)
    engine = create_engine(any_url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE job_run ADD COLUMN stray INTEGER"))
        conn.execute(text("DROP INDEX ix_notification_read_at"))
    engine.dispose()
    kinds = sorted(d[0] if isinstance(d, tuple) else d[0][0] for d in migrate.drift(url=any_url))
    assert kinds == ["add_index", "remove_column"]


def test_the_app_works_on_postgresql(data_dir, pg_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", pg_url)
    reset_process_caches()
    assert get_engine().dialect.name == "postgresql"
    migrate.upgrade()
    assert migrate.current_revision() == migrate.head_revision()
    assert migrate.drift() == []

    admin = users.create_first_admin(email="Admin@Example.com", password="postgres admin 1", display_name="Pat")
    member = users.create_user(email="m@example.com", password="postgres member 1")
    token, who = sessions.sign_in("admin@example.com", "postgres admin 1")
    assert who.id == admin.id
    assert sessions.require(token).is_admin
    with pytest.raises(ValidationError):
        users.set_role(admin.id, "member")  # last admin, on PostgreSQL too

    runtime_settings.set_value("auth.max_failed_logins", "2")
    with pytest.raises(InvalidCredentials):
        sessions.sign_in("m@example.com", "wrong password 1")
    with pytest.raises(AccountLocked):
        sessions.sign_in("m@example.com", "wrong password 1")

    runtime_settings.set_value("openai.api_key", "sk-pg-secret-value-1234")
    assert runtime_settings.get("openai.api_key") == "sk-pg-secret-value-1234"
    with get_engine().connect() as conn:
        stored = conn.execute(text("SELECT value FROM setting WHERE key = 'openai.api_key'")).scalar_one()
    assert stored != "sk-pg-secret-value-1234"

    api = api_tokens.create(member.id, "agent")
    assert api_tokens.resolve(api).id == member.id

    nid = notes.notify(member.id, "hello from postgres")
    assert notes.mark_read(admin.id, nid) is False
    assert notes.mark_read(member.id, nid) is True

    sessions.sign_out(token)
    with pytest.raises(AccessDenied):
        sessions.require(token)

    # Nothing was written to the SQLite file of the data dir.
    assert not (data_dir / "llmcoder.db").exists()


def test_migrating_and_checking_another_database_leaves_no_connection_open(data_dir, pg_url, pg_server_url):
    """upgrade/drift/downgrade with url= are one-off tools: they must not keep a pool alive."""
    from sqlalchemy.engine import make_url

    name = make_url(pg_url).database
    migrate.upgrade(url=pg_url)
    assert migrate.drift(url=pg_url) == []
    migrate.downgrade(url=pg_url)
    admin = create_engine(pg_server_url)
    try:
        with admin.connect() as conn:
            open_connections = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
            ).scalar_one()
    finally:
        admin.dispose()
    assert open_connections == 0


def column_names(url: str, table: str) -> set[str]:
    engine = create_engine(url)
    try:
        return {column["name"] for column in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_each_migration_steps_up_and_down_with_data_kept(any_url):
    """0002 adds auth_session.delivered_at; stepping over it keeps existing rows."""
    migrate.upgrade("0001_initial", url=any_url)
    assert "delivered_at" not in column_names(any_url, "auth_session")
    engine = create_engine(any_url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO \"user\" (email, display_name, password_hash, role, is_active, failed_logins, "
            "created_at, password_changed_at) VALUES ('keep@example.com', 'Keep', 'x', 'member', true, 0, "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        conn.execute(text(
            "INSERT INTO auth_session (user_id, token_hash, created_at, expires_at, last_seen_at, user_agent) "
            "SELECT id, 'h', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '' FROM \"user\""))
    migrate.upgrade("0002_session_delivered_at", url=any_url)
    assert "delivered_at" in column_names(any_url, "auth_session")
    migrate.downgrade("0001_initial", url=any_url)
    assert "delivered_at" not in column_names(any_url, "auth_session")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM auth_session")).scalar() == 1
    engine.dispose()
    migrate.upgrade(url=any_url)
    assert revision_of(any_url) == migrate.head_revision() == HEAD


def test_llm_migration_seeds_the_default_chain_and_steps_down(any_url):
    """0003 adds the gateway's tables and the default chain Gemini -> OpenAI -> Anthropic
    (+ Ollama, disabled); stepping down removes them and keeps everything else."""
    migrate.upgrade("0003_llm_gateway", url=any_url)
    engine = create_engine(any_url)
    with engine.connect() as conn:
        chain = conn.execute(text("SELECT name, model, enabled FROM llm_deployment ORDER BY position")).all()
    assert [(name, model, bool(enabled)) for name, model, enabled in chain] == [
        ("gemini", "gemini/gemini-2.5-pro", True), ("openai", "gpt-4o", True),
        ("anthropic", "anthropic/claude-sonnet-4-5", True), ("ollama", "ollama/llama3.1", False)]
    migrate.downgrade("0002_session_delivered_at", url=any_url)
    assert "llm_deployment" not in inspect(engine).get_table_names()
    assert "auth_session" in inspect(engine).get_table_names()
    engine.dispose()


def index_names(url: str, table: str) -> set[str]:
    engine = create_engine(url)
    try:
        return {index["name"] for index in inspect(engine).get_indexes(table)}
    finally:
        engine.dispose()


def test_text_search_migration_adds_the_trigram_index_on_postgresql_only(any_url):
    """0005: on PostgreSQL pg_trgm and a GIN index over the searched texts; SQLite gets nothing
    (its expression indexes are not reflected, so list them from sqlite_master there)."""
    migrate.upgrade("0004_llm_admin_learning", url=any_url)
    before = index_names(any_url, "llm_call")
    engine = create_engine(any_url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO llm_call (id, request_id, attempt, created_at, feature, task, project, provider, model, "
            "system_prompt, user_prompt, response, input_tokens, output_tokens, cached_tokens, reasoning_tokens, "
            "cost_nanos, saved_nanos, unpriced, latency_ms, status, error_class, error_message, content_purged) "
            "VALUES ('c1', 'r1', 1, CURRENT_TIMESTAMP, 'docs', '', '', 'p1', 'm', '', 'kept prompt', 'kept answer', "
            "1, 1, 0, 0, 0, 0, false, 1, 'ok', '', '', false)"))

    migrate.upgrade(url=any_url)
    assert revision_of(any_url) == HEAD
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            definition = conn.execute(text(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_llm_call_text_search'")).scalar_one()
            assert conn.execute(text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")).scalar() == 1
        assert "USING gin" in definition and "gin_trgm_ops" in definition
        for column in ("task_text", "user_prompt", "response", "error_message"):
            assert column in definition
        assert index_names(any_url, "llm_call") == before | {"ix_llm_call_text_search"}
    else:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                                     "AND name = 'ix_llm_call_text_search'")).scalar() == 0
        assert index_names(any_url, "llm_call") == before
    assert migrate.drift(url=any_url) == []

    migrate.downgrade("0004_llm_admin_learning", url=any_url)
    assert revision_of(any_url) == "0004_llm_admin_learning"
    assert index_names(any_url, "llm_call") == before
    with engine.connect() as conn:
        assert conn.execute(text("SELECT user_prompt FROM llm_call")).scalar_one() == "kept prompt"
        if engine.dialect.name == "postgresql":  # the extension stays: other objects may use it
            assert conn.execute(text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")).scalar() == 1
    engine.dispose()

    migrate.upgrade(url=any_url)
    assert migrate.drift(url=any_url) == []
