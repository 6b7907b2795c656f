"""The small Protocols the rest of the app uses instead of vendor SDKs, with their plain records."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class IntegrationError(RuntimeError):
    """A vendor call failed; the message says what happened in words a user can act on."""


class IntegrationAuthError(IntegrationError):
    """The vendor refused the credentials (401/403)."""


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

    def send(self, mail: OutgoingMail) -> None: ...
