"""Summaries and reply drafts through the LLM gateway, in the user's learned style.

A draft is a row the user edits; nothing leaves until they press Send (services.inbox.sending).
The thread goes to the model as untrusted data: a mail saying "ignore your instructions" is
material to answer, not an order. Without a usable provider (offline, budget reached) the
summary is extractive and the draft a short skeleton in the user's greeting and sign-off,
both labelled as such.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

from sqlmodel import select

from services.auth.errors import ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import InboxDraft
from services.db.models import InboxMessage as Row
from services.db.models.base import utcnow
from services.inbox import listing, styles
from services.llm import gateway, outcomes, prompts
from services.llm.messages import UntrustedText
from services.llm.types import LLMRequest

FEATURE = "inbox"
TONES = ("neutral", "friendly", "formal", "brief")
LENGTHS = ("short", "medium", "long")
LENGTH_WORDS = {"short": "at most 50 words", "medium": "about 80 to 150 words", "long": "up to 300 words"}
MAX_TEXT = 20000
MAX_FEEDBACK = 500

prompts.register_default(
    FEATURE, "reply",
    system="You draft a reply for the user to the conversation given as data. Write as the user, in first person, "
           "following their writing style exactly (greeting, sign-off, length, formality, emoji habits). Answer "
           "what was asked; where you lack a fact, leave a bracketed placeholder like [date] instead of inventing "
           "it. Reply with the message text only: no subject line, no quoted text, no commentary.",
    user="Write my reply to the last message of this {channel} conversation.\nTone: {tone}. Length: {length}.\n"
         "My writing style:\n{style}\n{feedback}",
    variables=("channel", "tone", "length", "style", "feedback"),
    description="Inbox: a reply draft in the user's learned style, for a mail thread or a Slack thread.",
)
prompts.register_default(
    FEATURE, "summary",
    system="You summarise a conversation for a busy reader: at most five short bullet points, then one line "
           "starting 'Asks of you:' naming what the reader is asked to do (or 'nothing').",
    user="Summarise this {channel} conversation.",
    variables=("channel",),
    description="Inbox: a thread summary with what the user is asked to do.",
)


@dataclass(frozen=True)
class DraftView:
    id: int
    message_id: int | None
    text: str
    status: str  # draft | sending | sent | failed | unknown
    error: str
    tone: str
    length: str
    notice: str  # shown under the draft: a fallback, a learned template, the cost
    to: tuple[str, ...]
    subject: str


def _channel(kind: str) -> str:
    return "Slack" if kind == "slack" else "e-mail"


def _untrusted(thread: listing.Thread) -> tuple[UntrustedText, ...]:
    source = "chat" if thread.kind == "slack" else "email"
    return (UntrustedText(source, listing.thread_text(thread), thread.subject),)


async def summarise(user: AuthedUser, message_id: int) -> tuple[str, str]:
    """(summary, notice) of the message's thread."""
    thread = listing.thread(user, message_id)
    result = await gateway.acomplete(LLMRequest(
        feature=FEATURE, task="summary", variables={"channel": _channel(thread.kind)}, user_id=user.id,
        untrusted=_untrusted(thread), max_tokens=300, temperature=0,
        fallback=lambda: extractive_summary(thread)))
    return result.text, result.notice


def extractive_summary(thread: listing.Thread) -> str:
    """No model: the first sentence of each message, and the questions asked of the user."""
    lines, questions = [], []
    for message in thread.messages[-6:]:
        sentences = _sentences(message.text)
        if sentences:
            lines.append(f"- {'You' if message.from_me else message.sender}: {sentences[0]}")
        if not message.from_me:
            questions += [s for s in sentences if s.endswith("?")]
    asks = " ".join(questions[-2:]) or "nothing found"
    return "\n".join(lines + [f"Asks of you: {asks}"])


def _sentences(text: str) -> list[str]:
    body = "\n".join(line for line in (text or "").splitlines() if not line.lstrip().startswith(">"))
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(body.split())) if s.strip()][:20]


def _reply_fields(row: Row) -> dict:
    """Recipients and threading of a reply to `row`, as the vendors need them."""
    if row.kind == "slack":
        channel, _, thread_ts = row.thread_id.partition(":")
        return {"to": [], "cc": [], "subject": "", "thread_id": row.thread_id, "channel": channel,
                "thread_ts": thread_ts, "in_reply_to": "", "references": []}
    recipients = json.loads(row.recipients or "{}")
    to = recipients.get("to", []) if row.from_me else [row.sender_address]
    subject = row.subject if re.match(r"(?i)re:", row.subject or "") else f"Re: {row.subject}".strip()
    references = [r for r in (row.references or "").split() if r] + ([row.message_id] if row.message_id else [])
    return {"to": to, "cc": [], "subject": subject, "thread_id": row.thread_id, "channel": "", "thread_ts": "",
            "in_reply_to": row.message_id, "references": references[-20:]}


