"""The real Authlib client, through services.integrations.oauth.client, against the fake OAuth server."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import httpx
import pytest

from services.integrations.backoff import Backoff
from services.integrations.base import (
    IntegrationAuthError,
    IntegrationError,
    IntegrationRateLimited,
    OAuthToken,
)
from services.integrations.oauth.client import (
    GOOGLE_SCOPES,
    OAuthApp,
    PendingAuthorization,
    begin,
    finish,
    google_app,
    microsoft_app,
    needs_refresh,
    refresh,
    revoke,
)
from tests.fakes.llm_providers import refused_url
from tests.fakes.oauth_server import FakeOAuth

REDIRECT = "http://127.0.0.1:3000/oauth/callback"


@pytest.fixture
def fake() -> Iterator[FakeOAuth]:
    with FakeOAuth(redirect_uri=REDIRECT) as server:
        yield server


@pytest.fixture
def google(fake: FakeOAuth) -> OAuthApp:
    return google_app(fake.client_id, fake.client_secret, base_url=fake.url)


@pytest.fixture
def sleeps() -> list[float]:
    """What the client asked to sleep; nothing really waits."""
    return []


@pytest.fixture
def backoff(sleeps: list[float]) -> Backoff:
    return Backoff("Google", max_wait=30, sleep=sleeps.append)


def consent(pending: PendingAuthorization) -> str:
    """The URL the browser comes back with: the fake's redirect, not followed."""
    response = httpx.get(pending.url, follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def connect(app: OAuthApp, backoff: Backoff | None = None) -> OAuthToken:
    pending = begin(app, REDIRECT)
    return finish(app, REDIRECT, consent(pending), pending.state, pending.code_verifier, backoff=backoff)


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


# -- the provider apps ------------------------------------------------------------------------------


def test_the_real_providers_endpoints_and_scopes():
    google = google_app("id", "secret")
    assert (google.authorize_url, google.token_url, google.revoke_url) == (
        "https://accounts.google.com/o/oauth2/v2/auth", "https://oauth2.googleapis.com/token",
        "https://oauth2.googleapis.com/revoke")
    assert set(google.scopes) == {"openid", "email", "https://www.googleapis.com/auth/gmail.readonly",
                                  "https://www.googleapis.com/auth/gmail.send"}
    microsoft = microsoft_app("id", "secret", tenant="contoso.onmicrosoft.com")
    assert microsoft.token_url == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    assert microsoft.revoke_url == ""
    assert microsoft.scopes == ("offline_access", "Mail.ReadWrite", "Mail.Send", "User.Read")


@pytest.mark.parametrize("base_url", ["http://oauth.example.com", "ftp://127.0.0.1"])
def test_endpoints_without_https_are_refused_unless_on_loopback(base_url):
    with pytest.raises(IntegrationError, match="must use https"):
        google_app("id", "secret", base_url=base_url)
    assert google_app("id", "secret", base_url="http://localhost:8080").token_url == "http://localhost:8080/token"


def test_an_app_without_client_credentials_is_refused():
    with pytest.raises(IntegrationError, match="no client ID or secret"):
        microsoft_app("id", "")


def test_secrets_stay_out_of_reprs(google):
    pending = begin(google, REDIRECT)
    assert google.client_secret not in repr(google)
    assert pending.code_verifier not in repr(pending)


# -- begin ------------------------------------------------------------------------------------------


def test_the_authorization_url_carries_state_pkce_and_googles_offline_parameters(fake, google):
    pending = begin(google, REDIRECT)
    parts = urlsplit(pending.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{fake.url}/o/oauth2/v2/auth"
    params = parse_qs(parts.query)
    assert all(len(values) == 1 for values in params.values())
    assert query(pending.url) == {
        "response_type": "code",
        "client_id": fake.client_id,
        "redirect_uri": REDIRECT,
        "scope": " ".join(GOOGLE_SCOPES),
        "state": pending.state,
        "code_challenge": s256(pending.code_verifier),
        "code_challenge_method": "S256",
        "access_type": "offline",
        "prompt": "consent",
    }
    assert len(pending.state) >= 20
    assert 43 <= len(pending.code_verifier) <= 128
    assert fake.client_secret not in pending.url


def test_each_sign_in_gets_its_own_state_and_verifier(google):
    first, second = begin(google, REDIRECT), begin(google, REDIRECT)
    assert first.state != second.state
    assert first.code_verifier != second.code_verifier


# -- finish -----------------------------------------------------------------------------------------


def test_a_google_sign_in_ends_with_a_refresh_token_and_an_expiry(fake, google):
    before = time.time()
    token = connect(google)
    issued = fake.issued[-1]
    assert token.access_token == issued["access_token"]
    assert token.refresh_token == issued["refresh_token"]
    assert before + 3599 - 2 <= token.expires_at <= time.time() + 3599 + 1
    assert token.scope == " ".join(GOOGLE_SCOPES)
    [request] = fake.requests_to("token")
    assert request.auth == "client_secret_post"
    assert request.params["grant_type"] == "authorization_code"
    assert request.params["redirect_uri"] == REDIRECT
    assert "scope" not in request.params


def test_a_microsoft_sign_in_gets_its_refresh_token_through_offline_access():
    with FakeOAuth(redirect_uri=REDIRECT, rotate_refresh=True) as fake:
        app = microsoft_app(fake.client_id, fake.client_secret, tenant="organizations", base_url=fake.url)
        pending = begin(app, REDIRECT)
        assert urlsplit(pending.url).path == "/organizations/oauth2/v2.0/authorize"
        assert "offline_access" in query(pending.url)["scope"].split()
        assert "access_type" not in query(pending.url)
        token = finish(app, REDIRECT, consent(pending), pending.state, pending.code_verifier)
        assert token.refresh_token == fake.issued[-1]["refresh_token"]
        assert [r.path for r in fake.requests_to("token")] == ["/organizations/oauth2/v2.0/token"]


def test_without_offline_access_the_provider_gives_no_refresh_token(fake):
    app = OAuthApp("Example", fake.client_id, fake.client_secret, f"{fake.url}/authorize", f"{fake.url}/token",
                   "", ("openid",))
    token = connect(app)
    assert token.access_token and token.refresh_token == ""
    with pytest.raises(IntegrationAuthError, match="no refresh token.*reconnect"):
        refresh(app, token)
    assert len(fake.requests_to("token")) == 1


@pytest.mark.parametrize("tamper", [
    lambda params: {**params, "state": params["state"] + "x"},
    lambda params: {key: value for key, value in params.items() if key != "state"},
    lambda params: {**params, "state": "é" + params["state"]},
])
def test_an_answer_whose_state_does_not_match_never_reaches_the_token_endpoint(fake, google, tamper):
    pending = begin(google, REDIRECT)
    callback = f"{REDIRECT}?{urlencode(tamper(query(consent(pending))))}"
    with pytest.raises(IntegrationAuthError, match=r"did not match the request \(state\); start again"):
        finish(google, REDIRECT, callback, pending.state, pending.code_verifier)
    assert fake.requests_to("token") == []


def test_an_empty_expected_state_matches_nothing(fake, google):
    with pytest.raises(IntegrationAuthError, match="state"):
        finish(google, REDIRECT, f"{REDIRECT}?code=abc&state=", "", "verifier")
    assert fake.requests_to("token") == []


def test_a_declined_consent_says_so(fake, google):
    fake.deny_next()
    pending = begin(google, REDIRECT)
    callback = consent(pending)
    assert query(callback) == {"error": "access_denied", "state": pending.state}
    with pytest.raises(IntegrationAuthError, match="you declined"):
        finish(google, REDIRECT, callback, pending.state, pending.code_verifier)
    assert fake.requests_to("token") == []


def test_a_refused_authorization_request_is_reported_with_the_providers_words(fake, google):
    pending = begin(google, REDIRECT)
    without_pkce = {k: v for k, v in query(pending.url).items() if not k.startswith("code_challenge")}
    callback = consent(PendingAuthorization(f"{fake.url}/o/oauth2/v2/auth?{urlencode(without_pkce)}",
                                            pending.state, pending.code_verifier))
    with pytest.raises(IntegrationAuthError, match="invalid_request: code_challenge_method=S256"):
        finish(google, REDIRECT, callback, pending.state, pending.code_verifier)
    assert fake.requests_to("token") == []


def test_a_provider_outage_during_consent_is_not_an_auth_failure(google):
    callback = f"{REDIRECT}?error=temporarily_unavailable&state=abc"
    with pytest.raises(IntegrationError, match="try again") as raised:
        finish(google, REDIRECT, callback, "abc", "verifier")
    assert not isinstance(raised.value, IntegrationAuthError)


def test_an_answer_without_a_code_is_refused(fake, google):
    with pytest.raises(IntegrationAuthError, match="no authorization code"):
        finish(google, REDIRECT, f"{REDIRECT}?state=abc", "abc", "verifier")
    assert fake.requests_to("token") == []


def test_a_wrong_code_verifier_is_refused_by_the_provider(fake, google):
    pending = begin(google, REDIRECT)
    with pytest.raises(IntegrationAuthError, match="did not accept the sign-in code.*start again"):
        finish(google, REDIRECT, consent(pending), pending.state, begin(google, REDIRECT).code_verifier)
    assert len(fake.requests_to("token")) == 1
    assert fake.issued == []


def test_a_code_works_once_and_its_replay_revokes_the_grant(fake, google):
    pending = begin(google, REDIRECT)
    callback = consent(pending)
    token = finish(google, REDIRECT, callback, pending.state, pending.code_verifier)
    with pytest.raises(IntegrationAuthError, match="already used"):
        finish(google, REDIRECT, callback, pending.state, pending.code_verifier)
    assert not fake.is_active(token.refresh_token)
    with pytest.raises(IntegrationAuthError, match="revoked.*reconnect the account"):
        refresh(google, token)


def test_a_fragment_in_the_callback_cannot_smuggle_in_a_token(fake, google):
    pending = begin(google, REDIRECT)
    token = finish(google, REDIRECT, consent(pending) + "#access_token=forged&token_type=Bearer",
                   pending.state, pending.code_verifier)
    assert token.access_token == fake.issued[-1]["access_token"]


def test_a_wrong_client_secret_is_reported_as_a_settings_problem(fake):
    app = google_app(fake.client_id, "not-the-secret", base_url=fake.url)
    with pytest.raises(IntegrationAuthError, match=r"client ID or secret \(invalid_client\)"):
        connect(app)


# -- refresh ----------------------------------------------------------------------------------------


def test_a_google_refresh_keeps_the_refresh_token_it_did_not_resend(fake, google):
    token = connect(google)
    renewed = refresh(google, token)
    assert "refresh_token" not in fake.issued[-1]
    assert renewed.access_token == fake.issued[-1]["access_token"] != token.access_token
    assert renewed.refresh_token == token.refresh_token
    assert renewed.expires_at >= token.expires_at
    request = fake.requests_to("token")[-1]
    assert (request.params["grant_type"], request.params["refresh_token"]) == ("refresh_token", token.refresh_token)
    assert request.params["scope"] == " ".join(GOOGLE_SCOPES)  # Microsoft requires it; Google accepts it


def test_a_rotated_refresh_token_replaces_the_old_one():
    with FakeOAuth(redirect_uri=REDIRECT, rotate_refresh=True) as fake:
        app = microsoft_app(fake.client_id, fake.client_secret, base_url=fake.url)
        token = connect(app)
        renewed = refresh(app, token)
        assert renewed.refresh_token == fake.issued[-1]["refresh_token"] != token.refresh_token
        assert refresh(app, renewed).access_token == fake.issued[-1]["access_token"]
        with pytest.raises(IntegrationAuthError, match="reconnect the account"):
            refresh(app, token)


def test_refreshing_after_a_revoke_asks_to_reconnect(fake, google):
    token = connect(google)
    revoke(google, token)
    request = fake.requests_to("revoke")[-1]
    assert (request.params["token"], request.params["token_type_hint"]) == (token.refresh_token, "refresh_token")
    assert not fake.is_active(token.access_token)
    with pytest.raises(IntegrationAuthError, match="access was revoked or has expired; reconnect the account"):
        refresh(google, token)


@pytest.mark.parametrize(("expires_at", "now", "margin", "expected"), [
    (1000.0, 699.0, 300, False),
    (1000.0, 700.0, 300, True),
    (1000.0, 999.0, 0, False),
    (1000.0, 1000.0, 0, True),
    (1000.0, 5000.0, 300, True),
    (0.0, 5000.0, 300, False),  # the provider gave no expiry
])
def test_needs_refresh_within_the_margin(expires_at, now, margin, expected):
    assert needs_refresh(OAuthToken("a", "r", expires_at), now=now, margin=margin) is expected


def test_needs_refresh_defaults_to_the_clock_and_five_minutes():
    assert not needs_refresh(OAuthToken("a", "r", time.time() + 3600))
    assert needs_refresh(OAuthToken("a", "r", time.time() + 240))


# -- revoke -----------------------------------------------------------------------------------------


def test_revoking_an_already_invalid_token_is_fine(fake, google):
    token = connect(google)
    revoke(google, token)
    revoke(google, token)
    assert len(fake.requests_to("revoke")) == 2


def test_without_a_refresh_token_the_access_token_is_revoked(fake, google):
    token = connect(google)
    revoke(google, OAuthToken(token.access_token))
    assert fake.requests_to("revoke")[-1].params["token"] == token.access_token
    assert not fake.is_active(token.refresh_token)  # Google ends the whole grant


def test_microsoft_has_nothing_to_revoke(fake):
    app = microsoft_app(fake.client_id, fake.client_secret, base_url=fake.url)
    revoke(app, OAuthToken("access", "refresh"))
    assert fake.requests == []


def test_a_revocation_the_provider_refuses_is_an_error(fake, google):
    token = connect(google)
    fake.fail_next(403, endpoint="revoke", body='{"error": "access_denied"}', content_type="application/json")
    with pytest.raises(IntegrationError, match=r"refused to revoke the access \(HTTP 403, access_denied\)"):
        revoke(google, token)
    assert fake.is_active(token.refresh_token)


def test_a_failing_revocation_endpoint_is_retried_then_reported(fake, google, backoff, sleeps):
    token = connect(google)
    fake.fail_next(503, times=None, endpoint="revoke")
    with pytest.raises(IntegrationError, match=r"Google kept failing \(HTTP 503\) while revoking"):
        revoke(google, token, backoff=backoff)
    assert sleeps == [1.0, 2.0, 4.0, 8.0]


# -- provider failures ------------------------------------------------------------------------------


def test_a_token_endpoint_outage_is_waited_out(fake, google, backoff, sleeps):
    fake.fail_next(503, retry_after=2)
    token = connect(google, backoff)
    assert token.access_token == fake.issued[-1]["access_token"]
    assert sleeps == [2.0]
    assert len(fake.requests_to("token")) == 2


def test_a_token_endpoint_that_keeps_failing_is_an_error_not_an_auth_failure(fake, google, backoff, sleeps):
    fake.fail_next(500, times=None)
    with pytest.raises(IntegrationError, match=r"Google kept failing \(HTTP 500\) while exchanging") as raised:
        connect(google, backoff)
    assert not isinstance(raised.value, IntegrationAuthError)
    assert sleeps == [1.0, 2.0, 4.0, 8.0]


def test_a_rate_limited_refresh_gives_up_with_the_providers_hint(fake, google, backoff, sleeps):
    token = connect(google)
    fake.fail_next(429, times=None, retry_after=20, body='{"error": "rate_limit_exceeded"}',
                   content_type="application/json")
    with pytest.raises(IntegrationRateLimited) as raised:
        refresh(google, token, backoff=backoff)
    assert raised.value.retry_after == 20
    assert sleeps == [20.0]


@pytest.mark.parametrize(("status", "body", "words"), [
    (404, "<html>Not here</html>", "answered HTTP 404"),
    (200, "<html>Please sign in to the proxy</html>", "did not answer with JSON"),
    (200, '{"token_type": "Bearer"}', "without an access token"),
    (400, '{"error": "invalid_scope", "error_description": "Bad scope."}', "invalid_scope: Bad scope."),
])
def test_odd_token_endpoint_answers_are_reported(fake, google, status, body, words):
    content_type = "application/json" if body.startswith("{") else "text/html"
    fake.fail_next(status, body=body, content_type=content_type)
    with pytest.raises(IntegrationError, match=words) as raised:
        connect(google)
    assert not isinstance(raised.value, IntegrationAuthError)


def test_an_unreachable_provider_is_reported(google):
    app = google_app("id", "secret", base_url=refused_url())
    with pytest.raises(IntegrationError, match="Could not reach Google.*connection failed") as raised:
        finish(app, REDIRECT, f"{REDIRECT}?code=abc&state=xyz", "xyz", "verifier")
    assert not isinstance(raised.value, IntegrationAuthError)
    with pytest.raises(IntegrationError, match="Could not reach Google"):
        refresh(app, OAuthToken("access", "refresh"))


# -- the fake itself --------------------------------------------------------------------------------


def test_the_fake_accepts_form_encoded_basic_client_auth_but_not_two_methods_at_once(fake, google):
    pending = begin(google, REDIRECT)
    code = query(consent(pending))["code"]
    credentials = f"{fake.client_id}:{fake.client_secret}".replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    basic = {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": pending.code_verifier}
    both = httpx.post(f"{fake.url}/token", data={**form, "client_secret": fake.client_secret}, headers=basic)
    assert (both.status_code, both.json()["error"]) == (401, "invalid_client")
    answer = httpx.post(f"{fake.url}/token", data=form, headers=basic)
    assert answer.status_code == 200, answer.text
    assert fake.requests_to("token")[-1].auth == "client_secret_basic"
