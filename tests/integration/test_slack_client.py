"""The real slack_sdk WebClient, through SlackSource, against the fake Slack Web API."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

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
from services.integrations.slack.client import (
    SlackNotFound,
    SlackSource,
    authorize_url,
    exchange_install_code,
)
from tests.fakes.llm_providers import refused_url
from tests.fakes.slack_server import FakeSlack

DAY = 86400
ANN, BOB, CAT = "U0ANN", "U0BOB", "U0CAT"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        server.add_user(CAT, "cat", "Cat Cole")  # no display name: the real name is used
        server.add_channel("C1", "general", members=(BOB, CAT))
        server.add_channel("C2", "secret-plans", private=True, members=(BOB,))
        server.add_dm("D1", BOB)
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    """What the client asked to sleep; nothing really waits."""
    return []


@pytest.fixture
def make(fake: FakeSlack, sleeps: list[float]):
    def build(token: str | None = None, **options) -> SlackSource:
        options.setdefault("backoff", Backoff("Slack", sleep=sleeps.append, max_wait=30))
        return SlackSource(fake.token if token is None else token, base_url=fake.url, **options)

    return build


def sync(source: SlackSource, cursor: str | None = None) -> list[ChangePage]:
    return list(source.changes(cursor))


def ids(pages: list[ChangePage]) -> list[str]:
    return [message.external_id for page in pages for message in page.messages]


def assert_page_flags(pages: list[ChangePage], *, reset: bool) -> None:
    """`reset` on the first page only (when expected); the cursor on the last page only."""
    assert [page.reset for page in pages] == [reset] + [False] * (len(pages) - 1)
    assert all(page.cursor is None for page in pages[:-1])
    assert pages[-1].cursor


# -- account and conversations ---------------------------------------------------------------------


def test_check_names_the_user_and_team_and_remembers_the_user_id(fake, make):
    source = make()
    assert source.check() == "ann @ Acme"
    assert source.user_id == ANN
    assert [(r.method, r.auth) for r in fake.requests] == [("auth.test", "bearer")]


def test_conversations_are_paged_and_dms_are_named_after_the_other_person(fake, make):
    fake.add_dm("D2", CAT)
    fake.add_group_dm("G1", (BOB, CAT))
    fake.add_channel("C3", "announcements", joined=False)
    fake.add_channel("C4", "old-project", archived=True)
    fake.add_channel("C5", "not-for-ann", private=True, members=(BOB,), joined=False)

    conversations = make(page_size=2).conversations()

    assert [(c.id, c.name, c.is_dm, c.is_member) for c in conversations] == [
        ("C1", "#general", False, True),
        ("C2", "#secret-plans", False, True),
        ("D1", "Bobby", True, True),
        ("D2", "Cat Cole", True, True),
        ("G1", "ann, bob, cat", True, True),
        ("C3", "#announcements", False, False),
    ]
    listing = fake.calls("conversations.list")
    assert len(listing) == 3
    assert {(c["types"], c["exclude_archived"], c["limit"]) for c in listing} == {
        ("public_channel,private_channel,im,mpim", "1", "2")}
    assert "cursor" not in listing[0] and listing[1]["cursor"] and listing[2]["cursor"] != listing[1]["cursor"]
    assert sorted(c["user"] for c in fake.calls("users.info")) == [BOB, CAT]


# -- sync -----------------------------------------------------------------------------------------


def busy_workspace(fake: FakeSlack) -> dict[str, str]:
    """C1: an old message (40 days), noise, 7 messages, a thread with 6 replies (one broadcast to the
    channel), a mention of Ann and a message by her; C2: 5 messages. Returns name -> external id of
    every message the first sync must yield."""
    fake.post("C1", BOB, "from long ago", at=time.time() - 40 * DAY)
    fake.post("C1", CAT, "<@U0CAT> has joined the channel", subtype="channel_join")
    expected = {f"c1-{n}": f"C1:{ts}" for n, ts in enumerate(fake.seed("C1", 7))}
    parent = fake.post("C1", BOB, "Deploy at 5? <!here>")
    expected["parent"] = f"C1:{parent}"
    for n in range(6):
        expected[f"reply-{n}"] = f"C1:{fake.post('C1', CAT if n % 2 else BOB, f'reply {n}', parent)}"
    expected["broadcast"] = f"C1:{fake.post('C1', CAT, 'also to the channel', parent, subtype='thread_broadcast')}"
    fake.post("C1", "U0BOT", "Build passed", subtype="bot_message", bot_id="B0CI")
    fake.post("C1", "U0BOT", "Build failed", bot_id="B0CI")  # an app posting as its bot user
    fake.post("C1", BOB, "", subtype="file_share")  # a file without a comment
    mention = fake.post("C1", BOB, "<@U0ANN> can you check <http://ci.example/42|build 42> &amp; "
                                   "<#C2|secret-plans>? " + "x" * 300)
    expected["mention"] = f"C1:{mention}"
    expected["mine"] = f"C1:{fake.post('C1', ANN, 'On it &lt;3')}"
    expected.update({f"c2-{n}": f"C2:{ts}" for n, ts in enumerate(fake.seed("C2", 5, user=CAT))})
    return expected


def test_first_sync_reads_two_channels_across_pages_and_threads(fake, make):
    expected = busy_workspace(fake)
    started = time.time()

    pages = sync(make(channels=("C1", "C2"), page_size=4))

    assert_page_flags(pages, reset=True)
    assert len(pages) > 4
    assert sorted(ids(pages)) == sorted(expected.values())  # every one once: nothing skipped, nothing twice
    by_id = {message.external_id: message for page in pages for message in page.messages}
    parent_ts = expected["parent"].split(":")[1]

    mention = by_id[expected["mention"]]
    assert mention.text.startswith("@Ann can you check build 42 & #secret-plans? xxx")
    assert mention.snippet == mention.text[:200] and len(mention.snippet) == 200
    assert (mention.sender_name, mention.sender_address, mention.subject) == ("Bobby", BOB, "")
    assert mention.mentions_me and mention.unread and not mention.from_me
    assert mention.folder == "C1" and mention.thread_id == mention.external_id
    ts = mention.external_id.split(":")[1]
    assert mention.sent_at == datetime.fromtimestamp(float(ts), UTC)

    mine = by_id[expected["mine"]]
    assert (mine.text, mine.from_me, mine.unread, mine.sender_name) == ("On it <3", True, False, "Ann")
    assert by_id[expected["parent"]].text == "Deploy at 5? @here"
    reply = by_id[expected["reply-1"]]
    assert (reply.thread_id, reply.sender_name, reply.text) == (f"C1:{parent_ts}", "Cat Cole", "reply 1")
    assert by_id[expected["broadcast"]].thread_id == f"C1:{parent_ts}"

    history = fake.calls("conversations.history")
    assert {call["limit"] for call in history} == {"4"}
    window = float(history[0]["oldest"])
    assert started - 30 * DAY - 5 < window < started - 30 * DAY + 5
    assert {call["ts"] for call in fake.calls("conversations.replies")} == {parent_ts}
    assert len(fake.calls("conversations.replies")) == 2  # the parent and 7 replies: two pages of 4
    assert len(fake.calls("users.info")) == 3  # Bob, Cat, Ann: once each

    cursor = json.loads(pages[-1].cursor)
    assert cursor["channels"]["C1"]["ts"] == expected["mine"].split(":")[1]
    assert cursor["channels"]["C2"]["ts"] == expected["c2-4"].split(":")[1]


def test_an_incremental_sync_yields_exactly_the_new_messages_and_replies(fake, make):
    expected = busy_workspace(fake)
    source = make(channels=("C1", "C2"), page_size=4, thread_pages=10)  # the thread's parent is pages back
    cursor = sync(source)[-1].cursor
    parent = expected["parent"].split(":")[1]

    new = [f"C1:{ts}" for ts in fake.seed("C1", 2)]
    new.append(f"C2:{fake.post('C2', BOB, 'news')}")
    new.append(f"C1:{fake.post('C1', ANN, 'late answer', parent)}")  # a reply in a thread read before
    fake.clear_requests()

    pages = sync(source, cursor)

    assert_page_flags(pages, reset=False)
    assert sorted(ids(pages)) == sorted(new)
    assert [call["ts"] for call in fake.calls("conversations.replies")] == [parent]
    assert fake.calls("users.info") == []  # names are remembered

    fake.clear_requests()
    again = sync(source, pages[-1].cursor)
    assert ids(again) == []
    assert fake.calls("conversations.replies") == []  # the thread ahead of the channel is remembered
    assert json.loads(again[-1].cursor) == json.loads(pages[-1].cursor)


def test_messages_posted_while_a_sync_reads_are_not_lost(fake, make):
    parent = fake.post("C1", BOB, "an older thread")
    fake.post("C1", CAT, "first reply", parent)
    fake.seed("C1", 12)
    source = make(channels=("C1",), page_size=4, thread_pages=10)
    cursor = sync(source)[-1].cursor
    fake.seed("C1", 9)  # the next sync rereads 22 top-level messages (7 days back): six pages of 4

    pages = source.changes(cursor)
    first = [next(pages)]  # reading is under way: history pages one and two are read, three is not
    late_message = f"C1:{fake.post('C1', BOB, 'posted during the sync')}"
    late_reply = f"C1:{fake.post('C1', CAT, 'replied during the sync', parent)}"
    rest = first + list(pages)
    after = sync(source, rest[-1].cursor)

    both = ids(rest) + ids(after)
    assert both.count(late_message) == 1 and both.count(late_reply) == 1
    assert len(both) == len(set(both)) == 11


def test_an_incremental_sync_rereads_one_old_page_for_threads_not_the_week(fake, make):
    old_parent = fake.post("C1", BOB, "a thread deep in the channel")
    fake.seed("C1", 40)
    recent_parent = fake.post("C1", BOB, "a recent thread")
    source = make(channels=("C1",), page_size=10)
    cursor = sync(source)[-1].cursor
    new = [f"C1:{ts}" for ts in fake.seed("C1", 5)]
    new.append(f"C1:{fake.post('C1', CAT, 'a reply', recent_parent)}")
    fake.post("C1", CAT, "a reply polling cannot see", old_parent)  # the Events API brings this one
    fake.clear_requests()

    pages = sync(source, cursor)

    assert sorted(ids(pages)) == sorted(new)
    assert len(fake.calls("conversations.history")) == 1  # the new messages and the page before them
    assert [call["ts"] for call in fake.calls("conversations.replies")] == [recent_parent]


def test_an_unreadable_cursor_starts_over_with_reset(fake, make):
    stored = fake.seed("C1", 3)
    source = make(channels=("C1",))
    for broken in ("not json", '{"v": 99, "channels": {}}', '{"v": 1, "channels": {"C1": {"ts": "soon"}}}'):
        pages = sync(source, broken)
        assert_page_flags(pages, reset=True)
        assert ids(pages) == [f"C1:{ts}" for ts in stored]


def test_an_empty_sync_still_ends_with_a_cursor_page(fake, make):
    pages = sync(make(channels=("C1", "D1")))
    assert len(pages) == 1 and pages[0].messages == ()
    assert_page_flags(pages, reset=True)
    assert set(json.loads(pages[0].cursor)["channels"]) == {"C1", "D1"}


def test_a_channel_added_later_gets_its_own_first_sync_without_reset(fake, make):
    fake.seed("C1", 2)
    dm = [f"D1:{fake.post('D1', BOB, 'psst')}", f"D1:{fake.post('D1', ANN, 'yes?')}"]
    cursor = sync(make(channels=("C1",)))[-1].cursor

    pages = sync(make(channels=("D1",)), cursor)

    assert_page_flags(pages, reset=False)
    assert ids(pages) == dm
    assert set(json.loads(pages[-1].cursor)["channels"]) == {"D1"}  # C1 was removed from the inbox


def test_bot_posts_joins_and_empty_file_shares_are_skipped(fake, make):
    fake.post("C1", CAT, "<@U0CAT> has joined the channel", subtype="channel_join")
    fake.post("C1", "U0BOT", "Build passed", subtype="bot_message", bot_id="B0CI")
    fake.post("C1", "U0BOT", "I am an app", bot_id="B0CI")
    fake.post("C1", BOB, "", subtype="file_share")
    kept = [fake.post("C1", BOB, "see the attached log", subtype="file_share"),
            fake.post("C1", BOB, "waves", subtype="me_message"),
            fake.post("C1", ANN, "sent through the app", bot_id="B0APP")]

    assert ids(sync(make(channels=("C1",)))) == [f"C1:{ts}" for ts in kept]


# -- body and send --------------------------------------------------------------------------------


def test_body_of_a_parent_a_reply_and_a_plain_message(fake, make):
    parent = fake.post("C1", BOB, "Question for <@U0CAT>")
    reply = fake.post("C1", CAT, "Answer &amp; more", parent)
    plain = fake.post("C1", BOB, "<https://example.com>")
    source = make()

    assert source.body(f"C1:{parent}").text == "Question for @Cat Cole"
    assert source.body(f"C1:{reply}").text == "Answer & more"
    body = source.body(f"C1:{plain}")
    assert (body.text, body.html) == ("https://example.com", "")
    assert {call["ts"] for call in fake.calls("conversations.replies")} == {parent, reply, plain}


def test_body_of_a_missing_message_is_not_found(fake, make):
    with pytest.raises(SlackNotFound, match="no longer|does not exist"):
        make().body("C1:1700000000.000001")
    with pytest.raises(IntegrationError, match="not a Slack message id"):
        make().body("C1-1700000000")


def test_send_into_a_thread_and_to_a_channel(fake, make):
    parent = fake.post("C1", BOB, "Deploy now?")
    source = make()

    in_thread = source.send(Reply(key="k1", text="Yes, go", channel="C1", thread_ts=parent))
    top_level = source.send(Reply(key="k2", text="Deployed", channel="C1"))

    assert [(m.channel, m.user, m.text, m.thread_ts) for m in fake.posted] == [
        ("C1", ANN, "Yes, go", parent), ("C1", ANN, "Deployed", None)]
    assert in_thread == f"C1:{fake.posted[0].ts}" and top_level == f"C1:{fake.posted[1].ts}"
    posts = fake.calls("chat.postMessage")
    assert posts[0]["thread_ts"] == parent and "thread_ts" not in posts[1]
    assert source.body(in_thread).text == "Yes, go"


def test_send_needs_a_channel_the_user_can_post_in(fake, make):
    source = make()
    with pytest.raises(IntegrationError, match="needs the channel"):
        source.send(Reply(key="k", text="hi"))
    fake.add_channel("C9", "elsewhere", joined=False)
    with pytest.raises(IntegrationError, match="not a member of the channel"):
        source.send(Reply(key="k", text="hi", channel="C9"))
    with pytest.raises(SlackNotFound, match="cannot see it"):
        source.send(Reply(key="k", text="hi", channel="C404"))
    assert fake.posted == []


# -- failures -------------------------------------------------------------------------------------


def secret_free(exc: BaseException, secret: str) -> bool:
    """The secret is in no message of the exception or of what it was raised from."""
    chain: BaseException | None = exc
    while chain is not None:
        if secret in str(chain) or secret in repr(chain.args):
            return False
        chain = chain.__cause__ or chain.__context__
    return True


def test_429_waits_for_retry_after_then_succeeds(fake, make, sleeps):
    fake.seed("C1", 3)
    fake.rate_limit_next("conversations.history", retry_after=7)
    pages = sync(make(channels=("C1",)))
    assert len(ids(pages)) == 3
    assert sleeps == [7.0]
    assert len(fake.calls("conversations.history")) == 2


def test_429_forever_gives_up_as_rate_limited(fake, make, sleeps):
    fake.rate_limit_next("auth.test", count=None, retry_after=1)
    source = make(backoff=Backoff("Slack", sleep=sleeps.append, max_wait=3.5))
    with pytest.raises(IntegrationRateLimited, match="Slack is rate-limiting") as raised:
        source.check()
    assert sleeps == [1.0, 1.0, 1.0]
    assert raised.value.retry_after == 1.0
    assert len(fake.requests) == 4


def test_5xx_is_retried_with_backoff(fake, make, sleeps):
    fake.fail_next("users.info", status=503, count=2)
    fake.add_dm("D2", CAT)
    assert [c.name for c in make().conversations() if c.is_dm] == ["Bobby", "Cat Cole"]
    assert sleeps == [1.0, 2.0]


def test_5xx_on_send_is_not_retried_as_it_may_have_posted(fake, make, sleeps):
    fake.fail_next("chat.postMessage", status=500)
    with pytest.raises(IntegrationUncertain, match="may have happened anyway"):
        make().send(Reply(key="k", text="hello", channel="C1"))
    assert len(fake.calls("chat.postMessage")) == 1 and sleeps == []


def test_a_wrong_token_is_an_auth_error_that_does_not_show_the_token(fake, make, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "xoxp-wrong-token-123"
    source = make(wrong, channels=("C1",))
    with pytest.raises(IntegrationAuthError, match="Slack refused the token .*reconnect") as raised:
        source.check()
    assert "the token is not valid" in str(raised.value)
    assert secret_free(raised.value, wrong)
    with pytest.raises(IntegrationAuthError):
        sync(source)
    assert wrong not in caplog.text
    assert [r.auth for r in fake.requests] == ["bearer", "bearer"]


def test_the_right_token_never_reaches_the_logs(fake, make, caplog):
    caplog.set_level(logging.DEBUG)
    fake.seed("C1", 2)
    sync(make(channels=("C1",)))
    assert caplog.records  # slack_sdk did log its requests
    assert fake.token not in caplog.text


@pytest.mark.parametrize(
    ("channel", "error", "words"),
    [
        ("C404", None, "the channel does not exist or this account cannot see it"),
        ("C1", "invalid_cursor", "a page cursor was refused"),
        ("C1", "missing_scope", "lacks a permission"),
        ("C1", "team_added_to_org", "team added to org"),
    ],
)
def test_slack_errors_are_integration_errors_in_words(fake, make, sleeps, channel, error, words):
    if error:
        fake.fail_next("conversations.history", status=200, error=error)
    with pytest.raises(IntegrationError, match=words) as raised:
        sync(make(channels=(channel,)))
    assert not isinstance(raised.value, IntegrationAuthError)
    assert sleeps == []


def test_an_unreachable_slack_is_an_integration_error(sleeps):
    source = SlackSource("xoxp-token", base_url=refused_url(), backoff=Backoff("Slack", sleep=sleeps.append))
    with pytest.raises(IntegrationError, match="Could not reach Slack"):
        source.check()
    assert sleeps == []


# -- install ---------------------------------------------------------------------------------------


def test_add_to_slack_from_the_authorize_url_to_the_tokens(fake):
    redirect = "http://127.0.0.1:3000/integrations/slack/callback?x=1"
    url = authorize_url(fake.client_id, redirect, "state&1", ["channels:history", "chat:write"],
                        ["im:history", "chat:write"], base_url=fake.url)
    query = parse_qs(urlsplit(url).query)
    assert query == {"client_id": [fake.client_id], "scope": ["channels:history,chat:write"],
                     "user_scope": ["im:history,chat:write"], "redirect_uri": [redirect], "state": ["state&1"]}
    assert authorize_url("1.2", redirect, "s", [], []).startswith("https://slack.com/oauth/v2/authorize?")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.build_opener(NoRedirect).open(url)
    back = parse_qs(urlsplit(answer.value.headers["Location"]).query)
    assert back["state"] == ["state&1"] and back["x"] == ["1"]

    install = exchange_install_code(fake.client_id, fake.client_secret, back["code"][0], redirect, base_url=fake.url)

    assert (install.bot_token, install.user_token) == (fake.bot_token, fake.token)
    assert (install.team_id, install.team_name, install.user_id) == ("T0TEAM", "Acme", ANN)
    assert fake.token not in repr(install) and fake.bot_token not in repr(install)
    assert [r.auth for r in fake.requests if r.method == "oauth.v2.access"] == ["basic"]


@pytest.mark.parametrize("case", ["unknown code", "reused code", "wrong secret", "other redirect"])
def test_a_refused_install_is_an_auth_error(fake, case):
    redirect = "https://llmcoder.example/slack/callback"
    code = "code-bogus" if case == "unknown code" else fake.issue_code(redirect)
    if case == "reused code":
        exchange_install_code(fake.client_id, fake.client_secret, code, redirect, base_url=fake.url)
    secret = "not-the-secret" if case == "wrong secret" else fake.client_secret
    uri = "https://evil.example/cb" if case == "other redirect" else redirect
    with pytest.raises(IntegrationAuthError, match="start Add to Slack again") as raised:
        exchange_install_code(fake.client_id, secret, code, uri, base_url=fake.url)
    assert secret_free(raised.value, secret)
