"""The inbox page in Chromium with 10,000 messages: the time from navigating to /inbox until the
first page's 50 rows are on screen, and from clicking "Older" until the next page shows.

The messages come from a first sync of the fake Gmail (tests/fakes) into a fresh data dir;
then the real app (`services.cli serve --env prod --no-redis`) serves that data dir and
Playwright drives Debian's Chromium, signed in as the mailbox's owner.

    .venv/bin/python -m bench.inbox_render [--messages 10000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import machine, percentiles, write

EMAIL, PASSWORD = "reader@example.com", "reader password 1"
REPO = Path(__file__).resolve().parents[1]


def seed(messages: int) -> None:
    """Users and a synced Gmail account of `messages` in this process's data dir."""
    from services.auth import users
    from services.db import migrate
    from services.inbox import accounts, sync
    from services.integrations.base import OAuthToken
    from services.jobs.progress import ProgressReporter
    from services.settings import reset_settings_cache
    from tests.fakes.gmail_server import FakeGmail

    migrate.upgrade()
    users.create_user(email="admin@example.com", password="admin password 1", role="admin")
    user = users.create_user(email=EMAIL, password=PASSWORD, role="member", display_name="Reader")
    with FakeGmail(address=EMAIL) as fake:
        os.environ["LLMCODER_GMAIL_API_URL"] = fake.url
        reset_settings_cache()
        fake.seed(messages)
        account_id = accounts.save_oauth(user.id, "gmail", OAuthToken(fake.token))
        accounts.set_interval(user, account_id, 0)  # the fake is gone when the app runs
        sync.run_sync(account_id, ProgressReporter(_job_row()))


def _job_row() -> str:
    from services.db import session_scope
    from services.db.models import JobRun
    from services.inbox import sync

    row = JobRun(type=sync.JOB_TYPE, status="running")
    with session_scope() as session:
        session.add(row)
    return row.id


def measure(base_url: str, repeat: int) -> dict:
    from playwright.sync_api import expect, sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, sign_in

    first, older = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        sign_in(page, base_url, EMAIL, PASSWORD)
        page.wait_for_url(f"{base_url}/")
        rows = page.locator(".inbox-row")
        for attempt in range(repeat + 1):
            page.goto(f"{base_url}/")
            expect(page.locator("#page-title")).to_have_text("Home")
            started = time.perf_counter()
            page.locator("#sidebar").get_by_text("Inbox").click()  # in-app navigation, as a user goes
            expect(rows).to_have_count(50, timeout=30_000)
            took = time.perf_counter() - started
            newest = rows.first.inner_text()
            started = time.perf_counter()
            page.locator("#inbox-page-next").click()
            expect(rows.first).not_to_have_text(newest, timeout=30_000)
            expect(rows).to_have_count(50)
            if attempt:  # the first round warms the browser's cache of the page's code
                first.append(took)
                older.append(time.perf_counter() - started)
        info = page.locator("#inbox-page-info").inner_text()
        browser.close()
    return {"first_page": percentiles(first), "older_page": percentiles(older), "page_info": info}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="llmcoder-bench-render-"))
    os.environ["LLMCODER_DATA_DIR"] = str(data_dir)
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    seed(args.messages)
    from services.launcher import free_port
    from tests.e2e.conftest import _wait_until_up

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMCODER_GMAIL")}
    env.update(LLMCODER_DATA_DIR=str(data_dir), LLMCODER_FRONTEND_PORT=str(port), LLMCODER_BACKEND_PORT=str(port),
               REFLEX_USE_NPM="1")
    log_path = data_dir / "app.log"
    with open(log_path, "w") as log:
        app = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "--env", "prod", "--no-redis"],
                               cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://localhost:{port}"
    try:
        _wait_until_up(base_url, app, log_path)
        figures = measure(base_url, args.repeat)
    finally:
        os.killpg(app.pid, signal.SIGTERM)
        app.wait(30)
        shutil.rmtree(data_dir, ignore_errors=True)
    write("inbox_render", {"machine": machine(), "messages": args.messages, "mode": "prod, in-process jobs",
                           **figures})


if __name__ == "__main__":
    main()
