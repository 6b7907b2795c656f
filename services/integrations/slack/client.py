"""Slack as a `ChatProvider`: the channels and DMs the user picked, read through slack_sdk's WebClient,
plus the Events API helpers (signature check, event parsing) and the "Add to Slack" install.

The only module importing slack_sdk. Every Web API call goes through `Backoff.run`: a 429 waits out
its Retry-After and a 5xx is retried, with the injectable sleep. slack_sdk's own retry handlers are
switched off (`retry_handlers=[]`): its rate-limit handler and its connection-error handler (on by
default, one retry) both sleep with time.sleep, which tests cannot skip.

How `SlackSource.changes` reads a channel:

* The cursor is JSON: per channel, "ts" is the newest top-level ts read and "threads" maps a thread's
  parent ts to the newest reply read, for threads whose replies run ahead of "ts". Slack ts compare
  as decimals. An unreadable cursor (or none) means a full sync, announced by `reset`.
* conversations.history is read back to `oldest`: the channel's "ts", or `thread_days` (7) days ago
  when that is earlier, but past "ts" only for `thread_pages` (1) page: rereading a busy channel's
  week at every sync cost 50 requests for 10 new messages in a channel of 10,000. Top-level
  messages newer than "ts" are new. Every parent read whose `latest_reply` is newer than what was
  read of its thread gets its new replies read with conversations.replies (which also returns the
  parent first; it is skipped). A reply to a thread whose parent is older than that (over
  `thread_days` days, or beyond the page reread) is not seen by polling: the Events API
  (`parse_event`) delivers it.
* All history pages of a channel are read before its threads, so a message posted during the sync
  gets a ts above every ts the cursor stores: nothing posted meanwhile is skipped next time.
* The first sync of a channel (no entry in the cursor) reads only the last `first_sync_days` (30)
  days of it; older messages and threads never enter the inbox. A channel added to `channels` later
  gets its own first sync, without `reset`; a channel removed is dropped from the cursor.
* History pages come newest first (Slack's order); each page is sorted oldest first. The cursor is
  set on the final page only.
* These methods give no per-message read state, so every message not written by the user is
  `unread`. Only messages people wrote are kept: no subtype, `thread_broadcast`, `me_message`, or
  `file_share` with text; joins, bot posts and other events are skipped, as are posts carrying a
  `bot_id` unless the user wrote them (through this app).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.error import URLError
from urllib.parse import urlencode

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import Clock, SignatureVerifier

from services.integrations.backoff import Backoff, RetryLater, retry_after_seconds
from services.integrations.base import (
    ChangePage,
    Conversation,
    InboxMessage,
    IntegrationAuthError,
    IntegrationError,
    IntegrationUncertain,
    MailBody,
    Reply,
)

Json = dict[str, Any]
DAY = 86400.0
SNIPPET_CHARS = 200
TIMEOUT_SECONDS = 30
CURSOR_VERSION = 1
CONVERSATION_TYPES = "public_channel,private_channel,im,mpim"
SLACK_URL = "https://slack.com"
USER_SUBTYPES = frozenset({"thread_broadcast", "me_message", "file_share"})
TOKEN_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"})
INSTALL_ERRORS = frozenset({"invalid_code", "code_already_used", "bad_redirect_uri", "invalid_client_id",
                            "bad_client_secret"})
NOT_FOUND_ERRORS = frozenset({"channel_not_found", "thread_not_found", "message_not_found", "user_not_found"})
ERROR_WORDS = {
    "invalid_auth": "the token is not valid",
    "not_authed": "no token was sent",
    "token_revoked": "the token was revoked",
    "token_expired": "the token expired",
    "account_inactive": "the account or workspace was deactivated",
    "channel_not_found": "the channel does not exist or this account cannot see it",
    "not_in_channel": "this account is not a member of the channel",
    "is_archived": "the channel is archived",
    "thread_not_found": "the message does not exist any more",
    "user_not_found": "there is no such user",
    "missing_scope": "the app lacks a permission it needs; install it again with Add to Slack",
    "no_text": "the message is empty",
    "msg_too_long": "the message is too long",
    "invalid_cursor": "a page cursor was refused; try again",
    "invalid_code": "the authorisation code is invalid or has expired",
    "code_already_used": "the authorisation code was already used",
    "bad_redirect_uri": "the redirect URL differs from the one the install started with",
    "invalid_client_id": "the app's client ID is wrong",
    "bad_client_secret": "the app's client secret is wrong",
}
_TS = re.compile(r"\d{1,12}(\.\d{1,6})?")
_MARKUP = re.compile(r"<([^<>]*)>")
_BROADCASTS = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}


class SlackNotFound(IntegrationError):
    """The channel, message or user does not exist (any more), or this token cannot see it."""


@dataclass(frozen=True)
class SlackInstall:
    """What "Add to Slack" grants: the bot token, and the user token when user scopes were asked for."""

    bot_token: str = field(repr=False)
    user_token: str = field(repr=False)
    team_id: str
    team_name: str
    user_id: str


@dataclass
class _Mark:
    """What the syncs have read of one channel (see the module docstring)."""

    ts: str
    threads: dict[str, str] = field(default_factory=dict)


class SlackSource:
    """One Slack account (a user token) and the channels and DMs picked for the inbox."""

    def __init__(
        self,
        token: str,
        *,
        channels: tuple[str, ...] = (),
        base_url: str | None = None,
        backoff: Backoff | None = None,
        page_size: int = 200,
        first_sync_days: int = 30,
        thread_days: int = 7,
        thread_pages: int = 1,
        timeout: int = TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.channels = tuple(channels)
        self.page_size = page_size
        self.first_sync_days = first_sync_days
        self.thread_days = thread_days
        self.thread_pages = thread_pages
        self.user_id = ""  # the token's user and workspace, known after check()
        self.team_id = ""
        self._api = _web_client(token, base_url, timeout)
        self._backoff = backoff or Backoff("Slack")
        self._clock = clock
        self._user_names: dict[str, str] = {}
        self._channel_names: dict[str, str] = {}

    # ------------------------------------------------------------------ ChatProvider

    def check(self) -> str:
        data = self._call("checking the token", self._api.auth_test)
        self.user_id, self.team_id = str(data["user_id"]), str(data.get("team_id", ""))
        return f"{data['user']} @ {data['team']}"

    def conversations(self) -> list[Conversation]:
        return [
            Conversation(id=raw["id"], name=self._conversation_name(raw),
                         is_dm=bool(raw.get("is_im") or raw.get("is_mpim")),
                         is_member=bool(raw.get("is_member", raw.get("is_im"))))  # a DM is always the user's
            for page in self._pages("listing channels", self._api.conversations_list, "channels",
                                    types=CONVERSATION_TYPES, exclude_archived=True)
            for raw in page
        ]

    def changes(self, cursor: str | None) -> Iterator[ChangePage]:
        marks = _read_cursor(cursor)
        reset = marks is None
        if not self.user_id:
            self.check()
        now = self._clock()
        read: dict[str, _Mark] = {}
        batches = (batch for channel in self.channels
                   for batch in self._channel_changes(channel, (marks or {}).get(channel), now, read))
        held: tuple[InboxMessage, ...] | None = None
        first = True
        for batch in batches:
            if held is not None:
                yield ChangePage(held, reset=reset and first)
                first = False
            held = batch
        yield ChangePage(held or (), cursor=_write_cursor(read), reset=reset and first)

    def body(self, external_id: str) -> MailBody:
        """conversations.replies with `ts` of any message answers its thread (or the message alone
        when it has none), parent first; bounded to [ts, ts] that is at most the parent and the message."""
        channel, ts = _split_id(external_id)
        for page in self._pages(f"reading message {external_id}", self._api.conversations_replies, "messages",
                                channel=channel, ts=ts, oldest=ts, latest=ts, inclusive=True):
            for raw in page:
                if raw.get("ts") == ts:
                    return MailBody(text=self._readable(raw.get("text") or ""), html="")
        raise SlackNotFound(f"Slack has no message {external_id} any more (deleted?)")

    def send(self, reply: Reply) -> str:
        """Posts as the token's user, into the thread when `thread_ts` is set. A 5xx is not retried:
        the message may have been posted, and Slack has no idempotency key to recognise a retry."""
        if not reply.channel:
            raise IntegrationError("A Slack reply needs the channel to post in")
        data = self._call(f"posting to {reply.channel}", self._api.chat_postMessage, retry_5xx=False,
                          channel=reply.channel, text=reply.text, thread_ts=reply.thread_ts or None)
        return f"{data['channel']}:{data['ts']}"

    def message_self(self, text: str) -> str:
        """A DM to the token's own user (their notes-to-self DM): how the app reaches them on Slack."""
        if not self.user_id:
            self.check()
        return self.send(Reply(key="", text=text, channel=self.user_id))

    # ------------------------------------------------------------------ sync

    def _channel_changes(self, channel: str, mark: _Mark | None, now: float,
                         read: dict[str, _Mark]) -> Iterator[tuple[InboxMessage, ...]]:
        """The new messages of one channel in batches; records what was read in `read[channel]`."""
        since = mark.ts if mark else _ts(now - self.first_sync_days * DAY)
        oldest = min(since, _ts(now - self.thread_days * DAY), key=Decimal)
        known = mark.threads if mark else {}
        newest = since
        threads: dict[str, str] = {}  # parent ts -> newest reply read
        unread_threads: list[str] = []
        seen: set[str] = set()
        what = f"reading channel {channel}"
        reached_back = 0  # pages that hold messages read before
        for page in self._pages(what, self._api.conversations_history, "messages", channel=channel, oldest=oldest):
            newest = max([newest, *(raw["ts"] for raw in page)], key=Decimal)
            for raw in page:
                parent = raw["ts"]
                if parent in known or raw.get("reply_count"):
                    threads[parent] = known.get(parent, since)
                    if _newer(raw.get("latest_reply") or "0", threads[parent]):
                        unread_threads.append(parent)
            batch = self._messages(channel, [raw for raw in page if _newer(raw["ts"], since)], seen)
            if batch:
                yield batch
            reached_back += any(not _newer(raw["ts"], since) for raw in page)
            if mark is not None and reached_back >= self.thread_pages:
                break  # new messages all read; older pages only for their threads, and no more of them
        pending: list[InboxMessage] = []
        for parent in unread_threads:
            floor = threads[parent]
            for page in self._pages(what, self._api.conversations_replies, "messages",
                                    channel=channel, ts=parent, oldest=floor):
                replies = [raw for raw in page if raw["ts"] != parent and _newer(raw["ts"], floor)]
                threads[parent] = max([threads[parent], *(raw["ts"] for raw in replies)], key=Decimal)
                pending.extend(self._messages(channel, replies, seen))
                while len(pending) >= self.page_size:
                    yield tuple(pending[:self.page_size])
                    del pending[:self.page_size]
        if pending:
            yield tuple(pending)
        read[channel] = _Mark(newest, {parent: ts for parent, ts in threads.items() if _newer(ts, newest)})

    def _messages(self, channel: str, raws: list[Json], seen: set[str]) -> tuple[InboxMessage, ...]:
        """The people's messages among `raws`, oldest first, each once per sync (a thread broadcast is
        both in the history and in its thread)."""
        found = []
        for raw in sorted(raws, key=lambda raw: Decimal(raw["ts"])):
            if raw["ts"] not in seen and is_user_message(raw, self.user_id):
                seen.add(raw["ts"])
                found.append(_inbox_message(raw, channel, self.user_id, self._user_name, self._channel_name))
        return tuple(found)

    # ------------------------------------------------------------------ names

    def _readable(self, text: str) -> str:
        return readable_text(text, self._user_name, self._channel_name)

    def _user_name(self, user_id: str) -> str:
        """users.info, once per user for the life of this source."""
        if user_id not in self._user_names:
            try:
                user = self._call(f"looking up user {user_id}", self._api.users_info, user=user_id)["user"]
            except SlackNotFound:
                user = {}
            self._user_names[user_id] = _person(user) or user_id
        return self._user_names[user_id]

    def _channel_name(self, channel_id: str) -> str:
        if channel_id not in self._channel_names:
            try:
                info = self._call(f"looking up channel {channel_id}", self._api.conversations_info,
                                  channel=channel_id)["channel"]
            except SlackNotFound:
                info = {}
            self._channel_names[channel_id] = info.get("name") or channel_id
        return self._channel_names[channel_id]

    def _conversation_name(self, raw: Json) -> str:
        """"#name"; a DM is named after the other person, a group DM after its members."""
        if raw.get("is_im"):
            return self._user_name(raw.get("user") or "")
        name = str(raw.get("name") or raw["id"])
        if raw.get("is_mpim"):  # "mpdm-ann--bob--cat-1"
            return ", ".join(re.sub(r"^mpdm-|-\d+$", "", name).split("--"))
        self._channel_names[raw["id"]] = name
        return "#" + name

    # ------------------------------------------------------------------ calls

    def _call(self, what: str, method: Callable[..., Any], *, retry_5xx: bool = True, **params: Any) -> Json:
        return _request(self._backoff, what, partial(method, **params), retry_5xx=retry_5xx)

    def _pages(self, what: str, method: Callable[..., Any], key: str, **params: Any) -> Iterator[list[Json]]:
        """The `key` list of each page, following `response_metadata.next_cursor` until it is empty."""
        cursor = None
        while True:
            data = self._call(what, method, limit=self.page_size, cursor=cursor, **params)
            yield list(data.get(key) or [])
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return


