"""Shared fixtures: a private data dir and database per test, the real PostgreSQL and Redis."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from services import crypto, redaction
from services.db import engine as db_engine
from services.db import migrate
from services.jobs import queues, runners
from services.llm import budget, learned
from services.llm import config as llm_config
from services.search import dense, keyword
from services.settings import reset_settings_cache

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
_BOOTSTRAP_ENV = ("DATABASE_URL", "REDIS_URL", "LLMCODER_SECRET_KEY", "LLMCODER_DATA_DIR")


def missing_service(what: str, error: Exception) -> None:
    """In CI a missing PostgreSQL/Redis is a failure; on a laptop it is a loud skip."""
    message = f"{what} is not reachable ({error}); see README 'Running the tests'."
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def reset_process_caches() -> None:
    reset_settings_cache()
    db_engine.reset_engine()
    crypto.reset_key_cache()
    runners.reset_runner()
    queues.redis_for.cache_clear()
    llm_config.clear_caches()
    budget.forget_fired_alerts()
    learned.reset_index()
    dense.reset_dense()
    keyword.reset_frequencies()


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Iterator:
    """A fresh data directory, SQLite database and key file; no Redis (in-process jobs)."""
    for name in _BOOTSTRAP_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLMCODER_DATA_DIR", str(tmp_path / "data"))
    reset_process_caches()
    yield tmp_path / "data"
    reset_process_caches()


@pytest.fixture
def db(data_dir) -> str:
    """A migrated SQLite database in the test's data dir; returns its URL."""
    migrate.upgrade()
    return f"sqlite:///{data_dir / 'llmcoder.db'}"


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    try:
        engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any driver error: the server is not there
        missing_service("PostgreSQL at 127.0.0.1:5432", exc)
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_server_url) -> Iterator[str]:
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"llmcoder_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    yield url
    db_engine.reset_engine()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The machine's real Redis, on a database number the app never uses, emptied around the test."""
    from redis import Redis

    client = Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:  # connection refused, timeout...
        missing_service("Redis at 127.0.0.1:6379", exc)
    client.flushdb()
    yield REDIS_TEST_URL
    client.flushdb()
    client.close()


@pytest.fixture
def make_user(db):
    """Create users quickly: make_user('a@x.io', role='admin') -> AuthedUser."""
    from services.auth import users

    def make(email: str = "member@example.com", *, role: str = "member", password: str = "correct horse 1"):
        return users.create_user(email=email, password=password, role=role)

    return make


@pytest.fixture
def restore_logging():
    """For tests that run the CLI's main(), which installs the redacting record factory."""
    factory, installed = logging.getLogRecordFactory(), redaction._installed
    yield
    logging.setLogRecordFactory(factory)
    redaction._installed = installed


@pytest.fixture(autouse=True)
def _clean_redactor():
    """Secrets registered by one test must not mask another test's output."""
    yield
    redaction._secrets.clear()


@pytest.fixture(scope="session")
def fake_llm_server() -> Iterator:
    from tests.fakes.llm_providers import FakeLLMServer

    with FakeLLMServer() as fake:
        yield fake


@pytest.fixture
def fake_llm(fake_llm_server, db) -> Iterator:
    """The fake providers, emptied, and a gateway with no providers yet, short timeouts and
    test-sized backoff (base 10 ms). Add providers with tests.llm_support.add_provider."""
    from services import runtime_settings
    from services.llm import providers

    fake_llm_server.reset()
    for deployment in providers.chain():
        providers.remove(deployment.name)
    for key, value in (("llm.backoff_base_seconds", "0.01"), ("llm.max_backoff_seconds", "2"),
                       ("llm.timeout_seconds", "5")):
        runtime_settings.set_value(key, value)
    yield fake_llm_server
    fake_llm_server.reset()
