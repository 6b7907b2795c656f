"""The indexing job: one loop for every kind of source, resumable by construction.

Each kind lists its items (external id, version, how to load it) first, which is cheap;
the loop then loads, parses, chunks and embeds only the items whose version differs from
the stored one, writing each in its own transaction (services.docs.store). A run that
is killed, cancelled or paused at the end of its hours window therefore resumes where it
stopped: what was written is skipped as unchanged, nothing is written twice. Documents
that disappeared from the source are removed only after a complete listing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.auth.errors import ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import DocSource
from services.db.models.base import utcnow
from services.docs import sources, store
from services.docs.kinds import Item, list_items
from services.integrations.base import IntegrationError
from services.jobs import service as jobs
from services.jobs.progress import ProgressReporter
from services.jobs.registry import job_type
from services.search.documents import DocumentError

log = logging.getLogger(__name__)

JOB_TYPE = "docs_sync"
MAX_ERRORS_KEPT = 20
BATCH_CHUNKS = 64  # chunks embedded and written together
PROGRESS_EVERY = 20  # items between progress updates (each is a write and a cancel check)


@dataclass
class _Run:
    source_id: int
    progress: ProgressReporter
    scheduled: bool
    now: Callable[[], datetime] = utcnow
    done: int = 0
    written: int = 0
    skipped: int = 0
    chunks: int = 0
    errors: list[str] = field(default_factory=list)

    def failed(self, item: Item, exc: Exception) -> None:
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(f"{item.title or item.external_id}: {exc}")


def _set(source_id: int, **values: Any) -> None:
    with session_scope() as session:
        row = session.get(DocSource, source_id)
        if row is None:
            return
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = utcnow()
        session.add(row)


def _outside_window(run: _Run, source: DocSource) -> bool:
    hour = run.now().astimezone().hour  # windows are in the server's local time, as people mean them
    return run.scheduled and not sources.in_window(source.window_start_hour, source.window_end_hour, hour)


def _index(run: _Run, source: DocSource, items: list[Item]) -> bool:
    """Writes the changed items; False if it stopped early at the end of the hours window."""
    with store.Writer(run.source_id) as writer:
        return _index_with(run, source, items, writer)


def _index_with(run: _Run, source: DocSource, items: list[Item], writer: store.Writer) -> bool:
    stored = store.versions(run.source_id)
    total, unit = len(items), "pages" if source.kind == "confluence" else "documents"
    batch: list[store.NewDocument] = []

    def report(flush: bool) -> None:
        if flush and batch:
            run.chunks += writer.write(batch)
            run.written += len(batch)
            batch.clear()
        run.progress.update(5 + int(90 * run.done / max(total, 1)),
                            f"{run.done} of {total} {unit} ({run.written} indexed, {run.skipped} unchanged)")

    for item in items:
        if _outside_window(run, source):
            report(flush=True)
            return False
        run.done += 1
        if stored.get(item.external_id) == item.version:
            run.skipped += 1
        else:
            try:
                loaded = item.load()
                if loaded is None:  # gone between the listing and now
                    store.remove_documents(run.source_id, [item.external_id])
                else:
                    batch.append(store.NewDocument(item.external_id, version=item.version, **loaded))
            except DocumentError as exc:
                run.failed(item, exc)
        # Written at each progress update too, not only once BATCH_CHUNKS pile up: with short
        # pages that could be 64 fetched items lost to a kill, and fetched again.
        if sum(len(doc.chunks) for doc in batch) >= BATCH_CHUNKS or run.done % PROGRESS_EVERY == 0:
            report(flush=True)
    report(flush=True)
    return True


def _checkpoint(source_id: int, **values: Any) -> None:
    _set(source_id, checkpoint_json=json.dumps(values))


def run_sync(source_id: int, progress: ProgressReporter, *, scheduled: bool = False,
             now: Callable[[], datetime] = utcnow) -> dict[str, Any]:
    with session_scope() as session:
        source = session.get(DocSource, source_id)
        if source is None:
            raise ValidationError("That source was deleted.")
    run = _Run(source_id, progress, scheduled, now)
    # Incomplete until the end: a killed run leaves it so, and the scheduler resumes it.
    _set(source_id, status="indexing", error="",
         checkpoint_json=json.dumps({"complete": False, "started": utcnow().isoformat()}))
    try:
        progress.update(1, "Listing documents")
        items = list_items(source)
        finished = _index(run, source, items)
        removed = 0
        if finished:  # the listing was complete: what it did not name is gone
            seen = {item.external_id for item in items}
            removed = store.remove_documents(source_id, [eid for eid in store.versions(source_id) if eid not in seen])
    except (IntegrationError, DocumentError, ValidationError) as exc:
        _set(source_id, status="error", error=str(exc))
        store.refresh_counts(source_id)
        raise
    except Exception as exc:
        _set(source_id, status="error", error=f"Indexing stopped: {type(exc).__name__}: {exc}")
        store.refresh_counts(source_id)
        raise
    documents, chunks, symbols = store.refresh_counts(source_id)
    result = {"listed": len(items), "indexed": run.written, "unchanged": run.skipped, "removed": removed,
              "chunks_written": run.chunks, "documents": documents, "chunks": chunks, "symbols": symbols,
              "errors": run.errors, "complete": finished}
    _checkpoint(source_id, complete=finished, paused=not finished, done=run.done, total=len(items),
                at=utcnow().isoformat())
    error = f"{len(run.errors)} document(s) could not be indexed: " + "; ".join(run.errors[:3]) if run.errors else ""
    if finished:
        _set(source_id, status="ready", error=error, last_sync_at=utcnow())
    else:
        _set(source_id, status="ready", error=f"Paused at the end of its hours window after {run.done} of "
                                             f"{len(items)}; the next window continues.")
    return result


@job_type(JOB_TYPE, title="Index documentation", queue="low")
def sync_job(progress: ProgressReporter, params: dict[str, Any]) -> dict[str, Any]:
    return run_sync(int(params["source_id"]), progress, scheduled=bool(params.get("scheduled")))


def start(user: AuthedUser, source_id: int, *, scheduled: bool = False) -> str:
    """Queues a sync of the source and returns the job id; refuses a second concurrent one."""
    sources.manageable(user, source_id)
    if not sources.claim_for_sync(source_id):
        if sources.sync_state(sources.manageable(user, source_id)) == "running":
            raise ValidationError("This source is already being indexed; see its progress on the Jobs page.")
        # The job that held it died without updating the source (a killed worker).
        _set(source_id, status="error", error=sources.INTERRUPTED)
        if not sources.claim_for_sync(source_id):
            raise ValidationError("This source is already being indexed; see its progress on the Jobs page.")
    try:
        job_id = jobs.submit(user, JOB_TYPE, {"source_id": source_id, "scheduled": scheduled})
    except Exception as exc:
        _set(source_id, status="error", error=f"Could not start indexing: {exc}")
        raise
    sources.mark_queued(source_id, job_id)
    return job_id


def iter_due(now: datetime) -> Iterator[int]:
    """Sources to sync now, inside their hours window: those whose interval has passed, and
    those whose last run stopped early (paused by the window, or its process was killed),
    which resume where they stopped."""
    from sqlmodel import select

    with session_scope() as session:
        rows = session.exec(select(DocSource).where(DocSource.kind != "eval")).all()
    for row in rows:
        state = sources.sync_state(row)
        hour = now.astimezone().hour
        if state == "running" or not sources.in_window(row.window_start_hour, row.window_end_hour, hour):
            continue
        checkpoint = json.loads(row.checkpoint_json or "{}")
        stopped_early = not checkpoint.get("complete", True) and (checkpoint.get("paused") or state == "lost")
        interval_passed = row.sync_interval_minutes > 0 and (
            row.last_sync_at is None or (now - row.last_sync_at).total_seconds() >= row.sync_interval_minutes * 60)
        if stopped_early or interval_passed:
            assert row.id is not None
            yield row.id


def _acting_owner(source_id: int) -> AuthedUser | None:
    """Who a scheduled sync runs as: the source's owner, or an admin when the owner is gone."""
    from sqlmodel import select

    from services.db.models import Role, User

    with session_scope() as session:
        row = session.get(DocSource, source_id)
        owner = session.get(User, row.owner_id) if row is not None and row.owner_id else None
        if owner is None or not owner.is_active:
            owner = session.exec(select(User).where(User.role == Role.admin.value, User.is_active == True)  # noqa: E712
                                 .order_by(User.id)).first()
        return AuthedUser.from_row(owner) if owner is not None else None


def submit_due(now: datetime) -> int:
    """Starts a scheduled sync of every due source; returns how many started."""
    started = 0
    for source_id in iter_due(now):
        owner = _acting_owner(source_id)
        if owner is None:
            continue
        try:
            start(owner, source_id, scheduled=True)
            started += 1
        except ValidationError:
            continue  # another process claimed it first, or it is running
    return started
