"""The user's writing style per mail account and per Slack channel, kept in `inbox_style`.

Profiles are learned from the user's own sent messages as syncs bring them in (each message
counted once: `learned_ids`), from each reply sent here and from how the user edited the
draft before sending it. The user sees the figures on the "Your style" card and may override
them; drafts follow the overrides where set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlmodel import Session, select

from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import InboxAccount, InboxStyle
from services.db.models import InboxMessage as Row
from services.db.models.base import utcnow
from services.inbox import store, style
from services.inbox.accounts import owned
from services.integrations.base import InboxSource, IntegrationError

LEARN_PER_SYNC = 50  # sent messages whose bodies one sync may fetch to learn from
KEEP_IDS = 2000
MAX_LEARNED_CHARS = 20000  # of one message: a pasted log says nothing more about style, and costs seconds


def scope_of(row: Row) -> str:
    """Mail accounts have one style; Slack has one per channel or DM."""
    return row.folder if row.kind == "slack" else ""


def _load(session: Session, account_id: int, scope: str) -> InboxStyle:
    row = session.exec(select(InboxStyle).where(InboxStyle.account_id == account_id,
                                                InboxStyle.scope == scope)).first()
    return row if row is not None else InboxStyle(account_id=account_id, scope=scope)


def _profile(row: InboxStyle) -> style.StyleProfile:
    return style.from_json(row.profile_json) if row.profile_json not in ("", "{}") else style.build([])


def _overrides(row: InboxStyle) -> style.StyleOverrides:
    return style.overrides_from_json(row.overrides_json) if row.overrides_json not in ("", "{}") \
        else style.StyleOverrides()


def describe_for(account_id: int, scope: str) -> str:
    with session_scope() as session:
        row = _load(session, account_id, scope)
        return style.describe(_profile(row), _overrides(row))


def skeleton(account_id: int, scope: str, recipient: str) -> str:
    """The offline draft: the user's usual greeting and sign-off around a placeholder."""
    with session_scope() as session:
        row = _load(session, account_id, scope)
        figures, overrides = style.summary(_profile(row)), _overrides(row)
    first = (recipient or "").split()[0] if recipient else ""
    greeting = overrides.greeting or next((g for g, _ in figures.get("greetings", []) if g != style.NONE),
                                          "Hi {name},")
    sign_off = overrides.sign_off or next((s for s, _ in figures.get("sign_offs", []) if s != style.NONE),
                                          "Thanks,")
    greeting = greeting.replace("{name}", first).replace(" ,", ",").strip()
    return f"{greeting}\n\n[Write your reply here.]\n\n{sign_off}".strip()


def _save(session: Session, row: InboxStyle, profile: style.StyleProfile, ids: list[str]) -> None:
    row.profile_json, row.learned_ids = style.to_json(profile), json.dumps(ids[-KEEP_IDS:])
    row.updated_at = utcnow()
    session.add(row)


def learn_from_sent(account_id: int, source: InboxSource) -> int:
    """Adds the user's sent messages this account's syncs brought in; returns how many. Only the
    keys of the newest are read here; bodies only of those not yet learned (at most LEARN_PER_SYNC)."""
    with session_scope() as session:
        sent = session.exec(select(Row.id, Row.external_id, Row.kind, Row.folder, Row.message_id)
                            .where(Row.account_id == account_id, Row.from_me == True)  # noqa: E712
                            .order_by(Row.sent_at.desc()).limit(400)).all()  # type: ignore[attr-defined]
    by_scope: dict[str, list] = {}
    for row in sent:
        by_scope.setdefault(scope_of(row), []).append(row)
    learned = 0
    for scope, rows in by_scope.items():
        with session_scope() as session:
            stored = _load(session, account_id, scope)
            ids = json.loads(stored.learned_ids or "[]")
            known = set(ids)
            # Replies sent from here were learned when sent (learn_from_send): their synced copies are not new.
            fresh = [r for r in rows if r.external_id not in known
                     and not store.SENT_HERE.match(r.message_id)][:LEARN_PER_SYNC]
            profile = _profile(stored)
            for row in reversed(fresh):  # oldest first
                text = _text(row.id, source)
                if text:
                    profile = style.add(profile, text[:MAX_LEARNED_CHARS])
                    learned += 1
                ids.append(row.external_id)
            if fresh:
                _save(session, stored, profile, ids)
    return learned


def _text(message_id: int, source: InboxSource) -> str:
    """The message's text: stored, else fetched from the vendor and stored for the thread view."""
    with session_scope() as session:
        row = session.get(Row, message_id)
        if row is None:
            return ""
        if row.body_text is not None:
            return row.body_text
        external_id = row.external_id
    try:
        body = source.body(external_id)
    except IntegrationError:
        return ""
    with session_scope() as session:
        stored = session.get(Row, message_id)
        if stored is not None:
            stored.body_text, stored.body_html = body.text, body.html
            session.add(stored)
    return body.text


def learn_from_send(account_id: int, scope: str, *, draft: str, sent: str, external_id: str) -> None:
    """A reply sent from here: its text joins the profile, and the edits made to the model's
    draft (when there was one) become lessons for the next drafts."""
    with session_scope() as session:
        row = _load(session, account_id, scope)
        profile = style.add(_profile(row), sent[:MAX_LEARNED_CHARS])
        if draft.strip():
            profile = style.learn_edit(profile, draft, sent)
        _save(session, row, profile, [*json.loads(row.learned_ids or "[]"), external_id])


@dataclass(frozen=True)
class StyleCard:
    account_id: int
    scope: str
    figures: dict
    overrides: style.StyleOverrides
    described: str  # what a draft's prompt receives


def card(user: AuthedUser, account_id: int, scope: str = "") -> StyleCard:
    with session_scope() as session:
        owned(session, user, account_id)
        row = _load(session, account_id, scope)
        profile, overrides = _profile(row), _overrides(row)
    return StyleCard(account_id, scope, style.summary(profile), overrides, style.describe(profile, overrides))


def save_overrides(user: AuthedUser, account_id: int, scope: str, overrides: style.StyleOverrides) -> None:
    with session_scope() as session:
        owned(session, user, account_id)
        row = _load(session, account_id, scope)
        row.overrides_json, row.updated_at = style.overrides_to_json(overrides), utcnow()
        session.add(row)


def scopes(user: AuthedUser, account_id: int) -> list[str]:
    """The channels of a Slack account with a style of their own ("" for mail)."""
    with session_scope() as session:
        account = owned(session, user, account_id)
        if account.kind != "slack":
            return [""]
        assert isinstance(account, InboxAccount)
        return list(session.exec(select(InboxStyle.scope).where(InboxStyle.account_id == account_id)
                                 .order_by(InboxStyle.scope)).all())
