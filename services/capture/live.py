"""What the Live page shows, for one user only: the latest frame, the active window, the
transcript's tail, key activity and which devices are online. Every query filters on the
user's id (the indexes lead with it), never on a device id the browser sends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import Session, col, select

from services.capture import storage
from services.db import session_scope
from services.db.models import CaptureAudio, CaptureDevice, CaptureEvent, CaptureFrame, CaptureKeys
from services.db.models.base import utcnow

ONLINE_WITHIN = timedelta(seconds=30)
ACTIVITY_MINUTES = 10
TYPED_TAIL_CHARS = 200
_TYPED_ROWS = 100  # enough batches for TYPED_TAIL_CHARS of text, even of short ones


@dataclass(frozen=True)
class LatestFrame:
    id: int
    captured_at: datetime
    app: str
    title: str
    width: int
    height: int


@dataclass(frozen=True)
class DeviceStatus:
    id: int
    name: str
    online: bool
    paused: bool
    last_seen_at: datetime | None


@dataclass(frozen=True)
class LiveView:
    frame: LatestFrame | None
    app: str  # the focused window of the latest event of any kind
    title: str
    transcript: list[str]  # the last transcribed chunks, oldest first
    strokes_per_minute: list[int]  # the last ACTIVITY_MINUTES minutes, oldest first
    typed_tail: str
    devices: list[DeviceStatus]  # not revoked


def _latest_frame(session: Session, user_id: int) -> LatestFrame | None:
    row = session.exec(select(CaptureFrame).where(CaptureFrame.user_id == user_id)
                       .order_by(col(CaptureFrame.captured_at).desc()).limit(1)).first()
    if row is None or row.id is None:
        return None
    return LatestFrame(id=row.id, captured_at=row.captured_at, app=row.app, title=row.title, width=row.width,
                       height=row.height)


def _active_window(session: Session, user_id: int) -> tuple[str, str]:
    latest: list[tuple[datetime, str, str]] = []
    for table in (CaptureFrame, CaptureAudio, CaptureKeys):
        row = session.exec(select(table.captured_at, table.app, table.title).where(table.user_id == user_id)
                           .order_by(col(table.captured_at).desc()).limit(1)).first()
        if row is not None:
            latest.append(tuple(row))  # type: ignore[arg-type]
    window = session.exec(select(CaptureEvent.captured_at, CaptureEvent.app, CaptureEvent.title)
                          .where(CaptureEvent.user_id == user_id, CaptureEvent.kind == "window")
                          .order_by(col(CaptureEvent.captured_at).desc()).limit(1)).first()
    if window is not None:
        latest.append(tuple(window))  # type: ignore[arg-type]
    if not latest:
        return "", ""
    _, app, title = max(latest, key=lambda found: found[0])
    return app, title


def _transcript(session: Session, user_id: int, lines: int) -> list[str]:
    texts = session.exec(select(CaptureAudio.transcript).where(
        CaptureAudio.user_id == user_id, col(CaptureAudio.transcript).is_not(None), CaptureAudio.transcript != "")
        .order_by(col(CaptureAudio.captured_at).desc()).limit(lines)).all()
    return [text for text in reversed(texts) if text]


def _strokes_per_minute(session: Session, user_id: int, now: datetime) -> list[int]:
    since = now - timedelta(minutes=ACTIVITY_MINUTES)
    minutes = [0] * ACTIVITY_MINUTES
    for captured_at, strokes in session.exec(select(CaptureKeys.captured_at, CaptureKeys.strokes).where(
            CaptureKeys.user_id == user_id, CaptureKeys.captured_at > since)):
        index = int((captured_at - since).total_seconds() // 60)
        minutes[min(index, ACTIVITY_MINUTES - 1)] += strokes
    return minutes


def _typed_tail(session: Session, user_id: int) -> str:
    texts = session.exec(select(CaptureKeys.text).where(CaptureKeys.user_id == user_id)
                         .order_by(col(CaptureKeys.captured_at).desc(), col(CaptureKeys.seq).desc())
                         .limit(_TYPED_ROWS)).all()
    return "".join(reversed(texts))[-TYPED_TAIL_CHARS:]


def _devices(session: Session, user_id: int, now: datetime) -> list[DeviceStatus]:
    rows = session.exec(select(CaptureDevice).where(CaptureDevice.user_id == user_id,
                                                    CaptureDevice.revoked_at == None)  # noqa: E711
                        .order_by(CaptureDevice.created_at)).all()
    return [DeviceStatus(id=row.id or 0, name=row.name, paused=row.paused, last_seen_at=row.last_seen_at,
                         online=is_online(row.last_seen_at, now))
            for row in rows]


def is_online(last_seen_at: datetime | None, now: datetime) -> bool:
    """An agent touches its device at least every 10 s while connected."""
    return last_seen_at is not None and last_seen_at >= now - ONLINE_WITHIN


def view(user_id: int, *, transcript_lines: int = 10, now: datetime | None = None) -> LiveView:
    now = now or utcnow()
    with session_scope() as session:
        app, title = _active_window(session, user_id)
        return LiveView(frame=_latest_frame(session, user_id), app=app, title=title,
                        transcript=_transcript(session, user_id, transcript_lines),
                        strokes_per_minute=_strokes_per_minute(session, user_id, now),
                        typed_tail=_typed_tail(session, user_id), devices=_devices(session, user_id, now))


def frame_file(user_id: int, frame_id: int) -> tuple[Path, str]:
    """The image file and media type of one of the user's frames; LookupError for a frame
    that is another user's, purged, or never was (the caller cannot tell which)."""
    with session_scope() as session:
        row = session.get(CaptureFrame, frame_id)
        if row is None or row.user_id != user_id:
            raise LookupError(frame_id)
        path = storage.absolute(row.path)
        if not path.is_file():
            raise LookupError(frame_id)
        return path, storage.MEDIA_TYPES[row.format]
