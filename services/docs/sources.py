"""Doc Q&A sources: who may see, ask and manage them; creating, scheduling, deleting.

A source is private to its owner unless shared with every signed-in user. Admins manage
every source (re-sync, schedule, delete) but ask only their own and shared ones, like
everybody else: managing a source is not a licence to read a colleague's private files.
Folder sources read the server's disk, so only admins may add them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import or_, update
from sqlmodel import Session, select

from services import crypto, redaction
from services.auth.errors import AccessDenied, ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import DocSource, JobRun, JobStatus, User
from services.db.models.base import utcnow
from services.integrations.base import WikiSpace
from services.integrations.confluence.client import ConfluenceClient
from services.search import dense
from services.settings import get_settings

KINDS = ("confluence", "files", "folder", "package", "eval")
USER_KINDS = ("confluence", "files", "folder", "package")  # eval sources belong to `docs eval`
MAX_NAME = 200
MAX_INTERVAL_MINUTES = 7 * 24 * 60
ACTIVE = ("queued", "indexing")
CLAIM_GRACE = timedelta(minutes=2)
INTERRUPTED = "The last sync was interrupted before it finished; re-sync to continue where it stopped."


@dataclass(frozen=True)
class SourceView:
    id: int
    kind: str
    name: str
    shared: bool
    owner_email: str
    mine: bool
    status: str
    error: str
    documents: int
    chunks: int
    symbols: int
    last_sync_at: datetime | None
    last_job_id: str | None
    sync_interval_minutes: int
    window_start_hour: int | None
    window_end_hour: int | None
    detail: str  # where it comes from: the Confluence URL and spaces, the folder, the package
    config: dict

    @property
    def window(self) -> str:
        if self.window_start_hour is None or self.window_end_hour is None:
            return ""
        return f"{self.window_start_hour:02d}:00–{self.window_end_hour:02d}:00"


def _detail(kind: str, config: dict) -> str:
    if kind == "confluence":
        return f"{config.get('url', '')} · spaces {', '.join(config.get('spaces', [])) or 'none chosen'}"
    if kind == "folder":
        return str(config.get("path", ""))
    if kind == "package":
        return config.get("package") or config.get("archive_name", "")
    return ""


def _view(row: DocSource, owner_email: str, user: AuthedUser) -> SourceView:
    assert row.id is not None
    config = json.loads(row.config_json or "{}")
    status, error = row.status, row.error
    if status in ACTIVE and sync_state(row) == "lost":
        status, error = "error", INTERRUPTED
    return SourceView(
        id=row.id, kind=row.kind, name=row.name, shared=row.shared, owner_email=owner_email,
        mine=row.owner_id == user.id, status=status, error=error, documents=row.documents,
        chunks=row.chunks, symbols=row.symbols, last_sync_at=row.last_sync_at, last_job_id=row.last_job_id,
        sync_interval_minutes=row.sync_interval_minutes, window_start_hour=row.window_start_hour,
        window_end_hour=row.window_end_hour, detail=_detail(row.kind, config), config=config)


def _visible_clause(user: AuthedUser):
    return or_(DocSource.shared == True, DocSource.owner_id == user.id)  # noqa: E712 (SQL expression)


def visible_ids(user: AuthedUser) -> list[int]:
    """The sources this user's questions may retrieve from."""
    with session_scope() as session:
        query = select(DocSource.id).where(_visible_clause(user), DocSource.kind != "eval")
        return [source_id for source_id in session.exec(query).all() if source_id is not None]


def list_sources(user: AuthedUser) -> list[SourceView]:
    """The user's and the shared sources; an admin sees every source (to manage it)."""
    with session_scope() as session:
        query = (select(DocSource, User.email).join(User, User.id == DocSource.owner_id, isouter=True)
                 .where(DocSource.kind != "eval").order_by(DocSource.name, DocSource.id))
        if not user.is_admin:
            query = query.where(_visible_clause(user))
        return [_view(row, email or "", user) for row, email in session.exec(query).all()]


def _manageable(session: Session, user: AuthedUser, source_id: int) -> DocSource:
    row = session.get(DocSource, source_id)
    if row is None or row.kind == "eval" or (row.owner_id != user.id and not user.is_admin):
        raise AccessDenied("That source does not exist or is not yours to change.", signed_in=True)
    return row


