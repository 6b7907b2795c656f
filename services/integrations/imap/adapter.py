"""An IMAP + SMTP account as an `InboxSource`: incremental by UID, per folder, while the
folder's UIDVALIDITY stays the same.

The cursor remembers, per folder, its UIDVALIDITY and the highest UID stored. A sync asks for
the messages above that UID, then for every older message's flags in one command, which says
which were read or deleted since (IMAP without CONDSTORE/QRESYNC offers nothing cheaper). A
changed UIDVALIDITY means the server renumbered the folder: everything is synced again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr

from services.integrations.base import (
    ChangePage,
    InboxMessage,
    IntegrationError,
    MailBody,
    MailHeader,
    OutgoingMail,
    Reply,
)
from services.integrations.imap.client import ImapSmtpProvider

log = logging.getLogger(__name__)
PAGE = 500
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class _Folder:
    name: str
    sent: bool


def thread_root(message_id: str, in_reply_to: str, references: tuple[str, ...], fallback: str) -> str:
    """A mail thread is named by its first message: the oldest reference, else the parent, else itself."""
    return (references[0] if references else in_reply_to) or message_id or fallback


class ImapSource:
    """`InboxSource` for an IMAP + SMTP account; `sent_folder` "" when the account keeps none."""

    def __init__(self, provider: ImapSmtpProvider, *, sent_folder: str = "Sent", page: int = PAGE) -> None:
        self.provider = provider
        self.address = provider.settings.address.lower()
        self.sent_folder = sent_folder
        self.folders = [_Folder("INBOX", False)] + ([_Folder(sent_folder, True)] if sent_folder else [])
        self.page = page

    def check(self) -> str:
        return self.provider.check()

    def connected(self) -> AbstractContextManager[None]:
        return self.provider.connected()

    def changes(self, cursor: str | None) -> Iterator[ChangePage]:
        with self.provider.connected():
            yield from self._changes(cursor)

    def _changes(self, cursor: str | None) -> Iterator[ChangePage]:
        known: dict[str, dict] = json.loads(cursor)["folders"] if cursor else {}
        states = {folder.name: self._state(folder) for folder in self.folders}
        if any(name in known and state and known[name]["uidvalidity"] != state for name, state in states.items()):
            known = {}  # renumbered: what is stored names messages that no longer exist
        reset = not known
        positions: dict[str, dict] = {}
        for folder in self.folders:
            validity = states[folder.name]
            if not validity:
                continue  # the account has no such folder (a missing Sent)
            before = known.get(folder.name, {})
            last, uids = before.get("last_uid", 0), set(expand(before.get("uids", [])))
            if last:
                seen = self.provider.flags(folder.name, up_to_uid=last)
                gone = uids - seen.keys()
                uids &= seen.keys()
                yield ChangePage((), removed=tuple(_external_id(folder.name, validity, uid) for uid in sorted(gone)),
                                 read_state=tuple((_external_id(folder.name, validity, uid), not is_seen)
                                                  for uid, is_seen in seen.items()))
            while True:
                headers = self.provider.headers(folder.name, after_uid=last, limit=self.page)
                if not headers:
                    break
                last = headers[-1].uid
                uids.update(h.uid for h in headers)
                yield ChangePage(tuple(self._message(folder, validity, h) for h in headers), reset=reset)
                reset = False
            positions[folder.name] = {"uidvalidity": validity, "last_uid": last, "uids": ranges(uids)}
        yield ChangePage((), cursor=json.dumps({"folders": positions}), reset=reset)

    def _state(self, folder: _Folder) -> int:
        """The folder's UIDVALIDITY, or 0 when it does not exist (only the Sent folder may be missing)."""
        try:
            return self.provider.state(folder.name).uidvalidity
        except IntegrationError:
            if not folder.sent:
                raise
            return 0

    def _message(self, folder: _Folder, validity: int, header: MailHeader) -> InboxMessage:
        name, address = parseaddr(header.sender)
        address = address.lower()
        external_id = _external_id(folder.name, validity, header.uid)
        return InboxMessage(
            external_id=external_id,
            thread_id=thread_root(header.message_id, header.in_reply_to, header.references, external_id),
            sender_name=name or address, sender_address=address, subject=header.subject,
            snippet=header.preview[:200], sent_at=_aware(header.date), unread=not header.seen,
            from_me=folder.sent or address == self.address, to=header.to, cc=header.cc, folder=folder.name,
            message_id=header.message_id, in_reply_to=header.in_reply_to, references=header.references,
            mentions_me=self.address in (a.lower() for a in header.to))

    def body(self, external_id: str) -> MailBody:
        folder, validity, uid = _parse(external_id)
        if self.provider.state(folder).uidvalidity != validity:
            raise IntegrationError("The mail server renumbered this folder; sync the account to see it again.")
        return self.provider.body(uid, folder)

    def send(self, reply: Reply) -> str:
        domain = self.address.rpartition("@")[2] or "llmcoder.local"
        references = reply.references or ((reply.in_reply_to,) if reply.in_reply_to else ())
        raw = self.provider.send(OutgoingMail(
            message_id=f"<{reply.key}@{domain}>", to=reply.to, cc=reply.cc, subject=reply.subject, text=reply.text,
            in_reply_to=reply.in_reply_to, references=references))
        if self.sent_folder:
            try:
                self.provider.append(self.sent_folder, raw)
            except IntegrationError as exc:  # it was sent: only the copy is missing, which must not undo that
                log.warning("Reply %s was sent, but its copy in %s failed: %s", reply.key, self.sent_folder, exc)
        return ""


def ranges(uids: set[int]) -> list[list[int]]:
    """UIDs as [first, last] runs: a folder's 10,000 UIDs are a handful of runs in the cursor."""
    runs: list[list[int]] = []
    for uid in sorted(uids):
        if runs and uid == runs[-1][1] + 1:
            runs[-1][1] = uid
        else:
            runs.append([uid, uid])
    return runs


def expand(runs: list[list[int]]) -> Iterator[int]:
    for first, last in runs:
        yield from range(first, last + 1)


def _external_id(folder: str, validity: int, uid: int) -> str:
    return f"{folder}:{validity}:{uid}"


def _parse(external_id: str) -> tuple[str, int, int]:
    folder, validity, uid = external_id.rsplit(":", 2)
    return folder, int(validity), int(uid)


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return EPOCH
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
