"""The IMAP + SMTP mail provider against a real dovecot and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest

from services.integrations.base import (
    IntegrationAuthError,
    IntegrationError,
    OutgoingMail,
)
from services.integrations.imap.client import ImapSettings, ImapSmtpProvider
from tests.mail_servers import PASSWORD, Dovecot, Smtp, free_port

pytestmark = [
    pytest.mark.integration,
    # The test SMTP server takes passwords without TLS: it listens on 127.0.0.1 only.
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]


@pytest.fixture
def mailbox(imap) -> Iterator[str]:
    imap.reset_mailbox("alice")
    yield "alice"
    imap.reset_mailbox("alice")


def provider(imap: Dovecot, smtp: Smtp | None = None, *, password: str = PASSWORD, user: str = "alice"
             ) -> ImapSmtpProvider:
    return ImapSmtpProvider(ImapSettings(
        address=f"{user}@example.com", username=user, password=password, imap_host="127.0.0.1",
        imap_port=imap.port, imap_security="none", smtp_host="127.0.0.1" if smtp else "",
        smtp_port=smtp.port if smtp else 0, smtp_security="none"))


def mail(n: int, *, subject: str = "", html: str = "", reply_to: str = "", sender: str = "Bob <bob@example.com>"
         ) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "Alice <alice@example.com>"
    message["Cc"] = "carol@example.com"
    message["Subject"] = subject or f"Message {n}"
    message["Date"] = format_datetime(datetime(2026, 11, 1, 9, n % 60, tzinfo=UTC))
    message["Message-ID"] = f"<m{n}@example.com>"
    if reply_to:
        message["In-Reply-To"] = reply_to
        message["References"] = f"<root@example.com> {reply_to}"
    message.set_content(f"Plain body {n}")
    if html:
        message.add_alternative(html, subtype="html")
    return message.as_bytes()


def test_headers_come_in_uid_order_after_a_uid_and_in_pages(imap, mailbox):
    for n in range(1, 8):
        imap.append(mailbox, mail(n), seen=n == 2)
    account = provider(imap)

    state = account.state()
    assert state.messages == 7 and state.uidnext == 8 and state.uidvalidity > 0
    first = account.headers(limit=3)
    assert [h.uid for h in first] == [1, 2, 3]
    rest = account.headers(after_uid=first[-1].uid, limit=100)
    assert [h.uid for h in rest] == [4, 5, 6, 7]
    assert account.headers(after_uid=7) == []  # "8:*" names the newest message too: filtered out

    one = first[1]
    assert (one.message_id, one.sender, one.to, one.cc, one.subject) == (
        "<m2@example.com>", "Bob <bob@example.com>", ("alice@example.com",), ("carol@example.com",), "Message 2")
    assert one.seen is True and first[0].seen is False
    assert one.date == datetime(2026, 11, 1, 9, 2, tzinfo=UTC) and one.size > 100


def test_threading_headers_and_encoded_subjects_are_decoded(imap, mailbox):
    imap.append(mailbox, mail(1, subject="Grüße aus Köln ✓", reply_to="<m0@example.com>",
                              sender="Jürgen Müller <jm@example.com>"))
    header = provider(imap).headers()[0]
    assert header.subject == "Grüße aus Köln ✓" and header.sender == "Jürgen Müller <jm@example.com>"
    assert header.in_reply_to == "<m0@example.com>"
    assert header.references == ("<root@example.com>", "<m0@example.com>")


def test_bodies_are_fetched_on_demand_and_leave_the_message_unread(imap, mailbox):
    imap.append(mailbox, mail(1, html="<p>Hello <b>Alice</b></p>"))
    account = provider(imap)
    body = account.body(1)
    assert body.text.strip() == "Plain body 1" and "<b>Alice</b>" in body.html
    assert account.headers()[0].seen is False  # BODY.PEEK: syncing never marks mail read
    with pytest.raises(IntegrationError, match="no longer"):
        account.body(99)


def test_a_recreated_folder_has_a_new_uidvalidity(imap, mailbox):
    imap.append(mailbox, mail(1))
    before = provider(imap).state()
    imap.reset_mailbox(mailbox)
    time.sleep(1.1)  # dovecot takes a new folder's UIDVALIDITY from the clock, in seconds
    imap.append(mailbox, mail(2))
    after = provider(imap).state()
    assert after.uidvalidity != before.uidvalidity  # UIDs of the old folder mean nothing now


def test_a_wrong_password_is_an_auth_error_without_the_password(imap, mailbox):
    with pytest.raises(IntegrationAuthError) as refused:
        provider(imap, password="wrong password 9").state()
    assert "refused the user name or password" in str(refused.value) and "wrong password 9" not in str(refused.value)


def test_an_unreachable_server_and_a_missing_folder_are_clear_errors(imap, mailbox):
    account = provider(imap)
    gone = ImapSmtpProvider(ImapSettings(address="a@example.com", username="alice", password=PASSWORD,
                                         imap_host="127.0.0.1", imap_port=free_port(), imap_security="none"))
    with pytest.raises(IntegrationError, match="Could not reach the IMAP server"):
        gone.state()
    with pytest.raises(IntegrationError, match="cannot be"):
        account.headers("No Such Folder")


def test_a_reply_is_sent_with_its_threading_headers(imap, mailbox, smtp):
    account = provider(imap, smtp)
    assert account.check() == "alice@example.com"
    message_id = make_msgid(domain="example.com")
    account.send(OutgoingMail(message_id=message_id, to=("bob@example.com",), cc=("carol@example.com",),
                              subject="Re: Message 1", text="Thanks, Bob!\n\nAlice", in_reply_to="<m1@example.com>",
                              references=("<root@example.com>", "<m1@example.com>")))
    assert smtp.logins[-1] == "alice"
    [sent] = smtp.received
    assert (sent["From"], sent["To"], sent["Cc"], sent["Subject"]) == (
        "alice@example.com", "bob@example.com", "carol@example.com", "Re: Message 1")
    assert sent["Message-ID"] == message_id and sent["In-Reply-To"] == "<m1@example.com>"
    assert sent["References"] == "<root@example.com> <m1@example.com>"
    assert sent["X-Envelope-To"] == "bob@example.com, carol@example.com"
    assert sent.get_content().replace("\r\n", "\n").strip() == "Thanks, Bob!\n\nAlice"


def test_smtp_refusals_are_clear_errors(imap, mailbox, smtp):
    with pytest.raises(IntegrationAuthError, match="SMTP server .* refused"):
        provider(imap, smtp, password="wrong password 9").send(
            OutgoingMail(message_id="<x@example.com>", to=("bob@example.com",), subject="s", text="t"))
    assert smtp.received == []
    closed = ImapSmtpProvider(ImapSettings(address="a@example.com", username="alice", password=PASSWORD,
                                           imap_host="127.0.0.1", imap_port=imap.port, imap_security="none",
                                           smtp_host="127.0.0.1", smtp_port=free_port(), smtp_security="none"))
    with pytest.raises(IntegrationError, match="Could not reach the SMTP server"):
        closed.send(OutgoingMail(message_id="<y@example.com>", to=("bob@example.com",), subject="s", text="t"))
