"""The Slack Events API webhook: new messages reach the inbox as Slack sends them.

Every delivery's signature is checked against the admin's signing secret (a bad or stale one
is refused with 401 before the body is read as JSON); `url_verification` is answered; Slack
retries deliveries it considers failed, so each event_id is handled once (`inbox_event`).
A message event is stored in every connected account of that workspace that syncs the channel;
the open inbox page sees it on its next look at the inbox's revision, without a reload.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from services import runtime_settings
from services.db import session_scope
from services.db.models import InboxAccount, InboxEvent
from services.db.models.base import utcnow
from services.inbox import store
from services.integrations.base import ChangePage
from services.integrations.slack import client as slack

KEEP_EVENTS = timedelta(days=2)  # Slack retries for about an hour; two days is plenty


def handle(body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON answer) for one delivery."""
    secret = runtime_settings.get("slack.signing_secret")
    if not secret:
        return 503, {"error": "The Slack signing secret is not set in LLMCoder's settings."}
    if not slack.verify_signature(secret, body, headers):
        return 401, {"error": "invalid signature"}
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return 400, {"error": "the body is not JSON"}
    if not isinstance(payload, dict):
        return 400, {"error": "the body is not a JSON object"}
    if payload.get("type") == "url_verification":
        return 200, {"challenge": payload.get("challenge", "")}
    if payload.get("type") != "event_callback":
        return 200, {"ok": True, "ignored": payload.get("type", "")}
    if not _first_delivery(str(payload.get("event_id", ""))):
        return 200, {"ok": True, "duplicate": True}
    return 200, {"ok": True, "stored": _store(payload)}


def _first_delivery(event_id: str) -> bool:
    if not event_id:
        return True
    try:
        with session_scope() as session:
            session.exec(delete(InboxEvent).where(  # type: ignore[call-overload]
                InboxEvent.received_at < utcnow() - KEEP_EVENTS))
            session.add(InboxEvent(event_id=event_id[:100]))
    except IntegrityError:
        return False
    return True


def _store(payload: dict[str, Any]) -> int:
    """Stores the event's message in the workspace's accounts that sync its channel."""
    team = str(payload.get("team_id", ""))
    channel = str((payload.get("event") or {}).get("channel", ""))
    stored = 0
    with session_scope() as session:
        rows = session.exec(select(InboxAccount).where(InboxAccount.kind == "slack")).all()
    for row in rows:
        config = json.loads(row.config_json or "{}")
        if config.get("team_id") != team or channel not in config.get("channels", []):
            continue
        message = slack.parse_event(payload, config.get("user_id", ""))
        if message is not None and row.id is not None:
            store.apply(row.id, ChangePage((message,)))
            stored += 1
    return stored
