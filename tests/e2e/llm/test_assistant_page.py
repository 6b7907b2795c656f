"""The code assistant page as a member: streamed generated code with its quality score, copy,
download and accept; the learned template then answers a paraphrased request without a
provider call; a security-sensitive task is reviewed and a rejection blocks accepting."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import screenshot
from tests.fakes.llm_providers import error, hang, ok
from tests.llm_support import DOWNLOAD_PARAPHRASE, DOWNLOAD_TASK, DOWNLOADER_ANSWER, DOWNLOADER_CODE, FENCE
from tests.unit.jobs_helpers import wait_for

pytestmark = pytest.mark.e2e

CODE, ANSWER = DOWNLOADER_CODE, DOWNLOADER_ANSWER
TASK, PARAPHRASE = DOWNLOAD_TASK, DOWNLOAD_PARAPHRASE
LOGIN_TASK = "Write a login handler that checks the password"
LOGIN_ANSWER = (f"{FENCE}python\ndef check_login(stored: str, given: str) -> bool:\n"
                f'    """Compare the stored password with the typed one."""\n    return stored == given\n{FENCE}\n')
REJECT = json.dumps({"verdict": "reject", "severity": "high", "issues": ["Passwords are compared in plain text."],
                     "summary": "Plain-text password comparison."})
APPROVE = json.dumps({"verdict": "approve", "severity": "none", "issues": [], "summary": "Looks fine."})


def open_assistant(portal, page: Page) -> None:
    portal.sign_in_member(page)
    page.goto(f"{portal.url}/assistant")
    expect(page.locator("#assistant-input")).to_be_visible()


def generate_mode(page: Page, stack: str = "Python") -> None:
    page.locator("#assistant-mode-generate").click()
    page.locator("#assistant-stack").fill(stack)


def send(page: Page, text: str) -> Locator:
    """Types and presses Enter; returns the new answer's card once it is complete."""
    before = page.locator(".assistant-answer").count()
    page.locator("#assistant-input").fill(text)
    page.locator("#assistant-input").press("Enter")
    expect(page.locator(".assistant-answer")).to_have_count(before + 1)
    expect(page.locator("#assistant-input")).to_have_value("")
    return page.locator(".assistant-answer").nth(before)


def finished(answer: Locator) -> Locator:
    expect(answer).to_have_attribute("data-streaming", "no", timeout=60_000)
    return answer


def learn_job_succeeded(portal) -> bool:
    listing = portal.cli("jobs", "list", "--limit", "20").stdout
    rows = [line for line in listing.splitlines() if "llm_learn_template" in line]
    assert not any("failed" in row for row in rows), listing
    return any("succeeded" in row for row in rows)


def test_generate_copy_download_accept_then_the_learned_template_answers(portal, fake, page: Page):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=portal.url)
    fake.script("m1", hang(1.5, ok(ANSWER)))  # slow enough to see the answer being written
    fake.default("m1", ok(ANSWER))
    open_assistant(portal, page)
    generate_mode(page)

    answer = send(page, TASK)
    expect(answer).to_have_attribute("data-streaming", "yes")
    finished(answer)
    expect(answer.locator(".answer-text")).to_contain_text("def download(url: str")
    expect(answer.locator(".answer-quality")).to_have_text("Quality 100/100")
    expect(answer.locator(".answer-cost")).to_contain_text("fake-primary")
    expect(page.locator(".assistant-user-message")).to_contain_text(TASK)
    screenshot(page, "assistant-generated")

    answer.locator(".answer-copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == CODE
    with page.expect_download() as download:
        answer.locator(".answer-download").click()
    assert download.value.suggested_filename == "main.py"
    assert Path(download.value.path()).read_text(encoding="utf-8") == CODE

    answer.locator(".answer-accept").click()
    expect(answer.locator(".answer-note")).to_contain_text("Learning a template")
    expect(answer.locator(".answer-accept")).to_be_disabled()
    wait_for(lambda: learn_job_succeeded(portal), timeout=90, interval=1, what="the learning job")
    time.sleep(1.5)  # each app process re-reads the template table at most once a second

    calls_before = fake.count()
    reused = finished(send(page, PARAPHRASE))
    expect(reused.locator(".answer-source")).to_contain_text("Learned template — saved $")
    expect(reused.locator(".answer-cost")).to_contain_text("Cost $0.00")
    expect(reused.locator(".answer-text")).to_contain_text("https://b.example/y")
    expect(reused.locator(".answer-text")).to_contain_text("retries: int = 5")
    expect(reused.locator(".answer-quality")).to_have_text("Quality 100/100")
    assert fake.count() == calls_before
    screenshot(page, "assistant-template")


def test_a_rejected_security_review_disables_keep_and_regenerate_offers_a_new_answer(portal, fake, page: Page):
    fake.default("m1", ok(LOGIN_ANSWER))
    fake.script("m2", ok(REJECT))
    fake.default("m2", ok(APPROVE))
    open_assistant(portal, page)
    generate_mode(page)

    answer = finished(send(page, LOGIN_TASK))
    expect(answer.locator(".answer-verdict")).to_have_text("reject")
    expect(answer.locator(".answer-review")).to_contain_text("Passwords are compared in plain text.")
    expect(answer.locator(".answer-review")).to_contain_text("fake-secondary")
    expect(answer.locator(".answer-accept")).to_be_disabled()
    expect(answer.locator(".answer-block-reason")).to_contain_text("The security review rejected this code")
    assert [r.model for r in fake.requests] == ["m1", "m2"]
    screenshot(page, "assistant-review-rejected")

    answer.locator(".answer-regenerate").click()
    expect(page.locator(".assistant-answer")).to_have_count(2)
    fresh = finished(page.locator(".assistant-answer").nth(1))
    expect(fresh.locator(".answer-verdict")).to_have_text("approve")
    expect(fresh.locator(".answer-accept")).to_be_enabled()
    fresh.locator(".answer-accept").click()
    expect(fresh.locator(".answer-note")).to_contain_text("Kept.")


def test_chat_follow_up_feedback_and_a_provider_failure_shown_in_the_conversation(portal, fake, page: Page):
    fake.script("m1", ok("A list keeps its order."), ok("A set keeps unique items, in no order."), error(401))
    fake.default("m2", error(401))
    open_assistant(portal, page)

    first = finished(send(page, "What is a Python list?"))
    expect(first.locator(".answer-text")).to_contain_text("A list keeps its order.")
    expect(first.locator(".answer-quality")).to_have_count(0)  # no code, no score
    follow_up = finished(send(page, "And a set?"))
    sent = fake.requests[-1].body["messages"]
    assert [m["content"] for m in sent[1:]] == ["What is a Python list?", "A list keeps its order.", "And a set?"]
    follow_up.locator(".answer-down").click()
    expect(follow_up.locator(".answer-note")).to_contain_text("Thanks for the feedback.")

    failed = finished(send(page, "And a tuple?"))
    expect(failed.locator(".answer-error")).to_contain_text("Every AI provider failed")
    expect(page.locator("#assistant-send")).to_be_enabled()
