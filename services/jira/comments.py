"""AI-drafted comments on a ticket, in the user's learned JIRA comment style, and posting them:
only on the user's click, and at most once.

The draft goes through the gateway with the ticket, its latest comments and its workflow state;
the ticket's texts are untrusted data (a description saying "ignore your instructions" is
material, not an order). The JIRA project key is the prompt's project, so admins can override
the template per project. Posting claims the draft with one conditional UPDATE (draft/failed ->
posting), so a double click, two tabs or two web processes post once. When JIRA fails after
receiving the comment, the ticket's comments are read back: a comment of ours with the same text
posted since the attempt means it went through; otherwise the draft stays editable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, select

from services.auth.errors import ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import JiraCommentDraft, JiraConnection
from services.db.models.base import utcnow
from services.db.upsert import insert_ignore
from services.integrations.base import IntegrationError, IntegrationUncertain
from services.integrations.tickets import TicketComment, TicketDetail, TicketTracker
from services.jira import comment_style, connection, jql, styles
from services.llm import gateway, outcomes, prompts
from services.llm.messages import UntrustedText
from services.llm.types import LLMRequest

log = logging.getLogger(__name__)

FEATURE = "jira"
MAX_TEXT = 32_000  # JIRA's own limit is 32,767 characters
MAX_INSTRUCTION = 500
RECENT_COMMENTS = 8
STUCK = timedelta(minutes=2)
# What a click may post: a draft, one JIRA refused, or one whose fate was unclear once the user,
# warned to look at the ticket first, posts it again.
EDITABLE = ("draft", "failed", "unknown")  # a claim older than this died with its process
UNKNOWN = ("Posting stopped half-way and JIRA could not be asked whether the comment arrived. It is not "
           "posted again automatically: look at the ticket in JIRA before posting once more.")

prompts.register_default(
    FEATURE, "comment",
    system="You draft a JIRA comment for the user on the ticket given as data. Write as the user, in first person, "
           "following their comment style exactly (length, tone, structure, JIRA wiki markup habits). Move the work "
           "forward: answer open questions, state progress or the next step fitting the ticket's status. Where you "
           "lack a fact, leave a bracketed placeholder like [version] instead of inventing it. Reply with the "
           "comment text only, in JIRA wiki markup, without commentary.",
    user="Draft my comment on {key} ({issue_type}, status “{status}”; the next usual step is {next_step}).\n"
         "My comment style:\n{style}\n{examples}{instruction}",
    variables=("key", "issue_type", "status", "next_step", "style", "examples", "instruction"),
    description="JIRA: a comment draft in the user's learned comment style, from the ticket, its comments and "
                "workflow state.",
)


@dataclass(frozen=True)
class DraftView:
    id: int
    key: str
    text: str
    status: str  # draft | posting | posted | failed | unknown
    error: str
    notice: str  # a fallback, a learned template, the cost
    comment_id: str
    rated: bool = False


def _view(row: JiraCommentDraft, notice: str = "") -> DraftView:
    return DraftView(id=row.id or 0, key=row.key, text=row.text, status=row.status, error=row.error,
                     notice=notice, comment_id=row.comment_id)


def _draft_row(session: Session, connection_id: int, key: str) -> JiraCommentDraft | None:
    return session.exec(select(JiraCommentDraft).where(JiraCommentDraft.connection_id == connection_id,
                                                       JiraCommentDraft.key == key)).first()


def open_draft(user: AuthedUser, key: str) -> DraftView | None:
    key = jql.checked_key(key)
    with session_scope() as session:
        row = connection.required(session, user)
        assert row.id is not None
        draft = _draft_row(session, row.id, key)
        return _view(draft) if draft is not None else None


def _ticket_text(detail: TicketDetail) -> str:
    ticket = detail.ticket
    lines = [f"{ticket.key}: {ticket.summary}", f"Type: {ticket.type} · Status: {ticket.status.name} · "
             f"Priority: {ticket.priority or 'none'} · Assignee: {ticket.assignee or 'unassigned'}",
             "", "Description:", ticket.description or "(none)", "", "Latest comments:"]
    for comment in detail.comments[-RECENT_COMMENTS:]:
        lines += [f"--- {comment.author}, {comment.created:%Y-%m-%d %H:%M}:", comment.body]
    if not detail.comments:
        lines.append("(none)")
    return "\n".join(lines)


def _examples(connection_id: int) -> str:
    samples = styles.examples(connection_id)
    if not samples:
        return ""
    return "Some of my recent comments, for style only:\n" + "\n".join(f"«{text}»" for text in samples) + "\n"


def skeleton(detail: TicketDetail) -> str:
    """No model (offline, budget reached): an honest outline to fill in, not a fake answer."""
    status = detail.ticket.status.name
    return f"[Progress on {detail.ticket.key} since the last update]\n\n*Next:* [what happens next while it is {status}]"


async def draft(user: AuthedUser, detail: TicketDetail, *, next_step: str = "", instruction: str = "",
                regenerate: bool = False) -> DraftView:
    """Writes (or rewrites) the user's comment draft for the ticket."""
    instruction = " ".join((instruction or "").split())
    if len(instruction) > MAX_INSTRUCTION:
        raise ValidationError(f"Keep the instruction under {MAX_INSTRUCTION} characters.")
    connection_id = connection.connection_id(user)
    ticket = detail.ticket
    style_text = comment_style.describe(styles.profile(connection_id))
    result = await gateway.acomplete(LLMRequest(
        feature=FEATURE, task="comment", project=ticket.project, user_id=user.id,
        untrusted=(UntrustedText("ticket", _ticket_text(detail), ticket.key),),
        variables={"key": ticket.key, "issue_type": ticket.type, "status": ticket.status.name,
                   "next_step": next_step or "not known", "style": style_text,
                   "examples": _examples(connection_id), "instruction": f"Also: {instruction}" if instruction else ""},
        task_text=f"Comment on {ticket.type} in status {ticket.status.name}: {ticket.summary}",
        context=f"jira {ticket.project} {ticket.type}", use_templates=not regenerate and not instruction,
        use_cache=not regenerate and not instruction, max_tokens=700, temperature=0.4,
        fallback=lambda: skeleton(detail)))
    text = result.text.strip()[:MAX_TEXT]
    with session_scope() as session:
        row = _draft_row(session, connection_id, ticket.key) or JiraCommentDraft(connection_id=connection_id,
                                                                                  key=ticket.key)
        if row.status == "posting":
            raise ValidationError("The last comment on this ticket is still being posted; wait for it first.")
        row.text, row.ai_text, row.call_id, row.status, row.error = text, text, result.call_id, "draft", ""
        row.comment_id, row.attempted_at, row.posted_at, row.updated_at = "", None, None, utcnow()
        session.add(row)
        session.flush()
        return _view(row, result.notice)


