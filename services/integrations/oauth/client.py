"""OAuth 2.0 sign-in for mail accounts (Gmail, Outlook): authorization code with PKCE, token
refresh and revocation, through Authlib's requests client.

The only module allowed to import authlib. A sign-in spans two requests: `begin` builds the
provider URL the browser is sent to plus a `PendingAuthorization` the caller keeps server side
(e.g. in the user's session) until the provider redirects back; `finish` checks that answer and
exchanges its code for tokens. Nothing here stores or logs tokens.

Transport: every endpoint must be https; plain http is accepted only on a loopback host, which is
where the tests' fake provider listens. Authlib 1.9's requests client never checks the scheme
itself (its AUTHLIB_INSECURE_TRANSPORT switch governs only its server side and metadata checks),
so the check is made here, per app, instead of through that process-wide variable, which would
relax it for the real providers as well.

Client authentication is client_secret_post (the secret in the form body): Google and Microsoft
both document it, and Authlib's default HTTP Basic skips the form-encoding of RFC 6749 2.3.1,
which garbles secrets holding characters such as "+" or "%" at servers that decode it.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from services.integrations.backoff import (
    Backoff,
    RetryLater,
    is_transient,
    retry_after_seconds,
)
from services.integrations.base import (
    IntegrationAuthError,
    IntegrationError,
    OAuthToken,
)

TIMEOUT_SECONDS = 30.0
MAX_WAIT_SECONDS = 10.0  # of retrying a failing token endpoint: during a sign-in a user is waiting
VERIFIER_LENGTH = 48  # PKCE code_verifier characters; RFC 7636 asks for 43 to 128
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
GOOGLE_SCOPES = (
    "openid",
    "email",
    "https://www.googleapis.com/auth/gmail.readonly",
    "https://www.googleapis.com/auth/gmail.send",
)
MICROSOFT_SCOPES = ("offline_access", "Mail.ReadWrite", "Mail.Send", "User.Read")
_TRY_AGAIN_ERRORS = frozenset({"server_error", "temporarily_unavailable"})  # RFC 6749 4.1.2.1

Json = Mapping[str, Any]


@dataclass(frozen=True)
class OAuthApp:
    """A provider's OAuth client registration. `revoke_url` is "" when the provider cannot revoke
    a grant (Microsoft); `extra_authorize_params` are added to the authorization URL."""

    name: str
    client_id: str
    client_secret: str = field(repr=False)
    authorize_url: str
    token_url: str
    revoke_url: str
    scopes: tuple[str, ...]
    extra_authorize_params: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.client_id or not self.client_secret:
            raise IntegrationError(f"The {self.name} OAuth app has no client ID or secret; set both in the settings")
        for url in (self.authorize_url, self.token_url, self.revoke_url):
            if url and not _secure(url):
                raise IntegrationError(f"The {self.name} OAuth endpoint {url} must use https "
                                       "(plain http is allowed only on 127.0.0.1 or localhost)")


@dataclass(frozen=True)
class PendingAuthorization:
    """A sign-in in progress: send the browser to `url`, keep `state` and `code_verifier` server side."""

    url: str
    state: str
    code_verifier: str = field(repr=False)


def google_app(client_id: str, client_secret: str, *, base_url: str | None = None) -> OAuthApp:
    """Gmail: `access_type=offline` asks for a refresh token and `prompt=consent` makes Google send
    one again when the account was connected before (otherwise only the first consent gets one)."""
    return OAuthApp(
        name="Google",
        client_id=client_id,
        client_secret=client_secret,
        authorize_url=_at(base_url, "https://accounts.google.com/o/oauth2/v2/auth"),
        token_url=_at(base_url, "https://oauth2.googleapis.com/token"),
        revoke_url=_at(base_url, "https://oauth2.googleapis.com/revoke"),
        scopes=GOOGLE_SCOPES,
        extra_authorize_params=(("access_type", "offline"), ("prompt", "consent")),
    )


def microsoft_app(client_id: str, client_secret: str, *, tenant: str = "common",
                  base_url: str | None = None) -> OAuthApp:
    """Outlook through Microsoft Graph; `offline_access` in the scopes is what yields a refresh token.
    Microsoft has no revocation endpoint for these tokens, see `revoke`."""
    root = f"https://login.microsoftonline.com/{quote(tenant, safe='')}/oauth2/v2.0"
    return OAuthApp(
        name="Microsoft",
        client_id=client_id,
        client_secret=client_secret,
        authorize_url=_at(base_url, f"{root}/authorize"),
        token_url=_at(base_url, f"{root}/token"),
        revoke_url="",
        scopes=MICROSOFT_SCOPES,
    )


def begin(app: OAuthApp, redirect_uri: str) -> PendingAuthorization:
    """The provider URL to send the browser to, with a fresh state and PKCE S256 challenge."""
    code_verifier = generate_token(VERIFIER_LENGTH)
    with _session(app, redirect_uri) as session:
        url, state = session.create_authorization_url(app.authorize_url, code_verifier=code_verifier,
                                                      **dict(app.extra_authorize_params))
    return PendingAuthorization(url=url, state=state, code_verifier=code_verifier)


def finish(app: OAuthApp, redirect_uri: str, callback_url: str, expected_state: str, code_verifier: str,
           *, backoff: Backoff | None = None) -> OAuthToken:
    """Checks the provider's redirect back to `redirect_uri` (the whole `callback_url`) and exchanges
    its code for tokens. The state is compared before anything else, so a forged or stale answer
    never reaches the token endpoint. The code is passed on by itself: Authlib would read a
    `#fragment` of the URL as an implicit-grant token and return it unchecked."""
    params = dict(parse_qsl(urlsplit(callback_url).query))
    if not expected_state or not hmac.compare_digest(params.get("state", "").encode(), expected_state.encode()):
        raise IntegrationAuthError("The sign-in answer did not match the request (state); start again.")
    code = _callback_code(app, params)

    def exchange() -> Json:
        with _session(app, redirect_uri) as session:
            return session.fetch_token(app.token_url, grant_type="authorization_code", code=code,
                                       code_verifier=code_verifier)

    data = _call(app, "exchanging the sign-in code", backoff, exchange,
                 invalid_grant=f"{app.name} did not accept the sign-in code (it expired, was already used, "
                               "or belongs to another sign-in); start again.")
    return _token(app, data, refresh_token="", scope=" ".join(app.scopes))


def refresh(app: OAuthApp, token: OAuthToken, *, backoff: Backoff | None = None) -> OAuthToken:
    """A new access token from the refresh token. Google answers without a refresh token (the old
    one stays valid, so it is kept); Microsoft rotates it, and the new one replaces the old."""
    if not token.refresh_token:
        raise IntegrationAuthError(f"{app.name} gave no refresh token for this account, so its access cannot "
                                   "be renewed; reconnect the account")

    def renew() -> Json:
        with _session(app) as session:
            return session.refresh_token(app.token_url, refresh_token=token.refresh_token)

    data = _call(app, "renewing the access token", backoff, renew,
                 invalid_grant=f"{app.name} refused the saved sign-in: the account's access was revoked or has "
                               "expired; reconnect the account")
    return _token(app, data, refresh_token=token.refresh_token, scope=token.scope)


def needs_refresh(token: OAuthToken, now: float | None = None, margin: float = 300) -> bool:
    """Whether the access token expires within `margin` seconds. One whose expiry the provider did
    not state (0) is used until an API call refuses it."""
    if not token.expires_at:
        return False
    return token.expires_at - margin <= (time.time() if now is None else now)


def revoke(app: OAuthApp, token: OAuthToken, *, backoff: Backoff | None = None) -> None:
    """Ends the grant at the provider (revoking the refresh token, or else the access token; Google
    ends the whole grant either way). A token the provider already considers invalid is fine.

    Microsoft has no revocation endpoint for v2 tokens (`revoke_url` ""): there, disconnecting means
    the caller forgets the tokens; the refresh token stays valid at Microsoft until it lapses unused,
    or the user removes the app under myapps.microsoft.com (work) or account.live.com/consent/Manage."""
    if not app.revoke_url:
        return
    value, hint = ((token.refresh_token, "refresh_token") if token.refresh_token
                   else (token.access_token, "access_token"))

    def send() -> requests.Response:
        with _session(app) as session:
            return _retry_if_transient(session.revoke_token(app.revoke_url, token=value, token_type_hint=hint))

    response = _call(app, "revoking its access", backoff, send)
    error = _error_code(response)
    if response.ok or (response.status_code == 400 and error == "invalid_token"):
        return
    raise IntegrationError(f"{app.name} refused to revoke the access (HTTP {response.status_code}"
                           f"{', ' + error if error else ''}); remove LLMCoder in the account's security "
                           "settings instead")


def _at(base_url: str | None, url: str) -> str:
    """`url` with its scheme and host replaced by `base_url` (a fake provider in tests)."""
    return url if base_url is None else base_url.rstrip("/") + urlsplit(url).path


def _secure(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)


def _session(app: OAuthApp, redirect_uri: str | None = None) -> OAuth2Session:
    session = OAuth2Session(
        app.client_id, app.client_secret, scope=" ".join(app.scopes), redirect_uri=redirect_uri,
        code_challenge_method="S256", token_endpoint_auth_method="client_secret_post",
        revocation_endpoint_auth_method="client_secret_post", default_timeout=TIMEOUT_SECONDS,
    )
    session.register_compliance_hook("access_token_response", _retry_if_transient)
    session.register_compliance_hook("refresh_token_response", _retry_if_transient)
    return session


def _retry_if_transient(response: requests.Response) -> requests.Response:
    """A 429 or 5xx answer becomes RetryLater before Authlib reads it: Authlib would turn a 429's
    JSON error body into an OAuth error that no longer carries the status or Retry-After."""
    if is_transient(response.status_code):
        raise RetryLater(response.status_code, retry_after_seconds(response.headers.get("Retry-After")))
    return response


def _callback_code(app: OAuthApp, params: dict[str, str]) -> str:
    """The authorization code of the redirect, or the provider's refusal in words (RFC 6749 4.1.2.1)."""
    error = params.get("error", "")
    if error == "access_denied":
        raise IntegrationAuthError(f"The {app.name} sign-in was cancelled: you declined the access LLMCoder asked "
                                   "for; connect again and allow it to use the mailbox.")
    if error in _TRY_AGAIN_ERRORS:
        raise IntegrationError(f"{app.name} could not complete the sign-in ({error}); try again in a moment.")
    if error:
        described = _described(error, params.get("error_description", ""))
        raise IntegrationAuthError(f"{app.name} refused the sign-in ({described}); check the OAuth app's "
                                   "settings, then start again.")
    code = params.get("code")
    if not code:
        raise IntegrationAuthError(f"The {app.name} sign-in answer carried no authorization code; start again.")
    return code


