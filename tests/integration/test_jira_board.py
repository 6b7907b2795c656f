"""The JIRA board's flows through the real `jira` client and the fake JIRA (Server and Cloud):
connecting, full then incremental sync, filters and JQL errors, the board's columns and quick
filters, drag to transition, comment drafts posted once, learned style and workflow, tracked
tickets with notifications (and a Slack DM), ticket creation, "describe it" and breakdown."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import select

from services.auth import users
from services.auth.errors import AccessDenied, ValidationError
from services.cli.commands import main as cli_main
from services.db import engine, migrate, session_scope
from services.db.models import JiraConnection, JiraFilter, Notification
from services.inbox import accounts
from services.integrations.base import IntegrationAuthError, IntegrationUncertain
from services.integrations.tickets import JqlError
from services.jira import board, breakdown, comments, connection, create, styles, tickets, tracking
from services.settings import reset_settings_cache
from tests.fakes.jira_server import FakeJira
from tests.fakes.llm_providers import ok
from tests.fakes.slack_server import FakeSlack
from tests.jira_support import connect, fake_jira, run_sync
from tests.llm_support import add_provider, run_async

pytestmark = pytest.mark.integration


@pytest.fixture
def member(make_user):
    return make_user("ann@example.com")


@pytest.fixture(params=["Server", "Cloud"])
def jira(request, db) -> Iterator[FakeJira]:
    with fake_jira(request.param) as fake:
        yield fake


@pytest.fixture
def server(db) -> Iterator[FakeJira]:
    with fake_jira("Server") as fake:
        yield fake


def _board_keys(user, filter_id: int) -> dict[str, list[str]]:
    found = board.board(user, filter_id)
    return {column.title: [card.key for card in column.cards] for column in found.columns}


def _first_filter(user) -> int:
    return board.filters(user)[0].id


def test_connect_stores_the_token_encrypted_and_adds_the_default_filter(jira, member):
    connection_id = connect(member, jira)
    view = connection.get(member)
    assert view is not None and view.id == connection_id
    assert view.deployment == ("cloud" if jira.cloud else "server")
    assert view.account_name == "Ann Example"
    assert view.auth == ("e-mail + API token" if jira.cloud else "personal access token")
    with session_scope() as session:
        row = session.get(JiraConnection, connection_id)
        assert row is not None
        secret = jira.api_token if jira.cloud else jira.token
        assert secret not in row.secret and secret not in row.fields_json
    assert [(f.name, f.jql) for f in board.filters(member)] == [
        ("My open tickets", "assignee = currentUser() AND statusCategory != Done ORDER BY updated DESC")]
    server_info, me = connection.check(member)
    assert me.name == "Ann Example" and server_info.deployment == view.deployment


def test_refused_credentials_save_nothing(server, member):
    with pytest.raises(IntegrationAuthError):
        connection.connect(member, url=server.url, token="not-the-token")
    assert connection.get(member) is None
    with pytest.raises(ValidationError):
        connection.connect(member, url="ftp://jira.example.com", token="x")
    with pytest.raises(ValidationError):
        connection.connect(member, url=server.url, token="  ")


def test_full_then_incremental_sync_follows_changes_and_departures(jira, member):
    mine = [jira.add_issue("ABC", f"Mine {n}", assignee="ann", comments=["First look"] if n % 3 == 0 else ())
            for n in range(120)]
    jira.add_issue("ABC", "Bob's", assignee="bob")
    jira.add_issue("ABC", "Closed already", assignee="ann", status="Done")
    connection_id = connect(member, jira)
    jira.clear_requests()
    result = run_sync(connection_id)
    assert result["filters"][0]["full"] is True and result["filters"][0]["seen"] == 120
    filter_id = _first_filter(member)
    assert sorted(_board_keys(member, filter_id)["To Do"]) == sorted(mine)
    full_searches = len([r for r in jira.requests if "/search" in r.path])
    assert full_searches >= 3  # 120 tickets at JIRA's 50 per page

    jira.advance(600)  # beyond the window the next sync asks for (the minutes since the last one + skew)
    jira.add_comment(mine[5], "Any news?", author="bob")
    jira.set_status(mine[7], "Done", author="bob")  # closed in JIRA itself: leaves the board
    jira.clear_requests()
    result = run_sync(connection_id)
    assert result["filters"][0] == {"filter": "My open tickets", "full": False, "seen": 1, "left": 1}
    searches = [r for r in jira.requests if "/search" in r.path]
    assert len(searches) == 2  # the filter's window, and the board's own keys in that window
    keys = _board_keys(member, filter_id)
    assert mine[7] not in keys["To Do"] and mine[5] in keys["To Do"]
    assert board.filters(member)[0].tickets == 119


def test_a_filter_jira_rejects_keeps_jira_s_words_and_the_others_sync(server, member):
    server.add_issue("ABC", "One", assignee="ann")
    connection_id = connect(member, server)
    with pytest.raises(JqlError, match="Error in the JQL Query|does not exist"):
        board.save_filter(member, name="Broken", query="project = ABC AND (")
    with pytest.raises(JqlError, match="does not exist"):
        board.save_filter(member, name="Nope", query="flavour = sweet")
    with session_scope() as session:
        session.add(JiraFilter(connection_id=connection_id, name="Stale", jql="project = GONE", position=5))
    result = run_sync(connection_id)
    errors = {r["filter"]: r.get("error", "") for r in result["filters"]}
    assert errors["My open tickets"] == ""
    assert "GONE" in errors["Stale"]
    stale = next(f for f in board.filters(member) if f.name == "Stale")
    assert "GONE" in stale.error


def test_board_columns_group_by_category_with_search_and_quick_filters(server, member):
    bug = server.add_issue("ABC", "Login crashes", type="Bug", assignee="ann", priority="High")
    story = server.add_issue("ABC", "Export to CSV", type="Story", assignee="ann", story_points=3)
    started = server.add_issue("ABC", "Refactor auth", assignee="ann")
    server.set_status(started, "In Progress")
    connection_id = connect(member, server)
    run_sync(connection_id)
    filter_id = _first_filter(member)
    found = board.board(member, filter_id)
    assert [(c.id, c.category) for c in found.columns] == [
        ("status:To Do", "new"), ("status:In Progress", "indeterminate"), ("category:done", "done")]
    assert sorted(found.types) == ["Bug", "Story", "Task"]
    points = {card.key: card.story_points for column in found.columns for card in column.cards}
    assert points[story] == 3
    assert board.board(member, filter_id, search="csv").shown == 1
    assert board.board(member, filter_id, search=bug.lower()).shown == 1
    quick = board.board(member, filter_id, quick=board.QuickFilters(issue_type="Bug"))
    assert [card.key for column in quick.columns for card in column.cards] == [bug]
    assert board.board(member, filter_id, quick=board.QuickFilters(priority="High")).shown == 1


def test_another_user_cannot_read_or_change_a_board(server, member, make_user):
    connect(member, server)
    filter_id = _first_filter(member)
    other = make_user("eve@example.com")
    with pytest.raises(ValidationError):  # no connection of their own
        board.board(other, filter_id)
    connect(other, server)
    with pytest.raises(AccessDenied):
        board.board(other, filter_id)
    with pytest.raises(AccessDenied):
        board.delete_filter(other, filter_id)


def test_a_drop_takes_the_matching_transition_or_explains_why_not(jira, member):
    key = jira.add_issue("ABC", "Move me", assignee="ann")
    connection_id = connect(member, jira)
    run_sync(connection_id)
    jira.clear_requests()
    moved = tickets.move(member, key, "status:In Progress")
    assert moved.moved and jira.issue(key).status == "In Progress"
    posts = jira.requests_to(f"/issue/{key}/transitions", "POST")
    assert [str(r.body["transition"]["id"]) for r in posts] == ["11"]
    assert _board_keys(member, _first_filter(member))["In Progress"] == [key]

    refused = tickets.move(member, key, "category:done")
    assert not refused.moved
    assert "no transition" in refused.message and "In Review" in refused.message and "To Do" in refused.message
    assert jira.issue(key).status == "In Progress"
    assert tickets.move(member, key, "status:In Progress").message == f"{key} is already in In Progress."


def test_comment_drafted_in_the_users_style_and_posted_once(server, member, fake_llm):
    key = server.add_issue("ABC", "Flaky upload", assignee="ann", description="Uploads fail over 10 MB.")
    other = server.add_issue("ABC", "Earlier work", assignee="ann")
    server.add_comment(other, "*Update:* fixed in {{upload.py}}\n* added a retry\n* added a test", author="ann")
    server.add_comment(key, "Still failing for me on 12 MB files.", author="bob")
    connection_id = connect(member, server)
    run_sync(connection_id)
    assert styles.profile(connection_id) != styles.profile(-1)  # learned from Ann's own comment

    add_provider(fake_llm, "primary", "openai", "jira-m1", input_price="1", output_price="2")
    fake_llm.script("jira-m1", ok(text="*Update:* looking at the 10 MB limit\n* next: [version]"))
    detail = tickets.detail(member, key)
    view = run_async(comments.draft(member, detail, next_step="moving it to In Progress"))
    assert view.status == "draft" and view.text.startswith("*Update:*")
    prompt = "\n".join(m["content"] for m in fake_llm.requests[-1].body["messages"])
    assert "Still failing for me on 12 MB files." in prompt  # the ticket's comments, as data
    assert "added a retry" in prompt  # the user's own comment as a style example
    assert "moving it to In Progress" in prompt

    edited = view.text + "\nThanks Bob."
    posted = comments.post(member, key, edited)
    assert posted.status == "posted"
    again = comments.post(member, key, edited)  # a second click
    assert again.status == "posted"
    comments.save_text(member, key, edited)  # the editor's late echo of the posted text
    assert comments.open_draft(member, key).status == "posted"
    assert comments.post(member, key, edited).status == "posted"
    bodies = [c.body for c in server.issue(key).comments]
    assert bodies.count(edited) == 1
    comments.save_text(member, key, "Next update: deployed.")  # a new comment starts after a post
    assert comments.open_draft(member, key).status == "draft"


def test_posting_survives_a_failure_after_jira_received_the_comment(server, member):
    key = server.add_issue("ABC", "Ticket", assignee="ann")
    connect(member, server)
    server.fail(500, path_contains=f"/issue/{key}/comment", method="POST", times=1)
    refused = comments.post(member, key, "Looking into it.")
    assert refused.status == "failed" and "does not have it" in refused.error
    assert server.issue(key).comments == []

    server.add_comment(key, "Looking into it.", author="ann")  # JIRA stored it, then failed
    server.fail(502, path_contains=f"/issue/{key}/comment", method="POST", times=1)
    arrived = comments.post(member, key, "Looking into it.")
    assert arrived.status == "posted" and arrived.comment_id == server.issue(key).comments[0].id
    with pytest.raises(ValidationError):
        comments.post(member, key, "   ")


def test_an_unclear_post_is_not_repeated_until_the_user_posts_again(server, member):
    key = server.add_issue("ABC", "Ticket", assignee="ann")
    connect(member, server)
    server.fail(500, path_contains=f"/issue/{key}/comment", method="POST", times=1)
    server.fail(401, path_contains=f"/issue/{key}", method="GET", times=1)  # and it cannot be looked up
    with pytest.raises(IntegrationUncertain):
        comments.post(member, key, "Deployed.")
    unclear = comments.open_draft(member, key)
    assert unclear.status == "unknown" and "look at the ticket" in unclear.error
    assert server.issue(key).comments == []
    assert comments.post(member, key, "Deployed.").status == "posted"  # the user's explicit second click
    assert [c.body for c in server.issue(key).comments] == ["Deployed."]


def test_workflow_is_learned_from_changelogs_and_suggests_the_next_step(server, member):
    for n in range(4):
        key = server.add_issue("ABC", f"Done {n}", assignee="ann")
        for status in ("In Progress", "In Review", "Done"):
            server.set_status(key, status)
    current = server.add_issue("ABC", "Now", assignee="ann")
    server.set_status(current, "In Progress")
    connection_id = connect(member, server)
    run_sync(connection_id)
    with session_scope() as session:  # the Done ones are outside the default filter: sync them too
        session.add(JiraFilter(connection_id=connection_id, name="All", jql="project = ABC"))
    run_sync(connection_id)
    rows = {(r.from_status, r.to_status): r.count for r in tickets.workflow_table(member, "Task")}
    assert rows[("In Progress", "In Review")] == 4 and rows[("To Do", "In Progress")] == 5
    suggested = tickets.suggestion(member, tickets.detail(member, current))
    assert suggested is not None and suggested.to.name == "In Review"


def test_tracked_tickets_notify_about_others_changes_and_dm_on_slack(server, member, monkeypatch):
    key = server.add_issue("ABC", "Watch me", assignee="ann")
    connection_id = connect(member, server)
    with FakeSlack() as slack:
        monkeypatch.setenv("LLMCODER_SLACK_API_URL", slack.url)
        reset_settings_cache()
        accounts.save_slack(member.id, token=slack.token, channels=[])
        tracking.track(member, key)
        assert [t.key for t in tracking.tracked(member)] == [key]
        server.advance(60)
        server.add_comment(key, "I own this now", author="bob")
        server.set_status(key, "In Progress", author="bob")
        server.add_comment(key, "My own note", author="ann")
        assert tracking.check(connection_id)["notified"] == 2
        with session_scope() as session:
            titles = sorted(n.title for n in session.exec(select(Notification).where(
                Notification.user_id == member.id)))
        assert titles == [f"1 new comment on {key}", f"{key} moved to In Progress"]
        dms = [m.text for m in slack.posted]
        assert len(dms) == 2 and any("I own this now" in text for text in dms)
        assert tracking.check(connection_id)["notified"] == 0  # nothing new since
    tracking.untrack(member, key)
    assert tracking.tracked(member) == []


def test_scheduler_submits_one_tracking_check_per_due_connection(server, member):
    key = server.add_issue("ABC", "Watch me", assignee="ann")
    connect(member, server)
    tracking.track(member, key)
    now = tracking.utcnow()
    assert tracking.submit_due(now) == 1
    assert tracking.submit_due(now) == 0  # claimed
    assert tracking.submit_due(now + timedelta(minutes=6)) == 1


def test_create_form_comes_from_jira_and_creates_the_ticket(jira, member):
    connect(member, jira)
    types = {t.name: t for t in create.issue_types(member, "ABC")}
    assert list(types) == ["Task", "Story", "Bug", "Epic", "Sub-task"]
    fields = create.form(member, "ABC", types["Story"].id)
    assert [f.id for f in fields][:3] == ["summary", "description", "priority"]
    points = next(f for f in fields if f.name == "Story Points")
    assert points.kind == "number"
    with pytest.raises(ValidationError, match="Summary"):
        create.create(member, "ABC", types["Story"].id, {"summary": " "})
    with pytest.raises(ValidationError, match="number"):
        create.create(member, "ABC", types["Story"].id, {"summary": "x", points.id: "three"})
    ticket = create.create(member, "ABC", types["Story"].id, {"summary": "Export to CSV", "description": "As a user",
                                                              "priority": "High", points.id: "5"})
    stored = jira.issue(ticket.key)
    assert (stored.summary, stored.type, stored.priority, stored.story_points) == ("Export to CSV", "Story", "High",
                                                                                 5)


def test_describe_it_fills_the_form_and_asks_for_what_is_missing(server, member, fake_llm):
    connect(member, server)
    types = {t.name: t for t in create.issue_types(member, "ABC")}
    fields = create.form(member, "ABC", types["Bug"].id)
    add_provider(fake_llm, "primary", "openai", "jira-m1")
    fake_llm.script("jira-m1", ok(text='Here you go: {"fields": {"summary": "CSV export drops rows", '
                                       '"priority": "Urgent!", "description": "h3. Steps\\n* export"}, '
                                       '"questions": ["Which version?"]}'))
    found = run_async(create.interpret(member, "ABC", "Bug", fields, "csv export loses rows with commas"))
    assert found.values["summary"] == "CSV export drops rows"
    assert "priority" not in found.values  # not one of JIRA's priorities
    assert found.questions == ("Which version?",)
    fake_llm.script("jira-m1", ok(text="no json here"))
    with pytest.raises(ValidationError, match="could not be read"):
        run_async(create.interpret(member, "ABC", "Bug", fields, "again"))


def test_breakdown_creates_linked_children(jira, member, fake_llm):
    epic = jira.add_issue("ABC", "Reporting", type="Epic", description="* CSV export\n* PDF export")
    task = jira.add_issue("ABC", "Importer", description="Split me")
    connect(member, jira)
    add_provider(fake_llm, "primary", "openai", "jira-m1")
    fake_llm.script("jira-m1", ok(text='[{"summary": "Build CSV export", "description": "done when tested"},'
                                       ' {"summary": "Build PDF export"}]'))
    proposal = run_async(breakdown.propose(member, epic))
    assert proposal.child_kind == "stories" and proposal.child_type == "Story"
    assert [c.summary for c in proposal.children] == ["Build CSV export", "Build PDF export"]
    created = breakdown.create_children(member, epic, list(proposal.children))
    assert created.error == "" and len(created.keys) == 2
    for key in created.keys:
        child = jira.issue(key)
        assert child.type == "Story"
        assert (child.parent if jira.cloud else child.epic) == epic

    subtasks = breakdown.create_children(member, task, [breakdown.Child("Parse the header")])
    child = jira.issue(subtasks.keys[0])
    assert child.type == "Sub-task" and child.parent == task


def test_breakdown_without_a_model_uses_the_description_s_own_list(server, member, fake_llm):
    epic = server.add_issue("ABC", "Reporting", type="Epic", description="Plan:\n* CSV export\n# PDF export")
    connect(member, server)  # no provider: the fallback answers
    proposal = run_async(breakdown.propose(member, epic))
    assert [c.summary for c in proposal.children] == ["CSV export", "PDF export"]


def test_cli_connect_sync_and_issues(server, member, capsys, restore_logging):
    server.add_issue("ABC", "From the CLI", assignee="ann")
    assert cli_main(["jira", "connect", "--url", server.url, "--token", server.token,
                     "--user", member.email]) == 0
    assert "Connected to" in capsys.readouterr().out
    assert cli_main(["jira", "sync", "--wait", "--user", member.email]) == 0
    capsys.readouterr()
    assert cli_main(["jira", "issues", "--json", "--user", member.email]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["summary"] for r in rows] == ["From the CLI"]
    assert cli_main(["jira", "issues", "--jql", "project = ABC AND (", "--user", member.email]) == 2
    assert "JQL" in capsys.readouterr().err


def test_sync_board_move_and_post_on_postgresql(data_dir, monkeypatch, pg_url):
    monkeypatch.setenv("DATABASE_URL", pg_url)
    reset_settings_cache()
    engine.reset_engine()
    migrate.upgrade()
    member = users.create_user(email="ann@example.com", password="correct horse 1", role="member")
    with fake_jira("Server") as fake:
        keys = [fake.add_issue("ABC", f"Ticket {n}", assignee="ann", comments=["Mine"]) for n in range(60)]
        fake.set_status(keys[0], "In Progress")
        connection_id = connect(member, fake)
        run_sync(connection_id)
        run_sync(connection_id)  # the same pages again change nothing
        filter_id = _first_filter(member)
        assert len(_board_keys(member, filter_id)["To Do"]) == 59
        assert tickets.move(member, keys[1], "status:In Progress").moved
        assert sorted(_board_keys(member, filter_id)["In Progress"]) == sorted(keys[:2])
        assert comments.post(member, keys[1], "On it.").status == "posted"
        assert styles.learn(connection_id) == 0  # all 60 of Ann's comments were learned by the syncs
        rows = {(r.from_status, r.to_status): r.count for r in tickets.workflow_table(member)}
        assert rows[("To Do", "In Progress")] == 2
