"""A user's JIRA connection: connecting (the credentials are tried before anything is saved),
the connection test, disconnecting, and opening it as a `TicketTracker` for the other flows.

One connection per user, strictly personal: JIRA decides what each user may see, so nobody,
admins included, reads another user's tickets here. The token is stored encrypted, registered
with the log redactor whenever it is decrypted, and never returned by any function here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from services import crypto, redaction, runtime_settings
from services.auth.errors import AccessDenied, ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import JiraConnection, JiraFilter
from services.db.models.base import utcnow
from services.docs.sources import check_url
from services.integrations.jira.client import JiraTracker
from services.integrations.tickets import FieldSpec, TicketTracker, TrackerServer, TrackerUser
from services.jira import jql

MAX_INTERVAL_MINUTES = 24 * 60
STORY_POINTS_NAMES = ("story points", "story point estimate")
EPIC_LINK_NAME = "epic link"


@dataclass(frozen=True)
class ConnectionView:
    id: int
    url: str
    deployment: str  # server | cloud
    server_title: str
    server_version: str
    account_name: str
    auth: str  # "personal access token" | "e-mail + API token"
    status: str
    error: str
    last_sync_at: datetime | None
    last_job_id: str | None
    sync_interval_minutes: int

    @property
    def deployment_label(self) -> str:
        return "JIRA Cloud" if self.deployment == "cloud" else "JIRA Server / Data Center"


@dataclass(frozen=True)
class SiteFields:
    """Custom fields found by name in the site's field metadata ("" when the site has none)."""

    story_points: str = ""
    epic_link: str = ""


def _view(row: JiraConnection) -> ConnectionView:
    assert row.id is not None
    return ConnectionView(
        id=row.id, url=row.url, deployment=row.deployment, server_title=row.server_title,
        server_version=row.server_version, account_name=row.account_name,
        auth="e-mail + API token" if row.email else "personal access token", status=row.status, error=row.error,
        last_sync_at=row.last_sync_at, last_job_id=row.last_job_id, sync_interval_minutes=row.sync_interval_minutes)


def _row(session: Session, user: AuthedUser) -> JiraConnection | None:
    return session.exec(select(JiraConnection).where(JiraConnection.owner_id == user.id)).first()


def get(user: AuthedUser) -> ConnectionView | None:
    with session_scope() as session:
        row = _row(session, user)
        return _view(row) if row is not None else None


def required(session: Session, user: AuthedUser) -> JiraConnection:
    row = _row(session, user)
    if row is None:
        raise ValidationError("Connect JIRA first (JIRA settings).")
    return row


def connection_id(user: AuthedUser) -> int:
    with session_scope() as session:
        row = required(session, user)
        assert row.id is not None
        return row.id


def default_url() -> str:
    """The team's JIRA address an admin set (runtime setting `jira.url`), offered in the form."""
    return str(runtime_settings.get("jira.url") or "")


def _client(url: str, token: str, email: str) -> JiraTracker:
    url = check_url(url, "JIRA")
    token, email = (token or "").strip(), (email or "").strip()
    if not token:
        raise ValidationError("Paste a JIRA personal access token, or your e-mail address and an API token.")
    redaction.register(token)
    if email:
        return JiraTracker(url, email=email, api_token=token)
    return JiraTracker(url, token=token)


def site_fields(tracker: TicketTracker) -> SiteFields:
    specs: list[FieldSpec] = tracker.fields()
    by_name = {spec.name.strip().lower(): spec.id for spec in specs}
    points = next((by_name[name] for name in STORY_POINTS_NAMES if name in by_name), "")
    return SiteFields(story_points=points, epic_link=by_name.get(EPIC_LINK_NAME, ""))


def check(user: AuthedUser) -> tuple[TrackerServer, TrackerUser]:
    """The connection test: signs in with the stored credentials and says who we are there;
    raises the integration error a user can act on."""
    _, tracker = tracker_for(user)
    return tracker.server(), tracker.myself()


def connect(user: AuthedUser, *, url: str, token: str, email: str = "") -> int:
    """Saves (or replaces) the user's connection after signing in with it; a first connection
    gets the default filter. What was synced for another site or JIRA user is dropped."""
    tracker = _client(url, token, email)
    server, me = tracker.server(), tracker.myself()
    fields = site_fields(tracker)
    with session_scope() as session:
        row = _row(session, user)
        if row is not None and (row.url != tracker.url or row.account_id != me.id):  # another site or person
            session.delete(row)
            session.flush()
            row = None
        row = row or JiraConnection(owner_id=user.id, url=tracker.url)
        row.email = (email or "").strip()
        row.secret = crypto.encrypt(json.dumps({"token": token.strip()}))
        row.deployment, row.server_title, row.server_version = server.deployment, server.title, server.version
        row.account_id, row.account_name = me.id, me.name
        row.fields_json = json.dumps({"story_points": fields.story_points, "epic_link": fields.epic_link})
        row.status, row.error, row.updated_at = ("ready" if row.last_sync_at else "new"), "", utcnow()
        session.add(row)
        session.flush()
        assert row.id is not None
        if session.exec(select(JiraFilter.id).where(JiraFilter.connection_id == row.id)).first() is None:
            session.add(JiraFilter(connection_id=row.id, name="My open tickets", jql=jql.DEFAULT_FILTER))
        return row.id


def secret_token(row: JiraConnection) -> str:
    values: dict[str, Any] = json.loads(crypto.decrypt(row.secret)) if row.secret else {}
    token = str(values.get("token", ""))
    redaction.register(token)
    return token


def open_tracker(row: JiraConnection) -> TicketTracker:
    """The connection's tracker, signed in; a refused token raises IntegrationAuthError."""
    return _client(row.url, secret_token(row), row.email)


def tracker_for(user: AuthedUser) -> tuple[int, TicketTracker]:
    with session_scope() as session:
        row = required(session, user)
        session.expunge(row)
    assert row.id is not None
    return row.id, open_tracker(row)


def fields_of(row: JiraConnection) -> SiteFields:
    values = json.loads(row.fields_json or "{}")
    return SiteFields(story_points=values.get("story_points", ""), epic_link=values.get("epic_link", ""))


def owned(session: Session, user: AuthedUser, connection_id: int) -> JiraConnection:
    row = session.get(JiraConnection, connection_id)
    if row is None or row.owner_id != user.id:
        raise AccessDenied("That JIRA connection does not exist or is not yours.", signed_in=True)
    return row


def set_interval(user: AuthedUser, minutes: int) -> None:
    if not 0 <= minutes <= MAX_INTERVAL_MINUTES:
        raise ValidationError(f"Choose a sync interval between 0 (only when asked) and {MAX_INTERVAL_MINUTES} minutes.")
    with session_scope() as session:
        row = required(session, user)
        row.sync_interval_minutes, row.updated_at = minutes, utcnow()
        session.add(row)


def disconnect(user: AuthedUser) -> bool:
    """Forgets the connection and everything synced through it (JIRA itself is not touched)."""
    with session_scope() as session:
        row = _row(session, user)
        if row is None:
            return False
        session.delete(row)
    return True
