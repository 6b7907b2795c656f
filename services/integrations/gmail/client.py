"""Gmail as an `InboxSource`, through google-api-python-client.

The only module importing googleapiclient, google.oauth2 and google.auth. The access token is
used as given: refreshing it is the caller's job, so a 401 means the account must be reconnected.

Requests are kept few, as Gmail bills per call: a full sync lists ids (up to 500 a page) and
reads their headers in batch requests of 50 (Gmail rate-limits larger batches); an incremental
sync is one history.list per 500 changes plus one batch per 50 touched messages. Every request
goes through `Backoff`, and a sub-request of a batch that Gmail asks to retry is sent again in
the next batch after the wait, so nothing is lost.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.utils import formatdate, getaddresses, parseaddr
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httplib2
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import BatchError, HttpError
from googleapiclient.http import BatchHttpRequest

from services.integrations.backoff import (
    Backoff,
    RetryLater,
    is_transient,
    retry_after_seconds,
)
from services.integrations.base import (
    ChangePage,
    InboxMessage,
    IntegrationAuthError,
    IntegrationError,
    IntegrationUncertain,
    MailBody,
    Reply,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
Json = dict[str, Any]

GMAIL_ROOT = "https://gmail.googleapis.com"
BATCH_PATH = "/batch/gmail/v1"  # the discovery document's batchPath ignores a custom api_endpoint
BATCH_SIZE = 50  # Gmail's advice: larger batches get their sub-requests rate-limited
MAX_PAGE = 500  # the most messages.list and history.list return per page
FOLDERS = ("INBOX", "SENT")  # what the unified inbox keeps of a Gmail account
HIDDEN = frozenset({"TRASH", "SPAM"})
METADATA_HEADERS = ["From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References"]
HISTORY_TYPES = ["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"]
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
MESSAGE_GONE = "This message is no longer in Gmail."


class NotInGmail(IntegrationError):
    """Gmail answered 404: the message was deleted, or the history position has expired."""


@dataclass(frozen=True)
class _Cursor:
    """Where the next incremental sync starts, and whose mailbox it is (for `mentions_me`)."""

    history_id: str
    address: str

    def dump(self) -> str:
        return json.dumps({"history_id": self.history_id, "email": self.address})

    @staticmethod
    def load(text: str) -> _Cursor | None:
        try:
            data = json.loads(text)
            return _Cursor(str(int(data["history_id"])), str(data["email"]))
        except (ValueError, TypeError, KeyError):
            return None


class GmailSource:
    """One Gmail account signed in with an OAuth access token (scope gmail.modify or
    gmail.readonly + gmail.send)."""

    def __init__(self, access_token: str, *, api_endpoint: str | None = None, backoff: Backoff | None = None,
                 page_size: int = MAX_PAGE) -> None:
        if not access_token:
            raise IntegrationAuthError("There is no Gmail sign-in for this account; reconnect the account")
        root = (api_endpoint or GMAIL_ROOT).rstrip("/")
        service = build("gmail", "v1", credentials=Credentials(token=access_token), static_discovery=True,
                        cache_discovery=False, client_options={"api_endpoint": root + "/"} if api_endpoint else None)
        self._users = service.users()
        self._messages = self._users.messages()
        self._history = self._users.history()
        self._batch_uri = root + BATCH_PATH
        self._host = urlsplit(root).netloc
        self._backoff = backoff or Backoff("Gmail")
        self._page_size = max(1, min(page_size, MAX_PAGE))
        self._address = ""

    # -- InboxSource -----------------------------------------------------------------------------

    def check(self) -> str:
        return str(self._profile()["emailAddress"])

    def changes(self, cursor: str | None) -> Iterator[ChangePage]:
        state = _Cursor.load(cursor) if cursor else None
        if state is None:
            if cursor:
                log.warning("Unreadable Gmail sync cursor; starting a full sync")
            yield from self._full_sync()
            return
        try:
            touched, deleted, history_id = self._history_since(state.history_id)
        except NotInGmail:
            log.info("Gmail no longer has history since %s; starting a full sync", state.history_id)
            yield from self._full_sync()
            return
        self._address = state.address
        next_cursor = _Cursor(history_id, state.address).dump()
        pages = list(_chunks(touched, self._page_size)) or [[]]
        for number, ids in enumerate(pages, 1):
            found = self._metadata(ids)
            kept = [found[i] for i in ids if i in found and _in_folders(found[i])]
            kept_ids = {data["id"] for data in kept}
            dropped = [i for i in ids if i not in kept_ids]  # deleted, archived, trashed or spam since
            last = number == len(pages)
            yield ChangePage(messages=tuple(self._message(data) for data in kept),
                             removed=tuple(dropped + (deleted if last else [])),
                             cursor=next_cursor if last else None)

    def body(self, external_id: str) -> MailBody:
        if not external_id:
            raise IntegrationError(MESSAGE_GONE)
        data = self._call("reading a message",
                          lambda: self._messages.get(userId="me", id=external_id, format="full").execute(),
                          not_found=MESSAGE_GONE)
        found: dict[str, str] = {}
        for part in _parts(data.get("payload") or {}):
            mime = str(part.get("mimeType", "")).lower()
            if mime in ("text/plain", "text/html") and mime not in found and not part.get("filename") \
                    and "data" in (part.get("body") or {}):
                found[mime] = _part_text(part)
        return MailBody(text=found.get("text/plain", ""), html=found.get("text/html", ""))

    def send(self, reply: Reply) -> str:
        body: Json = {"raw": base64.urlsafe_b64encode(self._rfc822(reply)).decode("ascii")}
        if reply.thread_id:
            body["threadId"] = reply.thread_id
        sent = self._call("sending a message", lambda: self._messages.send(userId="me", body=body).execute(),
                          not_found="The conversation replied to is no longer in Gmail.", uncertain=True)
        return str(sent.get("id", ""))

    # -- syncing ---------------------------------------------------------------------------------

    def _full_sync(self) -> Iterator[ChangePage]:
        """Every INBOX and SENT message, one page per listing page. The historyId is read before
        listing, so a change made while listing is replayed by the next incremental sync."""
        profile = self._profile()
        cursor = _Cursor(str(profile["historyId"]), self._address).dump()
        seen: set[str] = set()
        first = True
        for ids, last in _with_last(self._listed_ids()):
            fresh = [i for i in dict.fromkeys(ids) if i not in seen]  # a mail to oneself is in both folders
            seen.update(fresh)
            found = self._metadata(fresh)
            messages = tuple(self._message(found[i]) for i in fresh if i in found and _in_folders(found[i]))
            yield ChangePage(messages=messages, cursor=cursor if last else None, reset=first)
            first = False

    def _listed_ids(self) -> Iterator[list[str]]:
        for label in FOLDERS:
            token: str | None = None
            while True:
                response = self._call(f"listing {label}", lambda token=token, label=label: self._messages.list(
                    userId="me", labelIds=[label], maxResults=self._page_size, pageToken=token).execute())
                yield [entry["id"] for entry in response.get("messages", [])]
                token = response.get("nextPageToken")
                if not token:
                    break

    def _history_since(self, start: str) -> tuple[list[str], list[str], str]:
        """Ids of messages added or relabelled since `start`, ids deleted since, and the new historyId."""
        touched: dict[str, None] = {}
        deleted: dict[str, None] = {}
        token: str | None = None
        while True:
            response = self._call("reading the mailbox history", lambda token=token: self._history.list(
                userId="me", startHistoryId=start, historyTypes=HISTORY_TYPES, maxResults=self._page_size,
                pageToken=token).execute(), not_found="The Gmail history position has expired.")
            for record in response.get("history", []):
                for kind in ("messagesAdded", "labelsAdded", "labelsRemoved"):
                    touched.update((entry["message"]["id"], None) for entry in record.get(kind, []))
                for entry in record.get("messagesDeleted", []):
                    touched.pop(entry["message"]["id"], None)
                    deleted[entry["message"]["id"]] = None
            token = response.get("nextPageToken")
            if not token:
                return [i for i in touched if i not in deleted], list(deleted), str(response["historyId"])

    def _metadata(self, ids: list[str]) -> dict[str, Json]:
        """The headers of `ids` by id, BATCH_SIZE per batch request; a message gone since it was
        listed (404) is left out."""
        found: dict[str, Json] = {}
        for chunk in _chunks(ids, BATCH_SIZE):
            pending = list(chunk)
            self._call("reading message headers", lambda pending=pending: self._batch_get(pending, found))
        return found

    def _batch_get(self, pending: list[str], found: dict[str, Json]) -> None:
        """One batch for `pending`. Answers land in `found`; the sub-requests Gmail refused stay in
        `pending`, and the worst refusal is raised (a RetryLater makes Backoff wait and call again)."""
        refused: dict[str, HttpError] = {}

        def collect(request_id: str, response: Json | None, exception: HttpError | None) -> None:
            if exception is None and response is not None:
                found[request_id] = response
            elif exception is not None and exception.status_code != 404:
                refused[request_id] = exception

        batch = BatchHttpRequest(callback=collect, batch_uri=self._batch_uri)
        for message_id in pending:
            batch.add(self._messages.get(userId="me", id=message_id, format="metadata",
                                         metadataHeaders=METADATA_HEADERS), request_id=message_id)
        batch.execute()
        pending[:] = list(refused)
        failures = [_failure(exc, "reading message headers") for exc in refused.values()]
        fatal = [failure for failure in failures if not isinstance(failure, RetryLater)]
        if fatal:
            raise fatal[0]
        if failures:
            raise max(failures, key=lambda failure: getattr(failure, "retry_after", None) or 0.0)

    def _profile(self) -> Json:
        profile = self._call("reading the account profile", lambda: self._users.getProfile(userId="me").execute())
        self._address = str(profile["emailAddress"])
        return profile

    def _message(self, data: Json) -> InboxMessage:
        headers = _headers(data)
        labels = set(data.get("labelIds") or ())
        name, address = parseaddr(headers.get("from", ""))
        to = _addresses(headers.get("to"))
        from_me = "SENT" in labels
        return InboxMessage(
            external_id=str(data["id"]),
            thread_id=str(data.get("threadId") or data["id"]),
            sender_name=_decoded(name),
            sender_address=address,
            subject=_decoded(headers.get("subject", "")),
            snippet=html.unescape(data.get("snippet", "")),
            sent_at=datetime.fromtimestamp(int(data.get("internalDate", 0)) / 1000, tz=UTC),
            unread="UNREAD" in labels,
            from_me=from_me,
            to=to,
            cc=_addresses(headers.get("cc")),
            folder="SENT" if from_me else "INBOX",
            message_id=next(iter(_ids(headers.get("message-id"))), ""),
            in_reply_to=next(iter(_ids(headers.get("in-reply-to"))), ""),
            references=_ids(headers.get("references")),
            mentions_me=bool(self._address) and self._address.lower() in {a.lower() for a in to},
        )

    # -- sending ---------------------------------------------------------------------------------

    def _rfc822(self, reply: Reply) -> bytes:
        """The reply as a MIME message; its Message-ID comes from `reply.key`, so a retried send
        carries the same id."""
        if not reply.to and not reply.cc:
            raise IntegrationError("Add at least one recipient before sending")
        for recipient in reply.to + reply.cc:
            if "@" not in parseaddr(recipient)[1]:
                raise IntegrationError(f"{recipient!r} is not a mail address")
        if not reply.key:
            raise IntegrationError("The draft has no key to identify it; save it again before sending")
        mail = EmailMessage()
        try:
            mail["From"] = self._address or self.check()
            if reply.to:
                mail["To"] = ", ".join(reply.to)
            if reply.cc:
                mail["Cc"] = ", ".join(reply.cc)
            mail["Subject"] = _reply_subject(reply)
            mail["Date"] = formatdate(usegmt=True)
            mail["Message-ID"] = "<" + re.sub(r"[^A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]", "-", reply.key) + "@llmcoder>"
            references = list(dict.fromkeys(reply.references + ((reply.in_reply_to,) if reply.in_reply_to else ())))
            if reply.in_reply_to:
                mail["In-Reply-To"] = reply.in_reply_to
            if references:
                mail["References"] = " ".join(references)
        except ValueError as exc:  # a line break in a header: never let it through
            raise IntegrationError(f"The message cannot be sent: {exc}") from exc
        mail.set_content(reply.text)
        return mail.as_bytes()

    # -- one request -----------------------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], T], not_found: str | None = None, *, uncertain: bool = False) -> T:
        """`call()` through Backoff; every failure becomes an IntegrationError a user can act on.
        `uncertain`: a server error may have come after Gmail acted (a send), so it is not retried."""
        def attempt() -> T:
            try:
                return call()
            except HttpError as exc:
                failure = _failure(exc, what, not_found)
                if uncertain and isinstance(failure, RetryLater) and failure.status >= 500:
                    raise IntegrationUncertain(f"Gmail failed (HTTP {failure.status}) while {what}; the message may "
                                               "have gone out") from exc
                raise failure from exc
            except RefreshError as exc:  # google-auth tries a refresh on 401; this token has none
                raise IntegrationAuthError(f"Gmail refused the sign-in while {what}; reconnect the account") from exc
            except BatchError as exc:
                raise IntegrationError(f"Gmail sent an unreadable batch answer while {what}; try again later") from exc
            except (OSError, httplib2.HttpLib2Error) as exc:
                raise IntegrationError(f"Could not reach Gmail at {self._host} while {what} "
                                       f"({type(exc).__name__}); check the network connection") from exc
        return self._backoff.run(what, attempt)


def _failure(exc: HttpError, what: str, not_found: str | None = None) -> Exception:
    """What an HTTP error means: RetryLater for rate limits and server errors, else an IntegrationError."""
    status = int(exc.status_code)
    rate_limited = status == 403 and _reason(exc) in RATE_LIMIT_REASONS
    if is_transient(status) or rate_limited:
        return RetryLater(429 if rate_limited else status, retry_after_seconds(exc.resp.get("retry-after")))
    if status == 401:
        return IntegrationAuthError(f"Gmail refused the sign-in (HTTP 401) while {what}; reconnect the account")
    if status == 403:
        return IntegrationAuthError(f"Gmail refused access (HTTP 403: {exc.reason}) while {what}; reconnect the "
                                    "account and allow LLMCoder to read and send mail")
    if status == 404:
        return NotInGmail(not_found or f"Gmail found nothing to answer while {what} (HTTP 404)")
    return IntegrationError(f"Gmail rejected the request while {what} (HTTP {status}: {exc.reason})")


def _reason(exc: HttpError) -> str:
    """The `reason` of Google's error body ("rateLimitExceeded", "insufficientPermissions", ...)."""
    try:
        return str(json.loads(exc.content)["error"]["errors"][0]["reason"])
    except (ValueError, KeyError, IndexError, TypeError):
        return ""


