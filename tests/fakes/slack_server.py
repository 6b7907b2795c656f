"""A fake Slack Web API with a workspace in memory: users, channels, DMs, messages and threads.

Every method is ``POST /api/<method>`` as slack_sdk sends it: form-encoded fields, JSON for
chat.postMessage, the token as ``Authorization: Bearer`` (or a ``token`` field). Like Slack, errors
are HTTP 200 with ``{"ok": false, "error": "..."}`` (``not_authed``, ``invalid_auth``,
``channel_not_found``, ...); only a rate limit is HTTP 429, with ``Retry-After``.

The workspace starts with the token's user Ann (``U0ANN``, the user token ``token``), the app's bot
user (``U0BOT``, ``bot_token``) and a colleague Bob (``U0BOB``); tests add channels, DMs and more users.

Served: auth.test, users.info, conversations.list/info/history/replies, chat.postMessage,
oauth.v2.access, and ``GET /oauth/v2/authorize`` (redirects straight back with a fresh code, as if
the user had clicked Allow).

Paging is Slack's cursor paging: ``limit`` (capped at 999; 100 by default), an opaque base64
``response_metadata.next_cursor`` that is ``""`` on the last page, and ``has_more`` on history and
replies. conversations.history returns top-level messages and thread broadcasts, newest first;
``oldest``/``latest`` are exclusive unless ``inclusive`` is set. conversations.replies takes the ts
of a parent or of any reply and answers the whole thread oldest first, the parent always first on
the first page whatever ``oldest``/``latest`` say, continuation pages without it; a message without
replies is its own one-message thread. Parents carry ``thread_ts``, ``reply_count``,
``reply_users`` and ``latest_reply``.

Message ts are ``"1700000000.000100"``-style strings from a clock that starts at ``start`` (default:
a day ago) and moves ``step`` seconds per message, so they are unique and increasing; ``post(at=...)``
backdates one.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.fakes.http_fake import FakeHTTPServer, QuietHandler, take_scripted

Json = dict[str, Any]
Kind = Literal["public_channel", "private_channel", "im", "mpim"]
MAX_LIMIT = 999


@dataclass(frozen=True)
class RecordedRequest:
    """One API call as received; ``auth`` is the scheme used (never the secret)."""

    method: str  # "conversations.history"
    params: dict[str, str]  # the form or JSON fields, without a token
    auth: Literal["bearer", "basic", "field"] | None
    at: float = field(compare=False)


@dataclass
class FakeUser:
    id: str
    name: str
    real_name: str
    display_name: str = ""
    is_bot: bool = False


@dataclass
class FakeConversation:
    id: str
    name: str
    kind: Kind
    members: set[str]
    archived: bool = False
    created: int = 1600000000


@dataclass
class FakeMessage:
    channel: str
    ts: str
    user: str
    text: str
    subtype: str | None = None
    thread_ts: str | None = None  # the parent's ts, on replies (and on a parent once it has replies)
    bot_id: str | None = None
    replies: list[str] = field(default_factory=list)  # the replies' ts, oldest first


@dataclass
class _Failure:
    method: str
    status: int
    times: int | None
    body: Json
    retry_after: float | None


class SlackError(Exception):
    """An ``ok: false`` answer."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class FakeSlack(FakeHTTPServer):
    """Start with ``with FakeSlack() as fake:``; pass ``base_url=fake.url`` to the client."""

    def __init__(
        self,
        *,
        token: str = "xoxp-fake-user-token",
        bot_token: str = "xoxb-fake-bot-token",
        client_id: str = "1111.2222",
        client_secret: str = "fake-client-secret",
        team_id: str = "T0TEAM",
        team_name: str = "Acme",
        start: float | None = None,
        step: float = 1.0,
    ) -> None:
        super().__init__(_Handler, "fake-slack")
        self.token, self.bot_token = token, bot_token
        self.client_id, self.client_secret = client_id, client_secret
        self.team_id, self.team_name = team_id, team_name
        self.own_user = "U0ANN"
        self.bot_user = "U0BOT"
        self.users: dict[str, FakeUser] = {
            self.own_user: FakeUser(self.own_user, "ann", "Ann Archer", "Ann"),
            self.bot_user: FakeUser(self.bot_user, "llmcoder", "LLMCoder", is_bot=True),
            "U0BOB": FakeUser("U0BOB", "bob", "Bob Baker", "Bobby"),  # a colleague, the default author of seed()
        }
        self.conversations: dict[str, FakeConversation] = {}
        self.messages: dict[str, dict[str, FakeMessage]] = {}  # channel -> ts -> message
        self.posted: list[FakeMessage] = []  # what chat.postMessage created, in order
        self.codes: dict[str, str] = {}  # unused install code -> its redirect URI
        self._used_codes: set[str] = set()
        self._clock = int(((time.time() - 86400) if start is None else start) * 1_000_000)
        self._step = int(step * 1_000_000)
        self._lock = threading.RLock()
        self._failures: list[_Failure] = []
        self._requests: list[RecordedRequest] = []

    # -- workspace -------------------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, real_name: str, display_name: str = "", *,
                 is_bot: bool = False) -> None:
        with self._lock:
            self.users[user_id] = FakeUser(user_id, name, real_name, display_name, is_bot)

    def add_channel(self, channel_id: str, name: str, *, private: bool = False, members: tuple[str, ...] = (),
                    archived: bool = False, joined: bool = True) -> None:
        """A channel with `members` (and the own user when `joined`)."""
        everyone = set(members) | ({self.own_user} if joined else set())
        self._add(FakeConversation(channel_id, name, "private_channel" if private else "public_channel",
                                   everyone, archived))

    def add_dm(self, channel_id: str, user: str) -> None:
        self._add(FakeConversation(channel_id, "", "im", {self.own_user, user}))

    def add_group_dm(self, channel_id: str, users: tuple[str, ...]) -> None:
        everyone = sorted({self.own_user, *users})
        name = "mpdm-" + "--".join(self.users[user].name for user in everyone) + "-1"
        self._add(FakeConversation(channel_id, name, "mpim", set(everyone)))

    def _add(self, conversation: FakeConversation) -> None:
        with self._lock:
            self.conversations[conversation.id] = conversation
            self.messages.setdefault(conversation.id, {})

    def post(self, channel: str, user: str, text: str, thread_ts: str | None = None, *,
             subtype: str | None = None, bot_id: str | None = None, at: float | None = None) -> str:
        """A message as if posted in Slack (a reply when `thread_ts` is set); returns its ts."""
        with self._lock:
            return self._post(channel, user, text, thread_ts, subtype, bot_id, at).ts

    def seed(self, channel: str, n: int, *, user: str = "U0BOB", text: str = "Message {i}") -> list[str]:
        """`n` plain messages in a row; returns their ts."""
        with self._lock:
            return [self._post(channel, user, text.format(i=i), None, None, None, None).ts for i in range(n)]

    def issue_code(self, redirect_uri: str) -> str:
        """An install code, as Slack hands one to the redirect URI after the user allowed the app."""
        code = "code-" + secrets.token_hex(8)
        with self._lock:
            self.codes[code] = redirect_uri
        return code

    def _post(self, channel: str, user: str, text: str, thread_ts: str | None, subtype: str | None,
              bot_id: str | None, at: float | None) -> FakeMessage:
        messages = self.messages[channel]
        if at is None:
            self._clock += self._step
            micros = self._clock
        else:
            micros = int(at * 1_000_000)
            while _ts(micros) in messages:
                micros += 1
        message = FakeMessage(channel, _ts(micros), user, text, subtype, thread_ts, bot_id)
        if thread_ts is not None:
            parent = messages[thread_ts]
            parent.thread_ts = thread_ts
            parent.replies.append(message.ts)
            parent.replies.sort(key=Decimal)
        messages[message.ts] = message
        return message

    # -- scripting and records -------------------------------------------------------------------

    def rate_limit_next(self, method: str, count: int | None = 1, retry_after: float | None = 1) -> None:
        """The next `count` calls of `method` ("" for any; count None: all) get HTTP 429."""
        self._fail(_Failure(method, 429, count, {"ok": False, "error": "ratelimited"}, retry_after))

    def fail_next(self, method: str, status: int = 500, count: int | None = 1, error: str = "fatal_error") -> None:
        """The next `count` calls of `method` get `status` with ``ok: false`` and `error`
        (status 200 is how Slack reports an error such as ``invalid_cursor``)."""
        self._fail(_Failure(method, status, count, {"ok": False, "error": error}, None))

    def _fail(self, failure: _Failure) -> None:
        with self._lock:
            self._failures.append(failure)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def calls(self, method: str) -> list[dict[str, str]]:
        """The params of each call of `method`, in order."""
        return [r.params for r in self.requests if r.method == method]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- serving ---------------------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path)
        if handler.command == "GET" and parts.path == "/oauth/v2/authorize":
            self._authorize(handler, parse_qs(parts.query))
            return
        method = parts.path.removeprefix("/api/")
        params, auth, token = _read_request(handler, parts.query)
        with self._lock:
            self._requests.append(RecordedRequest(method, params, auth, time.monotonic()))
            failure = take_scripted(self._failures, lambda f: f.method in ("", method))
        if failure is not None:
            extra = {} if failure.retry_after is None else {"Retry-After": f"{failure.retry_after:g}"}
            handler.reply(failure.status, failure.body, extra)
            return
        answer = getattr(self, "_api_" + method.replace(".", "_"), None)
        if handler.command != "POST" or not parts.path.startswith("/api/") or answer is None:
            handler.reply(404, {"ok": False, "error": "unknown_method"})
            return
        try:
            with self._lock:
                caller = {} if method == "oauth.v2.access" else {"_caller": self._caller(token)}
                body = {"ok": True, **answer({**params, **caller})}
        except SlackError as exc:
            body = {"ok": False, "error": exc.error}
        handler.reply(200, body)

    def _caller(self, token: str | None) -> str:
        if not token:
            raise SlackError("not_authed")
        caller = {self.token: self.own_user, self.bot_token: self.bot_user}.get(token)
        if caller is None:
            raise SlackError("invalid_auth")
        return caller

    def _authorize(self, handler: _Handler, query: dict[str, list[str]]) -> None:
        redirect = query.get("redirect_uri", [""])[0]
        if query.get("client_id", [""])[0] != self.client_id or not redirect:
            handler.reply(400, {"ok": False, "error": "invalid_client_id"})
            return
        back = {"code": self.issue_code(redirect), "state": query.get("state", [""])[0]}
        handler.redirect(f"{redirect}{'&' if '?' in redirect else '?'}{urlencode(back)}")

    # Each _api_* runs under the lock with the caller's user id in params["_caller"] and returns
    # the answer's fields (``ok`` is added) or raises SlackError.

    def _api_auth_test(self, params: dict[str, str]) -> Json:
        user = self.users[params["_caller"]]
        return {"url": f"https://{self.team_name.lower()}.slack.com/", "team": self.team_name, "user": user.name,
                "team_id": self.team_id, "user_id": user.id, "is_enterprise_install": False}

    def _api_users_info(self, params: dict[str, str]) -> Json:
        user = self.users.get(params.get("user", ""))
        if user is None:
            raise SlackError("user_not_found")
        profile = {"real_name": user.real_name, "display_name": user.display_name,
                   "real_name_normalized": user.real_name, "display_name_normalized": user.display_name}
        return {"user": {"id": user.id, "team_id": self.team_id, "name": user.name, "real_name": user.real_name,
                         "deleted": False, "is_bot": user.is_bot, "profile": profile}}

    def _api_conversations_list(self, params: dict[str, str]) -> Json:
        types = set((params.get("types") or "public_channel").split(","))
        skip_archived = _flag(params.get("exclude_archived"))
        caller = params["_caller"]
        visible = [c for c in self.conversations.values()
                   if c.kind in types and not (skip_archived and c.archived)
                   and (c.kind == "public_channel" or caller in c.members)]
        start = int(_decode_cursor(params.get("cursor"), "offset") or 0)
        limit = _limit(params)
        window = visible[start:start + limit]
        more = start + limit < len(visible)
        return {"channels": [self._conversation_json(c, caller) for c in window],
                "response_metadata": {"next_cursor": _encode_cursor("offset", str(start + limit)) if more else ""}}

    def _api_conversations_info(self, params: dict[str, str]) -> Json:
        return {"channel": self._conversation_json(self._readable(params), params["_caller"])}

    def _api_conversations_history(self, params: dict[str, str]) -> Json:
        conversation = self._readable(params)
        messages = [m for m in self.messages[conversation.id].values()
                    if (m.thread_ts in (None, m.ts) or m.subtype == "thread_broadcast") and _in_range(m.ts, params)]
        messages.sort(key=lambda m: Decimal(m.ts), reverse=True)
        after = _decode_cursor(params.get("cursor"), "next_ts")
        if after is not None:
            messages = [m for m in messages if Decimal(m.ts) <= Decimal(after)]
        return self._page(messages, _limit(params))

    def _api_conversations_replies(self, params: dict[str, str]) -> Json:
        conversation = self._readable(params)
        messages = self.messages[conversation.id]
        found = messages.get(params.get("ts", ""))
        if found is None:
            raise SlackError("thread_not_found")
        parent = messages[found.thread_ts] if found.thread_ts else found  # a parent's thread_ts is its own ts
        replies = [messages[ts] for ts in parent.replies if _in_range(ts, params)]
        after = _decode_cursor(params.get("cursor"), "next_ts")
        listing = [parent, *replies] if after is None else [m for m in replies if Decimal(m.ts) >= Decimal(after)]
        return self._page(listing, _limit(params))

    def _direct(self, caller: str, user_id: str) -> FakeConversation:
        """Slack takes a user id as the channel of a DM: the caller's DM with that user (with
        themself: their own notes DM), opened on first use."""
        found = next((c for c in self.conversations.values() if c.kind == "im" and c.members == {caller, user_id}),
                     None)
        if found is None:
            found = FakeConversation(f"D{len(self.conversations):08d}", "", "im", {caller, user_id})
            self.conversations[found.id] = found
            self.messages.setdefault(found.id, {})
        return found

    def _api_chat_postMessage(self, params: dict[str, str]) -> Json:
        caller = params["_caller"]
        channel = params.get("channel", "")
        conversation = self._direct(caller, channel) if channel in self.users else self.conversations.get(channel)
        if conversation is None or (conversation.kind != "public_channel" and caller not in conversation.members):
            raise SlackError("channel_not_found")
        if caller not in conversation.members:
            raise SlackError("not_in_channel")
        if conversation.archived:
            raise SlackError("is_archived")
        if not params.get("text"):
            raise SlackError("no_text")
        thread_ts = params.get("thread_ts") or None
        if thread_ts is not None:
            target = self.messages[conversation.id].get(thread_ts)
            if target is None:
                raise SlackError("thread_not_found")
            thread_ts = target.thread_ts or target.ts  # a reply's ts stands for its thread
        message = self._post(conversation.id, caller, params["text"], thread_ts, None,
                             "B0BOT" if caller == self.bot_user else None, None)
        self.posted.append(message)
        return {"channel": conversation.id, "ts": message.ts, "message": self._message_json(message)}

    def _api_oauth_v2_access(self, params: dict[str, str]) -> Json:
        if params.get("client_id") != self.client_id:
            raise SlackError("invalid_client_id")
        if params.get("client_secret") != self.client_secret:
            raise SlackError("bad_client_secret")
        code = params.get("code", "")
        if code in self._used_codes:
            raise SlackError("code_already_used")
        if code not in self.codes:
            raise SlackError("invalid_code")
        if self.codes[code] != params.get("redirect_uri", self.codes[code]):
            raise SlackError("bad_redirect_uri")
        del self.codes[code]
        self._used_codes.add(code)
        return {"app_id": "A0APP", "access_token": self.bot_token, "token_type": "bot",
                "scope": "channels:history,chat:write", "bot_user_id": self.bot_user,
                "team": {"id": self.team_id, "name": self.team_name}, "enterprise": None,
                "is_enterprise_install": False,
                "authed_user": {"id": self.own_user, "scope": "channels:history,im:history,chat:write",
                                "access_token": self.token, "token_type": "user"}}

    # -- rendering -------------------------------------------------------------------------------

    def _readable(self, params: dict[str, str]) -> FakeConversation:
        """The conversation named by ``channel`` if the caller may read it (public channels: anyone)."""
        conversation = self.conversations.get(params.get("channel", ""))
        if conversation is None or (conversation.kind != "public_channel"
                                    and params["_caller"] not in conversation.members):
            raise SlackError("channel_not_found")
        return conversation

    def _page(self, messages: list[FakeMessage], limit: int) -> Json:
        window, more = messages[:limit], len(messages) > limit
        cursor = _encode_cursor("next_ts", messages[limit].ts) if more else ""
        return {"messages": [self._message_json(m) for m in window], "has_more": more,
                "response_metadata": {"next_cursor": cursor}}

    def _message_json(self, message: FakeMessage) -> Json:
        data: Json = {"type": "message", "ts": message.ts, "user": message.user, "text": message.text,
                      "team": self.team_id}
        if message.subtype:
            data["subtype"] = message.subtype
        if message.bot_id:
            data["bot_id"] = message.bot_id
        if message.thread_ts:
            data["thread_ts"] = message.thread_ts
        if message.replies:
            data.update(reply_count=len(message.replies), latest_reply=message.replies[-1],
                        reply_users=sorted({self.messages[message.channel][ts].user for ts in message.replies}),
                        reply_users_count=len({self.messages[message.channel][ts].user for ts in message.replies}),
                        is_locked=False, subscribed=False)
        elif message.thread_ts and message.thread_ts != message.ts:
            data["parent_user_id"] = self.messages[message.channel][message.thread_ts].user
        return data

    def _conversation_json(self, c: FakeConversation, caller: str) -> Json:
        if c.kind == "im":
            other = next(iter(c.members - {caller}), caller)
            return {"id": c.id, "created": c.created, "is_im": True, "is_org_shared": False, "user": other,
                    "is_user_deleted": False, "priority": 0}
        return {"id": c.id, "name": c.name, "is_channel": c.kind == "public_channel",
                "is_group": c.kind == "private_channel", "is_im": False, "is_mpim": c.kind == "mpim",
                "is_private": c.kind != "public_channel", "is_archived": c.archived, "is_general": False,
                "created": c.created, "is_member": caller in c.members, "num_members": len(c.members),
                "name_normalized": c.name}


