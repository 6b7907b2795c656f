"""Data export: everything LLMCoder holds about a user, as JSON files in a ZIP."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, SQLModel, select

from services import runtime_settings
from services.db import session_scope
from services.db.models import (
    ApiToken,
    AuthSession,
    JobRun,
    JobStatus,
    LLMCall,
    LLMFailureReport,
    LLMFeedback,
    Notification,
    User,
)
from services.db.models.base import utcnow
from services.jobs.progress import ProgressReporter
from services.jobs.registry import job_type
from services.settings import get_settings

JOB_TYPE = "data_export"
# Never exported: credentials and their digests. Job tracebacks are shown to admins
# only (see service._view), so the export leaves them out too.
_PRIVATE_FIELDS = {"password_hash", "token_hash"}
_ADMIN_ONLY_FIELDS = {JobRun: {"traceback"}}


def _plain(row: SQLModel) -> dict[str, Any]:
    data = row.model_dump(exclude=_PRIVATE_FIELDS | _ADMIN_ONLY_FIELDS.get(type(row), set()))
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()}


def _sections(user_id: int) -> list[tuple[str, Callable[[Session], list[SQLModel]]]]:
    """Each section is one JSON file; later features add theirs here."""
    return [
        ("profile", lambda s: [s.get(User, user_id)]),
        ("sessions", lambda s: list(s.exec(select(AuthSession).where(AuthSession.user_id == user_id)))),
        ("api_tokens", lambda s: list(s.exec(select(ApiToken).where(ApiToken.user_id == user_id)))),
        ("notifications", lambda s: list(s.exec(select(Notification).where(Notification.user_id == user_id)))),
        ("jobs", lambda s: list(s.exec(select(JobRun).where(JobRun.owner_id == user_id)))),
        ("llm_calls", lambda s: list(s.exec(select(LLMCall).where(LLMCall.user_id == user_id)))),
        ("llm_feedback", lambda s: list(s.exec(select(LLMFeedback).where(LLMFeedback.user_id == user_id)))),
        ("llm_failure_reports",
         lambda s: list(s.exec(select(LLMFailureReport).where(LLMFailureReport.user_id == user_id)))),
    ]


def export_path(user_id: int, job_id: str) -> Path:
    return get_settings().exports_dir / str(user_id) / f"{job_id}.zip"


def prune_old_exports(user_id: int, keep_days: int) -> int:
    """Deletes the user's export files older than keep_days; their jobs stop offering a download."""
    cutoff = utcnow() - timedelta(days=keep_days)
    pruned = 0
    with session_scope() as session:
        rows = session.exec(
            select(JobRun).where(
                JobRun.owner_id == user_id,
                JobRun.type == JOB_TYPE,
                JobRun.status == JobStatus.succeeded.value,
                JobRun.finished_at < cutoff,  # type: ignore[operator]
            )
        ).all()
        for row in rows:
            result = json.loads(row.result_json or "{}")
            if not result.get("file"):
                continue
            (get_settings().data_dir / result.pop("file")).unlink(missing_ok=True)
            result["expired"] = True
            row.result_json = json.dumps(result)
            row.message = f"File deleted after {keep_days} day(s)"
            session.add(row)
            pruned += 1
    return pruned


@job_type(JOB_TYPE, title="Data export")
def run_export(progress: ProgressReporter, params: dict[str, Any]) -> dict[str, Any]:
    user_id = int(params["user_id"])
    prune_old_exports(user_id, runtime_settings.get_int("jobs.export_keep_days"))
    sections = _sections(user_id)
    target = export_path(user_id, progress.job_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    counts: dict[str, int] = {}
    progress.update(1, "Collecting your data")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for index, (name, fetch) in enumerate(sections):
                with session_scope() as session:
                    rows = [_plain(r) for r in fetch(session) if r is not None]
                counts[name] = len(rows)
                archive.writestr(f"{name}.json", json.dumps(rows, indent=2, default=str))
                progress.update(5 + 90 * (index + 1) // len(sections), f"Exported {name} ({len(rows)})")
            manifest = {"user_id": user_id, "created_at": utcnow().isoformat(), "counts": counts, "format": 1}
            archive.writestr("manifest.json", json.dumps(manifest, indent=2))
        partial.replace(target)
    except BaseException:
        # Cancelled or failed: no half-written copy of the user's data stays on disk.
        partial.unlink(missing_ok=True)
        raise
    _notify_done(user_id, progress.job_id)
    return {
        "file": str(target.relative_to(get_settings().data_dir)),
        "bytes": target.stat().st_size,
        "filename": f"llmcoder-export-{utcnow():%Y-%m-%d}.zip",
        "counts": counts,
    }


def _notify_done(user_id: int, job_id: str) -> None:
    from services.notifications.service import notify

    notify(user_id, "Your data export is ready", body="Download it from the Jobs page.", kind="job", link="/jobs")
