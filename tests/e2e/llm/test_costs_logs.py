"""The Costs and Logs pages in Chromium against the running app: figures equal to
`llm usage --json`, the log's filters, pagination, search and detail, a re-run on the
other fake provider, and members refused.

Other modules share this app, so every test makes its own calls under features of its own
and compares figures with the CLI at the same moment rather than with fixed totals."""

from __future__ import annotations

import json
import math
import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from llmcoder_app import routes
from services.llm.costs import format_usd
from tests.e2e.conftest import screenshot
from tests.e2e.llm.conftest import SECONDARY, Portal
from tests.fakes.llm_providers import error, ok

pytestmark = pytest.mark.e2e
PAGE_SIZE = 50


def _usage(portal: Portal) -> dict:
    return json.loads(portal.cli("llm", "usage", "--json").stdout)


def _complete(portal: Portal, feature: str, text: str) -> dict:
    """`llm complete`: the answer, then its JSON summary on the last line."""
    return json.loads(portal.cli("llm", "complete", "--feature", feature, "--no-cache", text).stdout.splitlines()[-1])


def _money(page: Page, element_id: str, nanos: int) -> None:
    element = page.locator(f"#{element_id}")
    expect(element).to_have_text(format_usd(nanos))
    expect(element).to_have_attribute("data-nanos", str(nanos))


def _pick(page: Page, trigger_id: str, option: str) -> None:
    page.locator(f"#{trigger_id}").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_costs_page_shows_the_figures_of_the_cli(portal: Portal, fake, page: Page):
    feature = f"costs-{uuid.uuid4().hex[:6]}"
    fake.default("m1", ok(completion_tokens=7))
    for n in range(3):
        _complete(portal, feature, f"Cost question number {n}")
    report = _usage(portal)
    assert report["by_feature"][feature]["calls"] == 3

    portal.sign_in_admin(page)
    page.goto(portal.url + routes.ADMIN_LLM_COSTS)
    expect(page.locator("#page-title")).to_have_text("LLM costs")

    _money(page, "costs-budget", report["budget_nanos"])
    _money(page, "costs-spent", report["spent_nanos"])
    _money(page, "costs-remaining", report["remaining_nanos"])
    _money(page, "costs-saved", report["saved_nanos"])
    expect(page.locator("#costs-today-calls")).to_have_text(str(report["today"]["calls"]))
    _money(page, "costs-today-cost", report["today"]["cost_nanos"])
    _money(page, "costs-today-average", report["today"]["average_nanos"])
    for table, key in (("by-feature", "by_feature"), ("by-user", "by_user"), ("by-project", "by_project"),
                       ("by-model", "by_model")):
        rows = page.locator(f"#costs-{table} .cost-row")
        expect(rows).to_have_count(len(report[key]))
        for name, figures in report[key].items():
            row = page.locator(f"#costs-{table} .cost-row[data-key='{name}']")
            expect(row.locator(".cost-calls")).to_have_text(str(figures["calls"]))
            expect(row.locator(".cost-amount")).to_have_attribute("data-nanos", str(figures["cost_nanos"]))
            expect(row.locator(".cost-amount")).to_have_text(format_usd(figures["cost_nanos"]))
    for item in report["cost_per_outcome"]:
        cell = page.locator(f"#per-outcome-{item['kind']}")
        expect(cell).to_have_text(format_usd(item["per_outcome_nanos"]) if item["outcomes"] else "no outcomes yet")
    expect(page.locator("#costs-bar")).to_have_attribute("data-color", "green")  # far below the first level
    expect(page.locator("#costs-daily-chart .recharts-line")).to_have_count(1)
    expect(page.locator("#costs-calls-chart .recharts-bar-rectangle").first).to_be_attached()
    screenshot(page, "llm-costs")

    # A budget just above the spending reaches the 70 % level: the bar turns amber. Refresh
    # reads the new figures without a page load.
    budget = math.ceil(report["spent_nanos"] * 4 / 3)
    portal.cli("llm", "budget", "set", "--monthly", f"{budget / 1e9:.9f}")
    try:
        page.locator("#costs-refresh").click()
        _money(page, "costs-budget", budget)
        expect(page.locator("#costs-level")).to_have_attribute("data-level", "70")
        expect(page.locator("#costs-bar")).to_have_attribute("data-color", "amber")
        screenshot(page, "llm-costs-amber")
    finally:
        portal.cli("llm", "budget", "set", "--monthly", str(report["budget_usd"]))


