"""A fake Microsoft Graph v1.0 mail API: one signed-in user's Inbox, Sent Items and Drafts in memory.

It serves what ``services.integrations.outlook.client`` calls, under ``/v1.0``:

* ``GET /me``
* ``GET /me/mailFolders/{inbox|sentitems|drafts}/messages/delta`` with ``$select``; the answer is
  paged by ``Prefer: odata.maxpagesize`` (10 without it, as Graph), each page ends with an
  ``@odata.nextLink`` (``$skiptoken``) or, on the last one, an ``@odata.deltaLink`` (``$deltatoken``).
  Tokens are opaque and carry the position and the ``$select``. Every change (new, read, moved,
  deleted) gets the next integer version in a per-folder log; a delta round lists what changed
  after the token's version up to the version current at the round's first page, so changes made
  while paging come in the next round and nothing is skipped. A full sync lists the messages
  present; later rounds also list removed ones as ``{"id": ..., "@removed": {"reason": "deleted"}}``.
  ``expire_delta_tokens()`` makes every earlier token answer 410 ``SyncStateNotFound``.
* ``GET /me/messages?$filter=internetMessageId eq '<...>'`` and ``GET /me/messages/{id}`` with
  ``$select``; ``body`` is HTML unless ``Prefer: outlook.body-content-type="text"``.
* ``POST /me/messages`` (a new draft), ``POST /me/messages/{id}/createReply`` (a draft in the same
  conversation, "RE: subject", addressed to the sender; its ``message`` parameter overrides body,
  subject, recipients and sets single-value extended properties), ``POST /me/messages/{id}/send``
  (202; the draft moves to Sent Items and is recorded in ``sent``).

Ids change when a message moves to another folder unless the request asked for
``Prefer: IdType="ImmutableId"``, as in Graph. Every request needs ``Authorization: Bearer <token>``
(else 401 ``InvalidAuthenticationToken``); errors use Graph's ``{"error": {"code", "message"}}`` body.
``fail_next`` scripts 429/5xx answers (with Retry-After), optionally after the request took effect
(an answer lost on the way back).
"""

from __future__ import annotations

import base64
import copy
import html
import itertools
import json
import re
import threading
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.http_fake import FakeHTTPServer, QuietHandler

Json = dict[str, Any]
Query = dict[str, list[str]]
Answer = tuple[int, Json | None]

FOLDERS = ("inbox", "sentitems", "drafts")
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@dataclass
class FakeMessage:
    id: str
    folder: str
    conversation_id: str
    internet_message_id: str
    subject: str
    sender: tuple[str, str]  # (name, address)
    to: tuple[str, ...]
    cc: tuple[str, ...]
    received: datetime
    is_read: bool
    text: str
    html: str
    is_draft: bool = False
    properties: dict[str, str] = field(default_factory=dict)  # single-value extended properties


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # without the query, /v1.0 included
    query: Query
    prefer: dict[str, str]  # preference name (lower case) -> value without quotes
    body: Json | None


@dataclass
class _Failure:
    status: int
    count: int | None  # None: every matching request
    retry_after: str | None
    path_contains: str
    processed: bool  # the request takes effect, only its answer is the failure