# ---------------------------------------------------------------------- Events API


class _FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def verify_signature(signing_secret: str, body: bytes, headers: Mapping[str, str], now: float | None = None) -> bool:
    """Whether `headers` carry Slack's v0 signature of `body` under `signing_secret`, made within five
    minutes of `now` (default: the clock), so a replayed old request fails too."""
    if not signing_secret.strip():
        return False
    clock = Clock() if now is None else _FixedClock(now)
    try:
        return SignatureVerifier(signing_secret, clock).is_valid_request(body, dict(headers))
    except (ValueError, TypeError):  # a timestamp that is no number, a body that is no UTF-8
        return False


def parse_event(payload: Mapping[str, Any], own_user_id: str,
                names: Mapping[str, str] | None = None) -> InboxMessage | None:
    """The message an Events API `event_callback` carries ("message", thread replies included, and
    "app_mention", which counts as mentioning the user the app acts for), else None.
    Edits and deletions (message_changed / message_deleted) are None for now: the next sync keeps the
    first version. `names` maps user ids to names; an unknown id stands for itself."""
    event = payload.get("event") if payload.get("type") == "event_callback" else None
    if not isinstance(event, Mapping) or event.get("type") not in ("message", "app_mention"):
        return None
    channel = event.get("channel")
    if not channel or not _TS.fullmatch(str(event.get("ts", ""))) or not is_user_message(event, own_user_id):
        return None
    known = names or {}
    return _inbox_message(event, str(channel), own_user_id, lambda user: known.get(user, user),
                          mentioned=event.get("type") == "app_mention")