def get(user: AuthedUser, source_id: int) -> SourceView:
    with session_scope() as session:
        row = session.get(DocSource, source_id)
        if row is None or row.kind == "eval" or not (row.shared or row.owner_id == user.id or user.is_admin):
            raise AccessDenied("That source does not exist or is not yours.", signed_in=True)
        owner = session.get(User, row.owner_id) if row.owner_id else None
        return _view(row, owner.email if owner else "", user)


def _name(name: str, fallback: str) -> str:
    name = " ".join((name or "").split()) or fallback
    if len(name) > MAX_NAME:
        raise ValidationError(f"Give the source a name of at most {MAX_NAME} characters.")
    return name


def _create(user: AuthedUser | None, kind: str, name: str, *, shared: bool, config: dict, secret: str = "") -> int:
    row = DocSource(owner_id=user.id if user else None, kind=kind, name=name, shared=shared,
                    config_json=json.dumps(config), secret=crypto.encrypt(secret) if secret else "")
    with session_scope() as session:
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def check_url(url: str, what: str) -> str:
    url = (url or "").strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError(f"Enter the {what} address starting with https:// (or http://).")
    return url


def _confluence(url: str, token: str, email: str) -> ConfluenceClient:
    url = check_url(url, "Confluence")
    token = (token or "").strip()
    if not token:
        raise ValidationError("Paste a Confluence personal access token (or an API token with your e-mail).")
    redaction.register(token)
    return ConfluenceClient(url, token, email=(email or "").strip() or None)


def confluence_spaces(user: AuthedUser, *, url: str, token: str, email: str = "") -> list[WikiSpace]:
    """The spaces the token can see, to choose from before saving (also proves the token works)."""
    del user  # any signed-in user may connect their own Confluence
    return _confluence(url, token, email).spaces()


def create_confluence(user: AuthedUser, *, url: str, token: str, spaces: list[str], email: str = "",
                      name: str = "", shared: bool = False) -> int:
    """A Confluence site and the spaces to index; the token is checked, then stored encrypted."""
    keys = sorted({key.strip() for key in spaces if key and key.strip()})
    if not keys:
        raise ValidationError("Choose at least one space to index.")
    client = _confluence(url, token, email)
    client.server_title()  # a refused token fails here, before anything is saved
    url, token = client.url, token.strip()
    config = {"url": url, "spaces": keys, "email": (email or "").strip()}
    return _create(user, "confluence", _name(name, f"Confluence {', '.join(keys)}"), shared=shared,
                   config=config, secret=token)


def confluence_secret(source_id: int) -> str:
    """The decrypted token, for the sync job only: never shown or logged."""
    with session_scope() as session:
        row = session.get(DocSource, source_id)
        token = crypto.decrypt(row.secret) if row is not None and row.secret else ""
    redaction.register(token)
    return token


def create_files(user: AuthedUser, *, name: str = "", shared: bool = False) -> int:
    """A collection of uploaded files and fetched web pages."""
    return _create(user, "files", _name(name, "Uploaded files"), shared=shared, config={})


def create_folder(user: AuthedUser, *, path: str, name: str = "", shared: bool = False) -> int:
    """A folder on this server, re-read at each sync (admins only: it reads the server's disk)."""
    if not user.is_admin:
        raise AccessDenied("Only admins can index a folder on the server.", signed_in=True)
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise ValidationError(f"{path} is not a folder on this server.")
    return _create(user, "folder", _name(name, folder.name or str(folder)), shared=shared,
                   config={"path": str(folder)})


def create_package(user: AuthedUser, *, package: str = "", archive_name: str = "", name: str = "",
                   shared: bool = True) -> int:
    """A Python package: installed here (by name) or an uploaded source archive (stored by
    `services.docs.ingest.store_archive`)."""
    package = package.strip()
    if bool(package) == bool(archive_name):
        raise ValidationError("Give either an installed package's name or a source archive.")
    if package and not package.replace("_", "").replace(".", "").replace("-", "").isalnum():
        raise ValidationError(f"{package!r} is not a Python package name.")
    config = {"package": package} if package else {"archive_name": archive_name}
    return _create(user, "package", _name(name, package or archive_name), shared=shared, config=config)


