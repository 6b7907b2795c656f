"""A fake Gmail API (v1) with one mailbox in memory, for driving the real google-api-python-client.

It serves what ``services.integrations.gmail.client`` reaches with
``client_options={"api_endpoint": fake.url + "/"}``:

* ``GET  /gmail/v1/users/{me}/profile``
* ``GET  /gmail/v1/users/{me}/messages?labelIds=..&maxResults=..&pageToken=..`` (newest first;
  ``maxResults`` defaults to 100 and is capped at 500; SPAM and TRASH left out unless
  ``includeSpamTrash=true``; ``nextPageToken`` is opaque and keyed on the last message listed, so
  mail arriving mid-listing shifts nothing)
* ``GET  /gmail/v1/users/{me}/messages/{id}?format=minimal|metadata|full|raw&metadataHeaders=..``
* ``POST /gmail/v1/users/{me}/messages/send`` with ``{"raw": base64url, "threadId": ..}``
* ``GET  /gmail/v1/users/{me}/history?startHistoryId=..&historyTypes=..&pageToken=..`` (404
  "Requested entity was not found." once the start is older than the kept history)
* ``POST /batch/gmail/v1`` (and ``/batch``): a multipart/mixed body of ``application/http`` parts,
  answered part by part with ``Content-ID: <response-...>`` as Google does, at most 100 parts.

Every add, delete and label change is a history record with the next historyId. Auth is a Bearer
token checked on every request and on every part of a batch; a wrong one gets Google's 401 body.
``requests`` counts a batch as ONE request, as Google bills it; its parts are in ``batched``.
"""

from __future__ import annotations

import base64
import email
import email.policy
import html
import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from email.utils import format_datetime, getaddresses
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.http_fake import FakeHTTPServer, QuietHandler

Json = dict[str, Any]
Query = dict[str, list[str]]
Answer = tuple[int, Json, dict[str, str]]  # status, JSON body, extra headers

FIRST_DATE = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
HISTORY_KINDS = {"messageAdded": "messagesAdded", "messageDeleted": "messagesDeleted",
                 "labelAdded": "labelsAdded", "labelRemoved": "labelsRemoved"}
MAX_BATCH = 100  # Gmail's limit of calls in one batch request


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # without the query
    query: Query
    batch_size: int = 0  # the number of parts, for a batch request


@dataclass
class FakeMessage:
    id: str
    thread_id: str
    label_ids: list[str]
    internal_date: int  # ms since the epoch, as Gmail reports it
    headers: list[tuple[str, str]]  # top-level headers, decoded
    snippet: str  # HTML-escaped, as Gmail sends it
    text: str = ""
    html: str = ""
    charset: str = "utf-8"
    raw: bytes | None = None  # given for sent mail; else built from the fields above when first needed
    history_id: int = 0

    def mime(self) -> Message:
        if self.raw is None:
            self.raw = _build_raw(self)
        return email.message_from_bytes(self.raw, policy=email.policy.default)

    @property
    def mime_type(self) -> str:
        if self.raw is not None:
            return self.mime().get_content_type()
        if self.text and self.html:
            return "multipart/alternative"
        return "text/html" if self.html else "text/plain"


@dataclass
class _Failure:
    status: int
    count: int
    retry_after: str | None
    path_contains: str
    reason: str | None


@dataclass
class _History:
    id: int
    kind: str  # messagesAdded, messagesDeleted, labelsAdded, labelsRemoved
    message: Json  # {"id", "threadId", "labelIds"} as it was then
    label_ids: list[str] = field(default_factory=list)  # for label changes


