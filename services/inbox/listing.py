"""Reading the inbox: the list with its filters and pages, a thread, a message's body.

The list is the user's received messages, newest first, a page at a time: one range scan of
(owner_id, sent_at) however many messages are stored. Bodies are fetched from the vendor the
first time a thread opens and kept; mail HTML is sanitised before it leaves this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, literal_column, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from services.auth.errors import AccessDenied
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.engine import get_engine
from services.db.models import InboxAccount
from services.db.models import InboxMessage as Row
from services.db.text_match import any_contains, contains_pattern
from services.inbox import accounts
from services.inbox.sanitize import clean_html, html_to_text
from services.integrations.base import IntegrationError

SEARCHED = (Row.subject, Row.snippet, Row.sender_name, Row.sender_address)
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_SEARCH = 200


@dataclass(frozen=True)
class Filters:
    kind: str = ""  # gmail | outlook | imap | slack, "" for all
    account_id: int | None = None
    unread: bool = False
    needs_reply: bool = False
    search: str = ""


@dataclass(frozen=True)
class ListItem:
    id: int
    account_id: int
    account_name: str
    kind: str
    sender: str
    subject: str  # the subject, or the first line of a chat message
    snippet: str
    sent_at: datetime
    unread: bool
    needs_reply: bool
    reason: str


@dataclass(frozen=True)
class ListPage:
    items: list[ListItem]
    total: int
    page: int
    pages: int


def _conditions(user: AuthedUser, filters: Filters) -> list:
    where = [Row.owner_id == user.id, Row.from_me == False]  # noqa: E712 (SQL expression)
    if filters.kind:
        where.append(Row.kind == filters.kind)
    if filters.account_id:
        where.append(Row.account_id == filters.account_id)
    if filters.unread:
        where.append(Row.unread == True)  # noqa: E712
    if filters.needs_reply:
        where.append(Row.needs_reply == True)  # noqa: E712
    text = " ".join(filters.search.split())[:MAX_SEARCH]
    if text:
        where.append(_text_match(text))
    return where


def _text_match(text: str) -> ColumnElement[bool]:
    """PostgreSQL: one ILIKE over the joined texts, the expression its trigram index holds
    (migration 0008). SQLite: a LIKE per column (its LIKE already ignores ASCII case)."""
    if get_engine().dialect.name == "postgresql":
        space = literal_column("' '")
        joined = col(Row.subject) + space + col(Row.snippet) + space + col(Row.sender_name) + space + \
            col(Row.sender_address)
        return joined.ilike(contains_pattern(text), escape="\\")
    return any_contains(SEARCHED, text)


def list_page(user: AuthedUser, filters: Filters, *, page: int = 1, size: int = PAGE_SIZE) -> ListPage:
    size = max(1, min(size, MAX_PAGE_SIZE))
    where = _conditions(user, filters)
    with session_scope() as session:
        total = session.exec(select(func.count()).select_from(Row).where(*where)).one()
        pages = max(1, -(-total // size))
        page = max(1, min(page, pages))
        rows = session.exec(select(Row, InboxAccount.name).join(InboxAccount, InboxAccount.id == Row.account_id)
                            .where(*where).order_by(Row.sent_at.desc(), Row.id.desc())  # type: ignore[attr-defined]
                            .offset((page - 1) * size).limit(size)).all()
        items = [ListItem(
            id=row.id or 0, account_id=row.account_id, account_name=name, kind=row.kind,
            sender=row.sender_name or row.sender_address, subject=row.subject or _first_line(row.snippet),
            snippet=row.snippet, sent_at=row.sent_at, unread=row.unread, needs_reply=row.needs_reply,
            reason=row.needs_reply_reason) for row, name in rows]
    return ListPage(items, total, page, pages)


def _first_line(text: str) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line[:120] or "(no text)"


def revision(user: AuthedUser) -> str:
    """Changes whenever the user's inbox does: the open page compares it to reload only then."""
    with session_scope() as session:
        count, newest, unread = session.exec(
            select(func.count(), func.max(Row.id), func.sum(case((Row.unread == True, 1), else_=0)))  # noqa: E712
            .where(Row.owner_id == user.id)).one()
    return f"{count}:{newest}:{unread}"


@dataclass(frozen=True)
class ThreadMessage:
    id: int
    sender: str
    sender_address: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    sent_at: datetime
    from_me: bool
    text: str
    html: str  # sanitised; "" when the message has no HTML part
    blocked_images: int
    error: str  # why the body could not be fetched


@dataclass(frozen=True)
class Thread:
    account_id: int
    kind: str
    subject: str
    messages: list[ThreadMessage]


def owned_message(user: AuthedUser, message_id: int) -> Row:
    with session_scope() as session:
        row = session.get(Row, message_id)
        if row is None or row.owner_id != user.id:
            raise AccessDenied("That message does not exist or is not yours.", signed_in=True)
        return row


def thread(user: AuthedUser, message_id: int, *, allow_images: bool = False) -> Thread:
    """The message's conversation, oldest first, bodies fetched on demand; the message is marked
    read here (the vendor's own read state is left as it is: opening it here is not reading it there)."""
    selected = owned_message(user, message_id)
    with session_scope() as session:
        rows = session.exec(select(Row).where(Row.account_id == selected.account_id,
                                              Row.thread_id == selected.thread_id)
                            .order_by(Row.sent_at, Row.id)).all() if selected.thread_id else [selected]
        session.exec(update(Row).where(Row.id == message_id).values(unread=False))  # type: ignore[call-overload]
    messages = [_thread_message(row, allow_images) for row in rows]
    return Thread(selected.account_id, selected.kind, selected.subject or _first_line(selected.snippet), messages)


def _thread_message(row: Row, allow_images: bool) -> ThreadMessage:
    text, html, error = _body(row)
    cleaned = clean_html(html, allow_remote_images=allow_images) if html else None
    recipients = json.loads(row.recipients or "{}")
    return ThreadMessage(
        id=row.id or 0, sender=row.sender_name or row.sender_address, sender_address=row.sender_address,
        to=tuple(recipients.get("to", [])), cc=tuple(recipients.get("cc", [])), subject=row.subject,
        sent_at=row.sent_at, from_me=row.from_me, text=text, html=cleaned.html if cleaned else "",
        blocked_images=cleaned.blocked_images if cleaned else 0, error=error)


def _body(row: Row) -> tuple[str, str, str]:
    """(text, raw html, error): the stored body, else the vendor's, stored for next time."""
    if row.body_text is not None or row.body_html is not None:
        return row.body_text or "", row.body_html or "", ""
    try:
        body = accounts.open_source(accounts.account_row(row.account_id)).body(row.external_id)
    except IntegrationError as exc:
        return row.snippet, "", str(exc)
    text = body.text or (html_to_text(body.html) if body.html else "")
    with session_scope() as session:
        stored = session.get(Row, row.id)
        if stored is not None:
            stored.body_text, stored.body_html = text, body.html
            session.add(stored)
    return text, body.html, ""


def thread_text(thread_: Thread, *, limit: int = 12000) -> str:
    """The conversation as plain text for a prompt, newest last, cut from the oldest end."""
    parts = [f"From: {'me' if m.from_me else m.sender} ({m.sent_at:%Y-%m-%d %H:%M})\n{m.text.strip()}"
             for m in thread_.messages]
    text = "\n\n---\n\n".join(parts)
    return text[-limit:]