def _view(row: InboxDraft, notice: str = "") -> DraftView:
    fields = json.loads(row.reply_json or "{}")
    return DraftView(id=row.id or 0, message_id=row.message_id, text=row.text, status=row.status, error=row.error,
                     tone=row.tone, length=row.length, notice=notice, to=tuple(fields.get("to", [])),
                     subject=fields.get("subject", ""))


def open_draft(user: AuthedUser, message_id: int) -> DraftView | None:
    """The reply being written to this message, if any (also a sent one, to show it went)."""
    listing.owned_message(user, message_id)
    with session_scope() as session:
        row = session.exec(select(InboxDraft).where(InboxDraft.owner_id == user.id,
                                                    InboxDraft.message_id == message_id)
                           .order_by(InboxDraft.id.desc())).first()  # type: ignore[union-attr]
        return _view(row) if row is not None else None


async def draft(user: AuthedUser, message_id: int, *, tone: str = "neutral", length: str = "medium",
                feedback: str = "", regenerate: bool = False) -> DraftView:
    """Writes (or rewrites) the reply draft of a message. `feedback` is the user's instruction for
    this rewrite ("mention the invoice"); `regenerate` asks a provider even when a learned
    template would answer."""
    if tone not in TONES:
        raise ValidationError(f"Choose a tone: {', '.join(TONES)}.")
    if length not in LENGTHS:
        raise ValidationError(f"Choose a length: {', '.join(LENGTHS)}.")
    feedback = " ".join((feedback or "").split())
    if len(feedback) > MAX_FEEDBACK:
        raise ValidationError(f"Keep the instruction under {MAX_FEEDBACK} characters.")
    row = listing.owned_message(user, message_id)
    thread = listing.thread(user, message_id)
    scope = styles.scope_of(row)
    style_text = styles.describe_for(row.account_id, scope)
    last = next((m for m in reversed(thread.messages) if not m.from_me), thread.messages[-1])
    result = await gateway.acomplete(LLMRequest(
        feature=FEATURE, task="reply", user_id=user.id, untrusted=_untrusted(thread),
        variables={"channel": _channel(row.kind), "tone": tone, "length": LENGTH_WORDS[length], "style": style_text,
                   "feedback": f"Also: {feedback}" if feedback else ""},
        task_text=f"Reply to: {thread.subject}\n{last.text[:600]}", context=f"{row.kind} {tone} {length} {scope}",
        use_templates=not regenerate and not feedback, use_cache=not regenerate and not feedback,
        max_tokens=700, temperature=0.4, fallback=lambda: styles.skeleton(row.account_id, scope, last.sender)))
    text = result.text.strip()
    with session_scope() as session:
        stored = _editable_draft(session, user, row)
        stored.text, stored.ai_text, stored.call_id = text, text, result.call_id
        stored.tone, stored.length, stored.status, stored.error = tone, length, "draft", ""
        stored.updated_at = utcnow()
        session.add(stored)
        session.flush()
        return _view(stored, result.notice)


def _editable_draft(session, user: AuthedUser, row: Row) -> InboxDraft:
    """The message's draft still being written, or a new one (its key chosen once, here)."""
    stored = session.exec(select(InboxDraft).where(
        InboxDraft.owner_id == user.id, InboxDraft.message_id == row.id,
        InboxDraft.status.in_(("draft", "failed")))).first()  # type: ignore[attr-defined]
    if stored is None:
        stored = InboxDraft(owner_id=user.id, account_id=row.account_id, message_id=row.id,
                            key=uuid.uuid4().hex, reply_json=json.dumps(_reply_fields(row)))
    return stored


def own_draft(user: AuthedUser, message_id: int) -> DraftView:
    """A reply the user writes without the model: the same row, so Send works the same way."""
    row = listing.owned_message(user, message_id)
    with session_scope() as session:
        stored = _editable_draft(session, user, row)
        session.add(stored)
        session.flush()
        return _view(stored)


def save_text(user: AuthedUser, draft_id: int, text: str) -> None:
    """Keeps the user's edits (the page saves as they type, so a reload loses nothing)."""
    if len(text) > MAX_TEXT:
        raise ValidationError(f"A reply can be at most {MAX_TEXT} characters.")
    with session_scope() as session:
        row = owned_draft(session, user, draft_id)
        if row.status in ("draft", "failed"):
            row.text, row.updated_at = text, utcnow()
            session.add(row)


def owned_draft(session, user: AuthedUser, draft_id: int) -> InboxDraft:
    row = session.get(InboxDraft, draft_id)
    if row is None or row.owner_id != user.id:
        raise ValidationError("That draft no longer exists.")
    return row


def rate(user: AuthedUser, draft_id: int, rating: int, comment: str = "") -> outcomes.Decision:
    """Thumbs on a generated draft: feeds the call log and the learned templates (#4)."""
    with session_scope() as session:
        call_id = owned_draft(session, user, draft_id).call_id
    if not call_id:
        raise ValidationError("This draft was not written by a model, so there is nothing to rate.")
    return outcomes.feedback(call_id, user=user, rating=rating, comment=comment)
