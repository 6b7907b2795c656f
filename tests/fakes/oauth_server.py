"""A fake OAuth 2.0 authorization server: authorization code grant (RFC 6749) with PKCE S256
(RFC 7636), refresh tokens, and revocation (RFC 7009) as Google answers it.

Endpoints are matched on the last path segment, so Google's and Microsoft's paths both land here
once their host is replaced by ``fake.url``:

* ``GET .../auth`` or ``.../authorize``: the user signs in and consents at once and is sent back,
  ``302`` to ``redirect_uri?code=...&state=...``. An unknown client or redirect URI is answered
  with a 400 page (never a redirect); a missing PKCE challenge or wrong response type redirects
  with ``error=`` as RFC 6749 4.1.2.1 says. ``deny_next()`` makes the user decline once.
* ``POST .../token``: client authentication by client_secret_post or client_secret_basic (both at
  once is refused); ``authorization_code`` checks the code, its redirect URI and the PKCE
  verifier, each code works once and replaying it revokes what it was exchanged for (RFC 6749
  4.1.2); ``refresh_token`` issues a new access token and, like Google, no new refresh token
  unless ``rotate_refresh=True`` (Microsoft), which retires the old one. A refresh token is issued
  only for offline access: ``access_type=offline`` (Google) or ``offline_access`` in the scope
  (Microsoft). Errors are RFC 6749 5.2 JSON: 400 ``invalid_grant`` etc., 401 ``invalid_client``.
* ``POST .../revoke`` with ``token=``: ends the whole grant the token belongs to (as Google does),
  after which its refresh token gets ``invalid_grant``; an unknown or already revoked token gets
  Google's 400 ``invalid_token``.

``fail_next(status)`` scripts 5xx/429 answers; ``issued`` holds every token response sent and
``requests`` every request received.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

from tests.fakes.http_fake import FakeHTTPServer, QuietHandler, take_scripted

Json = dict[str, Any]
Params = dict[str, str]
Endpoint = Literal["authorize", "token", "revoke"]
AuthMethod = Literal["client_secret_post", "client_secret_basic"]
_ENDPOINTS: dict[str, Endpoint] = {"auth": "authorize", "authorize": "authorize", "token": "token",
                                   "revoke": "revoke"}
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received: the query (GET) or form (POST), and how the client authenticated."""

    method: str
    path: str
    endpoint: Endpoint | None
    params: Params
    auth: AuthMethod | None


@dataclass
class _Grant:
    """What one consent granted; revoking any of its tokens ends all of them."""

    id: int
    scope: str
    offline: bool
    revoked: bool = False


@dataclass
class _Code:
    grant: _Grant
    redirect_uri: str
    challenge: str
    used: bool = False


@dataclass
class _Failure:
    status: int
    times: int | None
    endpoint: Endpoint
    retry_after: str | None
    body: str | None
    content_type: str


