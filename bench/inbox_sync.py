"""The unified inbox at 10,000 messages: the first sync of a mailbox of that size (time and the
vendor requests it takes) for Gmail, Outlook and IMAP, the incremental sync after 10 new
messages (requests: target <= 12; Slack too), and the server's work for the inbox page's first
render with 10,000 items (the load handler's queries: accounts, first page, revision), with
filters and a search, on SQLite and PostgreSQL.

Gmail, Outlook and Slack are the fake servers of tests/fakes driven by the real client
libraries; IMAP is a real dovecot (maildir files written directly, as a delivery agent would).
"Requests" are HTTP requests (a Gmail batch of 50 counts once, as Google bills it); for IMAP,
connections (a sync holds one: login, STATUS, SELECT, FETCHes, logout).

    .venv/bin/python -m bench.inbox_sync [--messages 10000] [--repeat 40]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from bench.common import fresh, machine, on_postgres, percentiles, write

NEW = 10


def _user():
    from services.auth import users

    return users.create_user(email="bench@example.com", password="bench password 1", role="member")


def _sync(account_id: int) -> tuple[float, dict]:
    from services.db import session_scope
    from services.db.models import JobRun
    from services.inbox import sync
    from services.jobs.progress import ProgressReporter

    row = JobRun(type=sync.JOB_TYPE, status="running")
    with session_scope() as session:
        session.add(row)
    started = time.perf_counter()
    result = sync.run_sync(account_id, ProgressReporter(row.id))
    return time.perf_counter() - started, result


def _endpoints(**urls: str) -> None:
    from services.settings import reset_settings_cache

    for name, url in urls.items():
        os.environ[f"LLMCODER_{name.upper()}"] = url
    reset_settings_cache()


def _figures(first: tuple[float, dict], first_requests: int, incremental: tuple[float, dict],
             incremental_requests: int) -> dict:
    return {"initial": {"seconds": round(first[0], 2), "requests": first_requests, "new": first[1]["new"],
                        "messages_per_second": round(first[1]["new"] / first[0])},
            "incremental_after_10": {"seconds": round(incremental[0], 3), "requests": incremental_requests,
                                     "new": incremental[1]["new"], "target_requests": 12}}


def _measured(fake, connect: Callable[[], int], add_new: Callable[[int], object]) -> dict:
    """First sync of what `fake` holds, then a sync after NEW more messages, counting its requests."""
    account_id = connect()
    fake.clear_requests()
    first = _sync(account_id)
    first_requests = len(fake.requests)
    for n in range(NEW):
        add_new(n)
    fake.clear_requests()
    incremental = _sync(account_id)
    return _figures(first, first_requests, incremental, len(fake.requests)) | {"account_id": account_id}


def gmail(messages: int) -> dict:
    from services.inbox import accounts
    from services.integrations.base import OAuthToken
    from tests.fakes.gmail_server import FakeGmail

    with FakeGmail(address="bench@example.com") as fake:
        _endpoints(gmail_api_url=fake.url)
        fake.seed(messages)
        return _measured(fake, lambda: accounts.save_oauth(_user().id, "gmail", OAuthToken(fake.token)),
                         lambda n: fake.add_message(subject=f"New {n}", text="Could you look at this?",
                                                    sender="Bob <bob@example.com>"))


def outlook(messages: int) -> dict:
    from services.inbox import accounts
    from services.integrations.base import OAuthToken
    from tests.fakes.graph_server import FakeGraph

    with FakeGraph(mail="bench@example.com") as fake:
        _endpoints(graph_api_url=fake.url)
        fake.seed(messages)
        return _measured(fake, lambda: accounts.save_oauth(_user().id, "outlook", OAuthToken(fake.token)),
                         lambda n: fake.add_message("inbox", subject=f"New {n}", text="Could you look at this?"))


def _maildir(directory: Path, user: str, messages: int) -> None:
    """Messages written as maildir files, as a delivery agent would (APPEND one by one is slow)."""
    new = directory / "mail" / user / "new"
    for sub in ("new", "cur", "tmp"):
        (new.parent / sub).mkdir(parents=True, exist_ok=True)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(messages):
        message = EmailMessage()
        message["From"] = f"Sender {n % 40} <sender{n % 40}@example.com>"
        message["To"] = f"{user}@example.com"
        message["Subject"] = f"Report {n}"
        message["Date"] = format_datetime(start + timedelta(minutes=n))
        message["Message-ID"] = f"<bench{n}@example.com>"
        message.set_content(f"Numbers for week {n % 52}. Could you check line {n % 7}?" if n % 5 == 0 else
                            f"FYI: report {n} is attached below.\n\n" + "Lorem ipsum dolor sit amet. " * 20)
        (new / f"{1700000000 + n}.M{n}P1.bench").write_bytes(message.as_bytes())
    for path in (directory / "mail").rglob("*"):
        shutil.chown(path, "nobody", "nogroup")
    shutil.chown(directory / "mail", "nobody", "nogroup")


def imap(messages: int) -> dict:
    from services.inbox import accounts
    from services.integrations.imap.client import ImapSmtpProvider
    from tests.mail_servers import PASSWORD, dovecot, smtp_server

    calls: list[str] = []  # one entry per IMAP connection (login ... logout)
    originals: dict[str, Callable] = {"_connection": ImapSmtpProvider._connection}

    def counted(self, *args, **kwargs):
        calls.append("connection")
        return originals["_connection"](self, *args, **kwargs)

    ImapSmtpProvider._connection = counted  # type: ignore[method-assign]
    try:
        with dovecot(("bench",)) as server, smtp_server() as smtp:
            _maildir(server.directory, "bench", messages)
            account_id = accounts.connect_imap(
                _user(), address="bench@example.com", password=PASSWORD, username="bench", imap_host="127.0.0.1",
                imap_port=server.port, imap_security="none", smtp_host="127.0.0.1", smtp_port=smtp.port,
                smtp_security="none", sent_folder="")
            calls.clear()
            first = _sync(account_id)
            first_calls = len(calls)
            for n in range(NEW):
                message = EmailMessage()
                message["From"], message["To"], message["Subject"] = "bob@example.com", "bench@example.com", f"New {n}"
                message.set_content("Could you look at this?")
                server.append("bench", message.as_bytes())
            calls.clear()
            incremental = _sync(account_id)
            return _figures(first, first_calls, incremental, len(calls))
    finally:
        for name, fn in originals.items():
            setattr(ImapSmtpProvider, name, fn)


def slack(messages: int) -> dict:
    from services.inbox import accounts
    from tests.fakes.slack_server import FakeSlack

    def connect() -> int:
        user = _user()
        account_id = accounts.connect_slack_token(user, token=fake.token)
        accounts.set_channels(user, account_id, ["C0BENCH"])
        return account_id

    with FakeSlack(start=time.time() - 86400, step=86400 / (messages + 50)) as fake:
        _endpoints(slack_api_url=fake.url)
        fake.add_channel("C0BENCH", "bench", members=("U0BOB",))
        fake.seed("C0BENCH", messages)
        return _measured(fake, connect, lambda n: fake.post("C0BENCH", "U0BOB", f"<@U0ANN> new question {n}?"))


def _analyze() -> None:
    """PostgreSQL plans from statistics; autovacuum's ANALYZE would have run after 10,000 inserts."""
    from sqlalchemy import text

    from services.db import get_engine

    engine = get_engine()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE inbox_message"))


