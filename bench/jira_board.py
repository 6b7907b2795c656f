"""The JIRA board with 1,000 tickets in one filter: the server's work for one render, and in
Chromium the time from clicking "JIRA" in the sidebar until the board is on screen (each column
draws its first 50 cards; "Show more" draws the rest).

Server time is what `JiraBoardState._reload` runs, without Reflex, part by part on every run:
`filters` (the filter dropdown), `board` (`board.board`: the filter's tickets and the statuses
their projects use, then search and quick filters in Python), `convert` (the state's own
converters into the rows it holds), `revision` (the connection row the 2 s poll compares) and
`delta_json` (Reflex's JSON encoding of those columns, the bulk of the state delta the browser
receives). Cases: the whole board, a search for a word in ~1/11 of the summaries, a quick filter
(Bugs, a third). On SQLite and on a scratch PostgreSQL database (`VACUUM ANALYZE` after the sync,
as autovacuum would).

In the browser, the real app in prod mode serves a data dir filled by a sync from the fake JIRA
(its interval set to 0, so the app never syncs: the fake is gone by then). A round loads Home and
clicks "JIRA"; the page's own clock then times three moments, the last two checked on every
animation frame (Playwright's `expect` polls at growing intervals, up to 500 ms apart, which would
round the times up): `state_delta`, when the websocket message carrying the board's columns
arrived (the server's part ends there); `in_dom`, when `#jira-board-count` reads "1000 of 1000
tickets" and the drawn `.jira-card`s are in the page; and `on_screen`, the frame after that one, once
the cards were laid out and painted. `new_tab` rounds each open a new tab: a new Reflex session
state, the first visit. `same_tab` rounds reuse one tab, whose state (sent whole on every page
load) already holds the board from the round before, so the route draws it before the page's load
handler has answered and `state_delta` comes too late to be counted.

    flock /tmp/e2e.lock .venv/bin/python -m bench.jira_board [--tickets 1000] [--repeat 30] [--rounds 10]
"""

from __future__ import annotations

import argparse
import os
import time
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from bench.common import (
    app_data_dir,
    click_in_sidebar,
    fresh,
    machine,
    on_postgres,
    percentiles,
    served_app,
    signed_in_page,
    write,
)
from bench.jira_sync import EMAIL, PASSWORD, check_board, connected_user, seed

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from services.auth.users import AuthedUser
    from services.jira.board import QuickFilters
    from tests.fakes.jira_server import FakeJira

PARTS = ("filters", "board", "convert", "revision", "delta_json")
SEARCH = "export"
PAGE_CLOCK = """
window.boardTimes = {};
document.addEventListener('click', () => { window.boardTimes = {click: performance.now()}; }, true);
window.WebSocket = class extends window.WebSocket {
    constructor(...args) {
        super(...args);
        this.addEventListener('message', (event) => {
            if (String(event.data).includes('"columns_rx_state_"')) window.boardTimes.delta ??= performance.now();
        });
    }
};"""
BOARD_ON_SCREEN = """([n, drawn]) => {
    const times = window.boardTimes;
    const inDom = document.querySelectorAll('.jira-card').length === drawn
        && document.querySelector('#jira-board-count')?.textContent === `${n} of ${n} tickets`;
    if (times.click === undefined || !inDom) return false;
    if (times.inDom === undefined) { times.inDom = performance.now(); return false; }
    const since = (moment) => moment === undefined ? null : (moment - times.click) / 1000;
    return {state_delta: since(times.delta), in_dom: since(times.inDom), on_screen: since(performance.now())};
}"""


def synced_board(fake: FakeJira, tickets: int) -> tuple[AuthedUser, int]:
    """A first sync of the seeded fake into this process's database; returns the user and her filter."""
    from services.jira import connection
    from tests.jira_support import run_sync

    seed(fake, tickets)
    user, connection_id, filter_id = connected_user(fake)
    run_sync(connection_id)
    check_board(fake, user, filter_id, tickets)
    connection.set_interval(user, 0)  # no scheduled sync: the app runs after the fake has stopped
    return user, filter_id


def _analyze() -> None:
    """PostgreSQL plans from statistics; autovacuum's ANALYZE would have run after the sync's inserts."""
    from sqlalchemy import text

    from services.db import get_engine

    engine = get_engine()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def reload_parts(user: AuthedUser, filter_id: int, search: str, quick: QuickFilters) -> tuple[list[float], int, int]:
    """One `_reload`'s work: the seconds of each of PARTS, the cards shown and the delta's bytes."""
    from reflex.utils import format

    from services.jira import board, connection
    from state.formatting import when
    from state.jira_board import PER_COLUMN, _column, _filter  # the state's own converters, not copies

    marks = [time.perf_counter()]
    dropdown = [_filter(view) for view in board.filters(user)]
    marks.append(time.perf_counter())
    found = board.board(user, filter_id, search=search, quick=quick)
    marks.append(time.perf_counter())
    rows = {"columns": [_column(column, PER_COLUMN) for column in found.columns], "synced": when(found.synced_at)}
    marks.append(time.perf_counter())
    connection.get(user)
    marks.append(time.perf_counter())
    delta = format.json_dumps(rows)
    marks.append(time.perf_counter())
    cards = sum(column["count"] for column in rows["columns"])
    if not dropdown or cards != found.shown:
        raise RuntimeError(f"{len(dropdown)} filters; the columns hold {cards} cards, the board says {found.shown}")
    return [end - start for start, end in pairwise(marks)], found.shown, len(delta.encode())


