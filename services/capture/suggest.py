"""One turbo run: the user's recent context -> matching documents from Doc Q&A and a few
suggestions from the gateway (feature "turbo") -> new, de-duplicated rows in the side panel.

A run sends nothing when the context has not changed since the last run, so a user who
stops working stops costing money. A spent budget switches turbo off with a notice instead
of failing every few seconds.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from services import runtime_settings
from services.auth.errors import ValidationError
from services.auth.users import AuthedUser
from services.capture import turbo
from services.db import session_scope
from services.db.models import (
    CaptureAudio,
    CaptureEvent,
    CaptureFrame,
    CaptureKeys,
    JobRun,
    TurboSession,
    TurboSuggestion,
    User,
)
from services.db.models.base import utcnow
from services.docs import qa
from services.jobs.progress import ProgressReporter
from services.jobs.registry import job_type
from services.llm import gateway, prompts
from services.llm.messages import UntrustedText
from services.llm.structured import first_json
from services.llm.types import AllProvidersFailed, BudgetExceeded, LLMRequest, LLMUnavailable

log = logging.getLogger(__name__)

FEATURE = "turbo"
CONTEXT_WINDOW = timedelta(minutes=2)
MAX_TYPED = 1500
MAX_TRANSCRIPT = 2000
MAX_SUGGESTIONS = 3
DOC_SUGGESTIONS = 2
KINDS = ("step", "idea")
JOB_ROWS_KEPT = timedelta(hours=1)

prompts.register_default(
    FEATURE, "suggest",
    system="You watch over the user's shoulder while they work and offer at most 3 short, concrete suggestions "
           "that would help right now: troubleshooting steps for an error they are looking at or talking about, "
           "or ideas for the task in front of them. Skip anything obvious or generic; fewer is better, and none "
           "is fine. Reply with JSON only: {{\"suggestions\": [{{\"kind\": \"step\" or \"idea\", "
           "\"title\": \"at most 10 words\", \"body\": \"one to three sentences\"}}]}}.",
    user="It is {now}. The focused window: {window}.\nSuggest what would help me now, from what I said and typed "
         "in the last minutes (given as data).",
    variables=("now", "window"),
    description="Turbo mode: live suggestions from the workstation's recent context (transcript, active window, "
                "typed text).",
)


@dataclass(frozen=True)
class Context:
    app: str
    title: str
    transcript: str
    typed: str

    @property
    def window(self) -> str:
        return " — ".join(part for part in (self.app, self.title) if part) or "unknown"

    @property
    def empty(self) -> bool:
        return not (self.transcript.strip() or self.typed.strip() or self.title.strip())

    def digest(self) -> str:
        return hashlib.sha256("\x1f".join((self.app, self.title, self.transcript, self.typed)).encode()).hexdigest()

    def query(self) -> str:
        """What Doc Q&A is searched with: the freshest words first."""
        text = " ".join(" ".join(part.split()) for part in (self.title, self.typed[-300:], self.transcript[-300:]))
        return text[:qa.MAX_QUESTION].strip()


def recent_context(user_id: int, since: datetime) -> Context:
    """What the user's devices sent since `since`: focused window, transcript, typed text."""
    with session_scope() as session:
        windows = [session.exec(select(model.captured_at, model.app, model.title)
                                .where(model.user_id == user_id, model.captured_at >= since, model.title != "")
                                .order_by(col(model.captured_at).desc()).limit(1)).first()
                   for model in (CaptureEvent, CaptureFrame, CaptureKeys)]
        transcripts = session.exec(
            select(CaptureAudio.transcript)
            .where(CaptureAudio.user_id == user_id, CaptureAudio.captured_at >= since,
                   col(CaptureAudio.transcript).is_not(None), CaptureAudio.transcript != "")
            .order_by(col(CaptureAudio.captured_at))).all()
        typed = session.exec(select(CaptureKeys.text)
                             .where(CaptureKeys.user_id == user_id, CaptureKeys.captured_at >= since)
                             .order_by(col(CaptureKeys.captured_at))).all()
    newest = max((w for w in windows if w is not None), key=lambda w: w[0], default=None)
    app, title = (newest[1], newest[2]) if newest else ("", "")
    return Context(app, title, " ".join(t or "" for t in transcripts)[-MAX_TRANSCRIPT:], "".join(typed)[-MAX_TYPED:])


def fingerprint(kind: str, title: str) -> str:
    """Same advice, same print: case, punctuation and spacing do not make it new."""
    words = " ".join(re.findall(r"[a-z0-9]+", title.lower()))
    return hashlib.sha256(f"{kind}:{words}".encode()).hexdigest()


