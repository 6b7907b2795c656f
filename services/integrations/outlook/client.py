"""Outlook / Microsoft 365 mail as an `InboxSource`, over Microsoft Graph v1.0 with httpx.

The only module that calls Graph. The access token is used as given: another module refreshes it
before building an `OutlookSource`, so a 401 here means the user has to reconnect the account.

Choices worth knowing:

* Sync is a delta query per folder (Inbox, then Sent Items), one `ChangePage` per Graph page,
  next links followed verbatim. The two delta links are stored together as the cursor, on the last
  page of Sent Items only. An expired sync state (HTTP 410) restarts a full sync announced by `reset`.
* Every request asks for immutable ids (`Prefer: IdType="ImmutableId"`): an id survives moves
  between folders, so a draft's id is also the id of its sent copy, which `send()` returns and the
  next sync reports.
* Replies are threaded by `conversationId`. In-Reply-To/References stay empty: Graph returns
  `internetMessageHeaders` only when one message is read on its own, one request per message.
* `body()` asks twice, once per `Prefer: outlook.body-content-type`, so the text is Exchange's own
  rendering of the mail rather than our stripping of its HTML.
* `send()` writes a draft (`createReply` on the mail replied to, found by its internetMessageId, or a
  new message), tagged with `Reply.key` as an extended property, then sends it. Not `/sendMail`: a
  retry after a lost answer would send twice, while a draft is sent again only if it still is one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any, NamedTuple, Self
from urllib.parse import quote, urlsplit

import httpx

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
    MailBody,
    Reply,
)

log = logging.getLogger(__name__)

Json = dict[str, Any]
GRAPH_URL = "https://graph.microsoft.com/v1.0"
IMMUTABLE_IDS = 'IdType="ImmutableId"'
MESSAGE_FIELDS = ("subject,from,toRecipients,ccRecipients,receivedDateTime,isRead,conversationId,"
                  "internetMessageId,bodyPreview")
# A single-value extended property in our own namespace: the sent copy carries the Reply.key.
KEY_PROPERTY = "String {4f6b2c1e-8d3a-4e57-9b0c-2a7d5e9f1c38} Name LLMCoderKey"
SNIPPET_CHARS = 200
CURSOR_VERSION = 1


class _Folder(NamedTuple):
    name: str  # Graph's well-known folder name
    label: str  # InboxMessage.folder
    title: str  # as Outlook shows it, for messages


FOLDERS = (_Folder("inbox", "INBOX", "Inbox"), _Folder("sentitems", "SENT", "Sent Items"))


class MessageGone(IntegrationError):
    """The message was deleted (or moved out of the mailbox) since it was synced."""


class SyncStateLost(IntegrationError):
    """Graph no longer knows the delta token (HTTP 410): only a full sync can continue."""


class OutlookSource:
    """One Microsoft 365 / Outlook.com mailbox, reached with a delegated access token."""

    def __init__(self, access_token: str, *, base_url: str = GRAPH_URL, backoff: Backoff | None = None,
                 page_size: int = 100, timeout: float = 30) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise IntegrationError("The Microsoft Graph URL must start with http:// or https:// and name a host")
        self.base_url = base_url.rstrip("/")
        self._backoff = backoff or Backoff("Microsoft Graph")
        self._page_size = page_size
        self._address: str | None = None
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout,
                                  headers={"Authorization": f"Bearer {access_token}"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- InboxSource ---------------------------------------------------------------------------

    def check(self) -> str:
        me = self._call("reading the signed-in user", "GET", "/me", params={"$select": "mail,userPrincipalName"})
        self._address = str(me.get("mail") or me.get("userPrincipalName") or "")
        return self._address

    def changes(self, cursor: str | None) -> Iterator[ChangePage]:
        """Delta pages of Inbox then Sent Items. A sync state Graph dropped (an old cursor, or a
        next link that expired during the sync) restarts a full sync once, whose first page has
        `reset` set even when earlier pages of this call were already yielded."""
        links = self._links(cursor)
        try:
            yield from self._sync(links)
        except SyncStateLost:
            log.info("Microsoft Graph dropped the mail sync state; starting a full sync")
            yield from self._sync(None)

    def body(self, external_id: str) -> MailBody:
        return MailBody(text=self._body(external_id, "text"), html=self._body(external_id, "html"))

    def send(self, reply: Reply) -> str:
        """Sends exactly once per call; returns the sent message's id (it may take Outlook a moment
        to show it in Sent Items)."""
        if reply.thread_id and not reply.in_reply_to:
            raise IntegrationError("Cannot reply in Outlook without the Message-ID of the mail replied to")
        fields: Json = {"body": {"contentType": "Text", "content": reply.text},
                        "singleValueExtendedProperties": [{"id": KEY_PROPERTY, "value": reply.key}]}
        if reply.subject:
            fields["subject"] = reply.subject
        if reply.to:
            fields["toRecipients"] = _recipients(reply.to)
        if reply.cc:
            fields["ccRecipients"] = _recipients(reply.cc)
        if reply.in_reply_to:
            target = self._find(reply.in_reply_to, reply.thread_id)
            draft = self._call("preparing the reply", "POST", f"{_message_path(target)}/createReply",
                               body={"message": fields})
        elif reply.to:
            draft = self._call("preparing the mail", "POST", "/me/messages", body=fields)
        else:
            raise IntegrationError("A new Outlook mail needs at least one recipient")
        draft_id = str(draft["id"])
        self._deliver(draft_id)
        return draft_id

    # -- sync ----------------------------------------------------------------------------------

    def _sync(self, links: dict[str, str] | None) -> Iterator[ChangePage]:
        """One pass over both folders, from `links` (None: from scratch, with `reset`)."""
        me = (self._address if self._address is not None else self.check()).lower()
        reset = links is None
        done: dict[str, str] = {}
        for folder in FOLDERS:
            url = links[folder.name] if links else f"/me/mailFolders/{folder.name}/messages/delta"
            params: Json | None = None if links else {"$select": MESSAGE_FIELDS}
            while True:
                page = self._call(f"reading changes in {folder.title}", "GET", url, params=params,
                                  prefer=(f"odata.maxpagesize={self._page_size}",))
                messages, removed = [], []
                for item in page.get("value", []):
                    if "@removed" in item:
                        removed.append(str(item["id"]))
                    else:
                        messages.append(_message(item, folder, me))
                delta = page.get("@odata.deltaLink")
                if delta:
                    done[folder.name] = str(delta)
                last = bool(delta) and folder is FOLDERS[-1]
                yield ChangePage(tuple(messages), tuple(removed), reset=reset,
                                 cursor=json.dumps({"v": CURSOR_VERSION, **done}) if last else None)
                reset = False
                if delta:
                    break
                url, params = page.get("@odata.nextLink"), None
                if not url:
                    raise IntegrationError(f"Microsoft Graph ended a page of {folder.title} changes without a "
                                           "next or delta link; try syncing again")

    def _links(self, cursor: str | None) -> dict[str, str] | None:
        """The delta link per folder from a cursor, or None (a full sync) when there is none or it
        cannot be used: unreadable, of another version, or for another Graph URL."""
        if not cursor:
            return None
        try:
            data = json.loads(cursor)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("v") == CURSOR_VERSION:
            links = {folder.name: data.get(folder.name) for folder in FOLDERS}
            if all(isinstance(link, str) and self._is_ours(link) for link in links.values()):
                return links
        log.warning("The stored Outlook sync cursor cannot be used; starting a full sync")
        return None

    def _is_ours(self, url: str) -> bool:
        return url.startswith(self.base_url + "/")

    # -- messages ------------------------------------------------------------------------------

    def _body(self, external_id: str, kind: str) -> str:
        data = self._call(f"reading a message ({kind})", "GET", _message_path(external_id),
                          params={"$select": "body"}, prefer=(f'outlook.body-content-type="{kind}"',),
                          missing="This message is no longer in Outlook.")
        return str((data.get("body") or {}).get("content") or "")

    def _find(self, message_id: str, thread_id: str) -> str:
        """The Graph id of the mail with this Message-ID, preferring a copy in the given conversation."""
        literal = message_id.replace("'", "''")
        found = self._call("finding the mail replied to", "GET", "/me/messages",
                           params={"$filter": f"internetMessageId eq '{literal}'",
                                   "$select": "id,conversationId"}).get("value", [])
        if not found:
            raise MessageGone("The mail you are replying to is no longer in Outlook.")
        same = [item for item in found if item.get("conversationId") == thread_id]
        return str((same or found)[0]["id"])

    def _deliver(self, draft_id: str) -> None:
        """POST .../send, retried through the backoff; before a retry, a draft that is no longer a
        draft (or is gone: its sent copy is still being written) was sent by the earlier attempt."""
        path = _message_path(draft_id)
        attempts = 0

        def attempt() -> None:
            nonlocal attempts
            if attempts:
                try:
                    state = self._once("checking the draft", "GET", path, {"$select": "isDraft"}, None, (),
                                       "The draft is no longer in Drafts.")
                except MessageGone:
                    return
                if not state.get("isDraft", True):
                    return
            attempts += 1
            self._once("sending the mail", "POST", f"{path}/send", None, None, (), None)

        self._backoff.run("sending the mail", attempt)

    # -- HTTP ----------------------------------------------------------------------------------

    def _call(self, what: str, method: str, url: str, *, params: Json | None = None, body: Json | None = None,
              prefer: tuple[str, ...] = (), missing: str | None = None) -> Json:
        """One Graph request, retried on 429 and 5xx as the backoff allows."""
        return self._backoff.run(what, partial(self._once, what, method, url, params, body, prefer, missing))

    def _once(self, what: str, method: str, url: str, params: Json | None, body: Json | None,
              prefer: tuple[str, ...], missing: str | None) -> Json:
        """One attempt; a 404 becomes MessageGone(`missing`) when `missing` is given."""
        if urlsplit(url).scheme and not self._is_ours(url):
            raise IntegrationError(f"Microsoft Graph sent a link outside {self.base_url} while {what}; not following it")
        try:
            response = self._http.request(method, url, params=params, json=body,
                                          headers={"Prefer": ", ".join((IMMUTABLE_IDS, *prefer))})
        except httpx.TransportError as exc:
            kind = "the request timed out" if isinstance(exc, httpx.TimeoutException) else "the connection failed"
            raise IntegrationError(f"Could not reach Microsoft Graph at {self.base_url} ({kind}) while {what}; "
                                   "check the network and try again") from exc
        status = response.status_code
        if status < 300:
            return _json(response, what)
        if is_transient(status):
            raise RetryLater(status, retry_after_seconds(response.headers.get("Retry-After")))
        code, message = _graph_error(response)
        if status == 401:
            raise IntegrationAuthError(f"Microsoft refused the sign-in (HTTP 401) while {what}; "
                                       "reconnect the account")
        if status == 403:
            raise IntegrationAuthError(f"Microsoft refused access to the mailbox (HTTP 403{_colon(message)}) while "
                                       f"{what}; reconnect the account and allow mail access")
        if status == 404 and missing:
            raise MessageGone(missing)
        if status == 410:
            raise SyncStateLost(f"Microsoft Graph dropped the mail sync state ({code or 'HTTP 410'}) while {what}; "
                                "the next sync starts over")
        raise IntegrationError(f"Microsoft Graph rejected the request while {what} (HTTP {status}{_colon(message)})")


def _message(item: Json, folder: _Folder, me: str) -> InboxMessage:
    sender = (item.get("from") or {}).get("emailAddress") or {}
    to = _addresses(item.get("toRecipients"))
    return InboxMessage(
        external_id=str(item["id"]),
        thread_id=str(item.get("conversationId") or item["id"]),
        sender_name=str(sender.get("name") or ""),
        sender_address=str(sender.get("address") or ""),
        subject=str(item.get("subject") or ""),
        snippet=" ".join(str(item.get("bodyPreview") or "").split())[:SNIPPET_CHARS],
        sent_at=_utc(item.get("receivedDateTime")),
        unread=not item.get("isRead", True),
        from_me=folder.label == "SENT",
        to=to,
        cc=_addresses(item.get("ccRecipients")),
        folder=folder.label,
        message_id=str(item.get("internetMessageId") or ""),
        mentions_me=bool(me) and me in (address.lower() for address in to),
    )


def _addresses(recipients: list[Json] | None) -> tuple[str, ...]:
    return tuple(str(r["emailAddress"]["address"]) for r in recipients or []
                 if (r.get("emailAddress") or {}).get("address"))


def _recipients(addresses: tuple[str, ...]) -> list[Json]:
    return [{"emailAddress": {"address": address}} for address in addresses]


def _utc(value: object) -> datetime:
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise IntegrationError(f"Microsoft Graph sent an unreadable date ({value!r}) for a message") from exc
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


def _message_path(message_id: str) -> str:
    return f"/me/messages/{quote(message_id, safe='')}"


def _json(response: httpx.Response, what: str) -> Json:
    """The JSON object of a success; {} for the empty 202 of a send."""
    if not response.content:
        return {}
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise IntegrationError(f"Microsoft Graph did not answer with JSON while {what}; "
                               "is the URL right, and not a proxy or login page?")
    return data


def _graph_error(response: httpx.Response) -> tuple[str, str]:
    """Graph's {"error": {"code", "message"}}, or empty strings when the body is something else."""
    try:
        error = response.json().get("error") or {}
        return str(error.get("code") or ""), str(error.get("message") or "")
    except (ValueError, AttributeError):
        return "", ""


def _colon(message: str) -> str:
    return f": {message}" if message else ""
