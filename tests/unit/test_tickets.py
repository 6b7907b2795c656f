"""Sign-in tickets: how a websocket sign-in becomes an HttpOnly cookie."""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from llmcoder_app.api import api
from services.auth import sessions, tickets


@pytest.fixture
def signed_in(make_user):
    make_user("ticket@example.com")
    token, _ = sessions.sign_in("ticket@example.com", "correct horse 1")
    return token


@pytest.fixture
def client(db):
    with TestClient(api, follow_redirects=False) as test_client:
        yield test_client


def test_a_ticket_redeems_once(signed_in):
    ticket = tickets.issue(signed_in)
    assert signed_in not in ticket
    assert tickets.redeem(ticket) == signed_in
    assert tickets.redeem(ticket) is None


def test_forged_stale_and_revoked_tickets_are_refused(signed_in, monkeypatch):
    assert tickets.redeem("") is None
    assert tickets.redeem("not-a-ticket") is None
    assert tickets.redeem(tickets.issue("a token no session has")) is None
    stale = tickets.issue(signed_in)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + tickets.TICKET_SECONDS + 5)
    assert tickets.redeem(stale) is None
    monkeypatch.undo()
    sessions.sign_out(signed_in)
    assert tickets.redeem(tickets.issue(signed_in)) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, ""),
        ("", ""),
        ("theme=dark", ""),
        (f"theme=dark; {sessions.SESSION_COOKIE}=abc123", "abc123"),
        (f"{sessions.SESSION_COOKIE}=xyz", "xyz"),
        ('broken="unterminated', ""),
    ],
)
def test_session_token_is_read_from_the_cookie_header(header, expected):
    assert sessions.token_from_cookie_header(header) == expected


def test_the_session_route_sets_an_httponly_strict_cookie(client, signed_in):
    response = client.get(f"/api/auth/session?ticket={tickets.issue(signed_in)}")
    assert response.status_code == 303
    assert response.headers["location"].endswith("/")
    cookie = response.headers["set-cookie"]
    assert f"{sessions.SESSION_COOKIE}={signed_in}" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Max-Age=1209600" in cookie


def test_the_session_route_refuses_a_used_ticket(client, signed_in):
    ticket = tickets.issue(signed_in)
    client.get(f"/api/auth/session?ticket={ticket}")
    again = client.get(f"/api/auth/session?ticket={ticket}")
    assert again.status_code == 303 and again.headers["location"].endswith("/login?expired=1")
    assert "set-cookie" not in again.headers


def test_sign_out_route_revokes_and_clears_the_cookie(client, signed_in):
    client.cookies.set(sessions.SESSION_COOKIE, signed_in)
    response = client.get("/api/auth/sign-out")
    assert response.status_code == 303 and response.headers["location"].endswith("/login")
    assert f'{sessions.SESSION_COOKIE}=""' in response.headers["set-cookie"]
    assert sessions.resolve(signed_in) is None