def first_page(messages: int, repeat: int) -> dict:
    """The inbox page's load handler's queries with `messages` synced (Gmail fake)."""
    from services.auth.users import AuthedUser
    from services.db import session_scope
    from services.db.models import User
    from services.inbox import accounts, listing

    synced = gmail(messages)
    _analyze()
    with session_scope() as session:
        user = AuthedUser.from_row(session.get(User, accounts.account_row(synced["account_id"]).owner_id))
    cases = {
        "first_page": listing.Filters(),
        "needs_reply": listing.Filters(needs_reply=True),
        "unread_and_account": listing.Filters(unread=True, account_id=synced["account_id"]),
        "search_common": listing.Filters(search="Message"),
        "search_rare": listing.Filters(search="nothing-like-this"),
    }
    figures: dict = {"messages": listing.list_page(user, listing.Filters()).total}
    for name, filters in cases.items():
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            accounts.list_accounts(user)
            listing.list_page(user, filters)
            listing.revision(user)
            samples.append(time.perf_counter() - started)
        figures[name] = percentiles(samples)
    samples = []
    for page in range(1, repeat + 1):
        started = time.perf_counter()
        listing.list_page(user, listing.Filters(), page=page * 4)
        samples.append(time.perf_counter() - started)
    figures["deep_pages_4_to_160"] = percentiles(samples)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        listing.revision(user)
        samples.append(time.perf_counter() - started)
    figures["poll_revision"] = percentiles(samples)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    results: dict = {"machine": machine(), "messages": args.messages, "sqlite": {}}
    for name, measure in (("gmail", gmail), ("outlook", outlook), ("imap", imap), ("slack", slack)):
        fresh(None)
        print(f"{name} ...", flush=True)
        results["sqlite"][name] = measure(args.messages)
        results["sqlite"][name].pop("account_id", None)
    fresh(None)
    print("first page (SQLite) ...", flush=True)
    results["sqlite"]["first_page"] = first_page(args.messages, args.repeat)

    def on_pg(url: str) -> dict:
        fresh(url)
        return first_page(args.messages, args.repeat)

    print("first page (PostgreSQL) ...", flush=True)
    results["postgresql"] = {"first_page": on_postgres(on_pg)}
    write("inbox", json.loads(json.dumps(results, default=str)))


if __name__ == "__main__":
    main()
