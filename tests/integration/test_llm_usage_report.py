"""The month's cost report (`usage.report()`, the Costs page and `llm usage --json`) after
real gateway calls to fake providers with admin prices, so every figure is known exactly."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from services import runtime_settings
from services.cli.commands import main
from services.db import session_scope
from services.db.models import LLMDailyUsage
from services.db.models.base import new_id, utcnow
from services.llm import budget, calls, gateway, outcomes, usage
from services.llm.types import CallStatus
from tests.fakes.llm_providers import ok
from tests.llm_support import add_provider, ask

# main() installs the redacting record factory: restore_logging puts back what was there.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("restore_logging")]

DIME = 100_000_000  # one "dime" call: 10 output tokens at $10,000 per 1M, no input price
BUDGET = 1_000_000_000  # $1


@pytest.fixture
def month_of_calls(fake_llm, make_user):
    """Seven $0.10 calls by two users in two features, one cheap call without a user, its
    cache hit, outcomes, and rows outside this month that must not count."""
    runtime_settings.set_value("llm.monthly_budget_usd", "1")
    add_provider(fake_llm, "dime", "openai", "m-dime", input_price="0", output_price="10000")
    add_provider(fake_llm, "cheap", "openai", "m2", input_price="1", output_price="2")
    fake_llm.default("m-dime", ok(completion_tokens=10))
    alice = make_user("alice@example.com")
    admin = make_user("admin@example.com", role="admin")

    def dime(n: int, feature: str, user, project: str = ""):
        return [gateway.complete(ask(f"{feature} question {i}", feature=feature, user_id=user.id, project=project,
                                     max_tokens=10)) for i in range(n)]

    inbox = dime(4, "inbox", alice, "alpha")
    assistant = dime(3, "assistant", admin)
    cheap = gateway.complete(ask("Summarise the docs", feature="docs", project="beta", provider="cheap"))
    hit = gateway.complete(ask("Summarise the docs", feature="docs", project="beta", provider="cheap"))
    assert [r.cost_nanos for r in inbox + assistant] == [DIME] * 7
    assert cheap.cost_nanos == cheap.input_tokens * 1000 + cheap.output_tokens * 2000 > 0
    assert hit.status == CallStatus.cache and hit.saved_nanos == cheap.cost_nanos

    for result in inbox[:2]:
        outcomes.record(result.call_id, "accepted_draft", user=alice)
    outcomes.record(inbox[0].call_id, "accepted_draft", user=alice)  # a double click counts once
    outcomes.record(assistant[0].call_id, "generated_file", user=admin)
    outcomes.record(cheap.call_id, "answered_question", user=admin)

    now = utcnow()
    last_month = budget.month_bounds(budget.month_key(now))[0] - timedelta(days=2)
    calls.log(calls.CallRecord(request_id=new_id(), status="ok", feature="inbox", provider="dime",
                               model="openai/m-dime", cost_nanos=999, created_at=last_month))
    with session_scope() as session:
        session.add(LLMDailyUsage(day=budget.day_key(now - timedelta(days=1)), calls=5, spent_nanos=123))
        session.add(LLMDailyUsage(day=budget.day_key(now - timedelta(days=30)), calls=9, spent_nanos=456))
    return {"alice": alice, "admin": admin, "cheap": cheap.cost_nanos}


def test_every_figure_of_the_report(month_of_calls):
    cheap = month_of_calls["cheap"]
    spent = 7 * DIME + cheap
    now = utcnow()

    r = usage.report()

    assert r["month"] == budget.month_key(now)
    assert (r["budget_nanos"], r["budget_usd"]) == (BUDGET, 1.0)
    assert (r["spent_nanos"], r["spent_usd"]) == (spent, spent / 1e9)
    assert (r["reserved_nanos"], r["reserved_usd"]) == (0, 0.0)
    assert (r["remaining_nanos"], r["remaining_usd"]) == (BUDGET - spent, (BUDGET - spent) / 1e9)
    assert (r["saved_nanos"], r["saved_usd"]) == (cheap, cheap / 1e9)  # the cache hit
    assert r["percent_used"] == round(100 * spent / BUDGET, 2)
    assert r["alert_levels"] == [50, 70, 80, 90, 95, 99, 100]
    assert r["level_reached"] == 70
    assert r["alerts_fired"] == [50, 70]
    assert [(a["level"], a["limit_nanos"], a["limit_usd"]) for a in r["alerts"]] == [(50, BUDGET, 1.0),
                                                                                     (70, BUDGET, 1.0)]
    # Each alert records what had been spent when it fired: the 5th and the 7th dime.
    assert [(a["spent_nanos"], a["spent_usd"]) for a in r["alerts"]] == [(5 * DIME, 0.5), (7 * DIME, 0.7)]

    # Today: provider calls only (the cache hit called no provider).
    assert r["today"] == {"calls": 8, "cost_nanos": spent, "cost_usd": spent / 1e9, "average_nanos": spent // 8,
                          "average_usd": (spent // 8) / 1e9}

    # Breakdowns count call-log rows of this month: the cache row too, last month's row not.
    assert r["by_provider"] == {"dime": {"calls": 7, "cost_nanos": 7 * DIME}, "cheap": {"calls": 1, "cost_nanos": cheap},
                                "cache": {"calls": 1, "cost_nanos": 0}}
    assert r["by_model"] == {"dime / openai/m-dime": {"calls": 7, "cost_nanos": 7 * DIME},
                             "cheap / openai/m2": {"calls": 1, "cost_nanos": cheap},
                             "cache / openai/m2": {"calls": 1, "cost_nanos": 0}}
    assert r["by_feature"] == {"inbox": {"calls": 4, "cost_nanos": 4 * DIME},
                               "assistant": {"calls": 3, "cost_nanos": 3 * DIME},
                               "docs": {"calls": 2, "cost_nanos": cheap}}
    assert r["by_user"] == {"alice@example.com": {"calls": 4, "cost_nanos": 4 * DIME},
                            "admin@example.com": {"calls": 3, "cost_nanos": 3 * DIME},
                            "(system)": {"calls": 2, "cost_nanos": cheap}}
    assert r["by_project"] == {"alpha": {"calls": 4, "cost_nanos": 4 * DIME}, "-": {"calls": 3, "cost_nanos": 3 * DIME},
                               "beta": {"calls": 2, "cost_nanos": cheap}}

    # 30 days ending today, oldest first; the day 30 days ago is outside the window.
    days = [d["day"] for d in r["daily"]]
    assert len(days) == 30 and days[-1] == budget.day_key(now) and days[0] == budget.day_key(now - timedelta(days=29))
    assert days == sorted(days) and len(set(days)) == 30
    assert r["daily"][-1] == {"day": days[-1], "calls": 8, "cost_nanos": spent, "cost_usd": spent / 1e9}
    assert r["daily"][-2] == {"day": days[-2], "calls": 5, "cost_nanos": 123, "cost_usd": 123 / 1e9}
    assert all(d["calls"] == 0 and d["cost_nanos"] == 0 for d in r["daily"][:-2])

    # All of a feature's spending divided by its outcomes.
    per = {o["kind"]: o for o in r["cost_per_outcome"]}
    assert list(per) == ["accepted_draft", "posted_comment", "answered_question", "generated_file"]
    assert per["accepted_draft"] == {"kind": "accepted_draft", "label": "accepted draft", "outcomes": 2,
                                     "features": ["inbox"], "cost_nanos": 4 * DIME,
                                     "per_outcome_nanos": 2 * DIME, "per_outcome_usd": 0.2}
    assert (per["generated_file"]["outcomes"], per["generated_file"]["per_outcome_nanos"]) == (1, 3 * DIME)
    assert (per["answered_question"]["outcomes"], per["answered_question"]["per_outcome_nanos"]) == (1, cheap)
    assert per["posted_comment"] == {"kind": "posted_comment", "label": "posted comment", "outcomes": 0,
                                     "features": [], "cost_nanos": 0, "per_outcome_nanos": 0, "per_outcome_usd": 0.0}


def test_the_cli_prints_the_same_report(month_of_calls, capsys):
    capsys.readouterr()
    assert main(["llm", "usage", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)

    assert printed == json.loads(json.dumps(usage.report()))
    assert printed["spent_nanos"] == 7 * DIME + month_of_calls["cheap"]


def test_an_empty_month(db):
    r = usage.report()

    assert (r["spent_nanos"], r["level_reached"], r["alerts_fired"], r["alerts"]) == (0, 0, [], [])
    assert r["today"] == {"calls": 0, "cost_nanos": 0, "cost_usd": 0.0, "average_nanos": 0, "average_usd": 0.0}
    assert r["by_feature"] == {} and r["by_user"] == {} and len(r["daily"]) == 30
    assert {o["outcomes"] for o in r["cost_per_outcome"]} == {0}


@pytest.mark.parametrize(("spent", "level"), [(0, 0), (49, 0), (50, 50), (69, 50), (98, 95), (99, 99), (100, 100), (250, 100)])
def test_level_reached(spent, level):
    assert usage.level_reached(spent, 100, (50, 70, 80, 90, 95, 99, 100)) == level
    assert usage.level_reached(spent, 0, (50, 100)) == 0  # no budget, no level
