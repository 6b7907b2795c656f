"""Writing a sync's pages into the inbox tables.

Each page is one transaction: a sync that dies half-way keeps what it stored, and its cursor
(saved with the page that carries it) is only ever one a complete sync reached. Messages are
upserted by (account, external id), so a page applied twice changes nothing. The needs-reply
flag is decided here, once per stored message, from what the listing carried.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from sqlalchemy import delete, exists, func, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from services.db import session_scope
from services.db.models import InboxAccount
from services.db.models import InboxMessage as Row
from services.db.models.base import utcnow
from services.inbox import needs_reply
from services.integrations.base import ChangePage, InboxMessage

LOOKUP_CHUNK = 500  # external ids per IN (...) query
SENT_HERE = re.compile(r"<([0-9a-f]{32})@")  # the Message-ID of a reply sent from here: <draft key@domain>


def _flag(message: InboxMessage, kind: str) -> needs_reply.Verdict:
    """Mail is direct when the user is in To (not only Cc or a list); Slack when it is a DM."""
    text = message.text if message.text is not None else message.snippet
    if kind == "slack":
        return needs_reply.detect(text, sender_address=message.sender_address, from_me=message.from_me,
                                  mentions_me=message.mentions_me, is_direct=message.folder.startswith("D"))
    return needs_reply.detect(text, subject=message.subject, sender_address=message.sender_address,
                              from_me=message.from_me, is_direct=message.mentions_me or not message.to)


def _values(message: InboxMessage, kind: str) -> dict:
    verdict = _flag(message, kind)
    return {
        "thread_id": message.thread_id, "sender_name": message.sender_name[:300],
        "sender_address": message.sender_address[:320],
        "recipients": json.dumps({"to": list(message.to), "cc": list(message.cc)}),
        "subject": message.subject[:1000], "snippet": message.snippet[:400], "sent_at": message.sent_at,
        "unread": message.unread, "from_me": message.from_me, "mentions_me": message.mentions_me,
        "needs_reply": verdict.needs_reply, "needs_reply_reason": verdict.reason, "folder": message.folder[:200],
        "message_id": message.message_id[:500], "in_reply_to": message.in_reply_to[:500],
        "references": " ".join(message.references),
    }


def _existing(session: Session, account_id: int, external_ids: list[str]) -> dict[str, Row]:
    found: dict[str, Row] = {}
    for start in range(0, len(external_ids), LOOKUP_CHUNK):
        chunk = external_ids[start:start + LOOKUP_CHUNK]
        for row in session.exec(select(Row).where(Row.account_id == account_id, Row.external_id.in_(chunk))):
            found[row.external_id] = row
    return found


def apply(account_id: int, page: ChangePage) -> int:
    """Stores one page; returns how many messages were new."""
    with session_scope() as session:
        account = session.get(InboxAccount, account_id)
        if account is None:
            return 0  # removed while syncing
        if page.reset:
            session.exec(delete(Row).where(Row.account_id == account_id))  # type: ignore[call-overload]
        new = _upsert(session, account, page.messages)
        _remove(session, account_id, page.removed)
        _read_state(session, account_id, page.read_state)
        if page.cursor is not None:
            account.cursor = page.cursor
        account.messages = session.exec(select(func.count()).select_from(Row)
                                        .where(Row.account_id == account_id)).one()
        account.updated_at = utcnow()
        session.add(account)
    return new


def _upsert(session: Session, account: InboxAccount, messages: Iterable[InboxMessage]) -> int:
    latest: dict[str, InboxMessage] = {m.external_id: m for m in messages}  # a page may repeat one
    existing = _existing(session, account.id or 0, list(latest))
    new = 0
    for external_id, message in latest.items():
        values = _values(message, account.kind)
        row = existing.get(external_id)
        if row is None:
            row = Row(account_id=account.id or 0, owner_id=account.owner_id, kind=account.kind,
                      external_id=external_id, body_text=message.text, **values)
            new += 1
        else:
            for key, value in values.items():
                setattr(row, key, value)
            if message.text is not None:
                row.body_text = message.text
            if row.replied:
                row.needs_reply, row.needs_reply_reason = False, ""
        session.add(row)
    session.flush()
    _answered(session, account.id or 0, {m.thread_id for m in latest.values() if m.from_me and m.thread_id})
    _replace_placeholders(session, account.id or 0, latest.values())
    return new


def _replace_placeholders(session: Session, account_id: int, messages: Iterable[InboxMessage]) -> None:
    """A reply sent from here was stored at once as "sent:<key>" (services.inbox.sending); when
    the vendor's own copy arrives, recognised by the key in its Message-ID, it takes the place."""
    keys = [found.group(1) for m in messages if m.from_me and (found := SENT_HERE.match(m.message_id))]
    if keys:
        session.exec(delete(Row).where(Row.account_id == account_id,  # type: ignore[call-overload]
                                       Row.external_id.in_([f"sent:{key}" for key in keys])))


def _answered(session: Session, account_id: int, thread_ids: set[str]) -> None:
    """Where the user wrote in a thread, what came before no longer waits for their reply: one
    UPDATE per chunk of threads (a page of sent mail touches hundreds), not one per message."""
    mine = aliased(Row)
    later_reply = exists().where(mine.account_id == Row.account_id, mine.thread_id == Row.thread_id,
                                 mine.from_me == True, mine.sent_at >= Row.sent_at)  # noqa: E712
    threads = sorted(thread_ids)
    for start in range(0, len(threads), LOOKUP_CHUNK):
        session.exec(update(Row).where(  # type: ignore[call-overload]
            Row.account_id == account_id, Row.thread_id.in_(threads[start:start + LOOKUP_CHUNK]),
            Row.from_me == False, Row.replied == False, later_reply)  # noqa: E712
            .values(replied=True, needs_reply=False, needs_reply_reason=""))


def _remove(session: Session, account_id: int, external_ids: tuple[str, ...]) -> None:
    for start in range(0, len(external_ids), LOOKUP_CHUNK):
        chunk = list(external_ids[start:start + LOOKUP_CHUNK])
        session.exec(delete(Row).where(Row.account_id == account_id,  # type: ignore[call-overload]
                                       Row.external_id.in_(chunk)))


def _read_state(session: Session, account_id: int, changes: tuple[tuple[str, bool], ...]) -> None:
    """Read state of stored messages; only rows whose state differs are written."""
    for unread in (True, False):
        ids = [external_id for external_id, state in changes if state is unread]
        for start in range(0, len(ids), LOOKUP_CHUNK):
            session.exec(update(Row).where(  # type: ignore[call-overload]
                Row.account_id == account_id, Row.external_id.in_(ids[start:start + LOOKUP_CHUNK]),
                Row.unread != unread).values(unread=unread))


def add_sent(account_id: int, message: InboxMessage) -> int:
    """The user's own reply, stored at once so the thread shows it before the next sync."""
    apply(account_id, ChangePage((message,)))
    with session_scope() as session:
        row = session.exec(select(Row).where(Row.account_id == account_id,
                                             Row.external_id == message.external_id)).one()
        row.body_text = message.text
        session.add(row)
        assert row.id is not None
        return row.id