def _checked_text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError("The comment is empty: write something first.")
    if len(text) > MAX_TEXT:
        raise ValidationError(f"A JIRA comment can be at most {MAX_TEXT} characters.")
    return text


def _claim(connection_id: int, key: str, text: str) -> JiraCommentDraft | None:
    """The draft, now `posting` with `attempted_at` set, or None when another click holds it."""
    now = utcnow()
    with session_scope() as session:  # a comment typed without a draft gets its row here, once
        insert_ignore(session, JiraCommentDraft, {
            "connection_id": connection_id, "key": key, "text": "", "ai_text": "", "call_id": "", "status": "draft",
            "error": "", "comment_id": "", "updated_at": now}, ("connection_id", "key"))
        claimed = session.exec(update(JiraCommentDraft).where(  # type: ignore[call-overload]
            JiraCommentDraft.connection_id == connection_id, JiraCommentDraft.key == key,
            JiraCommentDraft.status.in_(EDITABLE))  # type: ignore[attr-defined]
            .values(status="posting", text=text, error="", attempted_at=now, updated_at=now)).rowcount
        row = _draft_row(session, connection_id, key)
        assert row is not None
        session.expunge(row)
        return row if claimed else None


def _finish(draft_id: int | None, **values: object) -> None:
    with session_scope() as session:
        session.exec(update(JiraCommentDraft).where(JiraCommentDraft.id == draft_id)  # type: ignore[call-overload]
                     .values(updated_at=utcnow(), **values))


