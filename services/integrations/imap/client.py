"""Any mail provider through IMAP (receive) and SMTP (send), with Python's own clients.

The only imaplib and smtplib imports. Each call opens its own connection and closes it, unless
it runs inside `connected()`, which keeps one connection for a whole sync: sync jobs run far
apart, and a connection kept open between them would be dropped by most servers anyway, but
within a sync every new login and SELECT makes the server rescan the folder (0.5 s for a
10,000-message maildir in dovecot). Messages are read with BODY.PEEK, so syncing never marks
mail as read.
"""

from __future__ import annotations

import email
import email.policy
import html
import imaplib
import re
import smtplib
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage, Message
from email.utils import formatdate, getaddresses, parsedate_to_datetime
from typing import Literal

from services.integrations.base import (
    IntegrationAuthError,
    IntegrationError,
    MailBody,
    MailboxState,
    MailHeader,
    OutgoingMail,
)

Security = Literal["tls", "starttls", "none"]
TIMEOUT_SECONDS = 30.0
_HEADER_FIELDS = "FROM TO CC SUBJECT DATE MESSAGE-ID IN-REPLY-TO REFERENCES CONTENT-TYPE CONTENT-TRANSFER-ENCODING"
PREVIEW_BYTES = 3000  # of each body, fetched with the headers for the preview
PREVIEW_CHARS = 300
_STATUS = re.compile(rb"\((.*)\)")
_FETCHED = re.compile(rb"UID (\d+)|FLAGS \(([^)]*)\)|RFC822\.SIZE (\d+)")


@dataclass(frozen=True)
class ImapSettings:
    address: str
    username: str
    password: str
    imap_host: str
    imap_port: int = 993
    imap_security: Security = "tls"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: Security = "starttls"


def _folder(name: str) -> str:
    """A folder name as an IMAP quoted string."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _addresses(message: Message, field: str) -> tuple[str, ...]:
    return tuple(address for _, address in getaddresses(message.get_all(field, [])) if address)


def _ids(value: str | None) -> tuple[str, ...]:
    return tuple(re.findall(r"<[^<>\s]+>", value or ""))


def _date(value: str | None) -> datetime | None:
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None


def _attributes(prefix: bytes) -> tuple[int, str, int]:
    """UID, flags and size from the untagged FETCH line."""
    uid, flags, size = 0, "", 0
    for match in _FETCHED.finditer(prefix):
        if match.group(1):
            uid = int(match.group(1))
        elif match.group(2) is not None:
            flags = match.group(2).decode()
        elif match.group(3):
            size = int(match.group(3))
    return uid, flags, size


def _fetched(data: list) -> Iterator[tuple[int, str, int, bytes, bytes]]:
    """(uid, flags, size, header bytes, start of the text) per message of a FETCH answer.
    imaplib gives a tuple per literal: the header's tuple opens a message (its prefix holds
    UID and FLAGS), the text's follows it; FLAGS may also come after the last literal."""
    current: list = []
    for part in data:
        if isinstance(part, tuple):
            prefix, literal = part
            if b"HEADER.FIELDS" in prefix:
                if current:
                    yield tuple(current)  # type: ignore[misc]
                current = [*_attributes(prefix), literal, b""]
            elif current:
                current[4] = literal
                _merge(current, prefix)
        elif isinstance(part, bytes) and current:
            _merge(current, part)
    if current:
        yield tuple(current)  # type: ignore[misc]


def _merge(current: list, tail: bytes) -> None:
    """Attributes a server sent after a literal (`" FLAGS (\\Seen))"`) belong to the same message."""
    uid, flags, size = _attributes(tail)
    current[0] = current[0] or uid
    if b"FLAGS" in tail:
        current[1] = flags
    current[2] = current[2] or size


