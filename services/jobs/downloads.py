"""Signed, expiring links to a job's file, so the API route needs no browser session."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path

from services import crypto
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import JobRun, Role, User
from services.jobs import service
from services.settings import get_settings

LINK_SECONDS = 300


class DownloadRefused(Exception):
    pass


def _signature(job_id: str, user_id: int, expires: int) -> str:
    message = f"{job_id}:{user_id}:{expires}".encode()
    return hmac.new(crypto.signing_key(), message, hashlib.sha256).hexdigest()


def signed_path(user: AuthedUser, job_id: str) -> str:
    """Checks the user may see the job and it has a file, then signs a short-lived link."""
    job = service.get(user, job_id)
    if not job.result.get("file"):
        raise DownloadRefused("This job has no file to download.")
    expires = int(time.time()) + LINK_SECONDS
    return f"/api/jobs/{job_id}/download?u={user.id}&e={expires}&s={_signature(job_id, user.id, expires)}"


def resolve(job_id: str, user_id: int, expires: int, signature: str) -> tuple[Path, str]:
    """The file and its download name, if the link is genuine, fresh and the signer still may."""
    if expires < time.time():
        raise DownloadRefused("This download link has expired; start the download again.")
    # Bytes, not str: compare_digest raises TypeError on non-ASCII text, and a tampered
    # link must be refused, not crash the route.
    expected = _signature(job_id, user_id, expires).encode()
    if not hmac.compare_digest(expected, str(signature).encode("utf-8", "replace")):
        raise DownloadRefused("This download link is not valid.")
    with session_scope() as session:
        row = session.get(JobRun, job_id)
        signer = session.get(User, user_id)
        if row is None or signer is None or not signer.is_active:
            raise DownloadRefused("This download link is not valid.")
        if row.owner_id != user_id and signer.role != Role.admin.value:
            raise DownloadRefused("This download link is not valid.")
        result = json.loads(row.result_json or "{}")
    if not result.get("file"):
        raise DownloadRefused("This job has no file to download.")
    data_dir = get_settings().data_dir.resolve()
    path = (data_dir / result["file"]).resolve()
    if data_dir not in path.parents or not path.is_file():
        raise DownloadRefused("The file is gone; run the export again.")
    return path, result.get("filename", path.name)