def test_logs_filters_pages_searches_and_reruns(portal: Portal, fake, page: Page):
    tag = uuid.uuid4().hex[:6]
    bulk, failover, word = f"logs-{tag}", f"failover-{tag}", f"zanzibar{tag}"
    # A 401 moves on to the next provider at once: the request's chain is primary (failed), secondary (ok).
    fake.script("m1", error(401))
    summary = _complete(portal, failover, f"Please explain the word {word} to me")
    assert [(a["provider"], a["status"]) for a in summary["attempts"]] == [("fake-primary", "failed"),
                                                                            (SECONDARY, "ok")]
    loaded = json.loads(portal.cli("llm", "loadtest", "--requests", str(PAGE_SIZE + 5), "--concurrency", "5",
                                   "--feature", bulk, "Ping").stdout)
    assert loaded["ok"] == PAGE_SIZE + 5

    portal.sign_in_admin(page)
    page.goto(portal.url + routes.ADMIN_LLM_LOGS)
    expect(page.locator("#page-title")).to_have_text("LLM logs")
    expect(page.locator(".log-row").first).to_be_visible()

    # Feature filter and pagination: 55 rows are a full page and five.
    _pick(page, "logs-feature", bulk)
    expect(page.locator("#logs-page")).to_have_text(f"Page 1 of 2 · {PAGE_SIZE + 5} call(s)")
    expect(page.locator(".log-row")).to_have_count(PAGE_SIZE)
    expect(page.locator(".log-feature", has_text=bulk)).to_have_count(PAGE_SIZE)
    expect(page.locator("#logs-prev")).to_be_disabled()
    first_page = page.locator(".log-row").first.get_attribute("data-call-id")
    page.locator("#logs-next").click()
    expect(page.locator("#logs-page")).to_have_text(f"Page 2 of 2 · {PAGE_SIZE + 5} call(s)")
    expect(page.locator(".log-row")).to_have_count(5)
    expect(page.locator("#logs-next")).to_be_disabled()
    assert page.locator(".log-row").first.get_attribute("data-call-id") != first_page
    page.locator("#logs-prev").click()
    expect(page.locator("#logs-page")).to_have_text(re.compile(r"^Page 1 of 2"))
    screenshot(page, "llm-logs")

    # Feature and status together.
    _pick(page, "logs-feature", failover)
    expect(page.locator(".log-row")).to_have_count(2)
    _pick(page, "logs-status", "failed")
    expect(page.locator(".log-row")).to_have_count(1)
    expect(page.locator(".log-row .log-provider")).to_have_text("fake-primary")
    _pick(page, "logs-status", "ok")
    expect(page.locator(".log-row")).to_have_count(1)
    expect(page.locator(".log-row .log-provider")).to_have_text(SECONDARY)
    _pick(page, "logs-status", "failed")
    _pick(page, "logs-feature", bulk)
    expect(page.locator("#logs-empty")).to_be_visible()  # every bulk call succeeded
    page.locator("#logs-clear").click()
    expect(page.locator("#logs-page")).to_contain_text("call(s)")

    # Search for the unique word: both rows of that request, and no total (a search is not counted).
    page.locator("#logs-search").fill(word.upper())
    page.locator("#logs-search-submit").click()
    expect(page.locator(".log-row")).to_have_count(2)
    expect(page.locator("#logs-page")).to_have_text("Page 1")

    # The detail of the answer: both prompts, the response and the attempt chain.
    page.locator(".log-row", has=page.locator(".log-status[data-status='ok']")).click()
    dialog = page.locator("#logs-detail")
    expect(dialog).to_be_visible()
    expect(page.locator("#logs-detail-user")).to_contain_text(word)
    expect(page.locator("#logs-detail-system")).not_to_have_text("(empty)")
    expect(page.locator("#logs-detail-response")).to_have_text("Answer from m2")
    expect(page.locator("#logs-detail-provider")).to_have_text(SECONDARY)
    attempts = page.locator("#logs-detail-attempts .attempt-row")
    expect(attempts).to_have_count(2)
    expect(attempts.nth(0)).to_contain_text("fake-primary")
    expect(attempts.nth(0)).to_contain_text("AuthenticationError")
    expect(attempts.nth(1)).to_contain_text(SECONDARY)
    expect(page.locator("#logs-detail-cost")).to_have_text(format_usd(round(summary["cost_usd"] * 1e9)))
    screenshot(page, "llm-logs-detail")

    # Re-run on the secondary: the fake receives the same prompt for m2, the dialog shows the result.
    fake.reset()
    _pick(page, "logs-rerun-provider", SECONDARY)
    page.locator("#logs-rerun").click()
    expect(page.locator("#logs-rerun-summary")).to_contain_text(SECONDARY)
    expect(page.locator("#logs-rerun-summary")).to_contain_text("$")
    expect(page.locator("#logs-rerun-text")).to_have_text("Answer from m2")
    assert fake.count("m2") == 1 and fake.count("m1") == 0
    assert word in json.dumps(fake.requests[0].body["messages"])

    # Save as template: the notice names the new template.
    page.locator("#logs-template-name").fill(f"Explain {tag}")
    page.locator("#logs-save-template").click()
    expect(page.locator("#logs-template-notice")).to_contain_text(re.compile(r"Saved as learned template #\d+"))
    screenshot(page, "llm-logs-rerun")


@pytest.mark.parametrize("route", [routes.ADMIN_LLM_COSTS, routes.ADMIN_LLM_LOGS])
def test_member_is_refused(portal: Portal, page: Page, route: str):
    portal.sign_in_member(page)
    page.goto(portal.url + route)
    expect(page.get_by_text("Only admins can do that.").first).to_be_visible()
    page.wait_for_url(f"{portal.url}/")
    expect(page.locator("#logs-table")).to_have_count(0)
    expect(page.locator("#costs-spent")).to_have_count(0)
