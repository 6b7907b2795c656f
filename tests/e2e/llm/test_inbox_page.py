"""The inbox in the browser as a member: connect an IMAP + SMTP account (a real dovecot and a real
SMTP server), sync, see the needs-reply flag, open a thread, summarise it, draft a reply in the
learned style, edit it, send it with a double click, and see exactly one mail arrive."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import screenshot
from tests.fakes.llm_providers import ok
from tests.mail_servers import PASSWORD, Dovecot, Smtp, dovecot, smtp_server
from tests.unit.jobs_helpers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")]

SUMMARY = "- Bob needs the Q3 budget.\nAsks of you: send the budget by Friday."
DRAFT = "Hi Bob,\n\nSure, I will send the Q3 budget by Friday.\n\nThanks,\nAnn"
EDITED = "Hi Bob,\n\nSure, the Q3 budget will be with you on Thursday.\n\nThanks,\nAnn"


def mail(n: int, subject: str, body: str, *, sender: str = "Bob Stone <bob@example.com>",
         to: str = "Ann <ann@example.com>") -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Date"] = format_datetime(datetime(2026, 11, 20, 9, n, tzinfo=UTC))
    message["Message-ID"] = f"<e2e{n}@example.com>"
    message.set_content(body)
    return message.as_bytes()


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Dovecot, Smtp]]:
    with dovecot(("ann",)) as imap, smtp_server() as smtp:
        imap.append("ann", mail(1, "Lunch menu", "FYI the canteen has soup today."))
        imap.append("ann", mail(2, "Q3 budget", "Hi Ann,\n\nCould you send me the Q3 budget by Friday?\n\nBob"))
        imap.append("ann", mail(3, "Re: plans", "Hey,\n\nAll set on my side, thanks!\n\nCheers,\nAnn",
                                sender="Ann <ann@example.com>", to="bob@example.com"), folder="Sent", seen=True)
        yield imap, smtp


def connect_imap(page: Page, imap: Dovecot, smtp: Smtp) -> None:
    page.locator("#inbox-imap-address").fill("ann@example.com")
    page.locator("#inbox-imap-password").fill(PASSWORD)
    page.locator("#inbox-imap-username").fill("ann")
    page.locator("#inbox-imap-imap-host").fill("127.0.0.1")
    page.locator("#inbox-imap-imap-port").fill(str(imap.port))
    page.locator("#inbox-imap-smtp-host").fill("127.0.0.1")
    page.locator("#inbox-imap-smtp-port").fill(str(smtp.port))
    for which in ("imap", "smtp"):
        page.locator(f"#inbox-{which}-security").click()
        page.get_by_role("option", name="None (local only)").click()
    page.locator("#inbox-imap-connect").click()


def test_connect_sync_draft_edit_and_send_once(portal, fake, page: Page, servers):
    imap, smtp = servers
    portal.sign_in_member(page)
    page.goto(f"{portal.url}/inbox/accounts")
    connect_imap(page, imap, smtp)
    expect(page.locator("#inbox-imap-note")).to_contain_text("Connected")
    expect(page.locator("#inbox-imap-password")).to_have_value("")
    row = page.locator("[id^=inbox-account-]").filter(has_text="ann@example.com")
    expect(row.locator(".inbox-account-status")).to_have_text("ready", timeout=60_000)
    expect(row.locator(".inbox-account-messages")).to_have_text("3")
    expect(page.locator("#inbox-style-figures")).to_contain_text("Hey")  # learned from the Sent folder
    screenshot(page, "inbox-accounts")

    page.goto(f"{portal.url}/inbox")
    rows = page.locator(".inbox-row")
    expect(rows).to_have_count(2)  # received mail only; the sent one lives in its thread
    budget = rows.filter(has_text="Q3 budget")
    expect(budget.locator(".inbox-row-needs-reply")).to_be_visible()
    expect(rows.filter(has_text="Lunch menu").locator(".inbox-row-needs-reply")).to_have_count(0)
    page.locator("#inbox-filter-needs-reply").click()
    expect(rows).to_have_count(1)

    fake.script("m1", ok(text=SUMMARY), ok(text=DRAFT))
    budget.click()
    expect(page.locator("#inbox-thread")).to_contain_text("Could you send me the Q3 budget by Friday?")
    page.locator("#inbox-summarise").click()
    expect(page.locator("#inbox-summary")).to_contain_text("Asks of you: send the budget by Friday.")
    page.locator("#inbox-draft").click()
    expect(page.locator("#inbox-draft-text")).to_have_value(DRAFT, timeout=30_000)
    prompt = "\n".join(m["content"] for m in fake.requests[-1].body["messages"])
    assert "Could you send me the Q3 budget by Friday?" in prompt and "Hey" in prompt  # thread + learned style
    assert smtp.received == []  # drafting never sends

    page.locator("#inbox-draft-text").fill(EDITED)
    page.locator("#inbox-send").dblclick()  # at once: the text travels with the click
    expect(page.locator("#inbox-draft-status")).to_have_text("Sent", timeout=60_000)
    wait_for(lambda: smtp.received, timeout=10, what="the mail at the SMTP server")
    page.wait_for_timeout(1500)
    assert len(smtp.received) == 1
    sent = smtp.received[0]
    assert sent.get_content().replace("\r\n", "\n").strip() == EDITED
    assert sent["In-Reply-To"] == "<e2e2@example.com>" and sent["Subject"] == "Re: Q3 budget"
    assert "bob@example.com" in sent["X-Envelope-To"]
    expect(page.locator("#inbox-thread .inbox-thread-message")).to_have_count(2)
    expect(rows).to_have_count(0)  # answered: no longer waiting for a reply
    screenshot(page, "inbox-sent")