# ---------------------------------------------------------------------- install


def authorize_url(client_id: str, redirect_uri: str, state: str, scopes: Sequence[str], user_scopes: Sequence[str],
                  *, base_url: str = SLACK_URL) -> str:
    """Where "Add to Slack" sends the browser. Built here rather than by slack_sdk's
    AuthorizeUrlGenerator, which does not URL-encode the redirect URL or the state."""
    query = {"client_id": client_id, "scope": ",".join(scopes), "user_scope": ",".join(user_scopes),
             "redirect_uri": redirect_uri, "state": state}
    return f"{base_url.rstrip('/')}/oauth/v2/authorize?{urlencode(query)}"


def exchange_install_code(client_id: str, client_secret: str, code: str, redirect_uri: str, *,
                          base_url: str | None = None, backoff: Backoff | None = None) -> SlackInstall:
    """oauth.v2.access: the code Slack sent to `redirect_uri` for the tokens. A refused code or client
    is an IntegrationAuthError (the user starts Add to Slack again)."""
    api = _web_client(None, base_url, TIMEOUT_SECONDS)
    data = _request(backoff or Backoff("Slack"), "finishing the Slack install",
                    partial(api.oauth_v2_access, client_id=client_id, client_secret=client_secret, code=code,
                            redirect_uri=redirect_uri))
    authed = data.get("authed_user") or {}
    team = data.get("team") or {}
    return SlackInstall(bot_token=data.get("access_token") or "", user_token=authed.get("access_token") or "",
                        team_id=team.get("id") or "", team_name=team.get("name") or "", user_id=authed.get("id") or "")