class FakeGmail(FakeHTTPServer):
    """Start with ``with FakeGmail() as fake:``; ``fake.url`` is the api_endpoint to configure.

    ``concurrent_limit`` models Gmail answering 429 "Too many concurrent requests for user" to the
    parts of a batch beyond that many."""

    def __init__(self, *, token: str = "gmail-access-token", address: str = "me@example.com",
                 concurrent_limit: int | None = None) -> None:
        super().__init__(_Handler, "fake-gmail")
        self.token = token
        # Set to an authorization server's check (FakeOAuth.is_active) to accept the tokens it issues.
        self.token_check: Callable[[str], bool] | None = None
        self.address = address
        self.concurrent_limit = concurrent_limit
        self._lock = threading.Lock()
        self._messages: dict[str, FakeMessage] = {}
        self._history: list[_History] = []
        self._history_id = 1000
        self._oldest_history = 0
        self._ids = itertools.count(0x19A0C3F000000000)
        self._clock = itertools.count()
        self._failures: list[_Failure] = []
        self._hooks: list[tuple[str, Callable[[], None]]] = []
        self._requests: list[RecordedRequest] = []
        self._batched: list[RecordedRequest] = []
        self.sent: list[bytes] = []  # the raw RFC 822 bytes of each messages.send, decoded

    # -- auth ------------------------------------------------------------------------------------

    def _authorized(self, header: str | None) -> bool:
        scheme, _, token = (header or "").partition(" ")
        if scheme != "Bearer" or not token:
            return False
        return self.token_check(token) if self.token_check is not None else token == self.token

    # -- the mailbox -----------------------------------------------------------------------------

    def add_message(self, *, sender: str = "Ann Example <ann@example.com>", to: tuple[str, ...] | None = None,
                    cc: tuple[str, ...] = (), subject: str = "Hello", text: str = "Hello there.", html: str = "",
                    charset: str = "utf-8", labels: tuple[str, ...] = ("INBOX", "UNREAD"),
                    thread_id: str | None = None, message_id: str | None = None, in_reply_to: str = "",
                    references: tuple[str, ...] = (), sent_at: datetime | None = None,
                    snippet: str | None = None) -> str:
        """A delivered (or, with labels=("SENT",), sent) message; returns its Gmail id."""
        with self._lock:
            return self._insert(sender, to if to is not None else (self.address,), cc, subject, text, html, charset,
                                labels, thread_id, message_id, in_reply_to, references, sent_at, snippet)

    def seed(self, n: int, *, labels: tuple[str, ...] = ("INBOX", "UNREAD")) -> list[str]:
        """``n`` plain messages from a few senders, fast (10,000 in well under a second)."""
        with self._lock:
            return [self._insert(f"Sender {k % 37} <sender{k % 37}@example.org>", (self.address,), (),
                                 f"Seeded message {k}", f"Body of seeded message {k}.", "", "utf-8", labels,
                                 None, None, "", (), None, None) for k in range(n)]

    def modify_labels(self, message_id: str, *, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> None:
        with self._lock:
            message = self._messages[message_id]
            added = [label for label in add if label not in message.label_ids]
            removed = [label for label in remove if label in message.label_ids]
            message.label_ids = [label for label in message.label_ids if label not in removed] + added
            if added:
                self._record("labelsAdded", message, added)
            if removed:
                self._record("labelsRemoved", message, removed)

    def mark_read(self, message_id: str) -> None:
        self.modify_labels(message_id, remove=("UNREAD",))

    def delete_message(self, message_id: str) -> None:
        """Deleted for good (not trashed), as users.messages.delete does."""
        with self._lock:
            self._record("messagesDeleted", self._messages.pop(message_id))

    def expire_history_before(self, history_id: int | str) -> None:
        """Forget older history: history.list from an earlier startHistoryId answers 404."""
        with self._lock:
            self._oldest_history = int(history_id)
            self._history = [record for record in self._history if record.id >= self._oldest_history]

    @property
    def history_id(self) -> int:
        with self._lock:
            return self._history_id

    def message(self, message_id: str) -> FakeMessage:
        with self._lock:
            return self._messages[message_id]

    def ids(self, label: str | None = None) -> set[str]:
        with self._lock:
            return {mid for mid, m in self._messages.items() if label is None or label in m.label_ids}

    # -- scripting and records -------------------------------------------------------------------

    def fail_next(self, status: int, count: int = 1, retry_after: float | str | None = None,
                  path_contains: str | None = None, reason: str | None = None) -> None:
        """Answer the next ``count`` requests (or batch parts) whose path contains ``path_contains``
        with ``status`` and Google's error body (``reason`` in it, e.g. "userRateLimitExceeded")."""
        hint = f"{retry_after:g}" if isinstance(retry_after, float | int) else retry_after
        with self._lock:
            self._failures.append(_Failure(status, count, hint, path_contains or "", reason))

    def before_next(self, path_contains: str, action: Callable[[], None]) -> None:
        """Run ``action`` once, just before serving the next request whose path contains ``path_contains``."""
        with self._lock:
            self._hooks.append((path_contains, action))

    @property
    def requests(self) -> list[RecordedRequest]:
        """HTTP requests received; a batch is one."""
        with self._lock:
            return list(self._requests)

    @property
    def batched(self) -> list[RecordedRequest]:
        """The parts of every batch request."""
        with self._lock:
            return list(self._batched)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()
            self._batched.clear()

    # -- state changes (under the lock) ----------------------------------------------------------

    def _insert(self, sender: str, to: tuple[str, ...], cc: tuple[str, ...], subject: str, text: str, html_body: str,
                charset: str, labels: tuple[str, ...], thread_id: str | None, message_id: str | None,
                in_reply_to: str, references: tuple[str, ...], sent_at: datetime | None, snippet: str | None) -> str:
        gmail_id = f"{next(self._ids):016x}"
        when = sent_at or FIRST_DATE + timedelta(minutes=next(self._clock))
        headers = [("From", sender), ("To", ", ".join(to)), ("Subject", subject), ("Date", format_datetime(when)),
                   ("Message-ID", message_id or f"<{gmail_id}@mail.example.org>")]
        if cc:
            headers.append(("Cc", ", ".join(cc)))
        if in_reply_to:
            headers.append(("In-Reply-To", in_reply_to))
        if references:
            headers.append(("References", " ".join(references)))
        message = FakeMessage(gmail_id, thread_id or gmail_id, list(labels), int(when.timestamp() * 1000), headers,
                              snippet if snippet is not None else _snippet(text or _strip_tags(html_body)),
                              text, html_body, charset)
        self._messages[gmail_id] = message
        self._record("messagesAdded", message)
        return gmail_id

    def _record(self, kind: str, message: FakeMessage, label_ids: list[str] | None = None) -> None:
        self._history_id += 1
        message.history_id = self._history_id
        snapshot = {"id": message.id, "threadId": message.thread_id, "labelIds": list(message.label_ids)}
        self._history.append(_History(self._history_id, kind, snapshot, list(label_ids or [])))

    # -- serving ---------------------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        is_batch = parts.path in ("/batch/gmail/v1", "/batch")
        batch = _parse_batch(handler.headers.get("Content-Type", ""), body) if is_batch else []
        self._run_hooks(parts.path)
        with self._lock:
            self._requests.append(RecordedRequest(handler.command, parts.path, query, len(batch)))
            failure = self._take_failure(parts.path)
        if failure is not None:
            handler.reply(*_failure_answer(failure))
        elif not self._authorized(handler.headers.get("Authorization")):
            handler.reply(*_unauthenticated())
        elif is_batch:
            self._serve_batch(handler, batch)
        else:
            handler.reply(*self._answer(handler.command, parts.path, query, body))

    def _serve_batch(self, handler: _Handler, parts: list[_Part]) -> None:
        if not parts or len(parts) > MAX_BATCH:
            handler.reply(400, _error(400, f"A batch must hold 1 to {MAX_BATCH} requests", "invalidArgument"), {})
            return
        boundary = "batch_fake_gmail_boundary"
        chunks = []
        for number, part in enumerate(parts):
            status, payload, extra = self._answer_part(number, part)
            content = json.dumps(payload)
            head = "".join(f"{name}: {value}\r\n" for name, value in extra.items())
            chunks.append(f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <response-{part.content_id}>"
                          f"\r\n\r\nHTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
                          f"Content-Type: application/json; charset=UTF-8\r\n{head}"
                          f"Content-Length: {len(content)}\r\n\r\n{content}\r\n")
        text = "".join(chunks) + f"--{boundary}--\r\n"
        handler.send_body(200, text.encode(), f"multipart/mixed; boundary={boundary}", {})

    def _answer_part(self, number: int, part: _Part) -> Answer:
        target = urlsplit(part.target)
        query = parse_qs(target.query, keep_blank_values=True)
        self._run_hooks(target.path)
        with self._lock:
            self._batched.append(RecordedRequest(part.method, target.path, query))
            failure = self._take_failure(target.path)
        if failure is not None:
            status, body, extra = _failure_answer(failure)
            return status, body, extra
        if not self._authorized(part.headers.get("authorization")):
            return _unauthenticated()
        if self.concurrent_limit is not None and number >= self.concurrent_limit:
            return 429, _error(429, "Too many concurrent requests for user", "rateLimitExceeded"), {}
        return self._answer(part.method, target.path, query, part.body)

    def _answer(self, method: str, path: str, query: Query, body: bytes) -> Answer:
        for name, verb, pattern in _ROUTES:
            match = pattern.fullmatch(path)
            if match and verb == method:
                user = unquote(match["user"])
                if user not in ("me", self.address):
                    return 403, _error(403, f"Delegation denied for {self.address}", "forbidden"), {}
                with self._lock:
                    status, payload = getattr(self, f"_{name}")(match.groupdict().get("id"), query, body)
                return status, payload, {}
        return 404, _error(404, "Not Found", "notFound"), {}

    def _run_hooks(self, path: str) -> None:
        with self._lock:
            due = [hook for hook in self._hooks if hook[0] in path]
            self._hooks = [hook for hook in self._hooks if hook not in due]
        for _, action in due:
            action()

    def _take_failure(self, path: str) -> _Failure | None:
        for failure in self._failures:
            if failure.path_contains in path:
                failure.count -= 1
                if failure.count <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    # Each endpoint runs under the lock and returns (status, JSON).

    def _profile(self, _: str | None, __: Query, ___: bytes) -> tuple[int, Json]:
        threads = {m.thread_id for m in self._messages.values()}
        return 200, {"emailAddress": self.address, "messagesTotal": len(self._messages),
                     "threadsTotal": len(threads), "historyId": str(self._history_id)}

    def _list(self, _: str | None, query: Query, __: bytes) -> tuple[int, Json]:
        labels = query.get("labelIds", [])
        hidden = set() if _first(query, "includeSpamTrash", "false") == "true" else {"SPAM", "TRASH"}
        matching = sorted(((m.internal_date, m.id) for m in self._messages.values()
                           if all(label in m.label_ids for label in labels) and not hidden & set(m.label_ids)),
                          reverse=True)
        token = _first(query, "pageToken", "")
        after = tuple(_read_token(token)) if token else None
        rest = [key for key in matching if after is None or key < after]
        size = _page_size(query)
        window = rest[:size]
        answer: Json = {"resultSizeEstimate": len(matching)}
        if window:
            answer["messages"] = [{"id": mid, "threadId": self._messages[mid].thread_id} for _, mid in window]
        if len(rest) > size:
            answer["nextPageToken"] = _make_token(list(window[-1]))
        return 200, answer

    def _get(self, message_id: str | None, query: Query, _: bytes) -> tuple[int, Json]:
        message = self._messages.get(message_id or "")
        if message is None:
            return 404, _not_found()
        fmt = _first(query, "format", "full")
        resource: Json = {"id": message.id, "threadId": message.thread_id, "labelIds": list(message.label_ids),
                          "snippet": message.snippet, "historyId": str(message.history_id),
                          "internalDate": str(message.internal_date),
                          "sizeEstimate": len(message.raw) if message.raw else 600 + len(message.text + message.html)}
        if fmt == "metadata":
            wanted = {name.lower() for name in query.get("metadataHeaders", [])}
            resource["payload"] = {"mimeType": message.mime_type, "headers": [
                {"name": name, "value": value} for name, value in message.headers
                if not wanted or name.lower() in wanted]}
        elif fmt == "full":
            resource["payload"] = _payload(message.mime(), "")
        elif fmt == "raw":
            message.mime()
            resource["raw"] = base64.urlsafe_b64encode(message.raw or b"").decode()
        elif fmt != "minimal":
            return 400, _error(400, f"Invalid value at 'format' ({fmt})", "invalidArgument")
        return 200, resource

    def _send(self, _: str | None, __: Query, body: bytes) -> tuple[int, Json]:
        try:
            request = json.loads(body or b"{}")
            raw_text = str(request["raw"])
            raw = base64.urlsafe_b64decode(raw_text + "=" * (-len(raw_text) % 4))
        except (ValueError, KeyError, TypeError):
            return 400, _error(400, "'raw' RFC822 payload message string or uploading message via /upload/* "
                                    "URL required", "invalidArgument")
        mime = email.message_from_bytes(raw, policy=email.policy.default)
        if not any(address for _, address in getaddresses(
                [str(mime.get(name, "")) for name in ("To", "Cc", "Bcc")])):
            return 400, _error(400, "Recipient address required", "invalidArgument")
        thread_id = request.get("threadId")
        if thread_id and not any(m.thread_id == thread_id for m in self._messages.values()):
            return 404, _not_found()
        plain = mime.get_body(preferencelist=("plain",))
        rich = mime.get_body(preferencelist=("html",))
        text = plain.get_content() if plain is not None else ""
        gmail_id = f"{next(self._ids):016x}"
        message = FakeMessage(gmail_id, thread_id or gmail_id, ["SENT"],
                              int(datetime.now(UTC).timestamp() * 1000),
                              [(name, str(value)) for name, value in mime.items()], _snippet(text), text,
                              rich.get_content() if rich is not None else "", raw=raw)
        self._messages[gmail_id] = message
        self._record("messagesAdded", message)
        self.sent.append(raw)
        return 200, {"id": gmail_id, "threadId": message.thread_id, "labelIds": ["SENT"]}

    def _history_list(self, _: str | None, query: Query, __: bytes) -> tuple[int, Json]:
        try:
            start = int(_first(query, "startHistoryId", ""))
        except ValueError:
            return 400, _error(400, "Invalid startHistoryId", "invalidArgument")
        if start < self._oldest_history:
            return 404, _not_found()
        kinds = {HISTORY_KINDS[kind] for kind in query.get("historyTypes", []) if kind in HISTORY_KINDS} \
            or set(HISTORY_KINDS.values())
        token = _first(query, "pageToken", "")
        after = int(_read_token(token)[0]) if token else start
        rest = [record for record in self._history if record.id > after and record.kind in kinds]
        size = _page_size(query)
        answer: Json = {"historyId": str(self._history_id)}
        if rest[:size]:
            answer["history"] = [_history_json(record) for record in rest[:size]]
        if len(rest) > size:
            answer["nextPageToken"] = _make_token([rest[size - 1].id])
        return 200, answer


_ROUTES = [
    ("profile", "GET", re.compile(r"/gmail/v1/users/(?P<user>[^/]+)/profile")),
    ("list", "GET", re.compile(r"/gmail/v1/users/(?P<user>[^/]+)/messages")),
    ("send", "POST", re.compile(r"/gmail/v1/users/(?P<user>[^/]+)/messages/send")),
    ("get", "GET", re.compile(r"/gmail/v1/users/(?P<user>[^/]+)/messages/(?P<id>[^/]+)")),
    ("history_list", "GET", re.compile(r"/gmail/v1/users/(?P<user>[^/]+)/history")),
]

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
_STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
_DEFAULT_REASONS = {401: "authError", 403: "forbidden", 404: "notFound", 429: "rateLimitExceeded",
                    500: "backendError", 503: "backendError"}


@dataclass(frozen=True)
class _Part:
    """One request inside a batch, as BatchHttpRequest serialises it."""

    content_id: str  # inside the angle brackets
    method: str
    target: str  # path and query
    headers: dict[str, str]  # lower-cased names
    body: bytes


def _parse_batch(content_type: str, body: bytes) -> list[_Part]:
    """The parts of a multipart/mixed batch body, split by hand: the email parser would make the
    fake slower than the client it serves."""
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    if not found:
        return []
    parts = []
    for chunk in body.decode().split("--" + found[1])[1:]:
        if chunk.startswith("--"):
            break
        mime_head, _, http_request = _split_head(chunk.lstrip("\r\n"))
        request_line, _, rest = http_request.partition("\n")
        method, target, _version = request_line.strip().split(" ", 2)
        head, _, content = _split_head(rest)
        headers = _header_lines(head)
        content_id = _header_lines(mime_head).get("content-id", "").strip().strip("<>")
        parts.append(_Part(content_id, method, target, headers, content.rstrip("\r\n").encode()))
    return parts


def _split_head(text: str) -> tuple[str, str, str]:
    """Headers and body, whichever line ending the sender used."""
    match = re.search(r"\r?\n\r?\n", text)
    return (text[:match.start()], "", text[match.end():]) if match else (text, "", "")


def _header_lines(head: str) -> dict[str, str]:
    pairs = (line.split(":", 1) for line in head.splitlines() if ":" in line)
    return {name.strip().lower(): value.strip() for name, value in pairs}


def _payload(part: Message, part_id: str) -> Json:
    """A MIME part as Gmail's MessagePart: leaves carry their decoded bytes as base64url."""
    node: Json = {"partId": part_id, "mimeType": part.get_content_type(), "filename": part.get_filename() or "",
                  "headers": [{"name": name, "value": str(value)} for name, value in part.items()]}
    if part.is_multipart():
        node["body"] = {"size": 0}
        prefix = f"{part_id}." if part_id else ""
        node["parts"] = [_payload(child, f"{prefix}{n}") for n, child in enumerate(part.get_payload())]
    else:
        data = part.get_payload(decode=True) or b""
        node["body"] = {"size": len(data), "data": base64.urlsafe_b64encode(data).decode()}
    return node


def _build_raw(message: FakeMessage) -> bytes:
    mail = EmailMessage()
    for name, value in message.headers:
        mail[name] = value
    if message.text and message.html:
        mail.set_content(message.text, charset=message.charset)
        mail.add_alternative(message.html, subtype="html", charset=message.charset)
    elif message.html:
        mail.set_content(message.html, subtype="html", charset=message.charset)
    else:
        mail.set_content(message.text, charset=message.charset)
    return mail.as_bytes()


def _history_json(record: _History) -> Json:
    ref = {"id": record.message["id"], "threadId": record.message["threadId"]}
    entry: Json = {"message": record.message}
    if record.label_ids:
        entry["labelIds"] = record.label_ids
    return {"id": str(record.id), "messages": [ref], record.kind: [entry]}


def _snippet(text: str) -> str:
    """Gmail's preview: the start of the text on one line, HTML-escaped (an apostrophe is &#39;)."""
    return html.escape(" ".join(text.split())[:200]).replace("&#x27;", "&#39;")


def _strip_tags(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


def _make_token(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _read_token(token: str) -> list[Any]:
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def _page_size(query: Query) -> int:
    return max(1, min(int(_first(query, "maxResults", "100")), 500))


def _first(query: Query, name: str, default: str) -> str:
    return query.get(name, [default])[0]


def _error(status: int, message: str, reason: str) -> Json:
    """Google's JSON error body."""
    return {"error": {"code": status, "message": message,
                      "errors": [{"message": message, "domain": "global", "reason": reason}],
                      "status": _STATUS_NAMES.get(status, "UNKNOWN")}}


def _not_found() -> Json:
    return _error(404, "Requested entity was not found.", "notFound")


def _unauthenticated() -> Answer:
    body = _error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
                       "cookie or other valid authentication credential.", "authError")
    return 401, body, {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}


def _failure_answer(failure: _Failure) -> Answer:
    messages = {429: "Too many concurrent requests for user", 403: "User-rate limit exceeded."}
    body = _error(failure.status, messages.get(failure.status, "Scripted failure"),
                  failure.reason or _DEFAULT_REASONS.get(failure.status, "backendError"))
    return failure.status, body, {} if failure.retry_after is None else {"Retry-After": failure.retry_after}


class _Handler(QuietHandler):
    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        try:
            self.server.fake._serve(self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def reply(self, status: int, body: Json, extra: dict[str, str]) -> None:
        self.send_body(status, json.dumps(body).encode(), "application/json; charset=UTF-8", extra)