def _read_request(handler: _Handler, query: str) -> tuple[dict[str, str], Literal["bearer", "basic", "field"] | None,
                                                           str | None]:
    """The call's fields (form, JSON or query), how it authenticated, and the token (if any).
    Basic auth (oauth.v2.access) becomes the client_id and client_secret fields."""
    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length) if length else b""
    if "json" in (handler.headers.get("Content-Type") or ""):
        params = {key: _field(value) for key, value in (json.loads(raw or b"{}")).items()}
    else:
        params = {key: values[0] for key, values in parse_qs(raw.decode() or query, keep_blank_values=True).items()}
    header = handler.headers.get("Authorization") or ""
    scheme, _, credential = header.partition(" ")
    token = params.pop("token", None)
    if scheme.lower() == "bearer":
        return params, "bearer", credential
    if scheme.lower() == "basic":
        client_id, _, secret = base64.b64decode(credential).decode().partition(":")
        return {**params, "client_id": client_id, "client_secret": secret}, "basic", None
    return params, "field" if token else None, token


def _field(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true")


def _limit(params: dict[str, str]) -> int:
    return max(1, min(int(params.get("limit") or 100), MAX_LIMIT))


def _in_range(ts: str, params: dict[str, str]) -> bool:
    """Slack's oldest/latest window: both bounds exclusive unless ``inclusive``."""
    value, inclusive = Decimal(ts), _flag(params.get("inclusive"))
    oldest, latest = params.get("oldest"), params.get("latest")
    if oldest and (value < Decimal(oldest) or (value == Decimal(oldest) and not inclusive)):
        return False
    return not (latest and (value > Decimal(latest) or (value == Decimal(latest) and not inclusive)))


def _ts(micros: int) -> str:
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def _encode_cursor(kind: str, value: str) -> str:
    return base64.b64encode(f"{kind}:{value}".encode()).decode()


def _decode_cursor(cursor: str | None, kind: str) -> str | None:
    if not cursor:
        return None
    try:
        found, _, value = base64.b64decode(cursor, validate=True).decode().partition(":")
    except ValueError:
        found, value = "", ""
    if found != kind or not value:
        raise SlackError("invalid_cursor")
    return value


class _Handler(QuietHandler):
    def do_POST(self) -> None:
        self.server.fake._serve(self)

    do_GET = do_POST

    def reply(self, status: int, body: Json, extra: dict[str, str] | None = None) -> None:
        self.send_body(status, json.dumps(body).encode(), "application/json; charset=utf-8", extra)

    def redirect(self, location: str) -> None:
        self.send_body(302, b"", None, {"Location": location})