def create_eval(name: str) -> int:
    """A hidden source for `docs eval`: nobody asks it, the evaluation alone reads it."""
    return _create(None, "eval", _name(name, "evaluation"), shared=False, config={})


def set_shared(user: AuthedUser, source_id: int, shared: bool) -> None:
    with session_scope() as session:
        row = _manageable(session, user, source_id)
        row.shared, row.updated_at = shared, utcnow()
        session.add(row)


def _hour(value: int | None, label: str) -> int | None:
    if value is None:
        return None
    if not 0 <= value <= 23:
        raise ValidationError(f"The window's {label} hour must be between 0 and 23.")
    return value


def set_schedule(user: AuthedUser, source_id: int, *, interval_minutes: int, window_start_hour: int | None = None,
                 window_end_hour: int | None = None) -> None:
    """Re-sync every `interval_minutes` (0: only when asked), only between the window's hours
    when both are given (a window may wrap midnight: 22-6)."""
    if not 0 <= interval_minutes <= MAX_INTERVAL_MINUTES:
        raise ValidationError("Re-sync at most every 7 days (10080 minutes), or 0 for only when asked.")
    if 0 < interval_minutes < 5:
        raise ValidationError("Re-sync at most every 5 minutes.")
    start, end = _hour(window_start_hour, "start"), _hour(window_end_hour, "end")
    if (start is None) != (end is None) or (start is not None and start == end):
        raise ValidationError("Give the window both a start and a different end hour, or neither.")
    with session_scope() as session:
        row = _manageable(session, user, source_id)
        row.sync_interval_minutes, row.window_start_hour, row.window_end_hour = interval_minutes, start, end
        row.updated_at = utcnow()
        session.add(row)


def in_window(start: int | None, end: int | None, hour: int) -> bool:
    if start is None or end is None:
        return True
    return start <= hour < end if start < end else hour >= start or hour < end


def archive_path(source_id: int) -> Path:
    """Where an uploaded package archive is kept (re-read at each sync)."""
    return get_settings().data_dir / "docs" / "archives" / f"source-{source_id}.bin"


def delete(user: AuthedUser, source_id: int) -> None:
    """The source, its documents, chunks and symbols (cascade), its vectors and archive."""
    with session_scope() as session:
        row = _manageable(session, user, source_id)
        session.delete(row)
    dense.dropped(source_id)
    archive_path(source_id).unlink(missing_ok=True)


def manageable(user: AuthedUser, source_id: int) -> DocSource:
    """The row, if this user may change the source (for the ingest and sync flows)."""
    with session_scope() as session:
        return _manageable(session, user, source_id)


def mark_queued(source_id: int, job_id: str) -> None:
    """Records the job `claim_for_sync` queued the source for. The status is left alone: a fast
    worker may already have run the job, and "queued" over its outcome would never be cleared."""
    with session_scope() as session:
        session.exec(update(DocSource).where(DocSource.id == source_id)  # type: ignore[call-overload]
                     .values(last_job_id=job_id))


def claim_for_sync(source_id: int) -> bool:
    """Takes the source for one sync, atomically: False when one is queued or running, so a
    double click, the scheduler and another web process never start two."""
    with session_scope() as session:
        claimed = session.exec(update(DocSource)  # type: ignore[call-overload]
                               .where(DocSource.id == source_id, DocSource.status.not_in(ACTIVE))  # type: ignore[attr-defined]
                               .values(status="queued", error="", updated_at=utcnow())).rowcount
    return bool(claimed)


def sync_state(row: DocSource) -> str:
    """"running", "lost" (the process running its last sync died: a killed worker, a stopped
    app) or "done". A claim younger than CLAIM_GRACE counts as running: its job id may not be
    recorded yet."""
    job = None
    if row.last_job_id:
        with session_scope() as session:
            job = session.get(JobRun, row.last_job_id)
    if job is not None and not JobStatus(job.status).finished:
        return "running"
    if row.status in ACTIVE:
        if job is not None and job.finished_at is not None and job.finished_at >= row.updated_at:
            return "lost"  # its job ended after the source last changed, and never said so
        return "running" if utcnow() - row.updated_at < CLAIM_GRACE else "lost"
    if job is not None and job.status == JobStatus.failed.value and job.error.startswith("Interrupted"):
        return "lost"
    return "done"
