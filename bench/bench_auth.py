"""What every event pays for authorization (a session lookup in the database), what a
sign-in costs (argon2), and how long an in-process job takes from submit to done."""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

RESULTS = Path(__file__).resolve().parent / "results"
PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _fresh(database_url: str | None) -> None:
    from services import crypto
    from services.db import engine, migrate
    from services.jobs import runners
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
    migrate.upgrade()


def _percentiles(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "median_ms": round(statistics.median(samples) * 1000, 3),
        "p95_ms": round(samples[int(len(samples) * 0.95)] * 1000, 3),
        "n": len(samples),
    }


def measure(label: str, database_url: str | None) -> dict:
    from services.auth import sessions, users
    from services.db.models import Role
    from services.jobs import service

    _fresh(database_url)
    user = users.create_user(email=f"bench-{label}@example.com", password="bench password 1", role=Role.admin.value)
    sign_ins = []
    for _ in range(10):
        started = time.perf_counter()
        token, _ = sessions.sign_in(user.email, "bench password 1")
        sign_ins.append(time.perf_counter() - started)
    checks = []
    for _ in range(1000):
        started = time.perf_counter()
        sessions.require(token, Role.admin)
        checks.append(time.perf_counter() - started)
    rounds = []
    for _ in range(20):
        started = time.perf_counter()
        job_id = service.submit(user, "data_export", {"user_id": user.id})
        while service.get(user, job_id).active:
            time.sleep(0.005)
        rounds.append(time.perf_counter() - started)
    return {
        "access_check": _percentiles(checks),
        "sign_in_argon2": _percentiles(sign_ins),
        "export_job_round_trip_inprocess": _percentiles(rounds),
    }


def main() -> None:
    results = {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "sqlite": measure("sqlite", None),
    }
    name = f"llmcoder_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        results["postgresql"] = measure("pg", PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
    except Exception as exc:  # report, do not hide, a missing server
        results["postgresql"] = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        from services.db import engine

        engine.reset_engine()
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except Exception:
            pass
        admin.dispose()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "auth.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
