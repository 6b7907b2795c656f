"""What every process does first: logging with redaction, migrations, secrets, job mode."""

from __future__ import annotations

import logging
import os
from urllib.parse import urlsplit

from services import redaction, runtime_settings
from services.db import migrate
from services.jobs import runners
from services.settings import get_settings

log = logging.getLogger("llmcoder")


def _register_bootstrap_secrets() -> None:
    settings = get_settings()
    redaction.register(settings.secret_key)
    for url in (settings.database_url, settings.redis_url):
        password = urlsplit(url).password if url else None
        redaction.register(password)


def configure_logging() -> None:
    redaction.install()
    _register_bootstrap_secrets()
    level = getattr(logging, get_settings().log_level.upper(), logging.INFO)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("llmcoder").setLevel(level)
    logging.getLogger("services").setLevel(level)


def prepare(*, migrate_db: bool = True) -> str:
    """Returns the job mode line it logged, so callers can show it too."""
    configure_logging()
    if migrate_db:
        migrate.upgrade()
    loaded = runtime_settings.load_secrets_into_redactor()
    runner = runners.get_runner()
    if runner.name == runners.InProcessRunner.name:
        failed = runners.fail_interrupted_inprocess_jobs()
        mode = (
            f"Background jobs run in-process ({get_settings().inprocess_threads} threads) because no Redis is "
            "configured; set REDIS_URL or install redis-server for an RQ worker pool."
        )
        if failed:
            mode += f" Marked {failed} interrupted job(s) as failed."
    else:
        mode = f"Background jobs run on RQ at {get_settings().redis_url} (worker pool in separate processes)."
    log.info("LLMCoder process %s ready: database %s; %d stored secret(s) redacted from logs.",
             os.getpid(), migrate.current_revision(), loaded)
    log.info(mode)
    return mode