class FakeGraph(FakeHTTPServer):
    """Start with ``with FakeGraph() as graph:``; ``graph.url`` is the base URL (``.../v1.0``)."""

    def __init__(self, *, token: str = "graph-access-token", mail: str = "ann@contoso.example",
                 name: str = "Ann Example") -> None:
        super().__init__(_Handler, "fake-graph")
        self.token, self.mail, self.name = token, mail, name
        # Set to an authorization server's check (FakeOAuth.is_active) to accept the tokens it issues.
        self.token_check: Callable[[str], bool] | None = None
        self.sent: list[FakeMessage] = []
        self._lock = threading.Lock()
        self._messages: dict[str, FakeMessage] = {}
        self._log: dict[str, list[tuple[int, str]]] = {folder: [] for folder in FOLDERS}
        self._latest: dict[tuple[str, str], int] = {}  # (folder, id) -> version of its newest log entry
        self._version = 0
        self._epoch = 0
        self._numbers = itertools.count(1)
        self._failures: list[_Failure] = []
        self._requests: list[RecordedRequest] = []

    @property
    def url(self) -> str:
        return self.origin + "/v1.0"

    # -- auth ------------------------------------------------------------------------------------

    def _authorized(self, header: str | None) -> bool:
        scheme, _, token = (header or "").partition(" ")
        if scheme != "Bearer" or not token:
            return False
        return self.token_check(token) if self.token_check is not None else token == self.token

    # -- mailbox ---------------------------------------------------------------------------------

    def add_message(self, folder: str = "inbox", *, subject: str = "Hello", text: str = "Hello there.",
                    html_body: str | None = None, sender: tuple[str, str] | None = None,
                    to: tuple[str, ...] | None = None, cc: tuple[str, ...] = (), is_read: bool = False,
                    conversation_id: str | None = None, internet_message_id: str | None = None) -> str:
        """A message received (inbox) or sent (sentitems) now; returns its id. By default mail in the
        inbox is from Bob to the user, and sent mail from the user to Bob."""
        with self._lock:
            return self._add(folder, subject=subject, text=text, html_body=html_body, sender=sender, to=to, cc=cc,
                             is_read=is_read, conversation_id=conversation_id,
                             internet_message_id=internet_message_id).id

    def seed(self, n: int, folder: str = "inbox") -> list[str]:
        """``n`` distinct messages at once (benchmarks)."""
        with self._lock:
            return [self._add(folder, subject=f"Seeded {k}", text=f"Seeded message number {k}.").id
                    for k in range(n)]

    def mark_read(self, message_id: str, read: bool = True) -> None:
        with self._lock:
            message = self._messages[message_id]
            message.is_read = read
            self._touch(message)

    def delete(self, message_id: str) -> None:
        """Delete for good (what the delta of its folder reports as removed)."""
        with self._lock:
            message = self._messages.pop(message_id)
            self._log_change(message.folder, message_id)

    def message(self, message_id: str) -> FakeMessage:
        with self._lock:
            return copy.deepcopy(self._messages[message_id])

    def folder_ids(self, folder: str) -> list[str]:
        with self._lock:
            return [m.id for m in self._messages.values() if m.folder == folder]

    def expire_delta_tokens(self) -> None:
        """Every delta and skip token handed out so far now answers 410."""
        with self._lock:
            self._epoch += 1

    # -- scripting and records -------------------------------------------------------------------

    def fail_next(self, status: int, count: int | None = 1, retry_after: float | str | None = None,
                  path_contains: str | None = None, *, processed: bool = False) -> None:
        """Answer the next ``count`` requests whose path contains ``path_contains`` with ``status``
        (``count=None``: all of them); ``processed``: only after the request took effect."""
        hint = f"{retry_after:g}" if isinstance(retry_after, float | int) else retry_after
        with self._lock:
            self._failures.append(_Failure(status, count, hint, path_contains or "", processed))

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, fragment: str, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if fragment in r.path and method in (None, r.method)]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- state changes (under the lock) ----------------------------------------------------------

    def _add(self, folder: str, *, subject: str, text: str, html_body: str | None = None,
             sender: tuple[str, str] | None = None, to: tuple[str, ...] | None = None, cc: tuple[str, ...] = (),
             is_read: bool = False, conversation_id: str | None = None,
             internet_message_id: str | None = None) -> FakeMessage:
        n = next(self._numbers)
        me, bob = (self.name, self.mail), ("Bob Sender", "bob@fabrikam.example")
        outgoing = folder != "inbox"
        message = FakeMessage(
            id=_graph_id("AAMkAD", n), folder=folder, conversation_id=conversation_id or _graph_id("AAQkAD", n),
            internet_message_id=internet_message_id or f"<msg{n:06d}.{folder}@fabrikam.example>",
            subject=subject, sender=sender or (me if outgoing else bob),
            to=to if to is not None else ((bob[1],) if outgoing else (self.mail,)), cc=cc,
            received=START + timedelta(minutes=n), is_read=is_read or outgoing, text=text,
            html=html_body if html_body is not None else _html(text), is_draft=folder == "drafts")
        self._messages[message.id] = message
        self._touch(message)
        return message

    def _touch(self, message: FakeMessage) -> None:
        self._log_change(message.folder, message.id)

    def _log_change(self, folder: str, message_id: str) -> None:
        self._version += 1
        self._log[folder].append((self._version, message_id))
        self._latest[(folder, message_id)] = self._version

    def _apply(self, message: FakeMessage, fields: Json) -> None:
        """The writable fields of a message resource, as a draft create or createReply takes them."""
        if "body" in fields:
            content = str(fields["body"].get("content", ""))
            if str(fields["body"].get("contentType", "text")).lower() == "html":
                message.html, message.text = content, _text(content)
            else:
                message.text, message.html = content, _html(content)
        message.subject = str(fields.get("subject", message.subject))
        for key, attribute in (("toRecipients", "to"), ("ccRecipients", "cc")):
            if key in fields:
                setattr(message, attribute, tuple(r["emailAddress"]["address"] for r in fields[key]))
        for prop in fields.get("singleValueExtendedProperties", []):
            message.properties[str(prop["id"])] = str(prop["value"])

    # -- serving ---------------------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        prefer = _preferences(handler.headers.get_all("Prefer") or [])
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length)) if length else None
        with self._lock:
            self._requests.append(RecordedRequest(handler.command, parts.path, query, prefer, body))
            failure = self._take_failure(parts.path)
            if failure is None or failure.processed:
                answer = self._answer(handler.headers.get("Authorization", ""), handler.command, parts.path,
                                      query, prefer, body)
        if failure is None:
            handler.reply(*answer)
            return
        code = ("TooManyRequests" if failure.status == 429
                else "ServiceNotAvailable" if failure.status >= 500 else "ErrorInvalidRequest")
        extra = {} if failure.retry_after is None else {"Retry-After": failure.retry_after}
        handler.reply(failure.status, _error(code, f"Scripted HTTP {failure.status}"), extra)

    def _take_failure(self, path: str) -> _Failure | None:
        for failure in self._failures:
            if failure.path_contains in path:
                if failure.count is not None:
                    failure.count -= 1
                    if failure.count <= 0:
                        self._failures.remove(failure)
                return failure
        return None

    def _answer(self, authorization: str, method: str, path: str, query: Query, prefer: dict[str, str],
                body: Json | None) -> Answer:
        if not self._authorized(authorization):
            return 401, _error("InvalidAuthenticationToken", "Access token validation failure.")
        return self._route(method, path, query, prefer, body)

    def _route(self, method: str, path: str, query: Query, prefer: dict[str, str], body: Json | None) -> Answer:
        for name, pattern in _ROUTES:
            match = pattern.fullmatch(path)
            if match:
                action = getattr(self, f"_{method.lower()}_{name}", None)
                if action is None:
                    return 405, _error("Request_BadRequest", f"{method} is not supported on {path}")
                arg = unquote(match.group("arg")) if "arg" in pattern.groupindex else ""
                return action(arg, query, prefer, body)
        return 400, _error("BadRequest", f"Resource not found for the segment in '{path}'.")

    # Each handler runs under the lock and returns (status, JSON body or None).

    def _get_me(self, _: str, __: Query, ___: dict[str, str], ____: Json | None) -> Answer:
        return 200, {"id": "user-ann-0001", "displayName": self.name, "mail": self.mail,
                     "userPrincipalName": self.mail}

    def _get_delta(self, folder: str, query: Query, prefer: dict[str, str], _: Json | None) -> Answer:
        folder = folder.lower()
        if folder not in FOLDERS:
            return 404, _error("ErrorInvalidIdMalformed", "Id is malformed.")
        token = query.get("$skiptoken", query.get("$deltatoken", [""]))[0]
        if token:
            state = _decode(token)
            if state is None or state.get("e") != self._epoch or state.get("f") != folder:
                return 410, _error("SyncStateNotFound", "The sync state has expired; start a new sync.")
        else:
            select = query.get("$select", [""])[0]
            state = {"f": folder, "a": 0, "u": None, "i": True, "s": select, "e": self._epoch}
        upto = self._version if state["u"] is None else state["u"]
        size = min(int(prefer.get("odata.maxpagesize", DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE)
        select = {name for name in state["s"].split(",") if name}
        log = self._log[folder]
        index = bisect_left(log, (state["a"] + 1,))
        values, last = [], state["a"]
        while index < len(log) and log[index][0] <= upto and len(values) < size:
            version, message_id = log[index]
            index += 1
            last = version
            if self._latest[(folder, message_id)] != version:
                continue  # changed again later: its newer entry reports it
            message = self._messages.get(message_id)
            if message is not None and message.folder == folder:
                values.append(_render(message, select, "html"))
            elif not state["i"]:
                values.append({"@odata.type": "#microsoft.graph.message", "id": message_id,
                               "@removed": {"reason": "deleted"}})
        page: Json = {"@odata.context": f"{self.url}/$metadata#Collection(message)", "value": values}
        if index < len(log) and log[index][0] <= upto:
            token = _encode({**state, "a": last, "u": upto})
            page["@odata.nextLink"] = f"{self.url}/me/mailFolders/{folder}/messages/delta?$skiptoken={token}"
        else:
            token = _encode({**state, "a": upto, "u": None, "i": False})
            page["@odata.deltaLink"] = f"{self.url}/me/mailFolders/{folder}/messages/delta?$deltatoken={token}"
        return 200, page

    def _get_messages(self, _: str, query: Query, __: dict[str, str], ___: Json | None) -> Answer:
        wanted = query.get("$filter", [""])[0]
        match = re.fullmatch(r"internetMessageId eq '((?:[^']|'')*)'", wanted)
        if wanted and not match:
            return 400, _error("ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.")
        found = [m for m in self._messages.values()
                 if not match or m.internet_message_id == match.group(1).replace("''", "'")]
        select = _select(query)
        return 200, {"value": [_render(m, select, "html") for m in found]}

    def _get_message(self, message_id: str, query: Query, prefer: dict[str, str], _: Json | None) -> Answer:
        message = self._messages.get(message_id)
        if message is None:
            return _not_found()
        kind = prefer.get("outlook.body-content-type", "html").lower()
        return 200, _render(message, _select(query), kind)

    def _post_messages(self, _: str, __: Query, ___: dict[str, str], body: Json | None) -> Answer:
        draft = self._add("drafts", subject="", text="", sender=(self.name, self.mail), to=())
        self._apply(draft, body or {})
        self._touch(draft)
        return 201, _render(draft, set(), "html")

    def _post_reply(self, message_id: str, _: Query, __: dict[str, str], body: Json | None) -> Answer:
        original = self._messages.get(message_id)
        if original is None:
            return _not_found()
        to = original.to if original.sender[1] == self.mail else (original.sender[1],)
        quoted = f"<html><body><hr><p>From: {html.escape(original.sender[0])}</p>{original.html}</body></html>"
        draft = self._add("drafts", subject=f"RE: {original.subject}", text="", sender=(self.name, self.mail),
                          to=to, conversation_id=original.conversation_id, html_body=quoted)
        self._apply(draft, (body or {}).get("message") or {})
        self._touch(draft)
        return 201, _render(draft, set(), "html")

    def _post_send(self, message_id: str, _: Query, prefer: dict[str, str], __: Json | None) -> Answer:
        draft = self._messages.get(message_id)
        if draft is None:
            return _not_found()
        if not draft.is_draft:
            return 400, _error("ErrorInvalidOperation", "Only a draft message can be sent.")
        self._log_change("drafts", draft.id)
        if prefer.get("idtype") != "ImmutableId":
            del self._messages[draft.id]
            draft.id = _graph_id("AAMkAD", next(self._numbers))
            self._messages[draft.id] = draft
        draft.folder, draft.is_draft, draft.is_read = "sentitems", False, True
        draft.received = START + timedelta(minutes=next(self._numbers))
        self._touch(draft)
        self.sent.append(copy.deepcopy(draft))
        return 202, None


_ROUTES = [
    ("me", re.compile(r"/v1\.0/me")),
    ("delta", re.compile(r"/v1\.0/me/mailFolders/(?P<arg>[^/]+)/messages/delta")),
    ("messages", re.compile(r"/v1\.0/me/messages")),
    ("message", re.compile(r"/v1\.0/me/messages/(?P<arg>[^/]+)")),
    ("reply", re.compile(r"/v1\.0/me/messages/(?P<arg>[^/]+)/createReply")),
    ("send", re.compile(r"/v1\.0/me/messages/(?P<arg>[^/]+)/send")),
]


def _render(message: FakeMessage, select: set[str], body_type: str) -> Json:
    """A message resource; only ``id`` and the selected properties when ``$select`` was given."""
    full: Json = {
        "@odata.etag": f'W/"{message.id[-6:]}"',
        "id": message.id,
        "receivedDateTime": message.received.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sentDateTime": message.received.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "subject": message.subject,
        "bodyPreview": message.text[:255],
        "isRead": message.is_read,
        "isDraft": message.is_draft,
        "conversationId": message.conversation_id,
        "internetMessageId": message.internet_message_id,
        "parentFolderId": message.folder,
        "from": _address(*message.sender),
        "sender": _address(*message.sender),
        "toRecipients": [_address("", a) for a in message.to],
        "ccRecipients": [_address("", a) for a in message.cc],
        "body": {"contentType": body_type, "content": message.text if body_type == "text" else message.html},
    }
    if not select:
        return full
    return {key: value for key, value in full.items() if key in select or key in ("id", "@odata.etag")}


def _address(name: str, address: str) -> Json:
    return {"emailAddress": {"name": name or address, "address": address}}


def _select(query: Query) -> set[str]:
    return {name for name in query.get("$select", [""])[0].split(",") if name}


def _preferences(headers: list[str]) -> dict[str, str]:
    """``Prefer`` headers (one or several, comma-separated) as name (lower case) -> unquoted value."""
    found = {}
    for item in ",".join(headers).split(","):
        name, _, value = item.strip().partition("=")
        if name:
            found[name.lower()] = value.strip('"')
    return found


def _encode(state: Json) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


def _decode(token: str) -> Json | None:
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        return None
    return state if isinstance(state, dict) else None


def _graph_id(prefix: str, n: int) -> str:
    """Graph-looking ids, with the '-', '_' and '=' real ones carry (so clients must quote them)."""
    return f"{prefix}-{n:08d}_AAA="


def _html(text: str) -> str:
    return f"<html><body><p>{html.escape(text)}</p></body></html>"


def _text(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", markup)).strip()


def _error(code: str, message: str) -> Json:
    return {"error": {"code": code, "message": message,
                      "innerError": {"date": "2026-11-02T09:00:00", "request-id": "fake-request"}}}


def _not_found() -> Answer:
    return 404, _error("ErrorItemNotFound", "The specified object was not found in the store.")


class _Handler(QuietHandler):
    def do_GET(self) -> None:
        self.server.fake._serve(self)

    do_POST = do_GET

    def reply(self, status: int, body: Json | None, extra: dict[str, str] | None = None) -> None:
        content_type = None if body is None else "application/json;odata.metadata=minimal;charset=utf-8"
        self.send_body(status, b"" if body is None else json.dumps(body).encode(), content_type, extra)