def _call(app: OAuthApp, what: str, backoff: Backoff | None, request: Callable[[], Any], *,
          invalid_grant: str = "") -> Any:
    """One call to the provider, retried on 429/5xx; every failure becomes an IntegrationError."""
    try:
        return (backoff or Backoff(app.name, max_wait=MAX_WAIT_SECONDS)).run(what, request)
    except AuthlibBaseError as exc:
        raise _oauth_error(app, what, exc.error or "", exc.description or "", invalid_grant) from exc
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        raise IntegrationError(f"{app.name} answered HTTP {status} while {what}; check the OAuth endpoints, "
                               "or try again later") from exc
    except requests.RequestException as exc:
        kind = "the request timed out" if isinstance(exc, requests.Timeout) else "the connection failed"
        raise IntegrationError(f"Could not reach {app.name} ({kind}) while {what}; check the network and "
                               "try again") from exc
    except ValueError as exc:  # Authlib: a 2xx/4xx body that is not a JSON object (a proxy or login page)
        raise IntegrationError(f"{app.name} did not answer with JSON while {what}; try again later") from exc


def _oauth_error(app: OAuthApp, what: str, error: str, description: str, invalid_grant: str) -> IntegrationError:
    """An RFC 6749 5.2 error answer in words."""
    if error == "invalid_grant" and invalid_grant:
        return IntegrationAuthError(invalid_grant)
    if error in ("invalid_client", "unauthorized_client"):
        return IntegrationAuthError(f"{app.name} refused LLMCoder's client ID or secret ({error}) while {what}; "
                                    "check the OAuth app settings and that its secret has not expired")
    return IntegrationError(f"{app.name} refused the request while {what} "
                            f"({_described(error, description)})")


def _token(app: OAuthApp, data: Json, *, refresh_token: str, scope: str) -> OAuthToken:
    """The token response as stored; RFC 6749 5.1: an absent scope means the one asked for."""
    if not data.get("access_token"):
        raise IntegrationError(f"{app.name} answered without an access token; try again")
    return OAuthToken(
        access_token=str(data["access_token"]),
        refresh_token=str(data.get("refresh_token") or refresh_token),
        expires_at=float(data.get("expires_at") or 0),  # Authlib computes it from expires_in
        scope=str(data.get("scope") or scope),
    )


def _described(error: str, description: str) -> str:
    return f"{error}: {description[:200]}" if description else error


def _error_code(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""
