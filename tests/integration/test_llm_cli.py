"""`python -m services.cli llm ...` end to end: real litellm over HTTP against the fake providers.

Most tests call main() in-process; the budget atomicity test starts four real CLI processes
that share one database (SQLite and PostgreSQL) and race for the same monthly budget.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import select

from services import runtime_settings
from services.cli.commands import main
from services.db import migrate, session_scope
from services.db.models import LLMBudgetMonth, LLMCall, LLMFailureReport, LLMReservation, Setting
from services.llm import budget, config, providers
from tests.conftest import reset_process_caches
from tests.fakes.llm_providers import error, hang, ok

# main() installs the redacting record factory: restore_logging puts back what was there.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("restore_logging")]

REPO = Path(__file__).resolve().parents[2]
SECRET = "sk-test-CliKeyNeverShown-7781"
NANOS = 1_000_000_000


@pytest.fixture
def cli(fake_llm, capsys, monkeypatch):
    """run('provider', 'list', stdin=...) -> (exit code, stdout, stderr) of `llm provider list`.
    Every output is kept in `run.seen` so tests can check a secret never appeared."""
    capsys.readouterr()
    seen: list[str] = []

    def run(*argv: str, stdin: str = ""):
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(["llm", *argv])
        out, err = capsys.readouterr()
        seen.extend((out, err))
        return code, out, err

    run.seen = seen  # type: ignore[attr-defined]
    return run


def _json(out: str):
    return json.loads(out)


def _add(cli, fake, name: str, dialect: str, model: str, *extra: str, key: str | None = None) -> None:
    argv = ["provider", "add", name, "--model", f"{dialect}/{model}", "--api-base", fake.api_base(dialect)]
    if key is not None:
        argv += ["--api-key", key]
    code, out, err = cli(*argv, *extra)
    assert code == 0, err
    assert out.startswith(f"Added {name} ({dialect}/{model}) at position ")


def _complete(cli, *argv: str, stdin: str = "") -> tuple[int, str, dict, str]:
    """`llm complete`: (code, answer text, JSON summary, stderr)."""
    code, out, err = cli("complete", *argv, stdin=stdin)
    lines = out.splitlines()
    if code == 0:
        assert len(lines) == 2, out  # the answer, then exactly one JSON line
        return code, lines[0], json.loads(lines[1]), err
    assert len(lines) == 1, out
    return code, "", json.loads(lines[0]), err


def _month() -> LLMBudgetMonth | None:
    with session_scope() as session:
        return session.get(LLMBudgetMonth, budget.month_key(budget.utcnow()))


def _calls(**where) -> list[LLMCall]:
    with session_scope() as session:
        query = select(LLMCall)
        for name, value in where.items():
            query = query.where(getattr(LLMCall, name) == value)
        return list(session.exec(query.order_by(LLMCall.created_at, LLMCall.attempt)).all())


# ------------------------------------------------------------------ 1. providers

def test_provider_add_list_enable_disable_remove(cli, fake_llm):
    _add(cli, fake_llm, "alpha", "openai", "m-alpha", "--input-price", "1", "--output-price", "2", "--position", "1",
         key=SECRET)
    # No price: openai/m-beta is not in the cost map, so the fallback price applies; its key setting is empty.
    _add(cli, fake_llm, "beta", "openai", "m-beta", "--key-setting", "openai.api_key")
    code, out, _ = cli("provider", "add", "gamma", "--model", "anthropic/m-gamma", "--api-base",
                       fake_llm.api_base("anthropic"), "--api-key", "sk-gamma-0000000000", "--input-price", "3",
                       "--output-price", "15", "--position", "1")
    assert code == 0 and out.strip() == "Added gamma (anthropic/m-gamma) at position 1."

    code, out, err = cli("provider", "list", "--json")
    assert code == 0, err
    rows = _json(out)
    assert [(r["position"], r["name"]) for r in rows] == [(1, "gamma"), (2, "alpha"), (3, "beta")]
    by_name = {r["name"]: r for r in rows}
    alpha = by_name["alpha"]
    assert alpha["model"] == "openai/m-alpha" and alpha["api_base"] == fake_llm.api_base("openai")
    assert (alpha["price_source"], alpha["key"], alpha["enabled"], alpha["usable"], alpha["unpriced"]) == (
        "admin", "set", True, True, False)
    assert Decimal(alpha["input_usd_per_mtok"]) == 1 and Decimal(alpha["output_usd_per_mtok"]) == 2
    gamma = by_name["gamma"]
    assert Decimal(gamma["input_usd_per_mtok"]) == 3 and Decimal(gamma["output_usd_per_mtok"]) == 15
    beta = by_name["beta"]
    assert (beta["price_source"], beta["key"], beta["usable"], beta["unpriced"]) == ("fallback", "missing", False, True)

    code, out, _ = cli("provider", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["#", "NAME", "MODEL", "STATE", "KEY"]
    assert [line.split()[:5] for line in lines[1:]] == [
        ["1", "gamma", "anthropic/m-gamma", "enabled", "set"],
        ["2", "alpha", "openai/m-alpha", "enabled", "set"],
        ["3", "beta", "openai/m-beta", "enabled", "missing"],
    ]
    assert lines[2].endswith("(admin)") and lines[3].endswith("(fallback)")

    # The key is stored encrypted, never in clear.
    with session_scope() as session:
        stored = session.get(Setting, "provider_key.alpha")
    assert stored is not None and stored.is_secret and SECRET not in stored.value
    assert runtime_settings.get("provider_key.alpha") == SECRET

    code, out, _ = cli("provider", "disable", "alpha")
    assert code == 0 and out.strip() == "alpha is disabled."
    assert {r["name"]: r["enabled"] for r in _json(cli("provider", "list", "--json")[1])} == {
        "gamma": True, "alpha": False, "beta": True}
    assert cli("provider", "list")[1].splitlines()[2].split()[3] == "disabled"

    # Enabling ends a cool-down too.
    providers.set_enabled("alpha", True)
    alpha_row = next(d for d in providers.chain() if d.name == "alpha")
    providers.record_failure(alpha_row, after=1, cooldown_seconds=300)
    assert cli("provider", "list")[1].splitlines()[2].split()[3] == "cooling"
    code, out, _ = cli("provider", "enable", "alpha")
    assert code == 0 and out.strip() == "alpha is enabled."
    alpha = next(r for r in _json(cli("provider", "list", "--json")[1]) if r["name"] == "alpha")
    assert alpha["enabled"] is True and alpha["cooldown_until"] is None

    code, out, _ = cli("provider", "remove", "gamma")
    assert code == 0 and out.strip() == "Removed gamma."
    assert [r["name"] for r in _json(cli("provider", "list", "--json")[1])] == ["alpha", "beta"]
    assert [d.name for d in providers.chain()] == ["alpha", "beta"]
    assert runtime_settings.get("provider_key.gamma") == ""  # its own key went with it

    code, out, err = cli("provider", "remove", "nobody")
    assert code == 2 and out == ""
    assert err.strip() == "error: No provider named 'nobody'."

    code, _, err = cli("provider", "enable", "nobody")
    assert code == 2 and err.strip() == "error: No provider named 'nobody'."

    for text in cli.seen:
        assert SECRET not in text


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("alpha", ["--input-price", "1", "--output-price", "2"], "error: A provider named 'alpha' exists already."),
        ("delta", ["--input-price", "abc", "--output-price", "2"], "error: Input price must be a number, not 'abc'."),
        ("delta", ["--input-price", "1", "--output-price", "-2"], "error: Output price must be zero or more."),
        ("delta", ["--input-price", "1"], "error: Give both the input and the output price, or neither"),
        ("delta", ["--output-price", "1"], "error: Give both the input and the output price, or neither"),
        ("delta", ["--api-base", "ftp://example.com/v1"], "error: API base must be an http(s) URL, not 'ftp://"),
        ("delta", ["--api-base", "localhost:8080"], "error: API base must be an http(s) URL, not 'localhost:8080'."),
        ("Bad Name", [], "error: Provider name: lower-case letters"),
    ],
)
def test_provider_add_errors_exit_2_and_store_nothing(cli, fake_llm, name, options, message):
    _add(cli, fake_llm, "alpha", "openai", "m-alpha", "--input-price", "1", "--output-price", "2", key=SECRET)
    before = _json(cli("provider", "list", "--json")[1])
    argv = ["provider", "add", name, "--model", "openai/m-other", "--api-key", "sk-other-key-555555"]
    if "--api-base" not in options:
        argv += ["--api-base", fake_llm.api_base("openai")]

    code, out, err = cli(*argv, *options)

    assert code == 2
    assert out == ""
    assert err.startswith(message), err
    assert "Traceback" not in err
    assert _json(cli("provider", "list", "--json")[1]) == before
    with session_scope() as session:
        keys = sorted(row.key for row in session.exec(select(Setting)).all() if row.key.startswith("provider_key."))
    assert keys == ["provider_key.alpha"]
    assert runtime_settings.get("provider_key.alpha") == SECRET  # a duplicate does not overwrite the key
    for text in cli.seen:
        assert SECRET not in text and "sk-other-key-555555" not in text


# ------------------------------------------------------------------ 2. budget

def test_budget_set_and_bad_values_keep_the_budget(cli):
    code, out, err = cli("budget", "set", "--monthly", "12.5", "--daily-calls", "100")
    assert code == 0, err
    assert out.strip() == "Monthly budget $12.50, at most 100 calls a day."
    report = _json(cli("usage", "--json")[1])
    assert report["budget_usd"] == 12.5
    assert report["remaining_usd"] == 12.5 and report["spent_usd"] == 0
    assert config.load().daily_call_limit == 100

    for bad, message in (("-3", "error: Monthly LLM budget (USD) must be zero or more."),
                         ("lots", "error: Monthly LLM budget (USD) must be a number, not 'lots'.")):
        code, out, err = cli("budget", "set", "--monthly", bad, "--daily-calls", "7")
        assert code == 2 and out == ""
        assert err.strip() == message
        assert _json(cli("usage", "--json")[1])["budget_usd"] == 12.5
        assert config.load().daily_call_limit == 100

    # A bad daily limit must not half-apply the command either.
    code, out, err = cli("budget", "set", "--monthly", "99", "--daily-calls", "-1")
    assert code == 2 and out == ""
    assert err.startswith("error: Daily provider call limit must be at least 0"), err
    assert _json(cli("usage", "--json")[1])["budget_usd"] == 12.5
    assert config.load().daily_call_limit == 100

    code, out, _ = cli("budget", "set", "--monthly", "3")
    assert code == 0 and out.strip() == "Monthly budget $3.00, at most 100 calls a day."
    assert _json(cli("usage", "--json")[1])["budget_usd"] == 3


# ------------------------------------------------------------------ 3. complete

def test_complete_prints_the_answer_then_one_json_line(cli, fake_llm):
    _add(cli, fake_llm, "p1", "openai", "m1", "--input-price", "1", "--output-price", "2", key=SECRET)

    code, answer, summary, err = _complete(cli, "--feature", "inbox", "Say hello to the team")

    assert code == 0, err
    assert answer == "Answer from m1"
    assert (summary["provider"], summary["model"], summary["source"], summary["status"]) == (
        "p1", "openai/m1", "provider", "ok")
    assert [(a["provider"], a["number"], a["status"]) for a in summary["attempts"]] == [("p1", 1, "ok")]
    # $1 / $2 per 1M tokens = 1,000 / 2,000 nano-dollars per token.
    expected = summary["input_tokens"] * 1000 + summary["output_tokens"] * 2000
    assert summary["input_tokens"] > 0 and summary["output_tokens"] == 3
    assert round(summary["cost_usd"] * NANOS) == expected
    (row,) = _calls(request_id=summary["request_id"])
    assert (row.feature, row.status, row.cost_nanos) == ("inbox", "ok", expected)
    assert _month().spent_nanos == expected and _month().reserved_nanos == 0
    assert "Say hello to the team" in json.dumps(fake_llm.requests[-1].body)
    assert fake_llm.count("m1") == 1

    # One 429, then the retry answers: two attempts, both in the JSON line.
    fake_llm.script("m1", error(429))
    code, answer, summary, _ = _complete(cli, "--feature", "inbox", "--no-cache", "Say hello again")
    assert code == 0 and answer == "Answer from m1"
    assert [(a["provider"], a["number"], a["status"], a["kind"]) for a in summary["attempts"]] == [
        ("p1", 1, "failed", "rate_limit"), ("p1", 2, "ok", "")]
    assert summary["status"] == "ok" and fake_llm.count("m1") == 3

    # The prompt from standard input.
    code, answer, summary, _ = _complete(cli, "--feature", "inbox", "-", stdin="text from stdin please\n")
    assert code == 0 and summary["status"] == "ok"
    assert "text from stdin please" in json.dumps(fake_llm.requests[-1].body)

    for text in cli.seen:
        assert SECRET not in text


def test_complete_stdout_stays_answer_plus_json_with_info_logging(cli, fake_llm, caplog):
    """A real CLI process logs at INFO (startup.configure_logging); litellm's own handler
    writes its INFO records to stdout, which must not break the two-line contract."""
    caplog.set_level(logging.INFO)
    _add(cli, fake_llm, "p1", "openai", "m1", "--input-price", "1", "--output-price", "2", key=SECRET)

    code, out, err = cli("complete", "--feature", "inbox", "Say hello")

    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Answer from m1" and len(lines) == 2, out
    assert json.loads(lines[1])["status"] == "ok"

    code, out, err = cli("loadtest", "--requests", "3", "--concurrency", "2", "--feature", "load", "Ping")
    assert code == 0, err
    assert json.loads(out)["ok"] == 3, out


def test_complete_when_every_provider_fails(cli, fake_llm):
    _add(cli, fake_llm, "p1", "openai", "m1", "--input-price", "1", "--output-price", "2", key=SECRET)
    _add(cli, fake_llm, "p2", "anthropic", "m2", "--input-price", "1", "--output-price", "2", key="sk-p2-000000000")
    fake_llm.default("m1", error(500))
    fake_llm.default("m2", error(401))

    code, answer, summary, err = _complete(cli, "--feature", "docs", "Summarise this")

    assert code == 1
    assert err.startswith("error: Every AI provider failed (4 attempt(s))"), err
    assert summary["status"] == "AllProvidersFailed"
    assert summary["request_id"] and summary["report_id"]
    with session_scope() as session:
        report = session.get(LLMFailureReport, summary["report_id"])
    assert report is not None and report.request_id == summary["request_id"] and report.feature == "docs"
    assert [(r.provider, r.attempt, r.status) for r in _calls(request_id=summary["request_id"])] == [
        ("p1", 1, "failed"), ("p1", 2, "failed"), ("p1", 3, "failed"), ("p2", 1, "failed")]
    assert fake_llm.count("m1") == 3 and fake_llm.count("m2") == 1
    assert _month().spent_nanos == 0 and _month().reserved_nanos == 0
    assert f"llm report {summary['report_id']}" in err  # where the details are
    code, shown, err = cli("report", summary["report_id"])
    assert code == 0 and shown.startswith("# LLM request failed: docs/complete") and "## Recommendations" in shown
    assert "**Authentication** (1 of 4 attempts)" in shown
    for text in cli.seen:
        assert SECRET not in text


def test_complete_dry_run_calls_no_provider(cli, fake_llm):
    _add(cli, fake_llm, "p1", "openai", "m1", "--input-price", "1", "--output-price", "2", key=SECRET)

    code, answer, summary, err = _complete(cli, "--feature", "chat", "--dry-run", "--max-tokens", "77", "Hi there")

    assert code == 0, err
    assert answer.startswith("[dry run] No provider was called. openai/m1 would receive")
    assert "max_tokens=77" in answer
    assert (summary["status"], summary["source"], summary["cost_usd"], summary["attempts"]) == (
        "dry_run", "dry_run", 0.0, [])
    assert fake_llm.count() == 0
    assert [r.status for r in _calls(request_id=summary["request_id"])] == ["dry_run"]
    month = _month()
    assert month is None or (month.spent_nanos, month.reserved_nanos) == (0, 0)


# ------------------------------------------------------------------ 4. usage agrees with the call log

def test_usage_breakdowns_equal_the_sums_of_the_call_log(cli, fake_llm):
    cli("budget", "set", "--monthly", "50")
    _add(cli, fake_llm, "cheap", "openai", "m-cheap", "--input-price", "1", "--output-price", "2", key="sk-cheap-0000")
    _add(cli, fake_llm, "dear", "anthropic", "m-dear", "--input-price", "3", "--output-price", "15", key="sk-dear-0000")
    fake_llm.default("m-cheap", ok(completion_tokens=40))
    fake_llm.default("m-dear", ok(completion_tokens=25))

    assert _complete(cli, "--feature", "inbox", "First question")[2]["provider"] == "cheap"
    assert _complete(cli, "--feature", "inbox", "Second question")[2]["provider"] == "cheap"
    fake_llm.script("m-cheap", error(503), error(503), error(503))  # cheap fails: dear answers
    assert _complete(cli, "--feature", "docs", "Third question")[2]["provider"] == "dear"
    assert _complete(cli, "--feature", "docs", "First question")[2]["source"] == "cache"  # same prompt: cache
    assert _complete(cli, "--feature", "chat", "--dry-run", "Fourth")[2]["status"] == "dry_run"
    cli("provider", "disable", "cheap")
    assert _complete(cli, "--feature", "chat", "Fifth question")[2]["provider"] == "dear"
    cli("provider", "disable", "dear")
    assert _complete(cli, "--feature", "chat", "Offline question")[2]["status"] == "LLMUnavailable"

    report = _json(cli("usage", "--json")[1])
    rows = _json(cli("calls", "--last", "50", "--json")[1])

    # newest first: offline, ok, dry run, cache, ok after 3 failed attempts, 2 ok
    assert [(r["feature"], r["provider"], r["status"]) for r in rows] == [
        ("chat", "", "offline"), ("chat", "dear", "ok"), ("chat", "", "dry_run"), ("docs", "cache", "cache"),
        ("docs", "dear", "ok"), ("docs", "cheap", "failed"), ("docs", "cheap", "failed"), ("docs", "cheap", "failed"),
        ("inbox", "cheap", "ok"), ("inbox", "cheap", "ok")]
    prices = {"cheap": (1000, 2000), "dear": (3000, 15000)}
    for r in rows:  # each cost is the exact product of its tokens and the admin prices
        if r["status"] == "ok":
            per_in, per_out = prices[r["provider"]]
            assert r["cost_nanos"] == r["input_tokens"] * per_in + r["output_tokens"] * per_out > 0
        else:
            assert r["cost_nanos"] == 0
        assert round(r["cost_usd"] * NANOS) == r["cost_nanos"]

    def grouped(column: str) -> dict:
        out: dict[str, dict[str, int]] = defaultdict(lambda: {"calls": 0, "cost_nanos": 0})
        for r in rows:
            out[r[column] or "-"]["calls"] += 1
            out[r[column] or "-"]["cost_nanos"] += r["cost_nanos"]
        return dict(out)

    assert report["by_provider"] == grouped("provider")
    assert report["by_feature"] == grouped("feature")
    assert set(report["by_provider"]) == {"cheap", "dear", "cache", "-"}
    assert report["by_feature"]["docs"]["calls"] == 5  # 3 failed attempts, 1 ok, 1 cache hit
    total = sum(r["cost_nanos"] for r in rows)
    assert report["spent_nanos"] == total == _month().spent_nanos
    assert round(report["spent_usd"] * NANOS) == total
    assert report["reserved_usd"] == 0
    assert report["budget_usd"] == 50
    assert round(report["remaining_usd"] * NANOS) == 50 * NANOS - total
    saved = sum(r["saved_nanos"] for r in rows)
    assert saved > 0 and round(report["saved_usd"] * NANOS) == saved

    code, out, _ = cli("usage")
    assert code == 0
    assert out.startswith(f"{report['month']}: spent ${total / NANOS:.6f} of $50.00")
    assert sum(1 for line in out.splitlines() if line.startswith("  provider")) == 4


# ------------------------------------------------------------------ 5. calls

def test_calls_last_n_are_the_newest_first(cli, fake_llm):
    _add(cli, fake_llm, "p1", "openai", "m1", "--input-price", "1", "--output-price", "2", key=SECRET)
    request_ids = [_complete(cli, "--feature", f"f{i}", f"Question number {i}")[2]["request_id"] for i in range(5)]

    rows = _json(cli("calls", "--last", "3", "--json")[1])

    assert [r["request_id"] for r in rows] == request_ids[::-1][:3]
    assert [r["feature"] for r in rows] == ["f4", "f3", "f2"]
    stamps = [r["created_at"] for r in rows]
    assert stamps == sorted(stamps, reverse=True) and len(set(stamps)) == 3
    assert len(_json(cli("calls", "--last", "50", "--json")[1])) == 5

    code, out, _ = cli("calls", "--last", "2")
    assert code == 0
    assert [line.split()[1] for line in out.splitlines()] == ["f4", "f3"]


# ------------------------------------------------------------------ 6. test

def test_provider_test_reports_each_provider(cli, fake_llm):
    _add(cli, fake_llm, "good", "openai", "m-good", "--input-price", "1", "--output-price", "2", key=SECRET)
    _add(cli, fake_llm, "bad", "openai", "m-bad", "--input-price", "1", "--output-price", "2", key="sk-bad-00000")
    fake_llm.default("m-bad", error(401))

    code, out, err = cli("test")

    assert code == 1
    lines = out.splitlines()
    assert [line.split()[:3] for line in lines] == [["good", "openai/m-good", "ok"], ["bad", "openai/m-bad", "FAILED"]]
    assert "AuthenticationError" in lines[1]
    assert fake_llm.count("m-good") == 1 and fake_llm.count("m-bad") == 1  # one attempt each, no retry of a 401
    assert sorted((r.provider, r.status) for r in _calls(feature="provider_test")) == [
        ("bad", "failed"), ("good", "ok")]

    cli("provider", "disable", "bad")
    code, out, _ = cli("test")
    assert code == 0
    assert [line.split()[:3] for line in out.splitlines()] == [["good", "openai/m-good", "ok"]]
    assert fake_llm.count("m-bad") == 1

    cli("provider", "disable", "good")
    code, out, _ = cli("test")
    assert code == 1 and out.strip() == "No provider is enabled."
    for text in cli.seen:
        assert SECRET not in text


# ------------------------------------------------------------------ 7. loadtest

def _loadtest_summary(out: str) -> dict:
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    return json.loads(lines[0])


def test_loadtest_all_ok(cli, fake_llm):
    _add(cli, fake_llm, "p1", "openai", "m1", "--input-price", "1", "--output-price", "2", key=SECRET)
    fake_llm.default("m1", hang(0.01, then=ok(completion_tokens=5)))

    code, out, err = cli("loadtest", "--requests", "40", "--concurrency", "8", "--feature", "load", "Ping")

    assert code == 0, err
    s = _loadtest_summary(out)
    assert (s["requests"], s["concurrency"], s["ok"], s["refused_budget"], s["failed"], s["cache"]) == (
        40, 8, 40, 0, 0, 0)
    assert 0 < s["p50_ms"] <= s["p95_ms"]
    assert s["p50_ms"] >= 10  # every call waited 10 ms at the fake
    assert fake_llm.count("m1") == 40
    rows = _calls(feature="load")
    assert len(rows) == 40 and {r.status for r in rows} == {"ok"}
    assert s["spent_nanos"] == sum(r.cost_nanos for r in rows) == _month().spent_nanos
    # The prompts differ per request: no cache, 40 distinct bodies.
    assert len({json.dumps(r.body) for r in fake_llm.requests}) == 40

    code, _, err = cli("loadtest", "--requests", "0", "--feature", "load", "Ping")
    assert code == 2 and "at least 1" in err


def _ten_cent_provider(cli, fake, name: str = "dime", model: str = "m-dime") -> None:
    """Each call costs exactly $0.10 and reserves exactly $0.10: no input price, 10 output
    tokens (= --max-tokens 10) at $10,000 per 1M."""
    _add(cli, fake, name, "openai", model, "--input-price", "0", "--output-price", "10000", key=SECRET)


def test_loadtest_stops_exactly_at_the_budget(cli, fake_llm):
    _ten_cent_provider(cli, fake_llm)
    fake_llm.default("m-dime", ok(completion_tokens=10))
    assert cli("budget", "set", "--monthly", "1")[0] == 0

    code, out, err = cli("loadtest", "--requests", "40", "--concurrency", "8", "--max-tokens", "10",
                         "--feature", "load", "Ping")

    assert code == 0, err
    s = _loadtest_summary(out)
    assert (s["ok"], s["refused_budget"], s["failed"]) == (10, 30, 0)
    assert s["spent_usd"] == 1.0 and s["spent_nanos"] == NANOS
    assert fake_llm.count("m-dime") == 10
    month = _month()
    assert (month.spent_nanos, month.reserved_nanos) == (NANOS, 0)
    assert Counter(r.status for r in _calls(feature="load")) == {"ok": 10, "refused_budget": 30}
    report = _json(cli("usage", "--json")[1])
    assert (report["spent_usd"], report["reserved_usd"], report["remaining_usd"]) == (1.0, 0.0, 0.0)


# ------------------------------------------------------------------ 8. budget atomicity across processes

PROCESSES, REQUESTS, CONCURRENCY = 4, 30, 10


def _use_postgresql(pg_url: str, monkeypatch) -> None:
    """Points this process (and, through the environment, its children) at PostgreSQL; the
    data dir stays, so every process reads the same secret.key."""
    monkeypatch.setenv("DATABASE_URL", pg_url)
    reset_process_caches()
    migrate.upgrade()
    for deployment in providers.chain():  # the migration seeds the default chain
        providers.remove(deployment.name)


def _gate_until_every_process_is_in(fake, monkeypatch, markers: list[str]) -> threading.Event:
    """Holds each request at the fake until every process has one in flight, so the four
    processes really race for the budget at the same moment (Python start-up alone would
    otherwise let one process finish before the next sends anything)."""
    original = fake._serve
    arrived: set[str] = set()
    lock = threading.Lock()
    everyone = threading.Event()

    def gated(handler, body):
        text = json.dumps(body)
        with lock:
            arrived.update(m for m in markers if m in text)
            if len(arrived) == len(markers):
                everyone.set()
        everyone.wait(90)
        original(handler, body)

    monkeypatch.setattr(fake, "_serve", gated)
    return everyone


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_four_processes_never_spend_more_than_the_budget(backend, request, fake_llm, data_dir, monkeypatch,
                                                         tmp_path, capsys):
    if backend == "postgresql":
        _use_postgresql(request.getfixturevalue("pg_url"), monkeypatch)
    for key, value in (("llm.backoff_base_seconds", "0.01"), ("llm.max_backoff_seconds", "2"),
                       ("llm.timeout_seconds", "120"), ("llm.monthly_budget_usd", "5")):
        runtime_settings.set_value(key, value)
    assert main(["llm", "provider", "add", "dime", "--model", "openai/m-dime", "--api-base",
                 fake_llm.api_base("openai"), "--api-key", SECRET, "--input-price", "0",
                 "--output-price", "10000"]) == 0
    capsys.readouterr()
    fake_llm.default("m-dime", hang(0.05, then=ok(completion_tokens=10)))
    markers = [f"process-{i}-of-four" for i in range(PROCESSES)]
    everyone = _gate_until_every_process_is_in(fake_llm, monkeypatch, markers)

    env = dict(os.environ)
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}".rstrip(os.pathsep)
    assert env["LLMCODER_DATA_DIR"] == str(data_dir)
    assert env.get("DATABASE_URL", "").startswith("postgresql") == (backend == "postgresql")
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "services.cli", "llm", "loadtest", "--requests", str(REQUESTS), "--concurrency",
             str(CONCURRENCY), "--max-tokens", "10", "--feature", "race", marker],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for marker in markers
    ]
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=150)
            outputs.append((proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    elapsed = time.monotonic() - started

    for code, out, err in outputs:
        assert code == 0, err[-3000:]
        assert SECRET not in out + err
    summaries = [json.loads(out) for _, out, _ in outputs]  # stdout is the JSON summary and nothing else
    assert everyone.is_set(), "the four processes never had requests in flight at the same time"
    with capsys.disabled():
        print(f"\n{backend}: (ok, refused) per process {[(s['ok'], s['refused_budget']) for s in summaries]}; "
              f"{elapsed:.1f} s")

    assert all(s["failed"] == 0 and s["requests"] == REQUESTS for s in summaries), summaries
    assert all(s["ok"] > 0 for s in summaries), summaries  # each process won part of the budget
    assert sum(s["ok"] for s in summaries) == 50
    assert sum(s["refused_budget"] for s in summaries) == 70
    assert sum(s["spent_nanos"] for s in summaries) == 5 * NANOS
    assert fake_llm.count("m-dime") == 50

    reset_process_caches()  # read what the children wrote, not a cached view
    month = _month()
    assert (month.spent_nanos, month.reserved_nanos) == (5 * NANOS, 0)
    with session_scope() as session:
        assert session.exec(select(LLMReservation)).all() == []
    assert Counter(r.status for r in _calls(feature="race")) == {"ok": 50, "refused_budget": 70}
    assert main(["llm", "usage", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["spent_nanos"], report["reserved_usd"], report["remaining_usd"], report["budget_usd"]) == (
        5 * NANOS, 0.0, 0.0, 5.0)
    assert report["by_feature"]["race"] == {"calls": 120, "cost_nanos": 5 * NANOS}