def server_time(tickets: int, repeat: int) -> dict[str, Any]:
    from services.jira.board import QuickFilters
    from tests.jira_support import fake_jira

    with fake_jira("Server") as fake:
        user, filter_id = synced_board(fake, tickets)
    _analyze()
    cases = {"whole_board": ("", QuickFilters()), "search": (SEARCH, QuickFilters()),
             "quick_filter_bugs": ("", QuickFilters(issue_type="Bug"))}
    figures: dict[str, Any] = {}
    for name, (search, quick) in cases.items():
        runs = [reload_parts(user, filter_id, search, quick) for _ in range(repeat)]
        shown, delta_bytes = runs[0][1], runs[0][2]
        if name == "whole_board" and shown != tickets:
            raise RuntimeError(f"the board shows {shown} of {tickets} tickets")
        parts = [run[0] for run in runs]
        figures[name] = {
            "shown": shown, "delta_bytes": delta_bytes,
            "reload": percentiles([sum(part[:-1]) for part in parts]),
            "reload_and_delta_json": percentiles([sum(part) for part in parts]),
            **{label: percentiles([part[index] for part in parts]) for index, label in enumerate(PARTS)},
        }
    return figures


def open_board(page: Page, base_url: str, tickets: int, drawn: int) -> dict[str, float | None]:
    """Seconds from the click on "JIRA" until the board's state delta arrived (None: not before the
    board was on screen), until the drawn cards (each column's first PER_COLUMN; the rest behind
    "Show more") and the count are in the page, and until they are on screen."""
    click_in_sidebar(page, base_url, "JIRA")
    return page.wait_for_function(BOARD_ON_SCREEN, arg=[tickets, drawn], polling="raf", timeout=60_000).json_value()


def _moments(rounds: list[dict[str, float | None]]) -> dict[str, Any]:
    """Percentiles of each moment every round reached (a revisit draws before its delta arrives)."""
    figures: dict[str, Any] = {}
    for name in rounds[0]:
        seconds = [moments[name] for moments in rounds]
        if None not in seconds:
            figures[name] = percentiles(seconds)
    return figures


def in_browser(tickets: int, rounds: int) -> dict[str, Any]:
    from services.jira import board
    from state.jira_board import PER_COLUMN
    from tests.jira_support import fake_jira

    with app_data_dir() as data_dir:
        with fake_jira("Server") as fake:
            user, filter_id = synced_board(fake, tickets)
        drawn = sum(min(len(column.cards), PER_COLUMN) for column in board.board(user, filter_id).columns)
        with served_app(data_dir) as base_url, signed_in_page(base_url, EMAIL, PASSWORD) as page:
            page.context.add_init_script(PAGE_CLOCK)
            new_tab = []
            for _ in range(rounds + 1):  # the first round warms the browser's cache of the page's code
                tab = page.context.new_page()
                new_tab.append(open_board(tab, base_url, tickets, drawn))
                tab.close()
            same_tab = [open_board(page, base_url, tickets, drawn) for _ in range(rounds + 1)]
            count = page.locator("#jira-board-count").inner_text()
            cards = page.locator(".jira-card").count()
    return {"new_tab": _moments(new_tab[1:]), "same_tab": _moments(same_tab[1:]), "count_text": count,
            "cards_drawn": cards, "cards_per_column": PER_COLUMN, "mode": "prod, in-process jobs, SQLite"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=30, help="server-time runs per case")
    parser.add_argument("--rounds", type=int, default=10, help="browser rounds of each kind, after a warm-up")
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": machine(), "load_average_at_start": os.getloadavg(),
                               "tickets": args.tickets}
    fresh(None)
    print("server time (SQLite) ...", flush=True)
    results["sqlite"] = server_time(args.tickets, args.repeat)

    def on_pg(url: str) -> dict[str, Any]:
        fresh(url)
        return server_time(args.tickets, args.repeat)

    print("server time (PostgreSQL) ...", flush=True)
    results["postgresql"] = on_postgres(on_pg)
    print("browser ...", flush=True)
    results["browser"] = in_browser(args.tickets, args.rounds)
    results["load_average_at_end"] = os.getloadavg()
    write("jira_board", results)


if __name__ == "__main__":
    main()
