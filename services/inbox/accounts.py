"""Inbox accounts: connecting, listing, changing and disconnecting a user's mail and Slack
accounts, and opening one as an `InboxSource` for the sync.

Accounts are strictly personal: nobody, admins included, sees another user's accounts or
mail. Credentials (app passwords, OAuth grants, Slack tokens) are stored encrypted as one
JSON secret per account, registered with the log redactor whenever they are decrypted, and
never returned by any function here.
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
from services.db.models import InboxAccount
from services.db.models.base import utcnow
from services.integrations.base import Conversation, InboxSource, OAuthToken
from services.integrations.gmail.client import GmailSource
from services.integrations.imap.adapter import ImapSource
from services.integrations.imap.client import ImapSettings, ImapSmtpProvider
from services.integrations.oauth import client as oauth
from services.integrations.outlook.client import OutlookSource
from services.integrations.slack.client import SlackSource
from services.settings import get_settings

KINDS = ("gmail", "outlook", "imap", "slack")
LABELS = {"gmail": "Gmail", "outlook": "Outlook", "imap": "IMAP", "slack": "Slack"}
SECURITY = ("tls", "starttls", "none")
LOOPBACK = ("127.0.0.1", "::1", "localhost")
MAX_NAME = 200
MAX_INTERVAL_MINUTES = 24 * 60


@dataclass(frozen=True)
class AccountView:
    id: int
    kind: str
    name: str
    address: str
    status: str
    error: str
    messages: int
    last_sync_at: datetime | None
    last_job_id: str | None
    sync_interval_minutes: int
    channels: tuple[str, ...]  # Slack: the channel and DM ids synced
    detail: str  # where the mail comes from, for the accounts list

    @property
    def label(self) -> str:
        return LABELS.get(self.kind, self.kind)


def _config(row: InboxAccount) -> dict[str, Any]:
    return json.loads(row.config_json or "{}")


def _detail(row: InboxAccount, config: dict[str, Any]) -> str:
    if row.kind == "imap":
        return f"IMAP {config.get('imap_host')}:{config.get('imap_port')} · SMTP " \
               f"{config.get('smtp_host') or 'none'}:{config.get('smtp_port')}"
    if row.kind == "slack":
        count = len(config.get("channels", []))
        return f"{config.get('team', '')} · {count} conversation{'s' if count != 1 else ''}"
    return row.address


def _view(row: InboxAccount) -> AccountView:
    assert row.id is not None
    config = _config(row)
    return AccountView(
        id=row.id, kind=row.kind, name=row.name, address=row.address, status=row.status, error=row.error,
        messages=row.messages, last_sync_at=row.last_sync_at, last_job_id=row.last_job_id,
        sync_interval_minutes=row.sync_interval_minutes, channels=tuple(config.get("channels", [])),
        detail=_detail(row, config))


def list_accounts(user: AuthedUser) -> list[AccountView]:
    with session_scope() as session:
        rows = session.exec(select(InboxAccount).where(InboxAccount.owner_id == user.id)
                            .order_by(InboxAccount.kind, InboxAccount.name, InboxAccount.id)).all()
        return [_view(row) for row in rows]


def owned(session: Session, user: AuthedUser, account_id: int) -> InboxAccount:
    row = session.get(InboxAccount, account_id)
    if row is None or row.owner_id != user.id:
        raise AccessDenied("That account does not exist or is not yours.", signed_in=True)
    return row


def get(user: AuthedUser, account_id: int) -> AccountView:
    with session_scope() as session:
        return _view(owned(session, user, account_id))


def _name(name: str, fallback: str) -> str:
    name = " ".join((name or "").split()) or fallback
    if len(name) > MAX_NAME:
        raise ValidationError(f"Give the account a name of at most {MAX_NAME} characters.")
    return name


def _store(owner_id: int, kind: str, *, name: str, address: str, config: dict[str, Any],
           secret: dict[str, Any]) -> int:
    """A new account, or the same address of the same kind reconnected: its messages stay."""
    with session_scope() as session:
        row = session.exec(select(InboxAccount).where(
            InboxAccount.owner_id == owner_id, InboxAccount.kind == kind, InboxAccount.address == address)).first()
        if row is None:
            row = InboxAccount(owner_id=owner_id, kind=kind, name=name, address=address)
        elif row.status == "error":
            row.status, row.error = "ready", ""
        row.config_json, row.secret = json.dumps(config), crypto.encrypt(json.dumps(secret))
        row.updated_at = utcnow()
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def _secret(row: InboxAccount) -> dict[str, Any]:
    values: dict[str, Any] = json.loads(crypto.decrypt(row.secret)) if row.secret else {}
    for key in ("password", "access_token", "refresh_token", "token"):
        redaction.register(values.get(key))
    return values


# ---------------------------------------------------------------------- IMAP + SMTP


def _port(value: int | str, what: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"The {what} port must be a number.") from None
    if not 0 < port < 65536:
        raise ValidationError(f"The {what} port must be between 1 and 65535.")
    return port


def _security(value: str, what: str) -> str:
    if value not in SECURITY:
        raise ValidationError(f"Choose TLS, STARTTLS or none for {what}.")
    return value


def imap_settings(config: dict[str, Any], password: str) -> ImapSettings:
    return ImapSettings(
        address=config["address"], username=config["username"], password=password,
        imap_host=config["imap_host"], imap_port=config["imap_port"], imap_security=config["imap_security"],
        smtp_host=config["smtp_host"], smtp_port=config["smtp_port"], smtp_security=config["smtp_security"])


def connect_imap(user: AuthedUser, *, address: str, password: str, imap_host: str, imap_port: int | str = 993,
                 imap_security: str = "tls", smtp_host: str = "", smtp_port: int | str = 587,
                 smtp_security: str = "starttls", username: str = "", sent_folder: str = "Sent",
                 name: str = "") -> int:
    """Signs in to IMAP and SMTP first: a wrong password or host fails here, before anything is saved."""
    address = (address or "").strip().lower()
    if "@" not in address or " " in address:
        raise ValidationError("Enter the account's e-mail address.")
    if not password:
        raise ValidationError("Enter the password (an app password for Gmail, iCloud, Yahoo, Fastmail ...).")
    if not (imap_host or "").strip():
        raise ValidationError("Enter the IMAP server, e.g. imap.example.com.")
    config = {
        "address": address, "username": (username or "").strip() or address,
        "imap_host": imap_host.strip(), "imap_port": _port(imap_port, "IMAP"),
        "imap_security": _security(imap_security, "IMAP"), "smtp_host": (smtp_host or "").strip(),
        "smtp_port": _port(smtp_port, "SMTP"), "smtp_security": _security(smtp_security, "SMTP"),
        "sent_folder": (sent_folder or "").strip(),
    }
    if not config["smtp_host"]:
        raise ValidationError("Enter the SMTP server that sends this account's mail, e.g. smtp.example.com.")
    for what in ("imap", "smtp"):
        if config[f"{what}_security"] == "none" and config[f"{what}_host"] not in LOOPBACK:
            raise ValidationError(f"Without TLS the password would cross the network unencrypted: choose TLS or "
                                  f"STARTTLS for {what.upper()} (none is only for a server on this machine).")
    redaction.register(password)
    ImapSource(ImapSmtpProvider(imap_settings(config, password))).check()
    return _store(user.id, "imap", name=_name(name, address), address=address, config=config,
                  secret={"password": password})


# ---------------------------------------------------------------------- Slack


def connect_slack_token(user: AuthedUser, *, token: str, channels: list[str] | None = None, name: str = "") -> int:
    """A pasted user or bot token (xoxp-/xoxb-); the conversations are picked afterwards."""
    token = (token or "").strip()
    if not token.startswith(("xoxp-", "xoxb-")):
        raise ValidationError("Paste a Slack user token (xoxp-...) or bot token (xoxb-...).")
    return save_slack(user.id, token=token, channels=channels or [], name=name)


def save_slack(owner_id: int, *, token: str, channels: list[str], name: str = "") -> int:
    redaction.register(token)
    source = SlackSource(token, base_url=get_settings().slack_api_url or None)
    who = source.check()
    team = who.rpartition(" @ ")[2]
    config = {"channels": sorted(set(channels)), "team": team, "team_id": source.team_id, "user_id": source.user_id}
    return _store(owner_id, "slack", name=_name(name, f"Slack {team}"), address=who, config=config,
                  secret={"token": token})


def slack_conversations(user: AuthedUser, account_id: int) -> list[Conversation]:
    source = open_source(user_account(user, account_id))
    assert isinstance(source, SlackSource)
    return source.conversations()


def set_channels(user: AuthedUser, account_id: int, channels: list[str]) -> None:
    with session_scope() as session:
        row = owned(session, user, account_id)
        if row.kind != "slack":
            raise ValidationError("Only Slack accounts have channels to choose.")
        config = _config(row)
        config["channels"] = sorted({c.strip() for c in channels if c and c.strip()})
        row.config_json, row.updated_at = json.dumps(config), utcnow()
        session.add(row)


# ---------------------------------------------------------------------- OAuth accounts


def oauth_app(kind: str) -> oauth.OAuthApp:
    """The admin-registered OAuth client of Google or Microsoft (Settings page)."""
    settings = get_settings()
    prefix = {"gmail": "google", "outlook": "microsoft"}[kind]
    values = runtime_settings.get_values([f"{prefix}.client_id", f"{prefix}.client_secret"])
    client_id, secret = values.get(f"{prefix}.client_id", ""), values.get(f"{prefix}.client_secret", "")
    if not client_id or not secret:
        raise ValidationError(f"An admin must first enter the {prefix.title()} OAuth client ID and secret "
                              "on the Settings page (Integrations).")
    if kind == "gmail":
        return oauth.google_app(client_id, secret, base_url=settings.google_oauth_url or None)
    return oauth.microsoft_app(client_id, secret, base_url=settings.microsoft_oauth_url or None)


def _token_secret(token: OAuthToken) -> dict[str, Any]:
    return {"access_token": token.access_token, "refresh_token": token.refresh_token,
            "expires_at": token.expires_at, "scope": token.scope}


def save_oauth(owner_id: int, kind: str, token: OAuthToken) -> int:
    """The account a finished authorization grants; its address is asked of the vendor."""
    redaction.register(token.access_token)
    redaction.register(token.refresh_token)
    address = _oauth_source(kind, token.access_token).check().lower()
    return _store(owner_id, kind, name=_name("", address), address=address, config={},
                  secret=_token_secret(token))


def _oauth_source(kind: str, access_token: str) -> InboxSource:
    settings = get_settings()
    if kind == "gmail":
        return GmailSource(access_token, api_endpoint=settings.gmail_api_url or None)
    if settings.graph_api_url:
        return OutlookSource(access_token, base_url=settings.graph_api_url)
    return OutlookSource(access_token)


def _fresh_token(row: InboxAccount, secret: dict[str, Any]) -> str:
    """The access token, refreshed first when it expires within five minutes; the new grant is
    stored at once, so a refresh token the provider rotated is never lost."""
    token = OAuthToken(secret.get("access_token", ""), secret.get("refresh_token", ""),
                       float(secret.get("expires_at") or 0), secret.get("scope", ""))
    if not oauth.needs_refresh(token) or not token.refresh_token:
        return token.access_token
    token = oauth.refresh(oauth_app(row.kind), token)
    redaction.register(token.access_token)
    with session_scope() as session:
        stored = session.get(InboxAccount, row.id)
        if stored is not None:
            stored.secret, stored.updated_at = crypto.encrypt(json.dumps(_token_secret(token))), utcnow()
            session.add(stored)
    return token.access_token


# ---------------------------------------------------------------------- opening and removing


def user_account(user: AuthedUser, account_id: int) -> InboxAccount:
    with session_scope() as session:
        return owned(session, user, account_id)


def account_row(account_id: int) -> InboxAccount:
    """For jobs, which run as the account's owner by construction."""
    with session_scope() as session:
        row = session.get(InboxAccount, account_id)
        if row is None:
            raise ValidationError("That inbox account was removed.")
        return row


