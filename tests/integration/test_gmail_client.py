"""The real google-api-python-client, through GmailSource, against the fake Gmail API."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from services.integrations.backoff import Backoff
from services.integrations.base import (
    ChangePage,
    IntegrationAuthError,
    IntegrationError,
    IntegrationRateLimited,
    IntegrationUncertain,
    Reply,
)
from services.integrations.gmail.client import GmailSource
from tests.fakes.gmail_server import FakeGmail
from tests.fakes.llm_providers import refused_url

BATCH = "/batch/gmail/v1"
HISTORY = "/gmail/v1/users/me/history"
LIST = "/gmail/v1/users/me/messages"
PROFILE = "/gmail/v1/users/me/profile"


@pytest.fixture
def fake() -> Iterator[FakeGmail]:
    with FakeGmail() as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    """What the client asked to sleep; nothing really waits."""
    return []


def source(fake: FakeGmail, sleeps: list[float], *, token: str | None = None, page_size: int = 500) -> GmailSource:
    return GmailSource(token or fake.token, api_endpoint=fake.url, page_size=page_size,
                       backoff=Backoff("Gmail", sleep=sleeps.append, max_wait=30))


@pytest.fixture
def gmail(fake: FakeGmail, sleeps: list[float]) -> GmailSource:
    return source(fake, sleeps)


def synced(gmail: GmailSource, cursor: str | None = None) -> tuple[list[ChangePage], str]:
    pages = list(gmail.changes(cursor))
    cursors = [page.cursor for page in pages if page.cursor]
    assert len(cursors) == 1 and pages[-1].cursor, "exactly the last page carries the cursor"
    return pages, pages[-1].cursor


def ids_of(pages: list[ChangePage]) -> list[str]:
    return [message.external_id for page in pages for message in page.messages]


def paths(fake: FakeGmail) -> list[str]:
    return [request.path for request in fake.requests]


# -- full sync ------------------------------------------------------------------------------------


def test_a_full_sync_pages_through_inbox_and_sent_once_each(fake, sleeps):
    inbox = fake.seed(45)
    sent = [fake.add_message(sender="Me <me@example.com>", to=("bob@example.org",), labels=("SENT",))
            for _ in range(7)]
    to_self = fake.add_message(sender="Me <me@example.com>", labels=("INBOX", "SENT"))
    fake.add_message(labels=("INBOX", "TRASH"))
    fake.add_message(labels=("SPAM",))
    fake.add_message(labels=("DRAFT",))
    gmail = source(fake, sleeps, page_size=20)

    pages, cursor = synced(gmail)

    ids = ids_of(pages)
    assert sorted(ids) == sorted(inbox + sent + [to_self])
    assert len(ids) == len(set(ids))
    assert [page.reset for page in pages] == [True] + [False] * (len(pages) - 1)
    assert len(pages) == 3 + 1  # INBOX: 46 at 20 a page; SENT: 8
    assert json.loads(cursor) == {"history_id": str(fake.history_id), "email": fake.address}
    assert paths(fake)[0] == PROFILE
    listings = [r for r in fake.requests if r.path == LIST]
    assert [r.query["labelIds"] for r in listings] == [["INBOX"]] * 3 + [["SENT"]]
    assert {r.query["maxResults"][0] for r in listings} == {"20"}
    batches = [r for r in fake.requests if r.path == BATCH]
    assert all(0 < r.batch_size <= 50 for r in batches)
    assert sum(r.batch_size for r in batches) == len(ids)  # the mail to oneself, listed twice, is read once
    part = fake.batched[0]
    assert part.query["format"] == ["metadata"]
    assert part.query["metadataHeaders"] == ["From", "To", "Cc", "Subject", "Date", "Message-ID",
                                             "In-Reply-To", "References"]


def test_a_message_maps_every_field(fake, gmail):
    when = datetime(2026, 11, 3, 9, 30, 15, tzinfo=UTC)
    gmail_id = fake.add_message(
        sender='"Doe, Jane" <jane@example.org>', to=("bob@example.org", "Me@Example.com"),
        cc=("carol@example.org",), subject="Quarterly numbers – draft", text="It's ready & waiting",
        thread_id="thread-7", message_id="<q3@mail.example.org>", in_reply_to="<q2@mail.example.org>",
        references=("<q1@mail.example.org>", "<q2@mail.example.org>"), sent_at=when)
    fake.add_message(to=("someone@example.org",), cc=(fake.address,))

    pages, _ = synced(gmail)

    by_id = {m.external_id: m for page in pages for m in page.messages}
    message = by_id[gmail_id]
    assert (message.thread_id, message.sender_name, message.sender_address) == \
        ("thread-7", "Doe, Jane", "jane@example.org")
    assert message.subject == "Quarterly numbers – draft"
    assert message.snippet == "It's ready & waiting"  # Gmail sends "It&#39;s ready &amp; waiting"
    assert message.sent_at == when and message.sent_at.tzinfo is not None
    assert (message.unread, message.from_me, message.folder) == (True, False, "INBOX")
    assert message.to == ("bob@example.org", "Me@Example.com") and message.cc == ("carol@example.org",)
    assert (message.message_id, message.in_reply_to) == ("<q3@mail.example.org>", "<q2@mail.example.org>")
    assert message.references == ("<q1@mail.example.org>", "<q2@mail.example.org>")
    assert message.mentions_me is True
    only_cc = next(m for m in by_id.values() if m.external_id != gmail_id)
    assert only_cc.mentions_me is False


def test_sent_mail_is_from_me_in_sent(fake, gmail):
    gmail_id = fake.add_message(sender="Me <me@example.com>", to=("bob@example.org",), labels=("SENT",))
    pages, _ = synced(gmail)
    (message,) = [m for page in pages for m in page.messages]
    assert (message.external_id, message.from_me, message.folder, message.unread) == \
        (gmail_id, True, "SENT", False)


def test_an_empty_mailbox_still_resets_and_gets_a_cursor(fake, gmail):
    pages, cursor = synced(gmail)
    assert ids_of(pages) == [] and pages[0].reset
    assert json.loads(cursor)["history_id"] == str(fake.history_id)


def test_a_message_deleted_between_listing_and_reading_is_skipped(fake, gmail):
    kept = fake.seed(4)
    victim = fake.add_message(subject="Soon gone")
    fake.before_next(BATCH, lambda: fake.delete_message(victim))

    pages, cursor = synced(gmail)

    assert sorted(ids_of(pages)) == sorted(kept)
    later, _ = synced(gmail, cursor)
    assert later[-1].removed == (victim,) and ids_of(later) == []


def test_a_large_mailbox_syncs_in_few_requests(fake, gmail):
    fake.seed(2_000)
    pages, _ = synced(gmail)
    assert len(set(ids_of(pages))) == 2_000
    # 1 profile + 4 INBOX listing pages of 500 + 1 (empty) SENT page + 40 batches of 50
    assert len(fake.requests) == 1 + 5 + 40


# -- incremental sync -----------------------------------------------------------------------------


def test_an_incremental_sync_after_ten_new_messages_reads_just_those_in_two_requests(fake, gmail):
    fake.seed(30)
    _, cursor = synced(gmail)
    fresh = [fake.add_message(subject=f"New {n}") for n in range(10)]
    fake.clear_requests()

    pages, next_cursor = synced(gmail, cursor)

    assert ids_of(pages) == fresh
    assert not any(page.reset for page in pages)
    assert [(r.path, r.batch_size) for r in fake.requests] == [(HISTORY, 0), (BATCH, 10)]
    assert len(fake.requests) <= 12
    assert json.loads(next_cursor)["history_id"] == str(fake.history_id)
    history = fake.requests[0].query
    assert history["historyTypes"] == ["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"]


def test_an_incremental_sync_without_changes_is_one_request_and_keeps_going(fake, gmail):
    fake.seed(3)
    _, cursor = synced(gmail)
    fake.clear_requests()
    pages, same = synced(gmail, cursor)
    assert pages == [ChangePage(messages=(), cursor=same)]
    assert json.loads(same) == json.loads(cursor)
    assert paths(fake) == [HISTORY]


def test_reading_and_archiving_show_up_incrementally(fake, gmail):
    read, archived, untouched = fake.seed(3)
    _, cursor = synced(gmail)
    fake.mark_read(read)
    fake.modify_labels(archived, remove=("INBOX",))

    pages, _ = synced(gmail, cursor)

    assert [(m.external_id, m.unread) for page in pages for m in page.messages] == [(read, False)]
    assert set(pages[-1].removed) == {archived}
    assert untouched not in ids_of(pages)


def test_a_deletion_is_reported_as_removed(fake, gmail):
    kept, deleted = fake.seed(2)
    _, cursor = synced(gmail)
    fake.delete_message(deleted)
    added_then_deleted = fake.add_message()
    fake.delete_message(added_then_deleted)
    fake.clear_requests()

    pages, _ = synced(gmail, cursor)

    assert ids_of(pages) == []
    assert set(pages[-1].removed) == {deleted, added_then_deleted}
    assert kept not in pages[-1].removed
    assert paths(fake) == [HISTORY]  # nothing left to read


def test_history_is_followed_across_its_pages(fake, sleeps):
    gmail = source(fake, sleeps, page_size=5)
    _, cursor = synced(gmail)
    fresh = [fake.add_message() for _ in range(12)]
    fake.clear_requests()

    pages, _ = synced(gmail, cursor)

    assert ids_of(pages) == fresh
    assert [len(page.messages) for page in pages] == [5, 5, 2]
    history = [r for r in fake.requests if r.path == HISTORY]
    assert len(history) == 3 and "pageToken" in history[1].query


def test_an_expired_history_position_starts_a_full_resync(fake, gmail):
    old = fake.seed(5)
    _, cursor = synced(gmail)
    newer = fake.add_message()
    fake.expire_history_before(fake.history_id)
    fake.clear_requests()

    pages, fresh_cursor = synced(gmail, cursor)

    assert pages[0].reset
    assert sorted(ids_of(pages)) == sorted(old + [newer])
    assert paths(fake)[:3] == [HISTORY, PROFILE, LIST]
    assert json.loads(fresh_cursor)["history_id"] == str(fake.history_id)


@pytest.mark.parametrize("cursor", ["not json", '{"history_id": "abc", "email": "x"}', "{}", "[]"])
def test_an_unreadable_cursor_starts_a_full_sync(fake, gmail, cursor):
    gmail_id = fake.add_message()
    pages, _ = synced(gmail, cursor)
    assert pages[0].reset and ids_of(pages) == [gmail_id]
    assert HISTORY not in paths(fake)


# -- waits, refusals and failures -----------------------------------------------------------------


def test_429_waits_for_retry_after_then_succeeds(fake, gmail, sleeps):
    fake.fail_next(429, retry_after=7, path_contains=PROFILE)
    assert gmail.check() == fake.address
    assert sleeps == [7]
    assert paths(fake) == [PROFILE, PROFILE]


def test_429_forever_gives_up_as_rate_limited(fake, gmail, sleeps):
    fake.fail_next(429, count=100, retry_after=20)
    with pytest.raises(IntegrationRateLimited, match="Gmail is rate-limiting") as raised:
        list(gmail.changes(None))
    assert raised.value.retry_after == 20
    assert sleeps == [20]


def test_a_403_user_rate_limit_is_waited_out_like_a_429(fake, gmail, sleeps):
    fake.fail_next(403, count=2, path_contains=LIST, reason="userRateLimitExceeded")
    fake.add_message()
    pages, _ = synced(gmail)
    assert len(ids_of(pages)) == 1
    assert sleeps == [1.0, 2.0]


def test_500_then_success(fake, gmail, sleeps):
    gmail_id = fake.add_message()
    fake.fail_next(500, path_contains=BATCH)
    fake.fail_next(503, path_contains=BATCH)
    pages, _ = synced(gmail)
    assert ids_of(pages) == [gmail_id]
    assert sleeps == [1.0, 2.0]


def test_a_429_on_parts_of_a_batch_resends_just_those_parts(fake, gmail, sleeps):
    seeded = fake.seed(60)
    fake.fail_next(429, count=3, retry_after=2, path_contains="/messages/")

    pages, _ = synced(gmail)

    assert sorted(ids_of(pages)) == sorted(seeded)
    assert sleeps == [2]
    assert [r.batch_size for r in fake.requests if r.path == BATCH] == [50, 3, 10]
    assert len(fake.batched) == 63


def test_parts_beyond_gmails_concurrency_limit_are_retried_until_all_arrive(sleeps):
    with FakeGmail(concurrent_limit=20) as fake:
        seeded = fake.seed(50)
        pages, _ = synced(source(fake, sleeps))
        assert sorted(ids_of(pages)) == sorted(seeded)
        assert [r.batch_size for r in fake.requests if r.path == BATCH] == [50, 30, 10]
        assert sleeps == [1.0, 2.0]


def test_a_wrong_token_is_an_auth_error(fake, sleeps, caplog):
    gmail = source(fake, sleeps, token="expired-token-secret")
    with pytest.raises(IntegrationAuthError, match="reconnect the account") as raised:
        gmail.check()
    with pytest.raises(IntegrationAuthError):
        list(gmail.changes(None))
    assert "expired-token-secret" not in str(raised.value) + caplog.text
    assert sleeps == []


def test_a_403_without_a_rate_limit_is_an_auth_error(fake, gmail, sleeps):
    fake.fail_next(403, reason="insufficientPermissions")
    with pytest.raises(IntegrationAuthError, match="allow LLMCoder to read and send mail"):
        gmail.check()
    assert sleeps == []


def test_an_unreachable_server_is_an_integration_error(sleeps):
    gmail = GmailSource("token", api_endpoint=refused_url(), backoff=Backoff("Gmail", sleep=sleeps.append))
    with pytest.raises(IntegrationError, match="Could not reach Gmail"):
        gmail.check()


def test_an_empty_token_is_refused_before_any_request():
    with pytest.raises(IntegrationAuthError):
        GmailSource("", api_endpoint="http://127.0.0.1:9")


# -- bodies ---------------------------------------------------------------------------------------


def test_a_body_has_text_and_html_in_their_own_charset(fake, gmail):
    gmail_id = fake.add_message(text="Grüße aus Köln, 5 €", html="<p>Grüße aus <b>Köln</b>, 5 €</p>",
                                charset="iso-8859-15")
    mime = fake.message(gmail_id).mime()
    assert mime.get_content_type() == "multipart/alternative"
    assert [part.get_content_charset() for part in mime.iter_parts()] == ["iso-8859-15"] * 2
    body = gmail.body(gmail_id)
    assert body.text.strip() == "Grüße aus Köln, 5 €"
    assert body.html.strip() == "<p>Grüße aus <b>Köln</b>, 5 €</p>"
    assert fake.message(gmail_id).label_ids == ["INBOX", "UNREAD"]  # reading the body marks nothing read
    request = fake.requests[-1]
    assert request.query["format"] == ["full"]


def test_a_plain_or_html_only_body_leaves_the_other_empty(fake, gmail):
    plain = fake.add_message(text="Just text")
    rich = fake.add_message(text="", html="<p>Just HTML</p>")
    assert (gmail.body(plain).text.strip(), gmail.body(plain).html) == ("Just text", "")
    assert (gmail.body(rich).text, gmail.body(rich).html.strip()) == ("", "<p>Just HTML</p>")


def test_the_body_of_a_deleted_message_is_an_integration_error(fake, gmail, sleeps):
    gmail_id = fake.add_message()
    fake.delete_message(gmail_id)
    with pytest.raises(IntegrationError, match="no longer in Gmail"):
        gmail.body(gmail_id)
    assert sleeps == []


# -- sending --------------------------------------------------------------------------------------


def sent_mail(fake: FakeGmail) -> email.message.EmailMessage:
    (raw,) = fake.sent
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_a_reply_threads_with_the_key_as_message_id(fake, gmail):
    original = fake.add_message(subject="Lunch?", message_id="<lunch@mail.example.org>",
                                references=("<earlier@mail.example.org>",))
    reply = Reply(key="draft-4f1c", text="Gerne – um 12 Uhr? ☕", to=("ann@example.com",), cc=("bob@example.org",),
                  subject="Lunch?", thread_id=original, in_reply_to="<lunch@mail.example.org>",
                  references=("<earlier@mail.example.org>",))

    new_id = gmail.send(reply)

    mail = sent_mail(fake)
    assert mail["Message-ID"] == "<draft-4f1c@llmcoder>"
    assert mail["In-Reply-To"] == "<lunch@mail.example.org>"
    assert mail["References"] == "<earlier@mail.example.org> <lunch@mail.example.org>"
    assert (mail["Subject"], mail["From"], mail["To"], mail["Cc"]) == \
        ("Re: Lunch?", fake.address, "ann@example.com", "bob@example.org")
    assert mail.get_content().rstrip("\n") == "Gerne – um 12 Uhr? ☕"
    stored = fake.message(new_id)
    assert (stored.thread_id, stored.label_ids) == (original, ["SENT"])


def test_a_reply_subject_gets_re_only_once(fake, gmail):
    original = fake.add_message()
    gmail.send(Reply(key="k1", text="ok", to=("ann@example.com",), subject="RE: Lunch?", thread_id=original))
    assert sent_mail(fake)["Subject"] == "RE: Lunch?"


def test_a_new_mail_starts_its_own_thread(fake, gmail):
    new_id = gmail.send(Reply(key="new-1", text="Hi Bob", to=("Bob <bob@example.org>",), subject="Hello"))
    mail = sent_mail(fake)
    assert mail["Subject"] == "Hello" and mail["In-Reply-To"] is None and mail["References"] is None
    assert fake.message(new_id).thread_id == new_id
    send = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/messages/send")]
    assert len(send) == 1


def test_a_reply_to_a_vanished_thread_is_an_integration_error(fake, gmail):
    with pytest.raises(IntegrationError, match="no longer in Gmail"):
        gmail.send(Reply(key="k", text="x", to=("ann@example.com",), subject="s", thread_id="gone-thread"))


@pytest.mark.parametrize("reply", [
    Reply(key="k", text="x"),
    Reply(key="k", text="x", to=("not an address",)),
    Reply(key="k", text="x", to=("ann@example.com",), subject="Hi\r\nBcc: evil@example.org"),
    Reply(key="", text="x", to=("ann@example.com",)),
])
def test_a_reply_that_cannot_be_sent_is_refused_before_sending(fake, gmail, reply):
    with pytest.raises(IntegrationError):
        gmail.send(reply)
    assert fake.sent == []


def test_a_send_gmail_failed_after_receiving_is_uncertain_and_not_repeated(fake, gmail, sleeps):
    fake.fail_next(500, path_contains="/messages/send")
    with pytest.raises(IntegrationUncertain, match="may have gone out"):
        gmail.send(Reply(key="k-500", text="Hello", to=("bob@example.com",), subject="Hi"))
    assert [r.path for r in fake.requests].count("/gmail/v1/users/me/messages/send") == 1 and sleeps == []

    fake.fail_next(429, retry_after=3, path_contains="/messages/send")  # refused before acting: safe to retry
    gmail.send(Reply(key="k-429", text="Hello", to=("bob@example.com",), subject="Hi"))
    assert len(fake.sent) == 1 and sleeps == [3]
