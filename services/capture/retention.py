"""Captures are kept for `capture.retention_hours` (default 24), then deleted: frame files and
rows, audio chunks, key batches and window/pause events.

The scheduler queues a `capture_purge` job per device that holds anything older than that,
at most hourly: the device row is claimed with a conditional UPDATE first, so several web
processes ticking together queue it once. Inactive owners' devices are purged too (retention
is a promise about the data, not a service to the user).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, update
from sqlmodel import Session, col, select

from services import runtime_settings
from services.auth.users import AuthedUser
from services.capture import storage
from services.db import session_scope
from services.db.models import CaptureAudio, CaptureDevice, CaptureEvent, CaptureFrame, CaptureKeys, User
from services.db.models.base import utcnow
from services.jobs import service as jobs
from services.jobs.progress import ProgressReporter
from services.jobs.registry import job_type

JOB_TYPE = "capture_purge"
RETENTION_SETTING = "capture.retention_hours"
PURGE_EVERY = timedelta(hours=1)
_FRAME_BATCH = 500
_ROW_TABLES = {"audio": CaptureAudio, "keys": CaptureKeys, "events": CaptureEvent}


def cutoff(now: datetime) -> datetime:
    """Captures from before this are expired."""
    return now - timedelta(hours=runtime_settings.get_int(RETENTION_SETTING))


def _purge_frames(device_id: int, before: datetime) -> int:
    """Files first, then rows: a failure in between leaves rows whose image is gone (the next
    run deletes them), never files nothing points to."""
    purged = 0
    while True:
        with session_scope() as session:
            batch = session.exec(select(CaptureFrame.id, CaptureFrame.path).where(
                CaptureFrame.device_id == device_id, CaptureFrame.captured_at < before).limit(_FRAME_BATCH)).all()
        if not batch:
            return purged
        for _, path in batch:
            storage.remove(path)
        with session_scope() as session:
            session.exec(delete(CaptureFrame).where(col(CaptureFrame.id).in_([frame_id for frame_id, _ in batch])))
        purged += len(batch)


def purge_device(device_id: int, now: datetime | None = None) -> dict[str, int]:
    """Deletes the device's expired captures; returns how many of each kind."""
    before = cutoff(now or utcnow())
    counts = {"frames": _purge_frames(device_id, before)}
    with session_scope() as session:
        for name, table in _ROW_TABLES.items():
            counts[name] = session.exec(delete(table).where(  # type: ignore[call-overload]
                table.device_id == device_id, table.captured_at < before)).rowcount
        device = session.get(CaptureDevice, device_id)
    if device is not None:
        storage.remove_empty_folders(device.user_id)
    return counts


@job_type(JOB_TYPE, title="Delete expired captures of a device", queue="low")
def purge_job(progress: ProgressReporter, params: dict[str, Any]) -> dict[str, Any]:
    progress.update(10, "Deleting captures older than the retention period")
    return purge_device(int(params["device_id"]))


def _has_expired(session: Session, device_id: int, before: datetime) -> bool:
    return any(session.exec(select(table.id).where(table.device_id == device_id, table.captured_at < before)
                            .limit(1)).first() is not None
               for table in (CaptureFrame, *_ROW_TABLES.values()))


def _claim_due(device_id: int, now: datetime) -> bool:
    with session_scope() as session:
        return bool(session.exec(update(CaptureDevice).where(  # type: ignore[call-overload]
            CaptureDevice.id == device_id, _due(now)).values(purge_claimed_at=now)).rowcount)


def _due(now: datetime) -> Any:
    return or_(CaptureDevice.purge_claimed_at == None,  # noqa: E711
               CaptureDevice.purge_claimed_at <= now - PURGE_EVERY)


def submit_due(now: datetime) -> int:
    """Queues a purge for every device holding expired captures and not purged in the last
    hour; returns how many were queued."""
    before = cutoff(now)
    with session_scope() as session:
        candidates = session.exec(select(CaptureDevice.id, User).join(User, User.id == CaptureDevice.user_id)
                                  .where(_due(now))).all()
        due = [(device_id, AuthedUser.from_row(owner)) for device_id, owner in candidates
               if device_id is not None and _has_expired(session, device_id, before)]
    submitted = 0
    for device_id, owner in due:
        if _claim_due(device_id, now):
            jobs.submit(owner, JOB_TYPE, {"device_id": device_id})
            submitted += 1
    return submitted
