"""OutlookSource (httpx against Microsoft Graph v1.0) against the fake Graph mail API."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC

import pytest

from services.integrations.backoff import Backoff
from services.integrations.base import (
    ChangePage,
    IntegrationAuthError,
    IntegrationError,
    IntegrationRateLimited,
    Reply,
)
from services.integrations.outlook.client import (
    KEY_PROPERTY,
    MessageGone,
    OutlookSource,
)
from tests.fakes.graph_server import FakeGraph
from tests.fakes.llm_providers import refused_url

DELTA = "/messages/delta"
NEEDED_FIELDS = {"subject", "from", "toRecipients", "ccRecipients", "receivedDateTime", "isRead",
                 "conversationId", "internetMessageId", "bodyPreview"}


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    """What the client asked to sleep; nothing really waits."""
    return []


def make_source(graph: FakeGraph, sleeps: list[float], *, token: str | None = None,
                max_wait: float = 30) -> OutlookSource:
    backoff = Backoff("Microsoft Graph", sleep=sleeps.append, max_wait=max_wait)
    return OutlookSource(token or graph.token, base_url=graph.url, backoff=backoff, page_size=10)


@pytest.fixture
def source(graph: FakeGraph, sleeps: list[float]) -> Iterator[OutlookSource]:
    with make_source(graph, sleeps) as client:
        yield client


def sync(source: OutlookSource, cursor: str | None = None) -> tuple[list[ChangePage], str]:
    pages = list(source.changes(cursor))
    cursor = pages[-1].cursor
    assert cursor is not None
    return pages, cursor


def ids(pages: list[ChangePage]) -> list[str]:
    return [message.external_id for page in pages for message in page.messages]


# -- sync -----------------------------------------------------------------------------------------


def test_check_returns_the_users_address_over_a_bearer_token(graph, source):
    assert source.check() == "ann@contoso.example"
    [request] = graph.requests
    assert request.path == "/v1.0/me"
    assert request.prefer == {"idtype": "ImmutableId"}


def test_a_full_sync_pages_through_inbox_then_sent_items(graph, source):
    inbox = graph.seed(25)
    sent = graph.seed(7, folder="sentitems")

    pages, cursor = sync(source)

    assert [len(page.messages) for page in pages] == [10, 10, 5, 7]
    assert ids(pages) == inbox + sent  # each once, Inbox first
    assert [page.reset for page in pages] == [True, False, False, False]
    assert [page.cursor is not None for page in pages] == [False, False, False, True]
    assert set(json.loads(cursor)) == {"v", "inbox", "sentitems"}
    assert all(not page.removed for page in pages)
    delta_requests = graph.requests_to(DELTA)
    assert [r.path.split("/")[-3] for r in delta_requests] == ["inbox"] * 3 + ["sentitems"]
    assert [("$skiptoken" in r.query) for r in delta_requests] == [False, True, True, False]
    assert all(r.prefer == {"idtype": "ImmutableId", "odata.maxpagesize": "10"} for r in delta_requests)
    assert NEEDED_FIELDS <= set(delta_requests[0].query["$select"][0].split(","))


def test_messages_are_mapped_from_graph_fields(graph, source):
    received = graph.add_message(subject="Budget", text="Line one\n\n  line two " + "x" * 300,
                                 sender=("Carol Chief", "carol@fabrikam.example"),
                                 to=("team@contoso.example", "Ann@Contoso.example"), cc=("dave@fabrikam.example",))
    copied = graph.add_message(subject="FYI", to=("team@contoso.example",), cc=("ann@contoso.example",))
    sent = graph.add_message("sentitems", subject="Re: Budget", to=("carol@fabrikam.example",))

    messages = {m.external_id: m for page in sync(source)[0] for m in page.messages}

    first = messages[received]
    stored = graph.message(received)
    assert first.thread_id == stored.conversation_id
    assert (first.sender_name, first.sender_address) == ("Carol Chief", "carol@fabrikam.example")
    assert first.subject == "Budget"
    assert first.snippet.startswith("Line one line two xxx") and len(first.snippet) == 200
    assert first.sent_at == stored.received and first.sent_at.tzinfo == UTC
    assert (first.unread, first.from_me, first.folder) == (True, False, "INBOX")
    assert first.to == ("team@contoso.example", "Ann@Contoso.example")
    assert first.cc == ("dave@fabrikam.example",)
    assert first.message_id == stored.internet_message_id
    assert first.mentions_me is True
    assert messages[copied].mentions_me is False  # only in Cc
    mine = messages[sent]
    assert (mine.from_me, mine.folder, mine.unread, mine.mentions_me) == (True, "SENT", False, False)
    assert mine.sender_address == "ann@contoso.example"


def test_the_next_sync_brings_exactly_the_new_messages_in_few_requests(graph, sleeps):
    graph.seed(30)
    graph.seed(5, folder="sentitems")
    with make_source(graph, sleeps) as first:
        _, cursor = sync(first)
    new = graph.seed(10)
    graph.clear_requests()

    with make_source(graph, sleeps) as later:  # the next sync job builds its own client
        pages, next_cursor = sync(later, cursor)
        assert sorted(ids(pages)) == sorted(new)
        assert not any(page.reset or page.removed for page in pages)
        assert len(graph.requests) <= 12
        assert all("$deltatoken" in r.query for r in graph.requests_to(DELTA))
        assert ids(sync(later, next_cursor)[0]) == []


def test_a_message_read_elsewhere_comes_back_read(graph, source):
    message_id = graph.add_message()
    _, cursor = sync(source)
    graph.mark_read(message_id)

    pages, _ = sync(source, cursor)

    [message] = [m for page in pages for m in page.messages]
    assert (message.external_id, message.unread) == (message_id, False)


def test_a_deleted_message_is_reported_removed(graph, source):
    keep, gone = graph.add_message(), graph.add_message()
    _, cursor = sync(source)
    graph.delete(gone)

    pages, _ = sync(source, cursor)

    assert [r for page in pages for r in page.removed] == [gone]
    assert ids(pages) == []
    assert keep in graph.folder_ids("inbox")


def test_changes_made_while_paging_come_in_the_next_round(graph, source):
    graph.seed(25)
    pages = source.changes(None)
    first = next(pages)
    late = graph.add_message(subject="Arrived mid-sync")
    graph.mark_read(first.messages[0].external_id)

    rest = list(pages)

    assert late not in ids(rest)
    assert len(ids([first, *rest])) == 25
    following, _ = sync(source, rest[-1].cursor)
    assert sorted(ids(following)) == sorted([late, first.messages[0].external_id])


def test_an_expired_delta_token_starts_a_full_sync_with_reset(graph, source):
    inbox = graph.seed(12)
    _, cursor = sync(source)
    graph.expire_delta_tokens()
    new = graph.add_message()

    pages, fresh = sync(source, cursor)

    assert pages[0].reset and not any(page.reset for page in pages[1:])
    assert sorted(ids(pages)) == sorted([*inbox, new])
    assert ids(sync(source, fresh)[0]) == []


def test_a_sync_state_lost_mid_sync_restarts_the_full_sync_once(graph, source):
    inbox = graph.seed(15)
    pages = source.changes(None)
    first = next(pages)
    graph.expire_delta_tokens()  # the next link of the first page is now refused

    rest = list(pages)

    assert first.reset and rest[0].reset
    assert ids(rest) == inbox  # everything again, after the reset
    assert rest[-1].cursor is not None


def test_a_full_sync_whose_state_keeps_expiring_is_an_error(graph, source):
    graph.seed(15)
    pages = source.changes(None)
    next(pages)
    graph.expire_delta_tokens()
    next(pages)  # the restarted full sync
    graph.expire_delta_tokens()
    with pytest.raises(IntegrationError, match="sync state"):
        list(pages)


@pytest.mark.parametrize("cursor", ["not json", '{"v": 1}', '{"v": 99, "inbox": "x", "sentitems": "y"}', "foreign"])
def test_an_unusable_cursor_starts_a_full_sync(graph, source, cursor):
    if cursor == "foreign":
        link = "https://graph.example.net/v1.0/me/mailFolders/inbox/messages/delta?$deltatoken=abc"
        cursor = json.dumps({"v": 1, "inbox": link, "sentitems": link})
    inbox = graph.seed(3)
    pages, _ = sync(source, cursor)
    assert pages[0].reset
    assert ids(pages) == inbox
    assert all(r.path.startswith("/v1.0/") for r in graph.requests)


# -- failures -------------------------------------------------------------------------------------


def test_429_waits_for_retry_after_then_succeeds(graph, source, sleeps):
    inbox = graph.seed(3)
    graph.fail_next(429, retry_after=7, path_contains=DELTA)
    pages, _ = sync(source)
    assert ids(pages) == inbox
    assert sleeps == [7.0]
    assert len(graph.requests_to("/inbox" + DELTA)) == 2


def test_429_forever_gives_up_as_rate_limited(graph, sleeps):
    graph.fail_next(429, count=None, retry_after=1)
    with make_source(graph, sleeps, max_wait=3.5) as source, pytest.raises(IntegrationRateLimited) as raised:
        source.check()
    assert sleeps == [1.0, 1.0, 1.0]
    assert raised.value.retry_after == 1.0
    assert len(graph.requests) == 4


@pytest.mark.parametrize("status", [500, 503, 504])
def test_a_server_error_is_retried_with_backoff(graph, source, sleeps, status):
    graph.fail_next(status, count=2)
    assert source.check() == "ann@contoso.example"
    assert sleeps == [1.0, 2.0]


def test_a_refused_token_asks_to_reconnect_without_showing_it(graph, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "expired-access-token-value"
    with make_source(graph, sleeps, token=wrong) as source, pytest.raises(IntegrationAuthError) as raised:
        list(source.changes(None))
    message = str(raised.value)
    assert "Microsoft refused the sign-in" in message and "reconnect the account" in message
    assert wrong not in message and wrong not in caplog.text
    assert sleeps == []


def test_a_graph_error_message_is_shown_for_a_bad_request(graph, source):
    graph.fail_next(400, path_contains="/me")
    with pytest.raises(IntegrationError, match=r"HTTP 400: Scripted HTTP 400") as raised:
        source.check()
    assert not isinstance(raised.value, IntegrationAuthError)


def test_an_unreachable_graph_is_an_integration_error(sleeps):
    backoff = Backoff("Microsoft Graph", sleep=sleeps.append)
    with OutlookSource("token", base_url=refused_url() + "/v1.0", backoff=backoff) as source, \
            pytest.raises(IntegrationError, match="Could not reach Microsoft Graph"):
        source.check()
    assert sleeps == []


def test_a_malformed_base_url_is_refused():
    with pytest.raises(IntegrationError, match="http:// or https://"):
        OutlookSource("token", base_url="graph.microsoft.com/v1.0")


# -- bodies ---------------------------------------------------------------------------------------


def test_body_has_the_text_and_the_html_and_leaves_the_message_unread(graph, source):
    message_id = graph.add_message(text="Hello Ann, see below.",
                                   html_body="<html><body><p>Hello <b>Ann</b>, see below.</p></body></html>")
    body = source.body(message_id)
    assert body.text == "Hello Ann, see below."
    assert body.html == "<html><body><p>Hello <b>Ann</b>, see below.</p></body></html>"
    assert graph.message(message_id).is_read is False
    kinds = sorted(r.prefer.get("outlook.body-content-type", "") for r in graph.requests_to("/me/messages/"))
    assert kinds == ["html", "text"]


def test_the_body_of_a_deleted_message_says_it_is_gone(graph, source):
    message_id = graph.add_message()
    graph.delete(message_id)
    with pytest.raises(MessageGone, match="This message is no longer in Outlook."):
        source.body(message_id)


# -- sending --------------------------------------------------------------------------------------


def reply_to(graph: FakeGraph, message_id: str, text: str = "Thanks, Bob!", key: str = "draft-1") -> Reply:
    original = graph.message(message_id)
    return Reply(key=key, text=text, thread_id=original.conversation_id, in_reply_to=original.internet_message_id)


def test_a_reply_lands_in_the_same_conversation_once(graph, source):
    original = graph.add_message(subject="Lunch?")
    _, cursor = sync(source)

    sent_id = source.send(reply_to(graph, original))

    [sent] = graph.sent
    assert sent.id == sent_id
    assert sent.conversation_id == graph.message(original).conversation_id
    assert (sent.text, sent.subject, sent.to) == ("Thanks, Bob!", "RE: Lunch?", ("bob@fabrikam.example",))
    assert sent.properties == {KEY_PROPERTY: "draft-1"}
    assert len(graph.requests_to("/send")) == 1
    [reported] = [m for page in sync(source, cursor)[0] for m in page.messages]
    assert (reported.external_id, reported.folder, reported.from_me) == (sent_id, "SENT", True)
    assert reported.thread_id == sent.conversation_id


def test_a_reply_whose_send_answer_was_lost_is_not_sent_again(graph, source, sleeps):
    original = graph.add_message()
    graph.fail_next(503, path_contains="/send", processed=True)

    sent_id = source.send(reply_to(graph, original))

    assert [message.id for message in graph.sent] == [sent_id]
    assert len(graph.requests_to("/send")) == 1
    assert sleeps == [1.0]


def test_a_throttled_send_is_retried_and_sent_once(graph, source, sleeps):
    original = graph.add_message()
    graph.fail_next(429, retry_after=2, path_contains="/send")

    sent_id = source.send(reply_to(graph, original))

    assert [message.id for message in graph.sent] == [sent_id]
    assert len(graph.requests_to("/send")) == 2
    assert sleeps == [2.0]


def test_a_reply_can_set_its_own_recipients(graph, source):
    original = graph.add_message(cc=("carol@fabrikam.example",))
    reply = reply_to(graph, original)
    source.send(Reply(key=reply.key, text="All: noted.", thread_id=reply.thread_id, in_reply_to=reply.in_reply_to,
                      to=("bob@fabrikam.example",), cc=("carol@fabrikam.example",)))
    [sent] = graph.sent
    assert (sent.to, sent.cc) == (("bob@fabrikam.example",), ("carol@fabrikam.example",))


def test_a_reply_to_a_deleted_message_is_refused_without_sending(graph, source):
    original = graph.add_message()
    reply = reply_to(graph, original)
    graph.delete(original)
    with pytest.raises(MessageGone, match="no longer in Outlook"):
        source.send(reply)
    assert graph.sent == []


def test_a_reply_without_the_message_id_is_refused(graph, source):
    with pytest.raises(IntegrationError, match="Message-ID"):
        source.send(Reply(key="k", text="hi", thread_id="AAQkAD-00000001_AAA="))
    assert graph.requests == []


def test_a_new_mail_is_sent_in_a_new_conversation(graph, source):
    existing = graph.add_message()
    sent_id = source.send(Reply(key="new-1", text="Hello Dave", subject="Intro",
                                to=("dave@fabrikam.example",), cc=("eve@fabrikam.example",)))
    [sent] = graph.sent
    assert sent.id == sent_id
    assert (sent.subject, sent.text, sent.to, sent.cc) == ("Intro", "Hello Dave", ("dave@fabrikam.example",),
                                                           ("eve@fabrikam.example",))
    assert sent.conversation_id != graph.message(existing).conversation_id
    assert sent.properties == {KEY_PROPERTY: "new-1"}


def test_a_new_mail_needs_a_recipient(graph, source):
    with pytest.raises(IntegrationError, match="recipient"):
        source.send(Reply(key="k", text="to nobody", subject="Hi"))
    assert graph.requests == []