def _arrived(tracker: TicketTracker, row: JiraCommentDraft, own_id: str) -> TicketComment | None:
    """Our comment with this text, posted since the attempt, if JIRA has it."""
    assert row.attempted_at is not None
    since = row.attempted_at - timedelta(minutes=1)
    for comment in reversed(tracker.comments(row.key)):
        if comment.author_id == own_id and comment.body.strip() == row.text.strip() and comment.created >= since:
            return comment
    return None


def post(user: AuthedUser, key: str, text: str) -> DraftView:
    """Posts the comment once; returns the draft as it ended (an earlier click's result when
    another click is posting it)."""
    key, text = jql.checked_key(key), _checked_text(text)
    with session_scope() as session:
        conn = connection.required(session, user)
        session.expunge(conn)
    assert conn.id is not None
    tracker = connection.open_tracker(conn)
    row = _claim(conn.id, key, text)
    if row is None:
        return _recover(user, conn, key, tracker)
    try:
        comment = tracker.add_comment(key, text)
    except IntegrationUncertain:
        return _settle_uncertain(conn, row, tracker)
    except IntegrationError as exc:
        _finish(row.id, status="failed", error=str(exc))
        raise
    _posted(user, row, comment)
    return open_draft(user, key) or _view(row)


def _posted(user: AuthedUser, row: JiraCommentDraft, comment: TicketComment) -> None:
    """Records the post; the outcome feeds the learned templates, and may not undo the post."""
    _finish(row.id, status="posted", comment_id=comment.id, posted_at=utcnow(), error="")
    if row.call_id:
        try:
            outcomes.record(row.call_id, "posted_comment", user=user, final_text=row.text)
        except Exception:
            log.exception("Recording the outcome of call %s failed", row.call_id)


def _settle_uncertain(conn: JiraConnection, row: JiraCommentDraft, tracker: TicketTracker) -> DraftView:
    try:
        comment = _arrived(tracker, row, conn.account_id)
    except IntegrationError:
        _finish(row.id, status="unknown", error=UNKNOWN)
        raise IntegrationUncertain(UNKNOWN) from None
    if comment is not None:
        _finish(row.id, status="posted", comment_id=comment.id, posted_at=utcnow(), error="")
    else:
        _finish(row.id, status="failed", error="JIRA failed while receiving the comment and does not have it; "
                                               "post it again.")
    with session_scope() as session:
        return _view(_draft_row(session, row.connection_id, row.key) or row)


def _recover(user: AuthedUser, conn: JiraConnection, key: str, tracker: TicketTracker) -> DraftView:
    """Another click holds the draft: its result, or, when that click died mid-post, what JIRA says."""
    assert conn.id is not None
    with session_scope() as session:
        row = _draft_row(session, conn.id, key)
        assert row is not None
        session.expunge(row)
    if row.status == "posting" and row.attempted_at is not None and utcnow() - row.attempted_at > STUCK:
        return _settle_uncertain(conn, row, tracker)
    return _view(row)


def save_text(user: AuthedUser, key: str, text: str) -> None:
    """Keeps the user's edits of a draft not posted yet; after a post, starts the next comment."""
    key = jql.checked_key(key)
    text = (text or "")[:MAX_TEXT]
    connection_id = connection.connection_id(user)
    with session_scope() as session:
        row = _draft_row(session, connection_id, key) or JiraCommentDraft(connection_id=connection_id, key=key)
        if row.status == "posted" and text.strip() == row.text.strip():
            return  # a late echo of the posted text (an editor's debounced change), not a new comment
        if row.status == "posted":  # a new comment, not an edit of the posted one
            row.status, row.call_id, row.ai_text, row.comment_id, row.error = "draft", "", "", "", ""
        if row.status in EDITABLE:
            row.text, row.updated_at = text, utcnow()
            session.add(row)


def rate(user: AuthedUser, key: str, rating: int, comment: str = "") -> outcomes.Decision:
    key = jql.checked_key(key)
    connection_id = connection.connection_id(user)
    with session_scope() as session:
        row = _draft_row(session, connection_id, key)
        call_id = row.call_id if row is not None else ""
    if not call_id:
        raise ValidationError("This draft was not written by a model, so there is nothing to rate.")
    return outcomes.feedback(call_id, user=user, rating=rating, comment=comment)
