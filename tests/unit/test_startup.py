"""Start-up: migrations to head, secrets redacted before anything logs, and the job
mode stated in the log."""

from __future__ import annotations

import logging

from services import redaction, runtime_settings, startup
from services.db import migrate
from services.jobs import runners
from tests.conftest import reset_process_caches


def test_without_redis_the_log_says_jobs_run_in_process(data_dir, caplog):
    caplog.set_level(logging.INFO, logger="llmcoder")
    mode = startup.prepare()
    assert migrate.current_revision() is not None
    assert "in-process" in mode and "no Redis" in mode
    assert any("run in-process" in record.getMessage() for record in caplog.records)
    assert runners.get_runner().name == "in-process"


def test_with_redis_the_log_names_the_worker_pool(data_dir, monkeypatch, redis_url, caplog):
    monkeypatch.setenv("REDIS_URL", redis_url)
    reset_process_caches()
    caplog.set_level(logging.INFO, logger="llmcoder")
    mode = startup.prepare()
    assert "RQ" in mode and redis_url in mode
    assert runners.get_runner().name == "rq"


def test_stored_secrets_and_url_passwords_are_redacted_from_start(data_dir, monkeypatch):
    startup.prepare()
    runtime_settings.set_value("openai.api_key", "sk-stored-secret-123456")
    redaction._secrets.clear()
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2-redis-pw@127.0.0.1:1/0")
    reset_process_caches()
    startup.prepare(migrate_db=False)
    text = redaction.redact("key sk-stored-secret-123456 and pw hunter2-redis-pw")
    assert "sk-stored-secret-123456" not in text and "hunter2-redis-pw" not in text
