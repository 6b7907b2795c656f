"""The inbox service end to end on an IMAP + SMTP account: a real dovecot and a real SMTP server
(aiosmtpd); sync, list, thread, draft, edit, send once, style learning, the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from sqlmodel import select

from services import crypto
from services.auth.errors import AccessDenied, ValidationError
from services.db import session_scope
from services.db.models import (
    InboxAccount,
    InboxDraft,
    InboxMessage,
    InboxStyle,
    JobRun,
    LLMOutcome,
)
from services.inbox import accounts, listing, replies, sending, styles, sync
from services.integrations.base import IntegrationAuthError
from services.jobs import synced
from services.jobs.progress import ProgressReporter
from tests.inbox_support import run_sync, stored
from tests.llm_support import add_provider, run_async
from tests.mail_servers import PASSWORD, Dovecot, Smtp
from tests.unit.jobs_helpers import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]


@pytest.fixture
def mailbox(imap) -> Iterator[Dovecot]:
    for user in imap.users:
        imap.reset_mailbox(user)
    yield imap
    for user in imap.users:
        imap.reset_mailbox(user)


@pytest.fixture
def member(make_user):
    return make_user("alice@example.com")


def mail(n: int, *, subject: str = "", body: str = "", sender: str = "Bob Stone <bob@example.com>",
         to: str = "Alice <alice@example.com>", reply_to: str = "", html: str = "") -> bytes:
    message = EmailMessage()
    message["From"], message["To"] = sender, to
    message["Subject"] = subject or f"Message {n}"
    message["Date"] = format_datetime(datetime(2026, 11, 1, 9, n % 60, tzinfo=UTC))
    message["Message-ID"] = f"<m{n}@example.com>"
    if reply_to:
        message["In-Reply-To"], message["References"] = reply_to, reply_to
    message.set_content(body or f"Plain body {n}.")
    if html:
        message.add_alternative(html, subtype="html")
    return message.as_bytes()


def connect(user, imap: Dovecot, smtp: Smtp, **fields) -> int:
    values = {"address": "alice@example.com", "password": PASSWORD, "username": "alice", "imap_host": "127.0.0.1",
              "imap_port": imap.port, "imap_security": "none", "smtp_host": "127.0.0.1", "smtp_port": smtp.port,
              "smtp_security": "none", "sent_folder": "Sent"}
    values.update(fields)
    return accounts.connect_imap(user, **values)


def account(account_id: int) -> InboxAccount:
    with session_scope() as session:
        row = session.get(InboxAccount, account_id)
        assert row is not None
        return row


def test_connecting_checks_the_password_before_saving_and_stores_it_encrypted(db, member, mailbox, smtp):
    with pytest.raises(IntegrationAuthError):
        connect(member, mailbox, smtp, password="wrong")
    with session_scope() as session:
        assert session.exec(select(InboxAccount)).all() == []
    with pytest.raises(ValidationError, match="SMTP server"):
        connect(member, mailbox, smtp, smtp_host="")
    with pytest.raises(ValidationError, match="port"):
        connect(member, mailbox, smtp, imap_port="99999")
    with pytest.raises(ValidationError, match="unencrypted"):
        connect(member, mailbox, smtp, imap_host="mail.example.com")  # plain IMAP to another machine
    account_id = connect(member, mailbox, smtp)
    row = account(account_id)
    assert PASSWORD not in row.secret and PASSWORD not in row.config_json
    assert json.loads(crypto.decrypt(row.secret)) == {"password": PASSWORD}
    assert [a.address for a in accounts.list_accounts(member)] == ["alice@example.com"]


def test_a_sync_stores_inbox_and_sent_mail_and_continues_by_uid(db, member, mailbox, smtp):
    for n in range(1, 4):
        mailbox.append("alice", mail(n, body=f"Could you check item {n}?" if n == 2 else f"FYI number {n}."))
    mailbox.append("alice", mail(50, sender="Alice <alice@example.com>", to="bob@example.com",
                                 body="Hi Bob,\n\nDone, thanks for waiting.\n\nCheers,\nAlice"),
                   folder="Sent", seen=True)
    account_id = connect(member, mailbox, smtp)
    result = run_sync(account_id)
    assert result["new"] == 4 and result["style_samples"] == 1
    rows = stored(account_id)
    assert [(r.subject, r.from_me, r.unread) for r in rows] == [
        ("Message 1", False, True), ("Message 2", False, True), ("Message 3", False, True),
        ("Message 50", True, False)]
    assert rows[1].snippet == "Could you check item 2?" and rows[1].needs_reply
    assert rows[1].needs_reply_reason and not rows[0].needs_reply
    assert (rows[0].sender_name, rows[0].sender_address) == ("Bob Stone", "bob@example.com")
    first_cursor = account(account_id).cursor
    assert account(account_id).status == "ready" and account(account_id).messages == 4

    mailbox.append("alice", mail(4))
    assert run_sync(account_id)["new"] == 1
    assert len(stored(account_id)) == 5 and account(account_id).cursor != first_cursor
    assert run_sync(account_id)["new"] == 0  # nothing new: nothing stored twice
    assert len(stored(account_id)) == 5


def test_read_and_deleted_mail_and_a_renumbered_folder_are_followed(db, member, mailbox, smtp, imap):
    for n in range(1, 4):
        mailbox.append("alice", mail(n))
    account_id = connect(member, mailbox, smtp)
    run_sync(account_id)
    import imaplib

    conn = imaplib.IMAP4("127.0.0.1", imap.port)
    conn.login("alice", PASSWORD)
    conn.select("INBOX")
    conn.uid("STORE", "1", "+FLAGS", "(\\Seen)")
    conn.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
    conn.expunge()
    conn.logout()
    run_sync(account_id)
    assert [(r.subject, r.unread) for r in stored(account_id)] == [("Message 1", False), ("Message 3", True)]

    mailbox.reset_mailbox("alice")
    import time

    time.sleep(1.1)  # dovecot's UIDVALIDITY is the folder's creation second
    mailbox.append("alice", mail(9))
    run_sync(account_id)
    assert [r.subject for r in stored(account_id)] == ["Message 9"]


def test_the_list_filters_searches_pages_and_is_private(db, member, make_user, mailbox, smtp):
    for n in range(1, 8):
        mailbox.append("alice", mail(n, subject=f"Invoice {n}" if n % 2 else f"Lunch {n}",
                                     body="Can you pay it?" if n == 3 else "Fine."))
    account_id = connect(member, mailbox, smtp)
    run_sync(account_id)
    page = listing.list_page(member, listing.Filters(), size=3)
    assert (page.total, page.pages, [i.subject for i in page.items]) == (7, 3, ["Invoice 7", "Lunch 6", "Invoice 5"])
    last = listing.list_page(member, listing.Filters(), page=9, size=3)
    assert last.page == 3 and [i.subject for i in last.items] == ["Invoice 1"]
    assert [i.subject for i in listing.list_page(member, listing.Filters(search="lunch")).items] == [
        "Lunch 6", "Lunch 4", "Lunch 2"]
    assert [i.subject for i in listing.list_page(member, listing.Filters(needs_reply=True)).items] == ["Invoice 3"]
    assert listing.list_page(member, listing.Filters(kind="slack")).total == 0
    assert listing.list_page(member, listing.Filters(search="100%_")).total == 0

    other = make_user("eve@example.com")
    assert listing.list_page(other, listing.Filters()).total == 0
    with pytest.raises(AccessDenied):
        listing.thread(other, page.items[0].id)
    with pytest.raises(AccessDenied):
        accounts.get(other, account_id)
    with pytest.raises(AccessDenied):
        sync.start(other, account_id)


def test_a_thread_fetches_bodies_once_sanitised_and_marks_read(db, member, mailbox, smtp):
    html = ('<p>Hello <b>Alice</b></p><img src="https://track.example/p.gif" width="1">'
            '<script>alert(1)</script><a href="javascript:alert(2)">x</a>')
    mailbox.append("alice", mail(1, subject="Plan", html=html))
    mailbox.append("alice", mail(2, subject="Re: Plan", reply_to="<m1@example.com>", body="And the budget?"))
    account_id = connect(member, mailbox, smtp)
    run_sync(account_id)
    second = next(r for r in stored(account_id) if r.subject == "Re: Plan")
    thread = listing.thread(member, second.id)
    assert [m.text.strip() for m in thread.messages] == ["Plain body 1.", "And the budget?"]
    first = thread.messages[0]
    assert "<b>Alice</b>" in first.html and "script" not in first.html and "javascript" not in first.html
    assert first.blocked_images == 1 and "track.example" not in first.html
    assert "track.example" in listing.thread(member, second.id, allow_images=True).messages[0].html
    assert not next(r for r in stored(account_id) if r.id == second.id).unread
    mailbox.reset_mailbox("alice")  # bodies are kept: the thread still opens from the database
    assert listing.thread(member, second.id).messages[1].text.strip() == "And the budget?"


def test_draft_edit_and_send_once_then_the_style_learns(db, member, mailbox, smtp, fake_llm):
    mailbox.append("alice", mail(1, subject="Budget", body="Could you send the Q3 budget by Friday?"))
    account_id = connect(member, mailbox, smtp)
    run_sync(account_id)
    message = stored(account_id)[0]

    offline = run_async(replies.draft(member, message.id, tone="friendly", length="short"))
    assert "[Write your reply here.]" in offline.text and offline.notice
    assert offline.to == ("bob@example.com",) and offline.subject == "Re: Budget"

    add_provider(fake_llm, "primary", "openai", "draft-m1", input_price="1", output_price="2")
    from tests.fakes.llm_providers import ok

    fake_llm.script("draft-m1", ok(text="Hi Bob,\n\nI hope this email finds you well. Sure, by Friday.\n\nThanks,\nAlice"))
    draft = run_async(replies.draft(member, message.id, tone="formal", length="short", regenerate=True))
    assert draft.id == offline.id and draft.text.startswith("Hi Bob,")
    prompt = "\n".join(m["content"] for m in fake_llm.requests[-1].body["messages"])
    assert "Could you send the Q3 budget by Friday?" in prompt and "untrusted_data" in prompt

    edited = "Hi Bob,\n\nSure, you will have it by Friday.\n\nThanks,\nAlice"
    replies.save_text(member, draft.id, edited)
    assert sending.send(member, draft.id, edited) == "sending"
    assert sending.send(member, draft.id, edited) == "sending"  # the double click: no second job
    wait_for(lambda: len(smtp.received) == 1 and replies.open_draft(member, message.id).status == "sent",
             timeout=20, what="the reply to be sent")
    sent = smtp.received[0]
    assert sent["In-Reply-To"] == "<m1@example.com>" and sent["Subject"] == "Re: Budget"
    assert sent.get_content().replace("\r\n", "\n").strip() == edited and sent["Message-ID"].endswith("@example.com>")
    with session_scope() as session:
        jobs = session.exec(select(JobRun).where(JobRun.type == sending.JOB_TYPE)).all()
    assert len(jobs) == 1

    # A retried job (the Jobs page, or RQ delivering it again) sends nothing.
    assert sending.run_send(draft.id, ProgressReporter(jobs[0].id)) == {"draft_id": draft.id, "sent": False}
    assert len(smtp.received) == 1
    thread = listing.thread(member, message.id)
    assert [m.from_me for m in thread.messages] == [False, True]
    assert not listing.owned_message(member, message.id).needs_reply
    run_sync(account_id)  # the copy kept in Sent comes back, and takes the place of the one stored at once
    mine = [r for r in stored(account_id) if r.from_me]
    assert len(mine) == 1 and mine[0].external_id.startswith("Sent:") and mine[0].thread_id == message.thread_id
    assert [m.from_me for m in listing.thread(member, message.id).messages] == [False, True]
    assert styles.card(member, account_id).figures["messages"] == 1
    with session_scope() as session:  # the accepted draft is an outcome of its call: #4 learns from it
        outcome = session.exec(select(LLMOutcome).where(LLMOutcome.call_id == draft_row_call(draft.id))).one()
    assert outcome.kind == "accepted_draft" and 0 < outcome.edit_ratio < 1


def draft_row_call(draft_id: int) -> str:
    with session_scope() as session:
        return session.get(InboxDraft, draft_id).call_id


def test_a_send_interrupted_half_way_is_never_repeated(db, member, mailbox, smtp):
    mailbox.append("alice", mail(1))
    account_id = connect(member, mailbox, smtp)
    run_sync(account_id)
    message = stored(account_id)[0]
    view = run_async(replies.draft(member, message.id))
    with session_scope() as session:
        row = session.get(InboxDraft, view.id)
        row.status, row.attempted_at = "sending", datetime.now(UTC)  # a worker died during the send
        session.add(row)
    job = JobRun(type=sending.JOB_TYPE, status="running")
    with session_scope() as session:
        session.add(job)
    assert sending.run_send(view.id, ProgressReporter(job.id))["sent"] is False
    assert smtp.received == []
    after = replies.open_draft(member, message.id)
    assert after.status == "unknown" and "Sent folder" in after.error
    assert sending.send(member, view.id, "again") == "unknown"  # a click cannot resend it either


def test_a_refused_send_is_failed_editable_and_can_be_sent_again(db, member, mailbox, smtp):
    mailbox.append("alice", mail(1, sender="nobody@invalid.example"))
    account_id = connect(member, mailbox, smtp)
    run_sync(account_id)
    message = stored(account_id)[0]
    view = run_async(replies.draft(member, message.id))
    with pytest.raises(ValidationError, match="empty"):
        sending.send(member, view.id, "   ")
    # The SMTP server is gone: the send fails, nothing is lost, and the user may try again.
    with session_scope() as session:
        row = session.get(InboxAccount, account_id)
        config = json.loads(row.config_json)
        config["smtp_port"] = 1
        row.config_json = json.dumps(config)
        session.add(row)
    sending.send(member, view.id, "My reply")
    failed = wait_for(lambda: (d := replies.open_draft(member, message.id)).status == "failed" and d,
                      timeout=20, what="the send to fail")
    assert "SMTP" in failed.error and failed.text == "My reply"
    with session_scope() as session:
        row = session.get(InboxAccount, account_id)
        config["smtp_port"] = smtp.port
        row.config_json = json.dumps(config)
        session.add(row)
    assert sending.send(member, view.id, "My reply") == "sending"
    wait_for(lambda: len(smtp.received) == 1, timeout=20, what="the second attempt")


def test_style_is_learned_from_sent_mail_once_and_overrides_apply(db, member, mailbox, smtp):
    for n in range(3):
        mailbox.append("alice", mail(60 + n, sender="Alice <alice@example.com>", to="bob@example.com",
                                     body=f"Hey Bob,\n\nAll good on item {n} :)\n\nCheers,\nAlice"),
                       folder="Sent", seen=True)
    account_id = connect(member, mailbox, smtp)
    run_sync(account_id)
    run_sync(account_id)
    card = styles.card(member, account_id)
    assert card.figures["messages"] == 3
    assert card.figures["greetings"][0][0].lower().startswith("hey")
    with session_scope() as session:
        row = session.exec(select(InboxStyle).where(InboxStyle.account_id == account_id)).one()
        assert len(json.loads(row.learned_ids)) == 3
    from services.inbox import style

    styles.save_overrides(member, account_id, "", style.StyleOverrides(sign_off="Best,\nA.", notes="No emoji."))
    described = styles.describe_for(account_id, "")
    assert "Best," in described and "No emoji." in described


def test_disconnect_removes_the_account_and_its_mail(db, member, mailbox, smtp):
    mailbox.append("alice", mail(1))
    account_id = connect(member, mailbox, smtp)
    run_sync(account_id)
    assert accounts.disconnect(member, account_id) == ""
    with session_scope() as session:
        assert session.exec(select(InboxMessage)).all() == []
    assert accounts.list_accounts(member) == []


def test_a_reply_written_without_the_model_is_sent_the_same_way(db, member, mailbox, smtp):
    mailbox.append("alice", mail(1, subject="Hello"))
    account_id = connect(member, mailbox, smtp)
    run_sync(account_id)
    message = stored(account_id)[0]
    view = replies.own_draft(member, message.id)
    assert view.text == "" and view.to == ("bob@example.com",)
    assert replies.own_draft(member, message.id).id == view.id  # one draft per message while unsent
    assert sending.send(member, view.id, "Thanks, got it.") == "sending"
    wait_for(lambda: len(smtp.received) == 1, timeout=20, what="the reply")
    assert smtp.received[0]["Subject"] == "Re: Hello"
    with session_scope() as session:
        assert session.get(InboxDraft, view.id).call_id == ""


def test_scheduled_syncs_come_due_by_each_accounts_interval(db, member, mailbox, smtp):
    from datetime import timedelta

    account_id = connect(member, mailbox, smtp)
    now = datetime.now(UTC)
    assert [a for a, _ in synced.iter_due(InboxAccount, now)] == [account_id]  # never synced
    run_sync(account_id)
    assert list(synced.iter_due(InboxAccount, now + timedelta(minutes=10))) == []
    assert [a for a, _ in synced.iter_due(InboxAccount, now + timedelta(minutes=16))] == [account_id]
    accounts.set_interval(member, account_id, 0)
    assert list(synced.iter_due(InboxAccount, now + timedelta(days=1))) == []
    with pytest.raises(ValidationError):
        accounts.set_interval(member, account_id, 2)
    accounts.set_interval(member, account_id, 60)
    assert sync.submit_due(now + timedelta(minutes=61)) == 1
    assert sync.submit_due(now + timedelta(minutes=61)) == 0  # claimed: not submitted twice
    wait_for(lambda: account(account_id).status == "ready", timeout=20, what="the scheduled sync")
