"""The small Protocols the rest of the app uses instead of vendor SDKs, with their plain records."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


class IntegrationError(RuntimeError):
    """A vendor call failed; the message says what happened in words a user can act on."""


class IntegrationAuthError(IntegrationError):
    """The vendor refused the credentials (401/403)."""


class IntegrationUncertain(IntegrationError):
    """A send may or may not have taken effect (the vendor failed after receiving it): repeating
    it could deliver it twice, so the caller must not retry on its own."""


class IntegrationRateLimited(IntegrationError):
    """The vendor kept answering 429 after the allowed waits; `retry_after` is its last hint in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class WikiSpace:
    key: str
    name: str
    url: str


@dataclass(frozen=True)
class WikiPageRef:
    """Enough to decide whether a page changed since the last sync."""

    id: str
    title: str
    version: int
    space_key: str


@dataclass(frozen=True)
class WikiPage:
    id: str
    title: str
    url: str  # absolute browser URL of the page
    space_key: str
    version: int
    labels: tuple[str, ...]
    storage: str  # the body in Confluence storage format (XHTML)
    parent_id: str | None = None


class WikiSource(Protocol):
    """A wiki reached through its vendor SDK (Confluence today)."""

    def server_title(self) -> str:
        """A cheap authenticated call: the signed-in user's display name or the site title."""
        ...

    def spaces(self) -> list[WikiSpace]: ...

    def pages(self, space_key: str) -> Iterator[WikiPageRef]:
        """Every page of the space: its root pages, then their children recursively, each
        list paged as the server pages it. Yields each page once."""
        ...

    def page(self, page_id: str) -> WikiPage:
        """One page with its storage body and labels."""
        ...


@dataclass(frozen=True)
class MailboxState:
    """What decides between an incremental and a full sync of one IMAP folder: UIDs are only
    comparable while `uidvalidity` stays the same."""

    uidvalidity: int
    uidnext: int
    messages: int


@dataclass(frozen=True)
class MailHeader:
    """A message's metadata, fetched without its body."""

    uid: int
    message_id: str
    in_reply_to: str
    references: tuple[str, ...]
    sender: str  # "Name <address>" as sent, decoded
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    date: datetime | None
    seen: bool
    size: int
    preview: str = ""  # the first words of the text, when the sync fetched them


@dataclass(frozen=True)
class MailBody:
    text: str  # the text/plain part, or "" when the message has only HTML
    html: str  # the text/html part, unsanitised: sanitise before showing it


@dataclass(frozen=True)
class OutgoingMail:
    """A reply or new message. `message_id` is chosen before sending, so a retried send can be
    recognised as the same message."""

    message_id: str
    to: tuple[str, ...]
    subject: str
    text: str
    cc: tuple[str, ...] = ()
    in_reply_to: str = ""
    references: tuple[str, ...] = ()


class MailProvider(Protocol):
    """A mail account reached through its vendor's client (IMAP + SMTP here)."""

    def check(self) -> str:
        """Signs in to receive and to send; returns the account's address."""
        ...

    def state(self, folder: str = "INBOX") -> MailboxState: ...

    def headers(self, folder: str = "INBOX", *, after_uid: int = 0, limit: int = 500) -> list[MailHeader]:
        """The metadata of up to `limit` messages with a UID above `after_uid`, oldest first."""
        ...

    def body(self, uid: int, folder: str = "INBOX") -> MailBody:
        """One message's text and HTML, fetched on demand; it stays unread."""
        ...

    def send(self, mail: OutgoingMail) -> bytes:
        """Sends; returns the message as sent (RFC 822)."""
        ...

    def append(self, folder: str, raw: bytes) -> None: ...


# ---------------------------------------------------------------------- the unified inbox
# Every mail and chat account (Gmail, Outlook, IMAP, Slack) is synced through `InboxSource`:
# its adapter turns the vendor's own cursor (historyId, delta link, UIDVALIDITY/UID, Slack ts)
# into an opaque string the sync stores and hands back next time.


