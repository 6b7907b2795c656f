"""The JIRA board's sync at 1,000 tickets: the API requests and wall time of a first (full) sync,
of an incremental sync when nothing changed, and of one after 10 of the board's tickets got a
comment from someone else and 5 were closed in JIRA itself; for JIRA Server and JIRA Cloud.

The fake JIRA of tests/fakes is driven by the real `jira` client. Beside the user's 1,000 open
tickets it holds noise the filter must skip: other people's tickets, unassigned ones, the user's
Done ones, comments by the user and by others, and changelogs. The fake's clock is moved past the
sync window (`advance`) before each incremental sync, as real time would pass between two.
"Requests" are the HTTP requests the fake received, by endpoint (an issue key in a path counts as
`{key}`). A naive sync would re-read the whole filter every time: the full sync's requests.

Every sync's outcome is checked: the board must hold exactly what the fake's own JQL engine finds
for the filter, and the tickets seen and left must be the changes made, else the bench fails.

    .venv/bin/python -m bench.jira_sync [--tickets 1000] [--repeat 10]
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bench.common import app_member, fresh, machine, on_postgres, percentiles, write

if TYPE_CHECKING:
    from services.auth.users import AuthedUser
    from tests.fakes.jira_server import FakeJira, RecordedRequest

EMAIL, PASSWORD = "ann@example.com", "ann password 1"
COMMENTED, CLOSED = 10, 5
SYNC_WINDOW_S = 600  # the fake's clock moves this far before each incremental sync
VERBS = ("Fix", "Add", "Refactor", "Document", "Speed up", "Test", "Remove", "Review")
THINGS = ("CSV export", "login form", "upload limit", "search index", "billing page", "audit log", "webhooks",
          "dark mode", "rate limiter", "PDF report", "user import")
TYPES = ("Task", "Story", "Bug")
PRIORITIES = ("Medium", "High", "Low", "Highest", "Medium", "Lowest")


def seed(fake: FakeJira, tickets: int) -> list[str]:
    """`tickets` open tickets assigned to ann over two projects, a third of them moved along the
    workflow (changelogs) and some commented, beside the noise the filter must skip; returns the keys
    of ann's open tickets."""
    fake.add_project("XYZ", "Xylophone")
    start = fake.now - timedelta(days=120)
    mine = []
    for n in range(tickets):
        kind = TYPES[n % len(TYPES)]
        key = fake.add_issue(
            "XYZ" if n % 4 == 0 else "ABC", f"{VERBS[n % len(VERBS)]} {THINGS[n // len(VERBS) % len(THINGS)]} {n}",
            type=kind, assignee="ann", priority=PRIORITIES[n % len(PRIORITIES)], labels=("backend",) * (n % 2),
            description=f"Seen by {n % 30} customers. Steps: open the page, click export, wait.",
            story_points=float(n % 8) if kind == "Story" else None, created=start + timedelta(minutes=150 * n),
            comments=("Looked at it: *not* the proxy this time.",) if n % 4 == 0 else ())
        if n % 3 == 0:
            fake.set_status(key, "In Progress")
        if n % 9 == 0:
            fake.set_status(key, "In Review")
        if n % 5 == 0:
            fake.add_comment(key, "Same here on staging.", author="bob")
        mine.append(key)
    for n in range(tickets // 5):
        done = fake.add_issue("ABC", f"Closed {n}", assignee="ann", created=start)
        for status in ("In Progress", "In Review", "Done"):
            fake.set_status(done, status)
        fake.add_issue("ABC", f"Bob's {n}", assignee="bob", created=start + timedelta(hours=n))
    for n in range(tickets // 10):
        fake.add_issue("XYZ", f"Unassigned {n}", created=start + timedelta(hours=n))
    return mine


def connected_user(fake: FakeJira) -> tuple[AuthedUser, int, int]:
    """Ann in LLMCoder, connected to the fake; returns her, the connection and her default filter."""
    from services.jira import board
    from tests.jira_support import connect

    user = app_member(EMAIL, PASSWORD, "Ann Example")
    connection_id = connect(user, fake)
    return user, connection_id, board.filters(user)[0].id


def check_board(fake: FakeJira, user: AuthedUser, filter_id: int, expected: int) -> int:
    """The board holds exactly what the fake's JQL engine finds for the filter, `expected` tickets."""
    from services.jira import board, jql

    shown = board.board(user, filter_id)
    on_board = {card.key for column in shown.columns for card in column.cards}
    wanted = set(fake.search(jql.DEFAULT_FILTER))
    if on_board != wanted or len(on_board) != expected or shown.total != expected:
        raise RuntimeError(f"the board holds {len(on_board)} tickets ({len(on_board - wanted)} too many, "
                           f"{len(wanted - on_board)} missing); expected {expected}")
    return shown.total


def _endpoint(request: RecordedRequest) -> str:
    return f"{request.method} {re.sub(r'/issue/[A-Z][A-Z0-9_]*-[0-9]+', '/issue/{key}', request.path)}"


def timed_sync(fake: FakeJira, connection_id: int, *, seen: int, left: int) -> dict[str, Any]:
    """One sync with its requests by endpoint; fails unless it saw and dropped the tickets expected."""
    from tests.jira_support import run_sync

    fake.clear_requests()
    started = time.perf_counter()
    result = run_sync(connection_id)
    seconds = time.perf_counter() - started
    outcome = result["filters"][0]
    if (outcome.get("seen"), outcome.get("left")) != (seen, left):
        raise RuntimeError(f"the sync reported {outcome}; expected seen={seen}, left={left}")
    requests = fake.requests
    return {"seconds": round(seconds, 3), "full": outcome["full"], "seen": seen, "left": left,
            "requests": len(requests), "by_endpoint": dict(sorted(Counter(map(_endpoint, requests)).items()))}


def _change_elsewhere(fake: FakeJira, mine: list[str]) -> tuple[list[str], list[str]]:
    """Bob comments on COMMENTED of ann's tickets and closes CLOSED others, and comments on some of
    his own (found by the sync's second search, and skipped); returns (commented, closed)."""
    commented, closed = mine[3::len(mine) // COMMENTED][:COMMENTED], mine[50::len(mine) // CLOSED][:CLOSED]
    for key in commented:
        fake.add_comment(key, "Any news on this one?", author="bob")
    for key in closed:
        fake.set_status(key, "Done", author="bob")
    for key in fake.search(f'assignee = "{fake.user("bob").id}"')[:5]:
        fake.add_comment(key, "Noted.", author="bob")
    return commented, closed


def scenario(deployment: str, tickets: int, repeat: int) -> dict[str, Any]:
    """A full sync, `repeat` incremental ones with nothing changed, then one after the changes."""
    from tests.jira_support import fake_jira

    with fake_jira(deployment) as fake:
        mine = seed(fake, tickets)
        user, connection_id, filter_id = connected_user(fake)
        full = timed_sync(fake, connection_id, seen=tickets, left=0)
        full["board"] = check_board(fake, user, filter_id, tickets)
        unchanged_seconds = []
        for _ in range(repeat):
            fake.advance(SYNC_WINDOW_S)
            unchanged = timed_sync(fake, connection_id, seen=0, left=0)
            unchanged_seconds.append(unchanged["seconds"])
        unchanged["board"] = check_board(fake, user, filter_id, tickets)
        unchanged["seconds"] = percentiles(unchanged_seconds)
        fake.advance(SYNC_WINDOW_S)
        commented, closed = _change_elsewhere(fake, mine)
        changed = timed_sync(fake, connection_id, seen=len(commented), left=len(closed))
        changed["board"] = check_board(fake, user, filter_id, tickets - len(closed))
        return {
            "fake_jira_issues": len(fake.search("project in (ABC, XYZ)")), "page_size": fake.max_results,
            "full": full, "incremental_unchanged": unchanged, "incremental_10_commented_5_closed": changed,
            "naive_reread_requests": full["requests"],
        }


def wall_times_on_postgres(deployment: str, tickets: int, repeat: int) -> dict[str, Any]:
    """The same scenario on a scratch PostgreSQL database; its requests are SQLite's, so only the times."""
    def measure(url: str) -> dict[str, Any]:
        fresh(url)
        figures = scenario(deployment, tickets, repeat)
        return {name: figures[name]["seconds"]
                for name in ("full", "incremental_unchanged", "incremental_10_commented_5_closed")}

    return on_postgres(measure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=10, help="incremental syncs with nothing changed")
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": machine(), "load_average_at_start": os.getloadavg(),
                               "tickets": args.tickets, "sqlite": {}, "postgresql": {}}
    fresh(None)
    scenario("Server", 100, 1)  # a warm-up: the first sync in a process pays for imports and first uses
    for deployment in ("Server", "Cloud"):
        fresh(None)
        print(f"{deployment} (SQLite) ...", flush=True)
        results["sqlite"][deployment.lower()] = scenario(deployment, args.tickets, args.repeat)
    for deployment in ("Server", "Cloud"):
        print(f"{deployment} (PostgreSQL) ...", flush=True)
        results["postgresql"][deployment.lower()] = wall_times_on_postgres(deployment, args.tickets, args.repeat)
    results["load_average_at_end"] = os.getloadavg()
    write("jira_sync", results)


if __name__ == "__main__":
    main()
