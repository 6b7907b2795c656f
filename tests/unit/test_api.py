"""The HTTP routes beside the Reflex app, through Starlette's real request handling."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from llmcoder_app.api import api
from services.auth import api_tokens
from services.db import migrate
from tests.conftest import reset_process_caches


@pytest.fixture
def client(db):
    with TestClient(api) as test_client:
        yield test_client


def test_health_reports_database_and_in_process_runner(client):
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"backend": "sqlite", "ok": True, "revision": migrate.head_revision(), "error": ""}
    assert body["jobs"]["mode"] == "in-process"
    assert len(body["workers"]) == 1


def test_health_is_503_when_redis_is_unreachable(client, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    reset_process_caches()
    response = client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded" and body["database"]["ok"] is True
    assert body["jobs"]["ok"] is False and "Redis" in body["jobs"]["error"]


def test_me_answers_for_a_live_token_only(client, make_user):
    user = make_user("agent-owner@example.com")
    token = api_tokens.create(user.id, "laptop agent")
    ok = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    assert ok.json() == {"id": user.id, "email": "agent-owner@example.com", "role": "member"}

    token_id = api_tokens.list_for(user.id)[0].id
    api_tokens.revoke(user.id, token_id)
    revoked = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 401 and revoked.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("header", [None, "Bearer", "Basic dXNlcjpwdw==", "Bearer llmc_not-a-real-token"])
def test_me_refuses_missing_or_malformed_credentials(client, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/me", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "A valid API token is required."}


def test_llm_failure_report_is_served_to_its_owner_and_admins_only(client, make_user):
    from services.auth import sessions
    from services.llm import reports

    owner = make_user("owner@example.com")
    make_user("other@example.com")
    make_user("boss@example.com", role="admin")
    report_id = reports.save(request_id="r1", user_id=owner.id, feature="docs", markdown="# LLM request failed\n")

    def get(email: str | None):
        cookies = {}
        if email:
            token, _user = sessions.sign_in(email, "correct horse 1")
            cookies = {sessions.SESSION_COOKIE: token}
        client.cookies.clear()
        return client.get(reports.download_path(report_id), cookies=cookies)

    mine = get("owner@example.com")
    assert mine.status_code == 200 and mine.text == "# LLM request failed\n"
    assert "attachment" in mine.headers["content-disposition"] and "markdown" in mine.headers["content-type"]
    assert get("boss@example.com").status_code == 200
    assert get("other@example.com").status_code == 404
    assert get(None).status_code == 401