@dataclass(frozen=True)
class InboxMessage:
    """One mail or chat message as every source reports it."""

    external_id: str  # unique within the account (Gmail id, Graph id, "folder:uidvalidity:uid", "C123:ts")
    thread_id: str  # groups a conversation (Gmail threadId, Graph conversationId, root Message-ID, "C123:thread_ts")
    sender_name: str
    sender_address: str  # mail address, or the Slack user id
    subject: str  # "" for chat
    snippet: str  # the first ~200 characters of the text, as a one-line preview
    sent_at: datetime  # timezone-aware
    unread: bool
    from_me: bool  # written by the account's own user (sent mail, the user's Slack messages)
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    folder: str = ""  # IMAP folder, "INBOX"/"SENT" for Gmail and Outlook, Slack channel id
    message_id: str = ""  # RFC 5322 Message-ID, for In-Reply-To/References of a reply
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    text: str | None = None  # the whole text when the listing carries it (Slack); mail comes from body()
    mentions_me: bool = False  # an @mention of the user (Slack) or the user named in To (mail)


@dataclass(frozen=True)
class ChangePage:
    """One page of a sync. Store `messages`, delete `removed`; `reset` means a full resync starts
    with this page: what was stored for the account before is stale (a source may restart a full
    sync part-way, so `reset` can follow other pages). Once a page whose `cursor` is set
    has been stored, save that cursor: the next sync continues from there."""

    messages: tuple[InboxMessage, ...]
    removed: tuple[str, ...] = ()
    cursor: str | None = None
    reset: bool = False
    read_state: tuple[tuple[str, bool], ...] = ()  # (external_id, unread) of messages stored before


@dataclass(frozen=True)
class Reply:
    """What the user sends. `key` is chosen once per draft, before the first attempt, so a
    retried send can be recognised (mail uses it in the Message-ID)."""

    key: str
    text: str
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    subject: str = ""
    thread_id: str = ""  # the InboxMessage.thread_id replied to ("" for a new mail)
    in_reply_to: str = ""  # Message-ID of the mail replied to
    references: tuple[str, ...] = ()
    channel: str = ""  # Slack channel id
    thread_ts: str = ""  # Slack: the thread's parent ts, so the reply goes into the thread


@dataclass(frozen=True)
class Conversation:
    """A Slack channel or DM the user can pick for the inbox."""

    id: str
    name: str  # "#general", or the other person's name for a DM
    is_dm: bool
    is_member: bool


class InboxSource(Protocol):
    """A mail or chat account as the unified inbox syncs it."""

    def check(self) -> str:
        """A cheap authenticated call; returns the account's address (or Slack "user @ team")."""
        ...

    def changes(self, cursor: str | None) -> Iterator[ChangePage]:
        """Everything since `cursor` (None: a full sync), oldest pages first where the vendor allows.
        An expired cursor starts a full sync, announced by `reset` on its first page."""
        ...

    def body(self, external_id: str) -> MailBody:
        """One message's text and HTML, fetched on demand; it stays unread."""
        ...

    def send(self, reply: Reply) -> str:
        """Sends; returns the external id of the sent message when the vendor reports it, else ""."""
        ...


@runtime_checkable
class HoldsConnection(Protocol):
    """A source that can keep one connection for several calls (IMAP: one login per sync)."""

    def connected(self) -> AbstractContextManager[None]: ...


class ChatProvider(InboxSource, Protocol):
    """Slack: an inbox source whose channels and DMs the user picks."""

    def conversations(self) -> list[Conversation]: ...


@dataclass(frozen=True)
class OAuthToken:
    """An OAuth 2.0 grant as stored (encrypted) for an account; refreshed before it expires."""

    access_token: str = field(repr=False)
    refresh_token: str = field(default="", repr=False)
    expires_at: float = 0.0  # unix seconds; 0 when the provider did not say
    scope: str = ""
