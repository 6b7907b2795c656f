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
import time

from bench.common import (
    app_data_dir,
    app_member,
    click_in_sidebar,
    machine,
    percentiles,
    served_app,
    signed_in_page,
    write,
)

EMAIL, PASSWORD = "reader@example.com", "reader password 1"


def seed(messages: int) -> None:
    """Users and a synced Gmail account of `messages` in this process's data dir."""
    from services.inbox import accounts, sync
    from services.integrations.base import OAuthToken
    from services.jobs.progress import ProgressReporter
    from services.settings import reset_settings_cache
    from tests.fakes.gmail_server import FakeGmail

    user = app_member(EMAIL, PASSWORD, "Reader")
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
    from playwright.sync_api import expect

    first, older = [], []
    with signed_in_page(base_url, EMAIL, PASSWORD) as page:
        rows = page.locator(".inbox-row")
        for attempt in range(repeat + 1):
            started = click_in_sidebar(page, base_url, "Inbox")
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
    return {"first_page": percentiles(first), "older_page": percentiles(older), "page_info": info}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with app_data_dir() as data_dir:
        seed(args.messages)
        with served_app(data_dir, hidden_env=("LLMCODER_GMAIL",)) as base_url:
            figures = measure(base_url, args.repeat)
    write("inbox_render", {"machine": machine(), "messages": args.messages, "mode": "prod, in-process jobs",
                           **figures})


if __name__ == "__main__":
    main()
