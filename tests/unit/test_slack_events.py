"""Slack Events API requests: the signature check and turning event payloads into inbox messages."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime

import pytest

from services.integrations.slack.client import (
    parse_event,
    readable_text,
    verify_signature,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_700_000_000.0
BODY = b'{"token":"x","type":"event_callback","event":{"type":"message","text":"hi"}}'
ANN = "U0ANN"
NAMES = {"U0BOB": "Bobby", ANN: "Ann"}


def signed(body: bytes = BODY, *, at: float = NOW, secret: str = SECRET) -> dict[str, str]:
    """The headers Slack sends: a v0 HMAC-SHA256 of "v0:<timestamp>:<body>" under the signing secret."""
    timestamp = str(int(at))
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest}"}


# -- signatures -----------------------------------------------------------------------------------


def test_a_valid_signature_is_accepted():
    assert verify_signature(SECRET, BODY, signed(), now=NOW + 10)


def test_header_names_are_case_insensitive():
    headers = {name.lower(): value for name, value in signed().items()}
    assert verify_signature(SECRET, BODY, headers, now=NOW)


def test_a_tampered_body_is_refused():
    assert not verify_signature(SECRET, BODY.replace(b"hi", b"ho"), signed(), now=NOW)


def test_a_signature_made_with_another_secret_is_refused():
    assert not verify_signature(SECRET, BODY, signed(secret="another-secret"), now=NOW)


@pytest.mark.parametrize("age", [301, -301, 3600])
def test_a_timestamp_more_than_five_minutes_away_is_refused(age):
    assert not verify_signature(SECRET, BODY, signed(at=NOW), now=NOW + age)


def test_a_timestamp_just_inside_five_minutes_is_accepted():
    assert verify_signature(SECRET, BODY, signed(at=NOW), now=NOW + 300)


@pytest.mark.parametrize("missing", ["X-Slack-Request-Timestamp", "X-Slack-Signature"])
def test_missing_headers_are_refused(missing):
    headers = signed()
    del headers[missing]
    assert not verify_signature(SECRET, BODY, headers, now=NOW)


def test_garbage_headers_and_an_empty_secret_are_refused():
    assert not verify_signature(SECRET, BODY, {**signed(), "X-Slack-Request-Timestamp": "soon"}, now=NOW)
    assert not verify_signature(SECRET, b"\xff\xfe", signed(b"\xff\xfe"), now=NOW)
    assert not verify_signature("", BODY, signed(secret=""), now=NOW)


def test_the_clock_is_used_without_now():
    assert not verify_signature(SECRET, BODY, signed(at=NOW))  # 2023 is long past
    assert verify_signature(SECRET, BODY, signed(at=time.time()))


# -- events ---------------------------------------------------------------------------------------


def callback(event: dict) -> dict:
    return {"token": "x", "team_id": "T0TEAM", "api_app_id": "A0APP", "type": "event_callback",
            "event_id": "Ev01", "event_time": 1700000000, "event": event}


def message(**fields) -> dict:
    return {"type": "message", "channel": "C1", "user": "U0BOB", "text": "Lunch?", "ts": "1700000000.000100",
            "event_ts": "1700000000.000100", "channel_type": "channel", **fields}


def test_a_channel_message_becomes_an_inbox_message():
    found = parse_event(callback(message(text="Lunch at <http://food.example|the usual> &amp; then <#C2|ops>?")),
                        ANN, NAMES)
    assert found is not None
    assert (found.external_id, found.thread_id, found.folder) == ("C1:1700000000.000100", "C1:1700000000.000100",
                                                                  "C1")
    assert (found.sender_name, found.sender_address, found.subject) == ("Bobby", "U0BOB", "")
    assert found.text == found.snippet == "Lunch at the usual & then #ops?"
    assert found.sent_at == datetime.fromtimestamp(1700000000.0001, UTC)
    assert found.unread and not found.from_me and not found.mentions_me


def test_a_thread_reply_belongs_to_its_thread():
    found = parse_event(callback(message(ts="1700000050.000200", thread_ts="1700000000.000100",
                                         parent_user_id=ANN)), ANN, NAMES)
    assert found is not None
    assert found.external_id == "C1:1700000050.000200"
    assert found.thread_id == "C1:1700000000.000100"


def test_a_mention_of_the_user_is_flagged_and_rendered_by_name():
    found = parse_event(callback(message(text="<@U0ANN> and <@U0ZED>, see <!here>")), ANN, NAMES)
    assert found is not None and found.mentions_me
    assert found.text == "@Ann and @U0ZED, see @here"  # an unknown user keeps the id


def test_an_app_mention_counts_as_mentioning_the_user():
    found = parse_event(callback(message(type="app_mention", text="<@U0BOT> summarise this")), ANN, NAMES)
    assert found is not None and found.mentions_me
    assert found.text == "@U0BOT summarise this"


def test_the_users_own_message_is_from_me_and_read():
    found = parse_event(callback(message(user=ANN, text="done")), ANN)
    assert found is not None
    assert found.from_me and not found.unread and found.sender_name == ANN  # no names given


@pytest.mark.parametrize(
    "event",
    [
        message(subtype="bot_message", bot_id="B0CI", user=None, username="CI"),
        message(bot_id="B0CI", user="U0BOT"),
        message(subtype="channel_join", text="<@U0BOB> has joined the channel"),
        message(subtype="message_changed", message={"text": "edited"}),
        message(subtype="message_deleted", deleted_ts="1700000000.000100"),
        message(subtype="file_share", text=""),
        message(channel=None),
        message(ts="later"),
        {"type": "reaction_added", "user": "U0BOB", "reaction": "tada"},
    ],
    ids=["bot", "app-as-bot-user", "join", "edit", "delete", "bare-file", "no-channel", "bad-ts", "reaction"],
)
def test_noise_is_not_a_message(event):
    assert parse_event(callback(event), ANN, NAMES) is None


def test_payloads_other_than_event_callbacks_are_not_messages():
    assert parse_event({"type": "url_verification", "challenge": "abc", "token": "x"}, ANN) is None
    assert parse_event({"type": "event_callback"}, ANN) is None


def test_readable_text_renders_every_kind_of_markup():
    text = ("<@U0BOB|bob> <@U0BOB> <#C1> <#C2|ops> <!channel> <!everyone> <!subteam^S1|@eng> "
            "<!date^1700000000^{date}|Nov 14> <mailto:a@example.com> <https://x.example/a?b=1&amp;c=2> "
            "1 &lt; 2 &amp;&amp; 3 &gt; 2 &amp;lt;")
    assert readable_text(text, NAMES.__getitem__, {"C1": "general"}.__getitem__) == (
        "@bob @Bobby #general #ops @channel @everyone @eng Nov 14 a@example.com https://x.example/a?b=1&c=2 "
        "1 < 2 && 3 > 2 &lt;")