def _preview(raw_header: bytes, text_start: bytes) -> str:
    """The first words of the text part, decoded from the start of the body the sync fetched:
    enough for the list's preview and the needs-reply check without downloading whole mails."""
    if not text_start:
        return ""
    try:
        message = email.message_from_bytes(raw_header.rstrip(b"\r\n") + b"\r\n\r\n" + text_start,
                                           policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        part = message.get_body(preferencelist=("plain", "html"))
        content = part.get_content() if part is not None else ""
    except (ValueError, LookupError, AssertionError, UnicodeError):  # truncated base64, unknown charset, broken MIME
        return ""
    if part is not None and part.get_content_type() == "text/html":
        content = re.sub(r"<[^>]+>", " ", re.sub(r"(?is)<(style|script)\b.*?</\1>", " ", content))
    return " ".join(html.unescape(content).split())[:PREVIEW_CHARS]


def _header(uid: int, flags: str, size: int, raw: bytes, text_start: bytes = b"") -> MailHeader:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    ids = _ids(message.get("Message-ID"))
    return MailHeader(
        uid=uid, message_id=ids[0] if ids else "", in_reply_to=next(iter(_ids(message.get("In-Reply-To"))), ""),
        references=_ids(message.get("References")), sender=str(message.get("From", "")),
        to=_addresses(message, "To"), cc=_addresses(message, "Cc"), subject=str(message.get("Subject", "")),
        date=_date(message.get("Date")), seen="\\Seen" in flags.split(), size=size,
        preview=_preview(raw, text_start))


class ImapSmtpProvider:
    """`MailProvider` for an IMAP + SMTP account (host, port, TLS or STARTTLS, app password)."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self._held: imaplib.IMAP4 | None = None
        self._held_folder = ""  # selected on the held connection

    # ------------------------------------------------------------------ IMAP

    @contextmanager
    def connected(self) -> Iterator[None]:
        """One signed-in connection for every IMAP call made inside the block."""
        if self._held is not None:
            yield
            return
        with self._connection() as conn:
            self._held = conn
            try:
                yield
            finally:
                self._held, self._held_folder = None, ""

    @contextmanager
    def _imap(self) -> Iterator[imaplib.IMAP4]:
        if self._held is not None:
            yield self._held
            return
        with self._connection() as conn:
            yield conn

    @contextmanager
    def _connection(self) -> Iterator[imaplib.IMAP4]:
        s = self.settings
        where = f"{s.imap_host}:{s.imap_port}"
        try:
            if s.imap_security == "tls":
                conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(s.imap_host, s.imap_port, ssl_context=ssl.create_default_context(),
                                                        timeout=TIMEOUT_SECONDS)
            else:
                conn = imaplib.IMAP4(s.imap_host, s.imap_port, timeout=TIMEOUT_SECONDS)
                if s.imap_security == "starttls":
                    conn.starttls(ssl.create_default_context())
        except (OSError, imaplib.IMAP4.error) as exc:
            raise IntegrationError(f"Could not reach the IMAP server {where}: {exc}") from exc
        try:
            try:
                conn.login(s.username, s.password)
            except imaplib.IMAP4.error as exc:
                raise IntegrationAuthError(f"The IMAP server {where} refused the user name or password.") from exc
            yield conn
        except (OSError, imaplib.IMAP4.abort) as exc:
            raise IntegrationError(f"The IMAP server {where} dropped the connection: {exc}") from exc
        finally:
            try:
                conn.logout()
            except (OSError, imaplib.IMAP4.error):
                pass  # already gone: nothing left to close

    def _select(self, conn: imaplib.IMAP4, folder: str) -> None:
        if conn is self._held and self._held_folder == folder:
            return  # still selected: the server reports new mail to a selected folder's next commands
        status, data = conn.select(_folder(folder), readonly=True)
        if status != "OK":
            raise IntegrationError(f"The folder {folder!r} cannot be opened: {_text(data)}")
        if conn is self._held:
            self._held_folder = folder

    def state(self, folder: str = "INBOX") -> MailboxState:
        with self._imap() as conn:
            status, data = conn.status(_folder(folder), "(UIDVALIDITY UIDNEXT MESSAGES)")
        if status != "OK" or not data or not isinstance(data[0], bytes):
            raise IntegrationError(f"The folder {folder!r} cannot be read: {_text(data)}")
        found = _STATUS.search(data[0])
        words = found.group(1).split() if found else []
        values = {words[i].decode(): int(words[i + 1]) for i in range(0, len(words) - 1, 2)}
        return MailboxState(values.get("UIDVALIDITY", 0), values.get("UIDNEXT", 0), values.get("MESSAGES", 0))

    def headers(self, folder: str = "INBOX", *, after_uid: int = 0, limit: int = 500) -> list[MailHeader]:
        with self._imap() as conn:
            self._select(conn, folder)
            status, data = conn.uid("SEARCH", f"UID {after_uid + 1}:*")
            if status != "OK":
                raise IntegrationError(f"Searching {folder!r} failed: {_text(data)}")
            # "n:*" also names the newest message when no UID is n or above: filter.
            uids = sorted(u for u in map(int, (data[0] or b"").split()) if u > after_uid)[:limit]
            if not uids:
                return []
            status, data = conn.uid("FETCH", ",".join(map(str, uids)),
                                    f"(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS ({_HEADER_FIELDS})] "
                                    f"BODY.PEEK[TEXT]<0.{PREVIEW_BYTES}>)")
        if status != "OK":
            raise IntegrationError(f"Reading {folder!r} failed: {_text(data)}")
        return sorted((_header(*fetched) for fetched in _fetched(data)), key=lambda header: header.uid)

    def flags(self, folder: str = "INBOX", *, up_to_uid: int) -> dict[int, bool]:
        """Every message's seen flag up to a UID, in one command: which of the messages synced
        before were read or deleted since (a server without CONDSTORE says no more cheaply)."""
        if up_to_uid < 1:
            return {}
        with self._imap() as conn:
            self._select(conn, folder)
            status, data = conn.uid("FETCH", f"1:{up_to_uid}", "(UID FLAGS)")
        if status != "OK":
            raise IntegrationError(f"Reading {folder!r} failed: {_text(data)}")
        seen: dict[int, bool] = {}
        for line in data or []:
            prefix = line[0] if isinstance(line, tuple) else line
            if not isinstance(prefix, bytes):
                continue
            uid, flags, _ = _attributes(prefix)
            if 0 < uid <= up_to_uid:
                seen[uid] = "\\Seen" in flags.split()
        return seen

    def body(self, uid: int, folder: str = "INBOX") -> MailBody:
        with self._imap() as conn:
            self._select(conn, folder)
            status, data = conn.uid("FETCH", str(uid), "(BODY.PEEK[])")
        raw = next((part[1] for part in data or [] if isinstance(part, tuple)), None)
        if status != "OK" or raw is None:
            raise IntegrationError(f"Message {uid} is no longer in {folder!r}.")
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        text, html = message.get_body(preferencelist=("plain",)), message.get_body(preferencelist=("html",))
        return MailBody(text.get_content() if text else "", html.get_content() if html else "")

    # ------------------------------------------------------------------ SMTP

    def _smtp(self) -> smtplib.SMTP:
        s = self.settings
        where = f"{s.smtp_host}:{s.smtp_port}"
        try:
            if s.smtp_security == "tls":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=TIMEOUT_SECONDS,
                                                      context=ssl.create_default_context())
            else:
                conn = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=TIMEOUT_SECONDS)
                if s.smtp_security == "starttls":
                    conn.starttls(context=ssl.create_default_context())
        except (OSError, smtplib.SMTPException) as exc:
            raise IntegrationError(f"Could not reach the SMTP server {where}: {exc}") from exc
        try:
            conn.login(s.username, s.password)
        except smtplib.SMTPAuthenticationError as exc:
            conn.close()
            raise IntegrationAuthError(f"The SMTP server {where} refused the user name or password.") from exc
        except smtplib.SMTPNotSupportedError:
            pass  # a relay that takes mail without signing in
        except (OSError, smtplib.SMTPException) as exc:
            conn.close()
            raise IntegrationError(f"Signing in to the SMTP server {where} failed: {exc}") from exc
        return conn

    def send(self, mail: OutgoingMail) -> bytes:
        """Sends over SMTP; returns the message as sent, for a copy in the Sent folder."""
        message = EmailMessage()
        message["From"] = self.settings.address
        message["To"] = ", ".join(mail.to)
        if mail.cc:
            message["Cc"] = ", ".join(mail.cc)
        message["Subject"] = mail.subject
        message["Message-ID"] = mail.message_id
        if mail.in_reply_to:
            message["In-Reply-To"] = mail.in_reply_to
        if mail.references:
            message["References"] = " ".join(mail.references)
        message["Date"] = formatdate(localtime=True)
        message.set_content(mail.text)
        conn = self._smtp()
        try:
            conn.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise IntegrationError("The SMTP server refused every recipient: "
                                   + ", ".join(exc.recipients)) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise IntegrationError(f"Sending failed: {exc}") from exc
        finally:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()
        return message.as_bytes()

    def append(self, folder: str, raw: bytes) -> None:
        """Stores a message (read) in a folder: SMTP servers rarely keep a copy of what they send,
        so mail clients put one in Sent themselves."""
        with self._imap() as conn:
            status, data = conn.append(_folder(folder), "(\\Seen)", imaplib.Time2Internaldate(time.time()), raw)
            if status != "OK" and "TRYCREATE" in _text(data):  # no such folder yet: make it, as clients do
                conn.create(_folder(folder))
                status, data = conn.append(_folder(folder), "(\\Seen)", imaplib.Time2Internaldate(time.time()), raw)
        if status != "OK":
            raise IntegrationError(f"Keeping a copy in {folder!r} failed: {_text(data)}")

    def check(self) -> str:
        self.state()
        if self.settings.smtp_host:
            conn = self._smtp()
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()
        return self.settings.address


def _text(data: object) -> str:
    if isinstance(data, list) and data and isinstance(data[0], bytes):
        return data[0].decode(errors="replace")
    return str(data)
