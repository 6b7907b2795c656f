"""The JIRA board in the browser as a member, against the fake JIRA through the real `jira`
client: connect, see the synced board, drag a card (the transition reaches JIRA; a move the
workflow does not allow returns the card with the reason), draft, edit and post a comment once,
break a ticket down into linked subtasks, and create a ticket from a plain-words description."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import screenshot
from tests.fakes.jira_server import FakeJira
from tests.fakes.llm_providers import ok
from tests.jira_support import fake_jira

pytestmark = pytest.mark.e2e

DRAFT = "*Update:* the upload limit is the proxy's 10 MB.\n* next: raise it to 50 MB"
EDITED = DRAFT + "\n* I will deploy it today"
CHILDREN = '[{"summary": "Raise the proxy limit", "description": "nginx client_max_body_size"}, ' \
           '{"summary": "Add an upload test", "description": "a 20 MB file"}]'
DESCRIBED = '{"fields": {"summary": "CSV export drops rows with commas", "description": "h3. Steps\\n* export", ' \
            '"priority": "High"}, "questions": ["Which version did you use?"]}'


@pytest.fixture(scope="module")
def jira() -> Iterator[FakeJira]:
    with fake_jira("Server") as fake:
        fake.add_issue("ABC", "Uploads over 10 MB fail", assignee="ann", priority="High",
                       description="Users see *413* on big uploads.", comments=["Seen on prod too."])
        fake.add_issue("ABC", "Dark mode", type="Story", assignee="ann", story_points=3)
        fake.add_issue("ABC", "Someone else's", assignee="bob")
        yield fake


def column(page: Page, status: str):
    return page.locator(f'[data-column="status:{status}"]')


def test_board_drag_comment_breakdown_and_create(portal, fake, page: Page, jira: FakeJira):
    portal.sign_in_member(page)
    page.goto(f"{portal.url}/jira")
    expect(page.locator("#jira-not-connected")).to_be_visible()
    page.goto(f"{portal.url}/jira/settings")
    page.locator("#jira-connect-url").fill(jira.url)
    page.locator("#jira-connect-token").fill(jira.token)
    page.locator("#jira-connect-submit").click()
    expect(page.locator("#jira-connection-kind")).to_contain_text("JIRA Server / Data Center")
    expect(page.locator("#jira-connection-account")).to_contain_text("Ann Example")
    expect(page.locator("#jira-connect-token")).to_have_value("")

    page.goto(f"{portal.url}/jira")
    card = page.locator("#jira-card-ABC-1")
    expect(card).to_be_visible(timeout=60_000)  # the first sync
    expect(column(page, "To Do").locator(".jira-card")).to_have_count(2)
    expect(page.locator("#jira-card-ABC-3")).to_have_count(0)  # Bob's: not in the filter
    screenshot(page, "jira-board")

    jira.clear_requests()
    expect(page.locator('[data-column="category:indeterminate"]')).to_contain_text("In Progress")  # no such ticket yet
    card.drag_to(page.locator('[data-column="category:indeterminate"]'))
    expect(column(page, "In Progress").locator("#jira-card-ABC-1")).to_be_visible()
    expect(page.locator("#jira-board-notice")).to_contain_text("ABC-1 moved to In Progress")
    assert jira.issue("ABC-1").status == "In Progress"
    assert [str(r.body["transition"]["id"]) for r in jira.requests_to("/issue/ABC-1/transitions", "POST")] == ["11"]

    page.locator("#jira-card-ABC-2").drag_to(page.locator('[data-column="category:done"]'))
    expect(page.locator("#jira-board-error")).to_contain_text("no transition")
    expect(column(page, "To Do").locator("#jira-card-ABC-2")).to_be_visible()  # back where it was
    assert jira.issue("ABC-2").status == "To Do"

    fake.script("m1", ok(text=DRAFT))
    page.locator("#jira-card-ABC-1").click()
    expect(page.locator("#jira-description")).to_contain_text("413")
    expect(page.locator("#jira-comments")).to_contain_text("Seen on prod too.")
    expect(page.locator("#jira-suggestion")).to_have_count(0)  # nothing learned to suggest from yet
    page.locator("#jira-draft-comment").click()
    expect(page.locator("#jira-comment-text")).to_have_value(DRAFT, timeout=30_000)
    prompt = "\n".join(m["content"] for m in fake.requests[-1].body["messages"])
    assert "Seen on prod too." in prompt and "In Progress" in prompt
    page.locator("#jira-comment-text").fill(EDITED)
    page.locator("#jira-comment-post").dblclick()
    expect(page.locator("#jira-draft-notice")).to_contain_text("Posted to ABC-1", timeout=30_000)
    expect(page.locator("#jira-comments .jira-comment")).to_have_count(2)
    page.wait_for_timeout(1000)  # the editor's debounced change arrives after the post: it must not revive it
    expect(page.locator("#jira-comment-text")).to_have_value("")
    expect(page.locator("#jira-draft-status")).to_have_text("posted")
    assert [c.body for c in jira.issue("ABC-1").comments].count(EDITED) == 1
    screenshot(page, "jira-drawer")

    fake.script("m1", ok(text=CHILDREN))
    page.locator("#jira-breakdown-open").click()
    expect(page.locator(".jira-child-summary")).to_have_count(2, timeout=30_000)
    page.locator(".jira-child-summary input").nth(1).fill("Add a 20 MB upload test")
    page.locator("#jira-breakdown-create").click()
    expect(page.locator("#jira-ticket-notice")).to_contain_text("Created 2 child tickets")
    subtasks = [jira.issue(key) for key in ("ABC-4", "ABC-5")]
    assert [(s.type, s.parent, s.summary) for s in subtasks] == [
        ("Sub-task", "ABC-1", "Raise the proxy limit"), ("Sub-task", "ABC-1", "Add a 20 MB upload test")]
    page.locator("#jira-drawer-close").click()

    fake.script("m1", ok(text=DESCRIBED))
    page.goto(f"{portal.url}/jira/new")
    expect(page.locator("#jira-new-field-summary")).to_be_visible(timeout=30_000)
    page.locator("#jira-describe-text").fill("csv export loses rows when names have commas, urgent-ish")
    page.locator("#jira-describe-fill").click()
    expect(page.locator("#jira-new-field-summary")).to_have_value("CSV export drops rows with commas",
                                                                  timeout=30_000)
    expect(page.locator("#jira-describe-questions")).to_contain_text("Which version did you use?")
    page.locator("#jira-new-create").click()
    expect(page.locator("#jira-new-created")).to_contain_text("ABC-6")
    created = jira.issue("ABC-6")
    assert (created.summary, created.priority, created.type) == ("CSV export drops rows with commas", "High", "Task")
    screenshot(page, "jira-new")

    page.goto(f"{portal.url}/jira/settings")
    expect(page.locator("#jira-style")).to_contain_text("Comments learned")  # Ann's comment on ABC-1
    expect(page.locator("#jira-workflow")).to_contain_text("In Progress")  # the drag, as a learned move
    screenshot(page, "jira-settings")
