"""Sending a reply: only on the user's click, and at most once.

The click claims the draft with one conditional UPDATE (draft/failed -> sending), so a double
click, two tabs or two web processes queue one send job. The job records `attempted_at`
before it asks the vendor; a job that finds it already set (a retry after a crash, a second
delivery of the same job) cannot know whether the vendor sent, so it sends nothing and tells
the user to check their Sent folder. A vendor that refused (bad recipient, signed out) leaves
the draft failed and editable, to send again with a new click.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import update

from services.auth.errors import ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import InboxDraft, User
from services.db.models import InboxMessage as Row
from services.db.models.base import utcnow
from services.inbox import accounts, store, styles
from services.inbox.replies import MAX_TEXT, owned_draft
from services.integrations.base import (
    InboxMessage,
    IntegrationError,
    IntegrationUncertain,
    Reply,
)
from services.jobs import service as jobs
from services.jobs.progress import ProgressReporter
from services.jobs.registry import job_type
from services.llm import outcomes

log = logging.getLogger(__name__)

JOB_TYPE = "inbox_send"
UNKNOWN = ("The attempt to send this reply stopped half-way, so it may have gone out. It is not sent again "
           "automatically: check your Sent folder (or the Slack thread) before writing it once more.")


def send(user: AuthedUser, draft_id: int, text: str) -> str:
    """Saves the final text and queues the send; returns the draft's status afterwards
    ("sending" for this click, or what an earlier click already did)."""
    text = text.strip()
    if not text:
        raise ValidationError("The reply is empty: write something first.")
    if len(text) > MAX_TEXT:
        raise ValidationError(f"A reply can be at most {MAX_TEXT} characters.")
    with session_scope() as session:
        row = owned_draft(session, user, draft_id)
        fields = json.loads(row.reply_json)
        if not fields.get("to") and not fields.get("channel"):
            raise ValidationError("This reply has no recipient.")
        claimed = session.exec(update(InboxDraft).where(  # type: ignore[call-overload]
            InboxDraft.id == draft_id, InboxDraft.status.in_(("draft", "failed")))  # type: ignore[attr-defined]
            .values(status="sending", text=text, error="", attempted_at=None, updated_at=utcnow())).rowcount
    if not claimed:
        with session_scope() as session:
            return owned_draft(session, user, draft_id).status
    try:
        job_id = jobs.submit(user, JOB_TYPE, {"draft_id": draft_id})
    except Exception as exc:
        _finish(draft_id, status="failed", error=f"Could not queue the reply: {exc}")
        raise
    with session_scope() as session:
        session.exec(update(InboxDraft).where(InboxDraft.id == draft_id)  # type: ignore[call-overload]
                     .values(job_id=job_id))
    return "sending"


def _finish(draft_id: int, **values: Any) -> None:
    with session_scope() as session:
        session.exec(update(InboxDraft).where(InboxDraft.id == draft_id)  # type: ignore[call-overload]
                     .values(updated_at=utcnow(), **values))


def _attempt(draft_id: int) -> InboxDraft | None:
    """The draft when this run may ask the vendor; marks the attempt first. None when it was
    sent, withdrawn, or attempted before (then it becomes "unknown")."""
    with session_scope() as session:
        attempted = session.exec(update(InboxDraft).where(  # type: ignore[call-overload]
            InboxDraft.id == draft_id, InboxDraft.status == "sending", InboxDraft.attempted_at == None)  # noqa: E711
            .values(attempted_at=utcnow())).rowcount
        row = session.get(InboxDraft, draft_id)
        if row is None:
            return None
        if not attempted:
            if row.status == "sending":  # attempted by an earlier run that never finished
                row.status, row.error = "unknown", UNKNOWN
                session.add(row)
            return None
        return row


def run_send(draft_id: int, progress: ProgressReporter) -> dict[str, Any]:
    row = _attempt(draft_id)
    if row is None:
        progress.update(100, "Nothing to send")
        return {"draft_id": draft_id, "sent": False}
    fields = json.loads(row.reply_json)
    reply = Reply(key=row.key, text=row.text, to=tuple(fields.get("to", [])), cc=tuple(fields.get("cc", [])),
                  subject=fields.get("subject", ""), thread_id=fields.get("thread_id", ""),
                  in_reply_to=fields.get("in_reply_to", ""), references=tuple(fields.get("references", [])),
                  channel=fields.get("channel", ""), thread_ts=fields.get("thread_ts", ""))
    progress.update(20, "Sending")
    account = accounts.account_row(row.account_id)
    try:
        external_id = accounts.open_source(account).send(reply)
    except IntegrationUncertain as exc:
        _finish(draft_id, status="unknown", error=f"{exc}. {UNKNOWN}")
        raise
    except (IntegrationError, ValidationError) as exc:
        _finish(draft_id, status="failed", error=str(exc), attempted_at=None)
        raise
    sent_at = utcnow()
    _finish(draft_id, status="sent", sent_at=sent_at, sent_external_id=external_id)
    progress.update(70, "Sent; updating your style")
    _after_send(row, account.address, reply, external_id or f"sent:{row.key}", sent_at)
    progress.update(100, "Sent")
    return {"draft_id": draft_id, "sent": True}


def _after_send(row: InboxDraft, address: str, reply: Reply, external_id: str, sent_at) -> None:
    """The thread shows the reply at once; the style learns from it and from the edits; an
    accepted model draft feeds the learned templates. None of this may undo the send."""
    try:
        with session_scope() as session:
            original = session.get(Row, row.message_id) if row.message_id else None
            scope = styles.scope_of(original) if original is not None else ""
            folder = original.folder if original is not None and original.kind == "slack" else "SENT"
        store.add_sent(row.account_id, InboxMessage(
            external_id=external_id, thread_id=reply.thread_id or external_id, sender_name="Me",
            sender_address=address, subject=reply.subject, snippet=" ".join(reply.text.split())[:200],
            sent_at=sent_at, unread=False, from_me=True, to=reply.to, cc=reply.cc, folder=folder,
            message_id=f"<{row.key}>", text=reply.text))
        if row.message_id:
            with session_scope() as session:
                session.exec(update(Row).where(Row.id == row.message_id)  # type: ignore[call-overload]
                             .values(replied=True, needs_reply=False, needs_reply_reason=""))
        styles.learn_from_send(row.account_id, scope, draft=row.ai_text, sent=reply.text, external_id=external_id)
        if row.call_id:
            with session_scope() as session:
                owner = session.get(User, row.owner_id)
            if owner is not None:
                outcomes.record(row.call_id, "accepted_draft", user=AuthedUser.from_row(owner), final_text=reply.text)
    except Exception:
        log.exception("Reply %s was sent; updating the thread, style or templates afterwards failed", row.id)


@job_type(JOB_TYPE, title="Send a reply", queue="high")
def send_job(progress: ProgressReporter, params: dict[str, Any]) -> dict[str, Any]:
    return run_send(int(params["draft_id"]), progress)
