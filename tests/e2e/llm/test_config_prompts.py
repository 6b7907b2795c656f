"""The LLM config and prompts pages in a real browser against the running app: changes apply
to the next call, bad input saves nothing, prompt versions, diff, demo run and reset."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from llmcoder_app import routes
from services.llm.costs import format_usd
from tests.e2e.conftest import screenshot
from tests.e2e.llm.conftest import PRIMARY, SECONDARY, Portal
from tests.fakes.llm_providers import FakeLLMServer, ok

pytestmark = pytest.mark.e2e


def _setting(portal: Portal, key: str) -> str:
    """The value as `settings get` prints it: 'key = value' or 'key = value (default)'."""
    line = portal.cli("settings", "get", key).stdout.strip()
    return line.split(" = ", 1)[1].removesuffix(" (default)")


@pytest.fixture
def restore_config(portal: Portal) -> Iterator[None]:
    """The portal is shared by every LLM page test: put the chain and settings back afterwards."""
    keys = ("llm.monthly_budget_usd", "llm.daily_call_limit")
    before = {key: _setting(portal, key) for key in keys}
    yield
    portal.cli("llm", "provider", "move", PRIMARY, "1")
    for key, value in before.items():
        portal.cli("settings", "set", key, value)


def _open(page: Page, portal: Portal, route: str) -> None:
    portal.sign_in_admin(page)
    page.goto(portal.url + route)


def _usage(portal: Portal) -> dict:
    return json.loads(portal.cli("llm", "usage", "--json").stdout)


# ------------------------------------------------------------------ config page

def test_moving_a_provider_to_the_top_applies_to_the_next_call(page: Page, portal: Portal, fake: FakeLLMServer,
                                                               restore_config):
    _open(page, portal, routes.ADMIN_LLM_CONFIG)
    names = page.locator("#provider-table .provider-name")
    expect(names).to_have_text([PRIMARY, SECONDARY])
    expect(page.locator(f"#provider-row-{PRIMARY} .provider-key")).to_have_text("••••0000")
    expect(page.locator("#provider-table")).not_to_contain_text(f"sk-test-{PRIMARY}")
    expect(page.locator(f"#provider-up-{PRIMARY}")).to_be_disabled()

    page.locator(f"#provider-up-{SECONDARY}").click()

    expect(page.locator("#chain-notice")).to_contain_text(f"{SECONDARY} is now number 1")
    expect(names).to_have_text([SECONDARY, PRIMARY])
    screenshot(page, "llm-config")
    done = portal.cli("llm", "complete", "--feature", "e2e", "--no-cache", "hello after the move")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["provider"], summary["model"]) == (SECONDARY, "openai/m2")
    assert [r.model for r in fake.requests] == ["m2"]


def test_settings_save_all_or_nothing_and_applied(page: Page, portal: Portal, fake: FakeLLMServer, restore_config):
    budget = page.locator("#cfg-llm-monthly-budget-usd")
    daily = page.locator("#cfg-llm-daily-call-limit")
    budget_before, daily_before = _usage(portal)["budget_usd"], _setting(portal, "llm.daily_call_limit")
    _open(page, portal, routes.ADMIN_LLM_CONFIG)
    expect(budget).to_have_value(_setting(portal, "llm.monthly_budget_usd"))

    budget.fill("abc")
    daily.fill("77")  # valid, but must not be saved while the budget is wrong
    page.locator("#cfg-save").click()

    expect(page.locator("#settings-form-error")).to_contain_text("Nothing was saved")
    expect(page.locator("#cfg-llm-monthly-budget-usd-error")).to_contain_text("must be a number, not 'abc'")
    expect(page.locator("#cfg-llm-daily-call-limit-error")).to_have_count(0)
    assert _usage(portal)["budget_usd"] == budget_before
    assert _setting(portal, "llm.daily_call_limit") == daily_before

    budget.fill("1234.5")
    daily.fill(daily_before)
    page.locator("#cfg-save").click()

    expect(page.locator("#settings-form-notice")).to_contain_text("Saved 1 setting(s)")
    expect(page.locator("#cfg-llm-monthly-budget-usd-error")).to_have_count(0)
    assert _usage(portal)["budget_usd"] == 1234.5
    page.reload()
    expect(budget).to_have_value("1234.5")


def test_connection_test_shows_each_provider_with_its_latency(page: Page, portal: Portal, fake: FakeLLMServer):
    _open(page, portal, routes.ADMIN_LLM_CONFIG)
    page.locator("#test-connections").click()

    for name in (PRIMARY, SECONDARY):
        row = page.locator(f"#check-{name}")
        expect(row.locator(".check-result")).to_have_text("ok")
        expect(row.locator(".check-latency")).to_have_text(re.compile(r"^\d+ ms$"))
    assert sorted(r.model for r in fake.requests) == ["m1", "m2"]


def _fill_add_form(page: Page, fake: FakeLLMServer, input_price: str) -> None:
    for name, value in (("name", "fake-extra"), ("model", "openai/m3"), ("api_base", fake.api_base("openai")),
                        ("api_key", "sk-extra-key-abcd1234"), ("input_price", input_price), ("output_price", "2")):
        page.locator(f"#provider-add-{name}").fill(value)
    page.locator("#provider-add-submit").click()


def _listed(portal: Portal) -> dict[str, dict]:
    return {row["name"]: row for row in json.loads(portal.cli("llm", "provider", "list", "--json").stdout)}


def test_add_edit_disable_and_remove_a_provider(page: Page, portal: Portal, fake: FakeLLMServer):
    _open(page, portal, routes.ADMIN_LLM_CONFIG)
    row = page.locator("#provider-row-fake-extra")

    _fill_add_form(page, fake, input_price="abc")
    expect(page.locator("#chain-error")).to_contain_text("Input price must be a number, not 'abc'.")
    expect(row).to_have_count(0)
    _fill_add_form(page, fake, input_price="1")
    expect(page.locator("#chain-notice")).to_contain_text("Added fake-extra at position 3.")
    expect(row.locator(".provider-key")).to_have_text("••••1234")

    page.locator("#provider-edit-fake-extra").click()
    page.locator("#provider-form-api_base").fill("not a url")
    page.locator("#provider-edit-save").click()
    expect(page.locator("#provider-edit-error")).to_contain_text("API base must be an http(s) URL")
    page.locator("#provider-form-api_base").fill(fake.api_base("openai"))
    page.locator("#provider-form-output_price").fill("5")
    page.locator("#provider-edit-save").click()  # the key field stays empty: the key is kept
    expect(page.locator("#chain-notice")).to_contain_text("Saved fake-extra.")
    expect(page.locator("#provider-edit-save")).to_have_count(0)
    expect(row).to_contain_text("$1 in / $5 out per 1M")
    expect(row.locator(".provider-key")).to_have_text("••••1234")
    listed = _listed(portal)["fake-extra"]
    assert Decimal(listed["output_usd_per_mtok"]) == 5 and (listed["key"], listed["usable"]) == ("set", True)

    page.locator("#provider-enabled-fake-extra").click()
    expect(page.locator("#chain-notice")).to_contain_text("fake-extra is disabled.")
    expect(row.locator(".provider-status")).to_have_text("disabled")
    assert _listed(portal)["fake-extra"]["enabled"] is False

    page.locator("#provider-remove-fake-extra").click()
    page.locator("#provider-remove-confirm-fake-extra").click()
    expect(page.locator("#chain-notice")).to_contain_text("Removed fake-extra.")
    expect(row).to_have_count(0)
    assert list(_listed(portal)) == [PRIMARY, SECONDARY]


# ------------------------------------------------------------------ prompts page

def _choose(page: Page, element_id: str, option: str) -> None:
    page.locator(f"#{element_id}").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_prompt_save_refused_saved_diffed_tried_and_reset(page: Page, portal: Portal, fake: FakeLLMServer):
    _open(page, portal, routes.ADMIN_LLM_PROMPTS)
    _choose(page, "prompt-pair", "general / complete")
    user = page.locator("#prompt-user")
    expect(user).to_have_value("{text}")
    expect(page.locator("#prompt-source")).to_contain_text("built-in default")
    expect(page.locator(".prompt-variable")).to_have_text(["{text}"])
    history = page.locator(".history-row")
    versions_before = history.count()

    user.fill("Hello {nme}")
    page.locator("#prompt-save").click()
    expect(page.locator("#prompt-error")).to_contain_text("unknown variable(s) {nme}; allowed: {text}")
    expect(history).to_have_count(versions_before)
    expect(page.locator("#prompt-source")).to_contain_text("built-in default")

    user.fill("Please answer briefly: {text}")
    page.locator("#prompt-save").click()
    expect(page.locator("#prompt-notice")).to_contain_text("Saved version")
    expect(history).to_have_count(versions_before + 1)
    expect(page.locator("#prompt-source")).to_contain_text("admin override")
    newest = history.first.locator("code").inner_text()

    _choose(page, "diff-from", "default")
    _choose(page, "diff-to", newest)
    page.locator("#diff-show").click()
    expect(page.locator("#diff-view .diff-removed")).to_have_text(["-{text}"])
    expect(page.locator("#diff-view .diff-added")).to_have_text(["+Please answer briefly: {text}"])

    page.locator("#demo-value-text").fill("What is 2 + 2?")
    page.locator("#demo-run").click()
    expect(page.locator("#demo-user")).to_have_text("Please answer briefly: What is 2 + 2?")
    expect(page.locator("#demo-result")).to_contain_text("[dry run] No provider was called.")
    expect(page.locator("#demo-meta")).to_contain_text("dry_run")
    assert fake.requests == []
    screenshot(page, "llm-prompts")

    fake.default("m1", ok("Four.", prompt_tokens=40, completion_tokens=2))
    page.locator("#demo-real").click()
    page.locator("#demo-run").click()
    expect(page.locator("#demo-result")).to_have_text("Four.")
    # 40 tokens at $1 and 2 at $2 per 1M: $0.000044.
    expect(page.locator("#demo-meta")).to_have_text(
        f"provider · {PRIMARY} / openai/m1 · 40 in / 2 out tokens · {format_usd(44_000)}")
    sent = fake.requests[-1].body["messages"]
    assert sent[-1]["content"].endswith("Please answer briefly: What is 2 + 2?")

    page.locator("#prompt-reset").click()
    page.locator("#prompt-reset-confirm").click()
    expect(page.locator("#prompt-notice")).to_contain_text("Reset")
    expect(user).to_have_value("{text}")
    expect(page.locator("#prompt-source")).to_contain_text("built-in default")
    expect(history.first).to_contain_text("reset")

    # A project's own wording: a level of its own, listed once it exists.
    page.locator("#prompt-project").fill("acme")
    page.locator("#prompt-project-open").click()
    expect(page.locator("#prompt-editing")).to_have_text("Editing: project acme")
    expect(history).to_have_count(0)
    user.fill("For acme: {text}")
    page.locator("#prompt-save").click()
    expect(page.locator("#prompt-source")).to_contain_text("project acme override v1")
    expect(page.locator(".prompt-known-project")).to_have_text(["acme"])
    page.locator("#prompt-level-admin").click()
    expect(page.locator("#prompt-editing")).to_have_text("Editing: admin override")
    expect(user).to_have_value("{text}")
    page.locator(".prompt-known-project").click()
    expect(user).to_have_value("For acme: {text}")
    page.locator("#prompt-reset").click()
    page.locator("#prompt-reset-confirm").click()
    expect(user).to_have_value("{text}")


def test_member_is_refused_both_pages(page: Page, portal: Portal):
    portal.sign_in_member(page)
    for route in (routes.ADMIN_LLM_CONFIG, routes.ADMIN_LLM_PROMPTS):
        page.goto(portal.url + route)
        expect(page.get_by_text("Only admins can do that.").first).to_be_visible()
        page.wait_for_url(f"{portal.url}/")
        expect(page.locator("body")).not_to_contain_text("••••0000")
        expect(page.locator("body")).not_to_contain_text("You are the assistant built into LLMCoder")
