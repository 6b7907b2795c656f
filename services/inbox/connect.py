"""Connecting Gmail, Outlook and Slack through their OAuth consent screens.

`begin` keeps what the callback needs (the PKCE verifier, encrypted) under a hash of the
state it sends; the callback route hands the provider's redirect to `finish`, which accepts
it once, within STATE_TTL, for the same signed-in user who started it. A forged, replayed or
stale redirect therefore never reaches the token endpoint.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import delete

from services import crypto, runtime_settings
from services.auth.errors import AccessDenied, ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import InboxOAuthState
from services.db.models.base import utcnow
from services.inbox import accounts
from services.integrations.base import IntegrationAuthError
from services.integrations.oauth import client as oauth
from services.integrations.slack import client as slack
from services.settings import get_settings

PROVIDERS = ("gmail", "outlook", "slack")
STATE_TTL = timedelta(minutes=15)
SLACK_USER_SCOPES = ("channels:history", "channels:read", "groups:history", "groups:read", "im:history", "im:read",
                     "mpim:history", "mpim:read", "users:read", "chat:write")


def callback_path(provider: str) -> str:
    """The route the provider redirects to; its absolute URL is the redirect URI to register."""
    return f"/api/oauth/{provider}/callback"


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def _slack_app() -> tuple[str, str]:
    values = runtime_settings.get_values(["slack.client_id", "slack.client_secret"])
    client_id, secret = values.get("slack.client_id", ""), values.get("slack.client_secret", "")
    if not client_id or not secret:
        raise ValidationError("An admin must first enter the Slack app's client ID and secret on the Settings page "
                              "(Integrations), or paste a Slack token instead.")
    return client_id, secret


def begin(user: AuthedUser, provider: str, redirect_uri: str) -> str:
    """The consent page's URL to send the browser to."""
    if provider not in PROVIDERS:
        raise ValidationError(f"Unknown provider {provider!r}.")
    verifier = ""
    if provider == "slack":
        client_id, _ = _slack_app()
        state = secrets.token_urlsafe(32)
        url = slack.authorize_url(client_id, redirect_uri, state, (), SLACK_USER_SCOPES)
    else:
        pending = oauth.begin(accounts.oauth_app(provider), redirect_uri)
        url, state, verifier = pending.url, pending.state, pending.code_verifier
    with session_scope() as session:
        session.exec(delete(InboxOAuthState).where(  # type: ignore[call-overload]
            InboxOAuthState.created_at < utcnow() - STATE_TTL))
        session.add(InboxOAuthState(state_hash=_hash(state), owner_id=user.id, provider=provider,
                                    code_verifier=crypto.encrypt(verifier) if verifier else "",
                                    redirect_uri=redirect_uri))
    return url


def finish(user: AuthedUser | None, provider: str, callback_url: str) -> int:
    """The account the provider's redirect grants; returns its id."""
    params = dict(parse_qsl(urlsplit(callback_url).query))
    state = params.get("state", "")
    with session_scope() as session:
        row = session.get(InboxOAuthState, _hash(state)) if state else None
        if row is not None:
            session.delete(row)  # single use, whatever happens next
            session.flush()
            session.expunge(row)
    if row is None or row.provider != provider or utcnow() - row.created_at > STATE_TTL:
        raise IntegrationAuthError("This sign-in link is unknown, already used or expired; connect the account again.")
    if user is None or user.id != row.owner_id:
        raise AccessDenied("Finish connecting the account in the browser where you started, signed in as yourself.",
                           signed_in=user is not None)
    if provider == "slack":
        return _finish_slack(row, params)
    token = oauth.finish(accounts.oauth_app(provider), row.redirect_uri, callback_url, state,
                         crypto.decrypt(row.code_verifier))
    return accounts.save_oauth(row.owner_id, provider, token)


def _finish_slack(row: InboxOAuthState, params: dict[str, str]) -> int:
    if params.get("error"):
        raise IntegrationAuthError("Slack was not connected: the request was declined.")
    client_id, secret = _slack_app()
    install = slack.exchange_install_code(client_id, secret, params.get("code", ""), row.redirect_uri,
                                          base_url=get_settings().slack_api_url or None)
    return accounts.save_slack(row.owner_id, token=install.user_token or install.bot_token, channels=[])