@dataclass
class _Reply:
    status: int
    body: str = ""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class FakeOAuth(FakeHTTPServer):
    """Start with ``with FakeOAuth() as fake:``; ``fake.url`` replaces the provider's scheme and host."""

    def __init__(self, *, client_id: str = "client-123.apps.example", client_secret: str = "s3cret+/=value",
                 redirect_uri: str = "http://127.0.0.1:3000/oauth/callback", expires_in: int = 3599,
                 rotate_refresh: bool = False) -> None:
        super().__init__(_Handler, "fake-oauth")
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_uri = redirect_uri
        self.expires_in = expires_in
        self.rotate_refresh = rotate_refresh
        self.issued: list[Json] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._codes: dict[str, _Code] = {}
        self._tokens: dict[str, tuple[Literal["access", "refresh"], _Grant]] = {}
        self._deny = False
        self._failures: list[_Failure] = []
        self._requests: list[RecordedRequest] = []

    # -- scripting and records -------------------------------------------------------------------

    def deny_next(self) -> None:
        """The next user at the consent screen declines."""
        with self._lock:
            self._deny = True

    def fail_next(self, status: int, *, times: int | None = 1, endpoint: Endpoint = "token",
                  retry_after: float | None = None, body: str | None = None,
                  content_type: str = "text/plain") -> None:
        """Answer the next ``times`` requests to ``endpoint`` (``None``: all) with ``status`` and
        ``body`` (by default a plain-text page, as a gateway in front of the provider sends)."""
        hint = None if retry_after is None else f"{retry_after:g}"
        with self._lock:
            self._failures.append(_Failure(status, times, endpoint, hint, body, content_type))

    def is_active(self, token: str) -> bool:
        """Whether an issued access or refresh token is still honoured."""
        with self._lock:
            entry = self._tokens.get(token)
            return entry is not None and not entry[1].revoked

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, endpoint: Endpoint) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint == endpoint]

    # -- serving ---------------------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path)
        endpoint = _ENDPOINTS.get(parts.path.rsplit("/", 1)[-1])
        header = handler.headers.get("Authorization", "")
        if handler.command == "POST":
            raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0)).decode()
            params = dict(parse_qsl(raw, keep_blank_values=True))
        else:
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
        with self._lock:
            self._requests.append(RecordedRequest(handler.command, parts.path, endpoint, params,
                                                  _auth_method(params, header)))
            failure = take_scripted(self._failures, lambda f: f.endpoint == endpoint)
            if failure is not None:
                extra = {} if failure.retry_after is None else {"Retry-After": failure.retry_after}
                body = f"Scripted failure {failure.status}" if failure.body is None else failure.body
                reply = _Reply(failure.status, body, failure.content_type, extra)
            elif endpoint is None or handler.command != ("GET" if endpoint == "authorize" else "POST"):
                reply = _Reply(404, "Not Found", "text/plain")
            elif endpoint == "authorize":
                reply = self._authorize(params)
            elif handler.headers.get("Content-Type", "").split(";")[0].strip() != FORM:
                reply = _oauth_error(400, "invalid_request", f"The body must be {FORM}.")
            elif endpoint == "token":
                reply = self._token(params, header)
            else:
                reply = self._revoke(params)
        handler.reply(reply)

    # Each of the following runs under the lock.

    def _authorize(self, query: Params) -> _Reply:
        if query.get("client_id") != self.client_id:
            return _Reply(400, "Error 401: invalid_client. The OAuth client was not found.", "text/plain")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri != self.redirect_uri:
            return _Reply(400, "Error 400: redirect_uri_mismatch.", "text/plain")
        back = {"state": query["state"]} if "state" in query else {}
        if self._deny:
            self._deny = False
            return _redirect(redirect_uri, error="access_denied", **back)
        if query.get("response_type") != "code":
            return _redirect(redirect_uri, error="unsupported_response_type", **back)
        if not query.get("code_challenge") or query.get("code_challenge_method") != "S256":
            return _redirect(redirect_uri, error="invalid_request",
                             error_description="code_challenge_method=S256 and a code_challenge are required", **back)
        scope = query.get("scope", "")
        offline = query.get("access_type") == "offline" or "offline_access" in scope.split()
        code = secrets.token_urlsafe(24)
        grant = _Grant(next(self._ids), scope, offline)
        self._codes[code] = _Code(grant, redirect_uri, query["code_challenge"])
        return _redirect(redirect_uri, code=code, **back)

    def _token(self, form: Params, header: str) -> _Reply:
        if not self._client_authenticated(form, header):
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.",
                                {"WWW-Authenticate": 'Basic realm="oauth"'} if header else {})
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._exchange(form)
        if grant_type == "refresh_token":
            return self._refresh(form)
        return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def _exchange(self, form: Params) -> _Reply:
        code = self._codes.get(form.get("code", ""))
        if code is None:
            return _oauth_error(400, "invalid_grant", "Malformed auth code.")
        if code.used:
            code.grant.revoked = True  # RFC 6749 4.1.2: a replayed code revokes what it was exchanged for
            return _oauth_error(400, "invalid_grant", "Code was already redeemed.")
        code.used = True
        if form.get("redirect_uri") != code.redirect_uri:
            return _oauth_error(400, "invalid_grant", "Bad Request: redirect_uri does not match.")
        verifier = form.get("code_verifier", "")
        if not verifier:
            return _oauth_error(400, "invalid_grant", "Missing code verifier.")
        if not secrets.compare_digest(_s256(verifier), code.challenge):
            return _oauth_error(400, "invalid_grant", "Invalid code verifier.")
        return self._issue(code.grant, with_refresh=code.grant.offline)

    def _refresh(self, form: Params) -> _Reply:
        presented = form.get("refresh_token", "")
        kind, grant = self._tokens.get(presented, ("access", None))
        if grant is None or kind != "refresh" or grant.revoked:
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        asked = form.get("scope", "").split()
        if not set(asked) <= set(grant.scope.split()):
            return _oauth_error(400, "invalid_scope", "The requested scope exceeds the granted scope.")
        if self.rotate_refresh:
            del self._tokens[presented]
        return self._issue(grant, with_refresh=self.rotate_refresh)

    def _issue(self, grant: _Grant, *, with_refresh: bool) -> _Reply:
        body: Json = {"access_token": f"ya29.{secrets.token_urlsafe(24)}", "expires_in": self.expires_in,
                      "token_type": "Bearer", "scope": grant.scope}
        self._tokens[body["access_token"]] = ("access", grant)
        if with_refresh:
            body["refresh_token"] = f"1//{secrets.token_urlsafe(24)}"
            self._tokens[body["refresh_token"]] = ("refresh", grant)
        self.issued.append(body)
        return _Reply(200, json.dumps(body), headers={"Cache-Control": "no-store"})

    def _revoke(self, form: Params) -> _Reply:
        entry = self._tokens.get(form.get("token", ""))
        if entry is None or entry[1].revoked:
            return _oauth_error(400, "invalid_token", "Token expired or revoked")
        entry[1].revoked = True
        return _Reply(200, "{}")

    def _client_authenticated(self, form: Params, header: str) -> bool:
        method = _auth_method(form, header)
        if method == "client_secret_basic" and "client_secret" not in form:
            try:
                decoded = base64.b64decode(header.split(" ", 1)[1], validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return False
            client_id, _, secret = decoded.partition(":")
            return (unquote_plus(client_id), unquote_plus(secret)) == (self.client_id, self.client_secret)
        if method == "client_secret_post":
            return (form.get("client_id"), form.get("client_secret")) == (self.client_id, self.client_secret)
        return False  # none, or both at once (RFC 6749 2.3: at most one method per request)


def _auth_method(params: Params, header: str) -> AuthMethod | None:
    if header.startswith("Basic "):
        return "client_secret_basic"
    return "client_secret_post" if "client_secret" in params else None


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _redirect(redirect_uri: str, **params: str) -> _Reply:
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return _Reply(302, "", "text/plain", {"Location": f"{redirect_uri}{separator}{urlencode(params)}"})


def _oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, json.dumps({"error": error, "error_description": description}),
                  headers={"Cache-Control": "no-store", **(headers or {})})


class _Handler(QuietHandler):
    def do_GET(self) -> None:
        self.server.fake._serve(self)

    def do_POST(self) -> None:
        self.server.fake._serve(self)

    def reply(self, reply: _Reply) -> None:
        self.send_body(reply.status, reply.body.encode(), f"{reply.content_type};charset=UTF-8", reply.headers)
