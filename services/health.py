"""One health report for /api/health, the Status page and the CLI."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from services.db import get_engine
from services.db import migrate
from services.jobs.runners import get_runner


def report() -> dict[str, Any]:
    database: dict[str, Any] = {"backend": get_engine().dialect.name}
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        revision = migrate.current_revision()
        database.update(ok=True, revision=revision or "none", error="")
    except Exception as exc:  # any driver error means "not healthy", reported as text
        database.update(ok=False, revision="", error=f"{type(exc).__name__}: {exc}")
    jobs = get_runner().describe()
    workers = jobs.pop("workers", [])
    return {
        "status": "ok" if database["ok"] and jobs["ok"] else "degraded",
        "database": database,
        "jobs": jobs,
        "workers": workers,
    }
