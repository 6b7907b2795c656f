"""What every benchmark needs: a fresh data dir and database, percentiles, a scratch
PostgreSQL database, and a results file; and for the browser benchmarks, the real app serving a
seeded data dir and a Chromium signed in to it.

The app runs as users run it (`services.cli serve --env prod --no-redis`) on a free port, so
anything that starts it must hold `/tmp/e2e.lock` as the e2e tests do: every app builds its
frontend into the same `.web` directory.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, text

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from services.auth.users import AuthedUser

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
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


def app_member(email: str, password: str, display_name: str) -> AuthedUser:
    """The member a browser benchmark signs in as, beside an admin (without one the login page
    sends everyone to the first-run setup)."""
    from services.auth import users

    users.create_user(email="admin@example.com", password="admin password 1", role="admin")
    return users.create_user(email=email, password=password, role="member", display_name=display_name)


@contextmanager
def app_data_dir() -> Iterator[Path]:
    """A fresh data dir (SQLite, no Redis) for this process to seed and the app to serve; removed afterwards."""
    fresh(None)
    data_dir = Path(os.environ["LLMCODER_DATA_DIR"])
    try:
        yield data_dir
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def served_app(data_dir: Path, hidden_env: tuple[str, ...] = ()) -> Iterator[str]:
    """The real app in prod mode, jobs in-process, serving `data_dir` on a free port; yields its URL.
    Environment variables starting with one of `hidden_env` (e.g. a fake's address) stay out of it."""
    from services.launcher import free_port
    from tests.e2e.conftest import _wait_until_up

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(hidden_env)}
    env.update(LLMCODER_DATA_DIR=str(data_dir), LLMCODER_FRONTEND_PORT=str(port), LLMCODER_BACKEND_PORT=str(port),
               REFLEX_USE_NPM="1")
    log_path = data_dir / "app.log"
    with open(log_path, "w") as log:
        app = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "--env", "prod", "--no-redis"],
                               cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://localhost:{port}"
    try:
        _wait_until_up(base_url, app, log_path)
        yield base_url
    finally:
        os.killpg(app.pid, signal.SIGTERM)
        app.wait(30)


@contextmanager
def signed_in_page(base_url: str, email: str, password: str) -> Iterator[Page]:
    """Debian's Chromium (as the e2e tests launch it) on the app's home page, signed in."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, sign_in

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            sign_in(page, base_url, email, password)
            page.wait_for_url(f"{base_url}/")
            yield page
        finally:
            browser.close()


def click_in_sidebar(page: Page, base_url: str, label: str) -> float:
    """Loads the home page, then clicks `label` in the sidebar (in-app navigation, as a user goes);
    returns the moment of the click (`time.perf_counter`)."""
    from playwright.sync_api import expect

    page.goto(f"{base_url}/")
    expect(page.locator("#page-title")).to_have_text("Home")
    started = time.perf_counter()
    page.locator("#sidebar").get_by_text(label).click()
    return started