def _doc_suggestions(user: AuthedUser, context: Context) -> list[dict[str, Any]]:
    query = context.query()
    if not query:
        return []
    try:
        citations = qa.retrieve(user, query, limit=DOC_SUGGESTIONS)
    except ValidationError:
        return []
    floor = qa.min_similarity()
    return [{"kind": "doc", "title": (c.title or c.source_name)[:200], "body": c.passage[:400], "url": c.url,
             "source": c.source_name[:200], "fingerprint": fingerprint("doc", f"{c.document_id} {c.title}")}
            for c in citations if c.similarity >= floor]


def _parse(text: str) -> list[dict[str, Any]]:
    try:
        items = first_json(text).get("suggestions", [])
    except (ValueError, AttributeError):
        log.info("Turbo answer held no suggestions JSON")
        return []
    found = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        kind = item.get("kind") if item.get("kind") in KINDS else "idea"
        title = " ".join(str(item.get("title", "")).split())[:200]
        body = str(item.get("body", "")).strip()[:1000]
        if title and body:
            found.append({"kind": kind, "title": title, "body": body, "fingerprint": fingerprint(kind, title)})
    return found[:MAX_SUGGESTIONS]


def _llm_suggestions(user: AuthedUser, context: Context) -> list[dict[str, Any]]:
    untrusted = tuple(UntrustedText(source, text, label) for source, text, label in (
        ("speech transcript", context.transcript, "what I said"),
        ("typed text", context.typed, "what I typed")) if text.strip())
    result = gateway.complete(LLMRequest(
        feature=FEATURE, task="suggest", user_id=user.id, untrusted=untrusted, use_cache=False, max_tokens=600,
        temperature=0.3, variables={"now": utcnow().strftime("%H:%M UTC"), "window": context.window}))
    return [{**item, "call_id": result.call_id} for item in _parse(result.text)]


def _store(user_id: int, items: list[dict[str, Any]]) -> int:
    """Inserts the suggestions not shown before; the unique fingerprint settles races."""
    added = 0
    with session_scope() as session:
        for item in items:
            try:
                with session.begin_nested():
                    session.add(TurboSuggestion(user_id=user_id, **item))
                added += 1
            except IntegrityError:
                continue
    return added


def _prune(user_id: int, now: datetime) -> None:
    """Suggestions live as long as the capture they came from; finished runs an hour."""
    kept = timedelta(hours=int(runtime_settings.get("capture.retention_hours")))
    with session_scope() as session:
        session.exec(delete(TurboSuggestion).where(col(TurboSuggestion.user_id) == user_id,
                                                   col(TurboSuggestion.created_at) < now - kept))
        session.exec(delete(JobRun).where(col(JobRun.type) == turbo.JOB_TYPE, col(JobRun.owner_id) == user_id,
                                          col(JobRun.finished_at) < now - JOB_ROWS_KEPT))


def _record(user_id: int, now: datetime, digest: str, notice: str) -> None:
    with session_scope() as session:
        row = session.get(TurboSession, user_id)
        if row is not None:
            row.last_run_at, row.context_hash, row.notice = now, digest, notice[:500]
            session.add(row)


@job_type(turbo.JOB_TYPE, title="Turbo mode suggestions", queue="high")
def run(progress: ProgressReporter, params: dict[str, Any]) -> dict[str, Any]:
    user_id = int(params["user_id"])
    now = utcnow()
    with session_scope() as session:
        state = session.get(TurboSession, user_id)
        row = session.get(User, user_id)
        user = AuthedUser.from_row(row) if row is not None and row.is_active else None
        enabled, last_hash = (state.enabled, state.context_hash) if state else (False, "")
    if user is None or not enabled:
        return {"skipped": "turbo is off"}
    context = recent_context(user_id, now - CONTEXT_WINDOW)
    digest = context.digest()
    if context.empty or digest == last_hash:
        return {"skipped": "no new context"}
    items, notice, stopped = _doc_suggestions(user, context), "", False
    progress.update(40, "Asking the AI for suggestions")
    try:
        items += _llm_suggestions(user, context)
    except BudgetExceeded as exc:
        notice, stopped = f"Turbo mode stopped: {exc}", True
    except LLMUnavailable:
        notice = "No AI provider is available, so turbo mode only suggests matching documents."
    except AllProvidersFailed as exc:
        notice = str(exc)
    added = _store(user_id, items)
    _record(user_id, now, digest, notice)
    if stopped:
        turbo.stop(user_id, notice)
    _prune(user_id, now)
    return {"suggestions": added, "considered": len(items)}
