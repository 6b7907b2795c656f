"""The inbox service with Gmail, Outlook and Slack: OAuth connect (state + PKCE, single use, same
user), token refresh and revocation, sync through the fakes, replies into the right thread,
the Slack Events webhook (signature, url_verification, dedupe, live insert) and the CLI."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from starlette.testclient import TestClient

from llmcoder_app.api import api
from services import crypto, runtime_settings
from services.auth import sessions
from services.auth.errors import AccessDenied
from services.cli.commands import main as cli_main
from services.db import session_scope
from services.db.models import InboxAccount
from services.inbox import accounts, connect, listing, replies, sending
from services.integrations.base import IntegrationAuthError
from services.settings import reset_settings_cache
from tests.fakes.gmail_server import FakeGmail
from tests.fakes.graph_server import FakeGraph
from tests.fakes.oauth_server import FakeOAuth
from tests.fakes.slack_server import FakeSlack
from tests.inbox_support import run_sync, stored
from tests.llm_support import run_async
from tests.unit.jobs_helpers import wait_for

pytestmark = pytest.mark.integration
REDIRECT = "http://127.0.0.1:8000/api/oauth/{}/callback"
SIGNING_SECRET = "slack-signing-secret-1"


@pytest.fixture
def member(make_user):
    return make_user("ann@example.com")


@pytest.fixture
def oauth(db) -> Iterator[FakeOAuth]:
    with FakeOAuth(redirect_uri=REDIRECT.format("gmail")) as server:
        yield server


def endpoints(monkeypatch, **urls: str) -> None:
    for name, url in urls.items():
        monkeypatch.setenv(f"LLMCODER_{name.upper()}", url)
    reset_settings_cache()


def consent(url: str) -> str:
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["location"]


@pytest.fixture
def gmail(oauth, monkeypatch) -> Iterator[FakeGmail]:
    with FakeGmail(address="ann@example.com") as fake:
        fake.token_check = oauth.is_active  # Gmail accepts what Google's OAuth server issued
        endpoints(monkeypatch, google_oauth_url=oauth.url, gmail_api_url=fake.url)
        runtime_settings.set_value("google.client_id", oauth.client_id)
        runtime_settings.set_value("google.client_secret", oauth.client_secret)
        yield fake


def connect_gmail(member, oauth: FakeOAuth) -> int:
    return connect.finish(member, "gmail", consent(connect.begin(member, "gmail", REDIRECT.format("gmail"))))


def test_gmail_connects_by_oauth_with_pkce_once_and_for_its_user(db, member, make_user, oauth, gmail):
    other = make_user("eve@example.com")
    url = connect.begin(member, "gmail", REDIRECT.format("gmail"))
    assert "code_challenge_method=S256" in url and "access_type=offline" in url
    callback = consent(url)
    with pytest.raises(AccessDenied):
        connect.finish(other, "gmail", callback)  # another user's browser: refused ...
    with pytest.raises(IntegrationAuthError, match="already used"):
        connect.finish(member, "gmail", callback)  # ... and the state is spent
    with pytest.raises(IntegrationAuthError):
        connect.finish(member, "gmail", callback.replace("state=", "state=forged"))
    assert not any(r.path.endswith("/token") for r in oauth.requests)

    gmail.add_message(subject="Hello", text="Can you join on Monday?", sender="Bob <bob@example.com>",
                      to=("ann@example.com",))
    account_id = connect_gmail(member, oauth)
    row = accounts.user_account(member, account_id)
    assert row.address == "ann@example.com" and row.kind == "gmail"
    secret = json.loads(crypto.decrypt(row.secret))
    assert secret["refresh_token"] and secret["refresh_token"] not in row.secret

    assert run_sync(account_id)["new"] == 1
    message = stored(account_id)[0]
    assert (message.subject, message.needs_reply, message.unread) == ("Hello", True, True)
    assert listing.thread(member, message.id).messages[0].text.strip() == "Can you join on Monday?"


def test_an_expiring_gmail_token_is_refreshed_and_stored(db, member, oauth, gmail):
    account_id = connect_gmail(member, oauth)
    with session_scope() as session:
        row = session.get(InboxAccount, account_id)
        secret = json.loads(crypto.decrypt(row.secret))
        secret["expires_at"] = time.time() + 60  # inside the five-minute margin
        row.secret = crypto.encrypt(json.dumps(secret))
        session.add(row)
    before = len(oauth.issued)
    run_sync(account_id)
    assert len(oauth.issued) == before + 1
    stored_secret = json.loads(crypto.decrypt(accounts.user_account(member, account_id).secret))
    assert stored_secret["access_token"] == oauth.issued[-1]["access_token"]


def test_disconnecting_gmail_revokes_the_grant(db, member, oauth, gmail):
    account_id = connect_gmail(member, oauth)
    refresh_token = json.loads(crypto.decrypt(accounts.user_account(member, account_id).secret))["refresh_token"]
    assert accounts.disconnect(member, account_id) == ""
    assert not oauth.is_active(refresh_token)
    assert accounts.list_accounts(member) == []


def test_a_gmail_reply_goes_into_its_thread_once(db, member, oauth, gmail):
    gmail.add_message(subject="Plan", text="Could you review the plan?", sender="Bob <bob@example.com>",
                      to=("ann@example.com",))
    account_id = connect_gmail(member, oauth)
    run_sync(account_id)
    message = stored(account_id)[0]
    view = run_async(replies.draft(member, message.id))
    assert sending.send(member, view.id, "Looks good to me.") == "sending"
    wait_for(lambda: replies.open_draft(member, message.id).status == "sent", timeout=20, what="the send")
    assert len(gmail.sent) == 1
    sent_id = [m for m in gmail.ids("SENT")][0]
    assert gmail.message(sent_id).thread_id == message.thread_id
    run_sync(account_id)  # the sent copy synced back is the same row, not a second one
    assert [m.from_me for m in listing.thread(member, message.id).messages] == [False, True]


def test_outlook_syncs_and_replies_in_the_conversation(db, member, monkeypatch):
    with FakeGraph(mail="ann@contoso.example") as graph, FakeOAuth(
            redirect_uri=REDIRECT.format("outlook")) as oauth:
        endpoints(monkeypatch, microsoft_oauth_url=oauth.url, graph_api_url=graph.url)
        runtime_settings.set_value("microsoft.client_id", oauth.client_id)
        runtime_settings.set_value("microsoft.client_secret", oauth.client_secret)
        graph.add_message("inbox", subject="Quote", text="Can you confirm the quote?",
                          sender=("Bob", "bob@contoso.example"), to=("ann@contoso.example",))
        graph.token_check = oauth.is_active
        callback = consent(connect.begin(member, "outlook", REDIRECT.format("outlook")))
        account_id = connect.finish(member, "outlook", callback)
        run_sync(account_id)
        message = stored(account_id)[0]
        assert (message.subject, message.needs_reply) == ("Quote", True)
        view = run_async(replies.draft(member, message.id))
        sending.send(member, view.id, "Confirmed.")
        wait_for(lambda: replies.open_draft(member, message.id).status == "sent", timeout=20, what="the send")
        assert len(graph.sent) == 1 and graph.sent[0].conversation_id == message.thread_id


@pytest.fixture
def slack(db, monkeypatch) -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        endpoints(monkeypatch, slack_api_url=fake.url)
        runtime_settings.set_value("slack.signing_secret", SIGNING_SECRET)
        yield fake


def test_slack_token_channels_sync_and_a_threaded_reply(db, member, slack):
    general = "C0GENERAL"
    slack.add_channel(general, "general", members=("U0BOB",))
    parent = slack.post(general, "U0BOB", "Deploy is done")
    slack.post(general, "U0BOB", "<@U0ANN> can you check the logs?", thread_ts=parent)
    with pytest.raises(Exception, match="xoxp"):
        accounts.connect_slack_token(member, token="not-a-token")
    account_id = accounts.connect_slack_token(member, token=slack.token)
    names = {c.name for c in accounts.slack_conversations(member, account_id)}
    assert "#general" in names
    accounts.set_channels(member, account_id, [general])
    run_sync(account_id)
    rows = stored(account_id)
    question = next(r for r in rows if "check the logs" in r.snippet)
    assert question.needs_reply and question.needs_reply_reason == "Mentions you"
    view = run_async(replies.draft(member, question.id))
    sending.send(member, view.id, "On it.")
    wait_for(lambda: replies.open_draft(member, question.id).status == "sent", timeout=20, what="the send")
    posted = slack.posted[-1]
    assert (posted.channel, posted.text, posted.thread_ts) == (general, "On it.", parent)


def signed(body: bytes, *, secret: str = SIGNING_SECRET, at: int | None = None) -> dict[str, str]:
    timestamp = str(at if at is not None else int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest}",
            "Content-Type": "application/json"}


def test_the_slack_webhook_verifies_answers_dedupes_and_stores(db, member, slack):
    general = "C0GENERAL"
    slack.add_channel(general, "general", members=("U0BOB",))
    account_id = accounts.connect_slack_token(member, token=slack.token)
    accounts.set_channels(member, account_id, [general])
    client = TestClient(api)
    url = "/api/webhooks/slack"

    challenge = json.dumps({"type": "url_verification", "challenge": "abc123"}).encode()
    assert client.post(url, content=challenge, headers=signed(challenge)).json() == {"challenge": "abc123"}
    assert client.post(url, content=challenge, headers=signed(challenge, secret="wrong")).status_code == 401
    assert client.post(url, content=challenge, headers=signed(challenge, at=int(time.time()) - 600)).status_code == 401
    assert client.post(url, content=challenge).status_code == 401

    event = json.dumps({"type": "event_callback", "team_id": slack.team_id, "event_id": "Ev1",
                        "event": {"type": "message", "channel": general, "user": "U0BOB",
                                  "text": "<@U0ANN> lunch?", "ts": "1763700000.000100"}}).encode()
    before = listing.revision(member)
    first = client.post(url, content=event, headers=signed(event))
    assert first.status_code == 200 and first.json()["stored"] == 1
    again = client.post(url, content=event, headers=signed(event))
    assert again.json()["duplicate"] is True
    assert len(stored(account_id)) == 1 and listing.revision(member) != before
    tampered = event.replace(b"lunch", b"dinner")
    assert client.post(url, content=tampered, headers=signed(event)).status_code == 401


def test_the_oauth_callback_route_needs_the_starting_session(db, member, oauth, gmail):
    client = TestClient(api)
    callback = consent(connect.begin(member, "gmail", REDIRECT.format("gmail")))
    path = callback.split("8000", 1)[1]
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303 and "error=" in response.headers["location"]  # no session: refused
    token, _ = sessions.sign_in("ann@example.com", "correct horse 1")
    again = client.get(path, cookies={sessions.SESSION_COOKIE: token}, follow_redirects=False)
    assert "already+used" in again.headers["location"] or "already%20used" in again.headers["location"]


def test_the_cli_lists_accounts_syncs_and_lists_needs_reply(db, member, slack, capsys, restore_logging):
    general = "C0GENERAL"
    slack.add_channel(general, "general", members=("U0BOB",))
    slack.post(general, "U0BOB", "<@U0ANN> could you approve the PR?")
    slack.post(general, "U0BOB", "thanks all")
    account_id = accounts.connect_slack_token(member, token=slack.token)
    accounts.set_channels(member, account_id, [general])
    assert cli_main(["inbox", "sync", "--user", "ann@example.com", "--wait"]) == 0
    capsys.readouterr()
    assert cli_main(["inbox", "accounts", "--user", "ann@example.com", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(a["kind"], a["status"], a["messages"]) for a in listed] == [("slack", "ready", 2)]
    assert cli_main(["inbox", "list", "--user", "ann@example.com", "--needs-reply", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)["items"]
    assert len(items) == 1 and "could you approve the PR?" in items[0]["subject"]
    assert (items[0]["source"], items[0]["needs_reply"], items[0]["reason"]) == ("slack", True, "Mentions you")
    assert cli_main(["inbox", "sync", "--user", "ann@example.com", "--account", "999"]) == 2


def test_add_to_slack_installs_with_the_users_token(db, member, make_user, slack):
    from urllib.parse import parse_qs, urlsplit

    redirect = REDIRECT.format("slack")
    with pytest.raises(Exception, match="client ID"):
        connect.begin(member, "slack", redirect)  # the admin has not registered the Slack app yet
    runtime_settings.set_value("slack.client_id", slack.client_id)
    runtime_settings.set_value("slack.client_secret", slack.client_secret)
    url = connect.begin(member, "slack", redirect)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith("https://slack.com/oauth/v2/authorize?") and "chat:write" in query["user_scope"][0]
    state = query["state"][0]
    with pytest.raises(IntegrationAuthError, match="declined"):
        connect.finish(member, "slack", f"{redirect}?error=access_denied&state={state}")
    state = parse_qs(urlsplit(connect.begin(member, "slack", redirect)).query)["state"][0]
    code = slack.issue_code(redirect)
    account_id = connect.finish(member, "slack", f"{redirect}?code={code}&state={state}")
    row = accounts.user_account(member, account_id)
    assert json.loads(crypto.decrypt(row.secret)) == {"token": slack.token}  # the user's, not the bot's
    assert json.loads(row.config_json)["team_id"] == slack.team_id