# ---------------------------------------------------------------------- messages


def readable_text(text: str, user_name: Callable[[str], str],
                  channel_name: Callable[[str], str] = str) -> str:
    """Slack's markup as people read it: <@U1> -> @Name, <#C1|general> -> #general,
    <http://x|label> -> label, <!here> -> @here, and &amp; &lt; &gt; unescaped."""

    def replace(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            return "@" + (label or user_name(target[1:]))
        if target.startswith("#"):
            return "#" + (label or channel_name(target[1:]))
        if target.startswith("!"):  # <!here>, <!subteam^S1|@team>, <!date^...|fallback>
            word = target[1:].split("^")[0]
            return label or _BROADCASTS.get(word, "@" + word)
        return label or target.removeprefix("mailto:")

    return _MARKUP.sub(replace, text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def is_user_message(raw: Mapping[str, Any], own_user_id: str) -> bool:
    """Written by a person: a plain message, a thread broadcast, a /me message or a file shared with
    text, by a user; an app's own posts (with a bot_id) only when the user wrote them."""
    subtype = raw.get("subtype")
    if subtype is not None and (subtype not in USER_SUBTYPES or (subtype == "file_share" and not raw.get("text"))):
        return False
    user = raw.get("user")
    return bool(user) and (not raw.get("bot_id") or user == own_user_id)


def _inbox_message(raw: Mapping[str, Any], channel: str, own_user_id: str, user_name: Callable[[str], str],
                   channel_name: Callable[[str], str] = str, *,
                   mentioned: bool = False) -> InboxMessage:
    ts, user, markup = str(raw["ts"]), str(raw["user"]), str(raw.get("text") or "")
    text = readable_text(markup, user_name, channel_name)
    mine = user == own_user_id
    mentions = bool(own_user_id) and (f"<@{own_user_id}>" in markup or f"<@{own_user_id}|" in markup)
    return InboxMessage(
        external_id=f"{channel}:{ts}", thread_id=f"{channel}:{raw.get('thread_ts') or ts}",
        sender_name=user_name(user), sender_address=user, subject="",
        snippet=" ".join(text.split())[:SNIPPET_CHARS], sent_at=datetime.fromtimestamp(float(ts), UTC),
        unread=not mine, from_me=mine, folder=channel, text=text, mentions_me=mentioned or mentions)


def _person(user: Json) -> str:
    profile = user.get("profile") or {}
    return str(profile.get("display_name") or profile.get("real_name") or user.get("real_name")
               or user.get("name") or "")


# ---------------------------------------------------------------------- cursor and ts


def _ts(seconds: float) -> str:
    return f"{seconds:.6f}"


def _newer(ts: str, than: str) -> bool:
    return Decimal(ts) > Decimal(than)


def _split_id(external_id: str) -> tuple[str, str]:
    channel, _, ts = external_id.partition(":")
    if not channel or not _TS.fullmatch(ts):
        raise IntegrationError(f"{external_id!r} is not a Slack message id (channel:ts)")
    return channel, ts


def _read_cursor(cursor: str | None) -> dict[str, _Mark] | None:
    """The marks a cursor holds; None for no cursor or an unreadable one (a full sync follows)."""
    try:
        data = json.loads(cursor) if cursor else None
        if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
            return None
        marks = {str(channel): _Mark(entry["ts"], dict(entry.get("threads") or {}))
                 for channel, entry in data["channels"].items()}
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    every_ts = [ts for mark in marks.values() for ts in (mark.ts, *mark.threads, *mark.threads.values())]
    return marks if all(isinstance(ts, str) and _TS.fullmatch(ts) for ts in every_ts) else None


def _write_cursor(marks: dict[str, _Mark]) -> str:
    channels = {channel: {"ts": mark.ts, "threads": mark.threads} for channel, mark in marks.items()}
    return json.dumps({"v": CURSOR_VERSION, "channels": channels}, separators=(",", ":"), sort_keys=True)


# ---------------------------------------------------------------------- Web API calls


def _web_client(token: str | None, base_url: str | None, timeout: int) -> WebClient:
    extra = {"base_url": base_url.rstrip("/") + "/api/"} if base_url else {}
    return WebClient(token=token, timeout=timeout, retry_handlers=[], **extra)


def _request(backoff: Backoff, what: str, call: Callable[[], Any], *, retry_5xx: bool = True) -> Json:
    """One Web API call; a 429 (and a 5xx when `retry_5xx`) is retried by `backoff`, and every other
    failure becomes an IntegrationError that says what to do."""

    def attempt() -> Json:
        try:
            data = call().data
        except SlackApiError as exc:
            raise _failure(exc.response, what, retry_5xx) from exc
        except OSError as exc:  # URLError, refused connections, timeouts
            reason = exc.reason if isinstance(exc, URLError) else exc
            raise IntegrationError(f"Could not reach Slack while {what} ({reason}); check the network "
                                   "and try again") from exc
        if not isinstance(data, dict):
            raise IntegrationError(f"Slack did not answer with JSON while {what}")
        return data

    return backoff.run(what, attempt)


def _failure(response: Any, what: str, retry_5xx: bool) -> Exception:
    status = int(response.status_code)
    if status == 429:
        return RetryLater(429, retry_after_seconds(_header(response.headers, "Retry-After")))
    if status >= 500:
        if retry_5xx:
            return RetryLater(status)
        return IntegrationUncertain(f"Slack failed (HTTP {status}) while {what}, and it may have happened anyway: "
                                    "check Slack before trying again")
    code = str(response.get("error") or f"HTTP {status}")
    words = ERROR_WORDS.get(code, code.replace("_", " "))
    if code in TOKEN_ERRORS:
        return IntegrationAuthError(f"Slack refused the token while {what} ({words}); reconnect Slack")
    if code in INSTALL_ERRORS:
        return IntegrationAuthError(f"Slack refused the install ({words}); start Add to Slack again")
    if code == "missing_scope" and response.get("needed"):
        words += f" (it needs {response.get('needed')})"
    kind = SlackNotFound if code in NOT_FOUND_ERRORS else IntegrationError
    return kind(f"Slack refused a request while {what}: {words}")


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return str(value[0] if isinstance(value, list) else value)
    return None