def _in_folders(data: Json) -> bool:
    labels = set(data.get("labelIds") or ())
    return bool(labels.intersection(FOLDERS)) and not labels & HIDDEN


def _headers(data: Json) -> dict[str, str]:
    """Lower-cased header names to their first value, as Gmail sent them."""
    headers: dict[str, str] = {}
    for header in (data.get("payload") or {}).get("headers", []):
        headers.setdefault(str(header["name"]).lower(), str(header["value"]))
    return headers


def _decoded(value: str) -> str:
    """RFC 2047 encoded words decoded; Gmail usually decodes them already."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, UnicodeDecodeError, ValueError):
        return value


def _addresses(value: str | None) -> tuple[str, ...]:
    return tuple(address for _, address in getaddresses([value]) if address) if value else ()


def _ids(value: str | None) -> tuple[str, ...]:
    return tuple(re.findall(r"<[^<>\s]+>", value or ""))


def _reply_subject(reply: Reply) -> str:
    subject = reply.subject.strip()
    replying = bool(reply.in_reply_to or reply.thread_id)
    return subject if not replying or re.match(r"(?i)re\s*:", subject) else f"Re: {subject}"


def _parts(part: Json) -> Iterator[Json]:
    """A payload and its sub-parts, depth first, in the message's order."""
    yield part
    for child in part.get("parts") or ():
        yield from _parts(child)


def _part_text(part: Json) -> str:
    data = str(part["body"]["data"])
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    content_type = next((str(h["value"]) for h in part.get("headers", []) if str(h["name"]).lower() == "content-type"),
                        "text/plain")
    holder = Message()
    holder["Content-Type"] = content_type
    charset = holder.get_content_charset() or "utf-8"
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        return raw.decode("utf-8", errors="replace")


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _with_last(pages: Iterable[list[str]]) -> Iterator[tuple[list[str], bool]]:
    """Each page with whether it is the last one (looking one page ahead)."""
    iterator = iter(pages)
    current = next(iterator, None)
    while current is not None:
        following = next(iterator, None)
        yield current, following is None
        current = following
