"""What every benchmark needs: a fresh data dir and database, percentiles, a scratch
PostgreSQL database, and a results file."""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

RESULTS = Path(__file__).resolve().parent / "results"
PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def fresh(database_url: str | None) -> None:
    """Points this process at a new data dir and a migrated database (SQLite when None)."""
    from services import crypto
    from services.db import engine, migrate
    from services.jobs import runners
    from services.llm import budget
    from services.llm import config as llm_config
    from services.settings import reset_settings_cache

    os.environ["LLMCODER_DATA_DIR"] = tempfile.mkdtemp(prefix="llmcoder-bench-")
    os.environ.pop("REDIS_URL", None)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    reset_settings_cache()
    engine.reset_engine()
    crypto.reset_key_cache()
    runners.reset_runner()
    llm_config.clear_caches()
    budget.forget_fired_alerts()
    migrate.upgrade()


def percentiles(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "median_ms": round(statistics.median(samples) * 1000, 3),
        "p95_ms": round(samples[int(len(samples) * 0.95)] * 1000, 3),
        "n": len(samples),
    }


@contextmanager
def scratch_postgres() -> Iterator[str]:
    """A new PostgreSQL database for one measurement, dropped afterwards."""
    name = f"llmcoder_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        from services.db import engine

        engine.reset_engine()
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except Exception:
            pass
        admin.dispose()


def on_postgres(measure) -> dict:
    """Runs `measure(url)` on a scratch database; a missing server is reported, not hidden."""
    try:
        with scratch_postgres() as url:
            return measure(url)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def machine() -> dict:
    return {"cores": os.cpu_count(), "python": platform.python_version()}


def write(name: str, results: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
