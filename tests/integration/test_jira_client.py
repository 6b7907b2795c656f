"""The real `jira` library, through JiraTracker, against the fake JIRA (Server and Cloud)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services import redaction
from services.integrations.base import (
    IntegrationAuthError,
    IntegrationError,
    IntegrationRateLimited,
    IntegrationUncertain,
)
from services.integrations.jira.client import JiraTracker
from services.integrations.tickets import JqlError, NewTicket, TicketNotFound, TrackerRefused
from tests.fakes.jira_server import FakeJira, FakeTransition
from tests.fakes.llm_providers import refused_url

STORY, TASK, SUBTASK, EPIC = "10001", "10002", "10004", "10000"
TICKET_FIELDS = {"project", "summary", "status", "issuetype", "priority", "assignee", "reporter", "created",
                 "updated", "description", "parent", "labels", "customfield_10016"}


@pytest.fixture(params=["Server", "Cloud"])
def deployment(request) -> str:
    return request.param


@pytest.fixture
def fake(deployment) -> Iterator[FakeJira]:
    with FakeJira(deployment) as server:
        server.add_project("ENG", "Engineering")
        yield server


@pytest.fixture
def server_fake() -> Iterator[FakeJira]:
    with FakeJira("Server") as server:
        server.add_project("ENG", "Engineering")
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    """What the client asked to sleep; nothing really waits."""
    return []


def connect(fake: FakeJira, sleeps: list[float], **options) -> JiraTracker:
    """Signed in the way each deployment is used: a PAT on Server, e-mail + API token on Cloud."""
    credentials = {"email": fake.email, "api_token": fake.api_token} if fake.cloud else {"token": fake.token}
    return JiraTracker(fake.url, **{"sleep": sleeps.append, "max_wait": 30, **credentials, **options})


@pytest.fixture
def tracker(fake, sleeps) -> JiraTracker:
    return connect(fake, sleeps)


@pytest.fixture
def server_tracker(server_fake, sleeps) -> JiraTracker:
    return connect(server_fake, sleeps)


def search_keys(tracker: JiraTracker, jql: str, **options) -> list[list[str]]:
    """The keys of each page the search yields."""
    return [[ticket.key for ticket in page.tickets] for page in tracker.search(jql, **options)]


def asked_fields(fake: FakeJira, path_suffix: str) -> set[str]:
    query = fake.requests_to(path_suffix)[-1].query
    return {name for value in query["fields"] for name in value.split(",")}


def secret_free(exc: BaseException, secret: str) -> bool:
    """The secret is in no message of the exception or of what it was raised from."""
    chain: BaseException | None = exc
    while chain is not None:
        if secret in str(chain) or secret in repr(chain.args):
            return False
        chain = chain.__cause__ or chain.__context__
    return True


# -- connecting -----------------------------------------------------------------------------------


def test_connecting_detects_the_deployment_from_server_info(fake, tracker):
    server = tracker.server()
    assert server.deployment == fake.deployment.lower()
    assert (server.version, server.title) == (("1001.0.0-SNAPSHOT", "Jira") if fake.cloud else ("9.12.2", "JIRA"))
    assert server.base_url == fake.url
    assert tracker.cloud is fake.cloud
    assert {r.path for r in fake.requests} == {"/rest/api/2/serverInfo"}
    assert {r.auth for r in fake.requests} == {"basic" if fake.cloud else "bearer"}


def test_myself_is_the_signed_in_user_with_the_deployments_id(fake, tracker):
    me = tracker.myself()
    assert (me.id, me.name, me.email) == (fake.user("ann").id, "Ann Example", "ann@example.com")
    assert me.id == ("5b10ac8d82e05b22cc7d4e00" if fake.cloud else "ann")


def test_server_also_takes_an_email_address_and_api_token(server_fake, sleeps):
    tracker = JiraTracker(server_fake.url, email=server_fake.email, api_token=server_fake.api_token,
                          sleep=sleeps.append)
    assert tracker.myself().id == "ann"
    assert {r.auth for r in server_fake.requests} == {"basic"}


def test_a_jira_under_a_context_path_is_reached_with_it(sleeps):
    with FakeJira(context="/jira") as fake:
        tracker = JiraTracker(fake.url + "/", token=fake.token, sleep=sleeps.append)
        assert tracker.url == fake.origin + "/jira"
        assert tracker.myself().id == "ann"
        assert all(r.path.startswith("/jira/rest/api/2/") for r in fake.requests)


def test_refused_credentials_are_an_auth_error_that_shows_no_secret(fake, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-secret-value-123"
    credentials = {"email": fake.email, "api_token": wrong} if fake.cloud else {"token": wrong}
    with pytest.raises(IntegrationAuthError, match="JIRA refused the credentials: HTTP 401") as raised:
        JiraTracker(fake.url, sleep=sleeps.append, **credentials)
    assert ("e-mail address and API token" if fake.cloud else "personal access token") in str(raised.value)
    assert secret_free(raised.value, wrong)
    assert wrong not in caplog.text
    assert sleeps == []


def test_cloud_refuses_a_personal_access_token(sleeps):
    with FakeJira("Cloud") as fake, pytest.raises(IntegrationAuthError):
        JiraTracker(fake.url, token=fake.token, sleep=sleeps.append)


def test_403_is_an_auth_error(fake, tracker):
    fake.fail(403, path_contains="/myself", body='{"errorMessages": ["CAPTCHA_CHALLENGE"], "errors": {}}')
    with pytest.raises(IntegrationAuthError, match="HTTP 403 .*JIRA says: CAPTCHA_CHALLENGE"):
        tracker.myself()


def test_the_token_is_registered_for_redaction_and_never_logged(fake, tracker, caplog):
    caplog.set_level(logging.DEBUG)
    fake.add_issue("ENG", "Logged?")
    list(tracker.search("project = ENG"))
    secret = fake.api_token if fake.cloud else fake.token
    assert caplog.records  # requests and urllib3 did log
    assert secret not in caplog.text
    assert redaction.redact(f"token {secret}") == f"token {redaction.MASK}"


def test_an_unreachable_url_says_so(sleeps):
    url = refused_url()
    with pytest.raises(IntegrationError, match=f"Could not reach JIRA at {url}: the connection was refused"):
        JiraTracker(url, token="a-token-value", sleep=sleeps.append)


def test_a_url_without_jira_behind_it_says_it_is_not_jira(sleeps):
    with FakeJira(context="/jira") as fake:  # JIRA lives under /jira; the site root is a plain web server
        with pytest.raises(IntegrationError, match="does not look like JIRA"):
            JiraTracker(fake.origin, token=fake.token, sleep=sleeps.append)


def test_a_login_page_instead_of_server_info_is_an_integration_error(server_fake, sleeps):
    server_fake.fail(200, path_contains="/serverInfo", body="<html><body>Sign in with SSO</body></html>",
                     content_type="text/html")
    with pytest.raises(IntegrationError, match="did not answer with JSON"):
        JiraTracker(server_fake.url, token=server_fake.token, sleep=sleeps.append)


@pytest.mark.parametrize("url", ["jira.example.com", "ftp://jira.example.com", "https://ann:pw@jira.example.com"])
def test_a_malformed_url_is_refused_before_any_request(url):
    with pytest.raises(IntegrationError, match="JIRA"):
        JiraTracker(url, token="a-token-value")


def test_credentials_are_required():
    with pytest.raises(IntegrationError, match="personal access token, or an e-mail address"):
        JiraTracker("https://jira.example.com", email="ann@example.com")


# -- searching ------------------------------------------------------------------------------------


def test_server_search_pages_by_the_servers_cap_not_the_page_size_asked(sleeps):
    with FakeJira(max_results=4) as fake:
        fake.add_project("ENG", "Engineering")
        keys = [fake.add_issue("ENG", f"Issue {n}") for n in range(10)]
        fake.add_issue("ENG", "Elsewhere", status="Done")
        tracker = connect(fake, sleeps)
        pages = list(tracker.search("project = ENG AND statusCategory != Done ORDER BY key", page_size=6))
        assert [[t.key for t in page.tickets] for page in pages] == [keys[:4], keys[4:8], keys[8:]]
        assert [page.total for page in pages] == [10, 10, 10]
        searches = fake.requests_to("/rest/api/2/search")
        assert [(r.query["startAt"], r.query["maxResults"]) for r in searches] == [
            (["0"], ["6"]), (["4"], ["6"]), (["8"], ["6"])]


def test_cloud_search_follows_next_page_tokens_without_a_total(sleeps):
    with FakeJira("Cloud", max_results=4) as fake:
        fake.add_project("ENG", "Engineering")
        keys = [fake.add_issue("ENG", f"Issue {n}") for n in range(10)]
        tracker = connect(fake, sleeps)
        pages = list(tracker.search("project = ENG ORDER BY key DESC", page_size=100))
        assert [[t.key for t in page.tickets] for page in pages] == [keys[:5:-1], keys[5:1:-1], keys[1::-1]]
        assert {page.total for page in pages} == {None}
        searches = fake.requests_to("/rest/api/2/search/jql")
        assert len(searches) == 3
        assert "nextPageToken" not in searches[0].query
        assert all("nextPageToken" in r.query for r in searches[1:])
        assert fake.requests_to("/rest/api/2/search") == []  # the removed endpoint is never asked


def test_an_empty_result_is_one_empty_page(tracker):
    pages = list(tracker.search("project = ENG"))
    assert [page.tickets for page in pages] == [()]


def test_search_asks_only_for_the_fields_a_ticket_needs(fake, tracker):
    epic = fake.add_issue("ENG", "Reporting", type="Epic")
    story = fake.add_issue("ENG", "Export", type="Story", status="In Progress", assignee="bob", priority="High",
                           labels=["csv"], story_points=3, parent=epic, description="As a user *I want* a CSV",
                           comments=["hidden unless asked"])

    [page] = list(tracker.search(f"key = {story}"))

    expected = TICKET_FIELDS | ({"customfield_10014"} if not fake.cloud else set())
    path = "/search/jql" if fake.cloud else "/search"
    assert asked_fields(fake, path) == expected
    assert "expand" not in fake.requests_to(path)[-1].query
    [ticket] = page.tickets
    assert (ticket.key, ticket.project, ticket.type, ticket.subtask) == (story, "ENG", "Story", False)
    assert (ticket.status.name, ticket.status.category) == ("In Progress", "indeterminate")
    assert (ticket.assignee, ticket.assignee_id) == ("Bob Builder", fake.user("bob").id)
    assert (ticket.reporter, ticket.priority, ticket.labels) == ("Ann Example", "High", ("csv",))
    assert ticket.story_points == 3.0
    assert ticket.description == "As a user *I want* a CSV"
    assert (ticket.parent, ticket.epic) == ((epic, "") if fake.cloud else ("", epic))
    assert ticket.url == f"{fake.url}/browse/{story}"
    assert ticket.created == ticket.updated == datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert (ticket.comments, ticket.comment_total, ticket.status_changes) == ((), 0, ())


def test_search_with_comments_and_changelog_carries_them(fake, tracker):
    key = fake.add_issue("ENG", "Busy", comments=["first", "second"])
    fake.advance(60)
    fake.set_status(key, "In Progress", author="bob")
    fake.advance(60)
    fake.set_status(key, "In Review")

    [page] = list(tracker.search("project = ENG", comments=True, changelog=True))

    path = "/search/jql" if fake.cloud else "/search"
    assert "comment" in asked_fields(fake, path)
    assert fake.requests_to(path)[-1].query["expand"] == ["changelog"]
    [ticket] = page.tickets
    assert [c.body for c in ticket.comments] == ["first", "second"] and ticket.comment_total == 2
    assert [(c.author, c.from_status, c.to_status) for c in ticket.status_changes] == [
        ("Bob Builder", "To Do", "In Progress"), ("Ann Example", "In Progress", "In Review")]
    assert ticket.status_changes[1].at - ticket.status_changes[0].at == timedelta(minutes=1)


def test_times_in_another_zone_are_the_same_instants(sleeps):
    with FakeJira("Cloud", timezone=ZoneInfo("America/New_York")) as fake:
        fake.add_project("ENG", "Engineering")
        fake.add_issue("ENG", "Zoned", updated=datetime(2026, 11, 21, 9, 30, tzinfo=UTC))
        [page] = list(connect(fake, sleeps).search("project = ENG"))
        assert page.tickets[0].updated == datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
        assert page.tickets[0].updated.utcoffset() == timedelta(hours=-5)


def test_field_metadata_is_read_once_per_client(fake, tracker):
    fake.add_issue("ENG", "One")
    list(tracker.search("project = ENG"))
    reads = len(fake.requests_to("/rest/api/2/field"))
    list(tracker.search("project = ENG"))
    tracker.detail("ENG-1")
    assert len(fake.requests_to("/rest/api/2/field")) == reads


@pytest.mark.parametrize(("jql", "message"), [
    ("project ENG", "Error in the JQL Query: Expecting operator but got 'ENG'. The valid operators are '=', '!=', "
                    "'<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'. (line 1, character 9)"),
    ("sprint = 5", "Field 'sprint' does not exist or you do not have permission to view it."),
    ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
])
def test_a_refused_query_is_a_jql_error_in_jiras_words(fake, tracker, sleeps, jql, message):
    with pytest.raises(JqlError) as refused:
        list(tracker.search(jql))
    assert str(refused.value) == message
    assert len(fake.requests_to("/search/jql" if fake.cloud else "/search")) == 1
    assert sleeps == []


# -- waiting and failing --------------------------------------------------------------------------


def test_429_on_search_waits_for_retry_after_then_succeeds(fake, tracker, sleeps):
    fake.add_issue("ENG", "Wanted")
    fake.fail(429, retry_after=7, path_contains="/search")
    assert search_keys(tracker, "project = ENG") == [["ENG-1"]]
    assert sleeps == [7.0]
    assert len(fake.requests_to("/search/jql" if fake.cloud else "/search")) == 2


def test_429_forever_ends_in_rate_limited_with_the_last_hint(fake, sleeps):
    tracker = connect(fake, sleeps, max_wait=10)
    fake.fail(429, times=None, retry_after=3, path_contains="/search")
    with pytest.raises(IntegrationRateLimited) as raised:
        list(tracker.search("project = ENG"))
    assert sleeps == [3.0, 3.0, 3.0]
    assert raised.value.retry_after == 3.0


def test_a_request_budget_is_waited_out_on_the_servers_clock(sleeps):
    with FakeJira(rate_limit=2, rate_window=10) as fake:
        fake.add_project("ENG", "Engineering")
        fake.add_issue("ENG", "Wanted")

        def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            fake.advance(seconds)

        tracker = JiraTracker(fake.url, token=fake.token, sleep=sleep)  # serverInfo twice: the budget is spent
        # our field metadata: 429, wait; then the library's field list and the search: 429, wait; the search
        assert search_keys(tracker, "project = ENG") == [["ENG-1"]]
        assert sleeps == [10.0, 10.0]
        assert [r.path.rsplit("/", 1)[1] for r in fake.requests] == [
            "serverInfo", "serverInfo", "field", "field", "field", "search", "search"]


def test_500_on_a_read_is_retried(fake, tracker, sleeps):
    key = fake.add_issue("ENG", "Flaky")
    fake.fail(500, path_contains=f"/issue/{key}")
    assert tracker.detail(key).ticket.summary == "Flaky"
    assert sleeps == [1.0]


def test_a_read_failing_for_good_is_an_integration_error(fake, tracker, sleeps):
    fake.fail(503, times=None, path_contains="/project")
    with pytest.raises(IntegrationError, match=r"JIRA kept failing \(HTTP 503\)") as raised:
        tracker.projects()
    assert not isinstance(raised.value, IntegrationRateLimited)
    assert sleeps == [1.0, 2.0, 4.0, 8.0]


def test_500_on_add_comment_is_uncertain_and_not_repeated(fake, tracker, sleeps):
    key = fake.add_issue("ENG", "Ticket")
    fake.fail(500, path_contains="/comment", method="POST")
    with pytest.raises(IntegrationUncertain, match="may have been saved"):
        tracker.add_comment(key, "Looking into it.")
    assert len(fake.requests_to(f"/issue/{key}/comment", "POST")) == 1
    assert sleeps == []


def test_429_on_add_comment_is_retried_and_posts_once(fake, tracker, sleeps):
    key = fake.add_issue("ENG", "Ticket")
    fake.fail(429, retry_after=2, path_contains="/comment", method="POST")
    posted = tracker.add_comment(key, "Looking into it.")
    assert [(c.id, c.body) for c in fake.issue(key).comments] == [(posted.id, "Looking into it.")]
    assert (posted.author, posted.author_id) == ("Ann Example", fake.user("ann").id)
    assert sleeps == [2.0]
    assert len(fake.requests_to(f"/issue/{key}/comment", "POST")) == 2


def test_a_comment_post_that_times_out_is_uncertain(server_fake, sleeps):
    key = server_fake.add_issue("ENG", "Ticket")
    tracker = connect(server_fake, sleeps, timeout=0.5)
    server_fake.fail(201, path_contains="/comment", method="POST", delay=1.5)
    with pytest.raises(IntegrationUncertain, match="did not answer in time"):
        tracker.add_comment(key, "Slow")


def test_a_missing_issue_is_ticket_not_found(tracker):
    for call in (tracker.detail, tracker.comments, tracker.transitions):
        with pytest.raises(TicketNotFound, match="ENG-404"):
            call("ENG-404")
    with pytest.raises(TicketNotFound):
        tracker.add_comment("ENG-404", "Hello?")


# -- the ticket drawer ----------------------------------------------------------------------------


def test_detail_has_the_rendering_every_comment_the_history_and_the_transitions(deployment, sleeps):
    with FakeJira(deployment, embedded_comments=2, page_limit=2) as fake:
        fake.add_project("ENG", "Engineering")
        key = fake.add_issue("ENG", "Crash", description="It *crashes*:\n{code}boom(){code}\n* on login\n* on logout")
        for n in range(5):
            fake.advance(60)
            fake.add_comment(key, f"Comment *{n}*", author="bob" if n % 2 else "ann")
        fake.set_status(key, "In Progress")
        fake.advance(60)
        fake.set_status(key, "In Review", author="bob")
        tracker = connect(fake, sleeps)

        detail = tracker.detail(key)

        assert detail.ticket.key == key and detail.ticket.status.name == "In Review"
        assert "<b>crashes</b>" in detail.description_html and "<pre" in detail.description_html
        assert "<li>on login</li>" in detail.description_html
        assert [c.body for c in detail.comments] == [f"Comment *{n}*" for n in range(5)]
        assert [c.html for c in detail.comments] == [f"<p>Comment <b>{n}</b></p>" for n in range(5)]
        assert [c.author for c in detail.comments] == ["Ann Example", "Bob Builder"] * 2 + ["Ann Example"]
        assert [(h.field, h.from_text, h.to_text, h.author) for h in detail.history] == [
            ("status", "To Do", "In Progress", "Ann Example"), ("status", "In Progress", "In Review", "Bob Builder")]
        assert [(t.id, t.to.name, t.to.category) for t in detail.transitions] == [("31", "Done", "done")]
        [issue_get] = fake.requests_to(f"/issue/{key}")
        assert issue_get.query["expand"] == ["renderedFields,changelog,transitions"]
        pages = fake.requests_to(f"/issue/{key}/comment")
        assert [(r.query["startAt"], r.query["expand"]) for r in pages] == [
            (["2"], ["renderedBody"]), (["4"], ["renderedBody"])]


def test_comments_reads_them_all_oldest_first(deployment, sleeps):
    with FakeJira(deployment, embedded_comments=1, page_limit=3) as fake:
        fake.add_project("ENG", "Engineering")
        key = fake.add_issue("ENG", "Chatty", comments=[f"note {n}" for n in range(7)])
        comments = connect(fake, sleeps).comments(key)
        assert [c.body for c in comments] == [f"note {n}" for n in range(7)]
        assert len(fake.requests_to(f"/issue/{key}/comment")) == 2


def test_a_transition_moves_the_issue(fake, tracker):
    key = fake.add_issue("ENG", "Start me")
    assert [(t.id, t.to.name) for t in tracker.transitions(key)] == [("11", "In Progress")]
    fake.advance(60)
    tracker.transition(key, "11")
    moved = fake.issue(key)
    assert (moved.status, moved.updated) == ("In Progress", fake.now)
    assert [(c.items[0]["fromString"], c.items[0]["toString"]) for c in moved.changes] == [("To Do", "In Progress")]
    assert [r.body["transition"]["id"] for r in fake.requests_to(f"/issue/{key}/transitions", "POST")] == [11]


def test_transitions_follow_the_projects_own_workflow(fake, tracker):
    fake.add_status("Blocked", "indeterminate")
    fake.set_workflow("ENG", [FakeTransition("61", "Block", ("To Do", "In Progress"), "Blocked"),
                              FakeTransition("71", "Unblock", ("Blocked",), "To Do")])
    key = fake.add_issue("ENG", "Stuck")
    assert [(t.id, t.name, t.to.name, t.to.category) for t in tracker.transitions(key)] == [
        ("61", "Block", "Blocked", "indeterminate")]
    tracker.transition(key, "61")
    assert [t.id for t in tracker.transitions(key)] == ["71"]
    assert fake.search("status = Blocked") == [key]


def test_a_transition_the_workflow_does_not_allow_is_refused_in_jiras_words(fake, tracker):
    key = fake.add_issue("ENG", "Not yet")
    with pytest.raises(TrackerRefused) as refused:
        tracker.transition(key, "31")
    expected = ("Transition id '31' is not valid for this issue." if fake.cloud
                else "It seems that you have tried to perform a workflow operation (31) that is not valid")
    assert str(refused.value).startswith(expected)
    assert fake.issue(key).status == "To Do"


def test_a_transition_failing_on_the_server_is_an_error_not_uncertain(fake, tracker, sleeps):
    key = fake.add_issue("ENG", "Fragile")
    fake.fail(500, path_contains="/transitions", method="POST")
    with pytest.raises(IntegrationError, match="HTTP 500") as raised:
        tracker.transition(key, "11")
    assert not isinstance(raised.value, IntegrationUncertain)
    assert sleeps == []


# -- creating -------------------------------------------------------------------------------------


def test_create_returns_the_new_ticket(fake, tracker):
    ticket = tracker.create(NewTicket("ENG", TASK, "Write docs", description="For *everyone*", priority="High",
                                      extra={"labels": ["docs"]}))
    assert (ticket.key, ticket.type, ticket.priority, ticket.labels) == ("ENG-1", "Task", "High", ("docs",))
    assert (ticket.description, ticket.reporter, ticket.status.category) == ("For *everyone*", "Ann Example", "new")
    [post] = fake.requests_to("/rest/api/2/issue", "POST")
    assert post.body == {"fields": {"project": {"key": "ENG"}, "issuetype": {"id": TASK}, "summary": "Write docs",
                                    "description": "For *everyone*", "priority": {"name": "High"},
                                    "labels": ["docs"]}}


@pytest.mark.parametrize(("ticket", "words"), [
    (NewTicket("ENG", TASK, ""), "summary: You must specify a summary of the issue."),
    (NewTicket("ENG", TASK, "Urgent", priority="Critical"), "priority: The priority selected is invalid."),
    (NewTicket("ENG", SUBTASK, "Orphan"), "parent: Issue type is a sub-task but parent issue key or id not specified."),
    (NewTicket("ENG", TASK, "Odd", extra={"customfield_99999": 1}),
     "customfield_99999: Field 'customfield_99999' cannot be set. It is not on the appropriate screen, or unknown."),
])
def test_create_refused_names_the_field_in_jiras_words(fake, tracker, ticket, words):
    with pytest.raises(TrackerRefused) as refused:
        tracker.create(ticket)
    assert str(refused.value) == words
    assert fake.requests_to("/rest/api/2/issue", "POST") and not fake.search("project = ENG")


def test_create_a_subtask_under_its_issue(fake, tracker):
    parent = fake.add_issue("ENG", "Parent", type="Story")
    ticket = tracker.create(NewTicket("ENG", SUBTASK, "Child", parent=parent))
    assert (ticket.type, ticket.subtask, ticket.parent) == ("Sub-task", True, parent)
    assert fake.requests_to("/rest/api/2/issue", "POST")[0].body["fields"]["parent"] == {"key": parent}


def test_create_a_story_under_an_epic_as_each_deployment_links_them(fake, tracker):
    epic = fake.add_issue("ENG", "Big thing", type="Epic")
    epic_link = next((spec.id for spec in tracker.fields() if spec.name == "Epic Link"), "")
    ticket = tracker.create(NewTicket("ENG", STORY, "Part of it", parent=epic, epic_link_field=epic_link))
    fields = fake.requests_to("/rest/api/2/issue", "POST")[0].body["fields"]
    if fake.cloud:
        assert epic_link == "" and fields["parent"] == {"key": epic}
        assert (ticket.parent, ticket.epic) == (epic, "")
    else:
        assert epic_link == "customfield_10014" and fields[epic_link] == epic and "parent" not in fields
        assert (ticket.parent, ticket.epic) == ("", epic)


def test_create_failing_on_the_server_is_uncertain(fake, tracker, sleeps):
    fake.fail(502, path_contains="/rest/api/2/issue", method="POST")
    with pytest.raises(IntegrationUncertain):
        tracker.create(NewTicket("ENG", TASK, "Maybe"))
    assert sleeps == []


def test_create_rate_limited_is_retried_and_creates_once(fake, tracker, sleeps):
    fake.fail(429, retry_after=4, path_contains="/rest/api/2/issue", method="POST")
    assert tracker.create(NewTicket("ENG", TASK, "Once")).key == "ENG-1"
    assert fake.search("project = ENG") == ["ENG-1"]
    assert sleeps == [4.0]


def test_a_created_issue_that_cannot_be_read_back_must_not_be_created_again(fake, tracker):
    fake.fail(404, path_contains="/issue/ENG-1", method="GET")
    with pytest.raises(IntegrationUncertain, match="JIRA created ENG-1 but reading it back failed"):
        tracker.create(NewTicket("ENG", TASK, "Ghost"))


# -- metadata -------------------------------------------------------------------------------------


def test_issue_types_with_their_hierarchy(tracker):
    types = {t.name: (t.id, t.subtask, t.hierarchy_level) for t in tracker.issue_types("ENG")}
    assert types == {"Epic": (EPIC, False, 1), "Story": (STORY, False, 0), "Task": (TASK, False, 0),
                     "Bug": ("10003", False, 0), "Sub-task": (SUBTASK, True, -1)}


def test_create_fields_are_read_across_pages(deployment, sleeps):
    with FakeJira(deployment, page_limit=4) as fake:
        fake.add_project("ENG", "Engineering")
        tracker = connect(fake, sleeps)
        story = {spec.id: spec for spec in tracker.create_fields("ENG", STORY)}
        subtask = {spec.id: spec for spec in tracker.create_fields("ENG", SUBTASK)}
        expected = {"summary", "issuetype", "project", "description", "priority", "labels", "assignee",
                    "customfield_10016", "parent" if fake.cloud else "customfield_10014"}
        assert set(story) == expected
        assert {spec.id for spec in story.values() if spec.required} == {"summary", "issuetype", "project"}
        assert subtask["parent"].required
        assert story["priority"].allowed == ("Highest", "High", "Medium", "Low", "Lowest")
        assert story["priority"].has_default and story["priority"].schema_type == "priority"
        assert story["customfield_10016"].custom_type.endswith(":float")
        starts = [r.query["startAt"] for r in fake.requests_to(f"/issuetypes/{STORY}")]
        assert starts == [["0"], ["4"], ["8"]]


def test_create_fields_of_an_unknown_project_say_so(tracker):
    with pytest.raises(IntegrationError, match="JIRA has no project NOPE"):
        tracker.create_fields("NOPE", STORY)


def test_fields_list_the_sites_custom_fields(fake, tracker):
    specs = {spec.name: spec for spec in tracker.fields()}
    assert (specs["Story Points"].id, specs["Story Points"].schema_type) == ("customfield_10016", "number")
    assert ("Epic Link" in specs) is not fake.cloud


def test_projects_and_priorities(fake, tracker):
    fake.add_project("OPS", "Operations")
    assert [(p.key, p.name) for p in tracker.projects()] == [("ENG", "Engineering"), ("OPS", "Operations")]
    assert tracker.priorities() == ["Highest", "High", "Medium", "Low", "Lowest"]
