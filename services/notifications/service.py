"""Create, list and mark notifications; every function is scoped to one user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import func, select

from services.db import session_scope
from services.db.models import Notification
from services.db.models.base import utcnow
from services.notifications import channels


@dataclass(frozen=True)
class NotificationView:
    id: int
    kind: str
    title: str
    body: str
    link: str
    created_at: datetime
    read: bool


MAX_KIND, MAX_LINK = 40, 400  # the column sizes


def notify(user_id: int, title: str, *, body: str = "", kind: str = "info", link: str = "") -> int:
    """Stores the notification and fans it out. Long titles are shortened for display; a cut
    link or kind would be wrong, so those are refused (callers are features, not users)."""
    if len(kind) > MAX_KIND or len(link) > MAX_LINK:
        raise ValueError(f"Notification kind must be at most {MAX_KIND} and link at most {MAX_LINK} characters.")
    with session_scope() as session:
        row = Notification(user_id=user_id, title=title[:200], body=body, kind=kind, link=link)
        session.add(row)
        session.flush()
        assert row.id is not None
        outgoing = channels.OutgoingNotification(row.id, user_id, kind, row.title, body, link)
    channels.fan_out(outgoing)
    return outgoing.id


def unread_count(user_id: int) -> int:
    with session_scope() as session:
        query = select(func.count()).select_from(Notification).where(
            Notification.user_id == user_id, Notification.read_at.is_(None)  # type: ignore[union-attr]
        )
        return session.exec(query).one()


def recent(user_id: int, limit: int = 20) -> list[NotificationView]:
    with session_scope() as session:
        rows = session.exec(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())  # type: ignore[union-attr]
            .limit(limit)
        ).all()
        return [
            NotificationView(r.id or 0, r.kind, r.title, r.body, r.link, r.created_at, r.read_at is not None)
            for r in rows
        ]


def mark_read(user_id: int, notification_id: int) -> bool:
    """False when the notification is not this user's (or does not exist)."""
    with session_scope() as session:
        result = session.exec(
            update(Notification)
            .where(Notification.id == notification_id, Notification.user_id == user_id)
            .where(Notification.read_at.is_(None))  # type: ignore[union-attr]
            .values(read_at=utcnow())
        )
        return result.rowcount > 0


def mark_all_read(user_id: int) -> int:
    with session_scope() as session:
        result = session.exec(
            update(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))  # type: ignore[union-attr]
            .values(read_at=utcnow())
        )
        return result.rowcount