def open_source(row: InboxAccount) -> InboxSource:
    """The account's vendor client, signed in with its decrypted credentials."""
    config, secret = _config(row), _secret(row)
    if row.kind == "imap":
        return ImapSource(ImapSmtpProvider(imap_settings(config, secret.get("password", ""))),
                          sent_folder=config.get("sent_folder", "Sent"))
    if row.kind == "slack":
        return SlackSource(secret.get("token", ""), channels=tuple(config.get("channels", [])),
                           base_url=get_settings().slack_api_url or None)
    return _oauth_source(row.kind, _fresh_token(row, secret))


def set_interval(user: AuthedUser, account_id: int, minutes: int) -> None:
    if not 0 <= minutes <= MAX_INTERVAL_MINUTES or 0 < minutes < 5:
        raise ValidationError("Sync every 5 to 1440 minutes, or 0 for only when asked.")
    with session_scope() as session:
        row = owned(session, user, account_id)
        row.sync_interval_minutes, row.updated_at = minutes, utcnow()
        session.add(row)


def disconnect(user: AuthedUser, account_id: int) -> str:
    """Revokes the grant where the vendor allows it, then deletes the account with its messages,
    drafts and style. Returns a notice when the revocation failed (the account is removed anyway:
    the user asked for it, and the grant can still be revoked in the vendor's security page)."""
    row = user_account(user, account_id)
    notice = ""
    if row.kind in ("gmail", "outlook") and row.secret:
        secret = _secret(row)
        try:
            oauth.revoke(oauth_app(row.kind), OAuthToken(secret.get("access_token", ""),
                                                         secret.get("refresh_token", "")))
        except Exception as exc:  # noqa: BLE001 (any failure: removal goes on, the user is told)
            notice = f"The account was removed, but {LABELS[row.kind]} did not confirm the revocation ({exc}); " \
                     "you can revoke LLMCoder's access in your account's security settings."
    with session_scope() as session:
        stored = owned(session, user, account_id)
        session.delete(stored)
    return notice
