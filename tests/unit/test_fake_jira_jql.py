"""The fake JIRA's JQL engine, which the board's tests rely on: what each query finds, and
JIRA's own words for the queries JIRA refuses. No server is started; ``FakeJira.search`` runs the
same parser and evaluator the fake's search endpoints use."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.fakes.jira_server import FakeJira, JqlProblem, render_wiki


def seeded(deployment: str = "Server", **options) -> FakeJira:
    """Two projects and seven issues (clock at 2026-11-21 10:00 UTC):

    ENG-1 Bug "Login page crashes", ann, High, labels ui+urgent, updated 5 min ago, created 3 days ago
    ENG-2 Story "Add export", In Progress, bob, 5 points, description about CSV, updated 3 h ago
    ENG-3 Epic "Reporting epic"
    ENG-4 Sub-task of ENG-2 "Write tests", Done, reported by bob
    ENG-5 Story "Story in epic" under ENG-3 (Epic Link on Server, parent on Cloud)
    OPS-1 Task "Rotate keys", no priority, updated 2 days ago, a comment mentioning login
    OPS-2 Task "Renew certificate", ann, Low, updated 1 week ago
    """
    fake = FakeJira(deployment, **options)  # type: ignore[arg-type]
    fake.add_project("ENG", "Engineering")
    fake.add_project("OPS", "Operations")
    now = fake.now
    fake.add_issue("ENG", "Login page crashes", type="Bug", assignee="ann", priority="High", labels=["ui", "urgent"],
                   created=now - timedelta(days=3), updated=now - timedelta(minutes=5))
    story = fake.add_issue("ENG", "Add export", type="Story", status="In Progress", assignee="bob", story_points=5,
                           description="CSV export of the board", updated=now - timedelta(hours=3))
    epic = fake.add_issue("ENG", "Reporting epic", type="Epic")
    fake.add_issue("ENG", "Write tests", type="Sub-task", parent=story, status="Done", reporter="bob")
    fake.add_issue("ENG", "Story in epic", type="Story", parent=epic)
    fake.add_issue("OPS", "Rotate keys", priority=None, updated=now - timedelta(days=2), comments=["the login keys"])
    fake.add_issue("OPS", "Renew certificate", assignee="ann", priority="Low", updated=now - timedelta(weeks=1))
    return fake


@pytest.fixture(scope="module")
def server() -> FakeJira:
    return seeded()


EVERY = ["ENG-1", "ENG-2", "ENG-3", "ENG-4", "ENG-5", "OPS-1", "OPS-2"]


@pytest.mark.parametrize(("jql", "keys"), [
    ("", EVERY),
    ("project = ENG", ["ENG-1", "ENG-2", "ENG-3", "ENG-4", "ENG-5"]),
    ("project = Operations", ["OPS-1", "OPS-2"]),  # by name as well as by key
    ("project in (OPS) AND assignee = currentUser()", ["OPS-2"]),
    ("project = ENG AND status = 'In Progress'", ["ENG-2"]),
    ("status not in ('To Do', Done)", ["ENG-2"]),
    ("statusCategory = Done", ["ENG-4"]),
    ("statusCategory in (new, indeterminate) AND project = ENG", ["ENG-1", "ENG-2", "ENG-3", "ENG-5"]),
    ("assignee = currentUser()", ["ENG-1", "OPS-2"]),
    ("assignee = 'Bob Builder' OR assignee = 'bob@example.com'", ["ENG-2"]),
    ("assignee is EMPTY", ["ENG-3", "ENG-4", "ENG-5", "OPS-1"]),
    ("assignee = EMPTY", ["ENG-3", "ENG-4", "ENG-5", "OPS-1"]),
    ("assignee != ann", ["ENG-2"]),  # != leaves out the unassigned, as JIRA's does
    ("reporter = bob", ["ENG-4"]),
    ("type = Story", ["ENG-2", "ENG-5"]),
    ("issuetype in (Bug, 10000)", ["ENG-1", "ENG-3"]),  # names and ids
    ("priority is EMPTY", ["OPS-1"]),
    ("priority != Low", ["ENG-1", "ENG-2", "ENG-3", "ENG-4", "ENG-5"]),
    ("labels = urgent", ["ENG-1"]),
    ("labels is EMPTY AND project = OPS", ["OPS-1", "OPS-2"]),
    ("parent = ENG-2", ["ENG-4"]),
    ('"Epic Link" = ENG-3', ["ENG-5"]),
    ("key in (ENG-1, OPS-1)", ["ENG-1", "OPS-1"]),
    ("summary ~ login", ["ENG-1"]),
    ('summary ~ "crash* login"', ["ENG-1"]),  # every word, wildcards dropped
    ("text ~ login", ["ENG-1", "OPS-1"]),  # summary, description and comments
    ("description ~ csv", ["ENG-2"]),
    ("comment ~ keys", ["OPS-1"]),
    ("summary !~ epic AND project = ENG", ["ENG-1", "ENG-2", "ENG-4"]),
    ("NOT project = ENG", ["OPS-1", "OPS-2"]),
    ("(project = OPS OR type = Bug) AND priority = Low", ["OPS-2"]),
    ("project = ENG AND NOT (type = Epic OR type = Story)", ["ENG-1", "ENG-4"]),
    ("updated >= -15m", ["ENG-1", "ENG-3", "ENG-4", "ENG-5"]),
    ("updated >= -4h AND updated < -10m", ["ENG-2"]),
    ("updated > -6d AND updated <= -1d", ["OPS-1"]),
    ('updated < "-6d 23h"', ["OPS-2"]),
    ("created <= '2026/11/20'", ["ENG-1"]),
    ("created < '2026-11-19 10:01'", ["ENG-1"]),
    ("updated >= startOfDay() AND updated <= now() AND project = OPS", []),
    ('"Story Points" > 3', ["ENG-2"]),
    ("cf[10016] is not EMPTY", ["ENG-2"]),
])
def test_a_query_finds_what_jira_would(server, jql, keys):
    assert server.search(jql) == keys


@pytest.mark.parametrize(("jql", "keys"), [
    ("project = ENG ORDER BY key DESC", ["ENG-5", "ENG-4", "ENG-3", "ENG-2", "ENG-1"]),
    ("ORDER BY updated DESC", ["ENG-3", "ENG-4", "ENG-5", "ENG-1", "ENG-2", "OPS-1", "OPS-2"]),
    ("assignee is not EMPTY ORDER BY updated", ["OPS-2", "ENG-2", "ENG-1"]),
    ("priority is not EMPTY ORDER BY priority DESC, key", ["ENG-1", "ENG-2", "ENG-3", "ENG-4", "ENG-5", "OPS-2"]),
    ("project = ENG order by status, key desc", ["ENG-5", "ENG-3", "ENG-1", "ENG-2", "ENG-4"]),
    # empty values sort as the largest, as in JIRA: last ascending, first descending
    ('type != Epic ORDER BY "Story Points" DESC, summary', ["ENG-1", "OPS-2", "OPS-1", "ENG-5", "ENG-4", "ENG-2"]),
])
def test_order_by_sorts_by_each_field_in_turn(server, jql, keys):
    assert server.search(jql) == keys


OPERATORS = ("The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'.")


@pytest.mark.parametrize(("jql", "message"), [
    ("project ENG", f"Error in the JQL Query: Expecting operator but got 'ENG'. {OPERATORS} (line 1, character 9)"),
    ("project = ", "Error in the JQL Query: Expecting either a value, list or function before the end of the query."),
    ("project = in", "Error in the JQL Query: Expecting either a value, list or function but got 'in'. You must "
                     "surround 'in' in quotation marks to use it as a value. (line 1, character 11)"),
    ("project in ENG", "Error in the JQL Query: Expecting '(' but got 'ENG'. (line 1, character 12)"),
    ("project in (ENG, OPS", "Error in the JQL Query: Expecting ')' before the end of the query."),
    ("project = ENG AND", "Error in the JQL Query: Expecting a field name before the end of the query."),
    ("project = ENG status = Done", "Error in the JQL Query: Expecting either 'OR' or 'AND' but got 'status'. "
                                    "(line 1, character 15)"),
    ("(project = ENG", "Error in the JQL Query: Expecting ')' before the end of the query."),
    ("status = 'In", "Error in the JQL Query: The quoted string 'In' has not been completed. (line 1, character 10)"),
    ("project = ENG @", "Error in the JQL Query: The character '@' is a reserved JQL character. You must enclose it in "
                        "a string or use the escape '\\u0040' instead. (line 1, character 15)"),
    ("project = ENG ORDER key", "Error in the JQL Query: Expecting 'BY' but got 'key'. (line 1, character 21)"),
    ("assignee is ann", "Error in the JQL Query: Expecting 'EMPTY' but got 'ann'. (line 1, character 13)"),
    ("foo = 1", "Field 'foo' does not exist or you do not have permission to view it."),
    ("project = ENG ORDER BY nope", "Field 'nope' does not exist or you do not have permission to view it."),
    ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
    ("status = Closed", "The value 'Closed' does not exist for the field 'status'."),
    ("assignee = nobody", "The value 'nobody' does not exist for the field 'assignee'."),
    ("key = ENG-99", "An issue with key 'ENG-99' does not exist for field 'key'."),
    ("summary = crash", "The operator '=' is not supported by the 'summary' field."),
    ("labels ~ ui", "The operator '~' is not supported by the 'labels' field."),
    ("updated > yesterday", "Date value 'yesterday' for field 'updated' is invalid. Valid formats include: "
                            "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format "
                            "e.g. '-5d', '4w 2d'."),
    ("project = foo()", "Unable to find JQL function 'foo()'."),
    ("project = currentUser()", "The field 'project' does not support the function 'currentUser()'."),
    ("text ~ ann ORDER BY text", "Field 'text' does not support sorting."),
])
def test_a_query_jira_refuses_gets_jiras_words(server, jql, message):
    with pytest.raises(JqlProblem) as refused:
        server.search(jql)
    assert str(refused.value) == message


def test_relative_dates_follow_the_fakes_clock():
    fake = seeded()
    assert fake.search("updated >= -15m AND type = Bug") == ["ENG-1"]
    fake.advance(11 * 60)
    assert fake.search("updated >= -15m AND type = Bug") == []
    fake.add_comment("ENG-1", "Still broken")  # a comment bumps `updated`, as in JIRA
    assert fake.search("updated >= -15m AND type = Bug") == ["ENG-1"]


def test_absolute_dates_are_read_in_the_fakes_timezone():
    fake = seeded(timezone=ZoneInfo("Europe/Berlin"))  # the seeded issues were created 10:00 UTC = 11:00 here
    assert fake.search("created >= '2026/11/21 11:00' AND project = OPS") == ["OPS-1", "OPS-2"]
    assert fake.search("created >= '2026/11/21 11:01' AND project = OPS") == []


def test_currentuser_is_whoever_searches():
    fake = seeded()
    assert fake.search("assignee = currentUser()", as_user="bob") == ["ENG-2"]


def test_cloud_names_users_by_account_id_and_has_no_epic_link():
    fake = seeded("Cloud")
    ann = fake.user("ann").id
    assert ann != "ann"
    assert fake.search(f"assignee = {ann}") == fake.search("assignee = currentUser()") == ["ENG-1", "OPS-2"]
    with pytest.raises(JqlProblem, match="The value 'ann' does not exist for the field 'assignee'"):
        fake.search("assignee = ann")
    assert fake.search("parent = ENG-3") == ["ENG-5"]  # an epic's stories are its children on Cloud
    with pytest.raises(JqlProblem, match="Field 'Epic Link' does not exist"):
        fake.search('"Epic Link" = ENG-3')


def test_a_status_change_moves_an_issue_between_queries_and_is_in_its_changelog():
    fake = seeded()
    fake.advance(60)
    fake.set_status("ENG-1", "In Progress", author="bob")
    assert "ENG-1" in fake.search("statusCategory = indeterminate")
    issue = fake.issue("ENG-1")
    assert issue.updated == fake.now
    assert [(c.author, c.items[0]["fromString"], c.items[0]["toString"]) for c in issue.changes] == [
        ("bob", "To Do", "In Progress")]


def test_wiki_markup_renders_to_jiras_html():
    rendered = render_wiki("*Update:* fixed in {{upload.py}}\n* added a retry\n* added a test\n\n"
                           "Run:\n{code:bash}make test < in{code}\nDone.")
    assert rendered == (
        "<p><b>Update:</b> fixed in <tt>upload.py</tt></p>\n"
        "<ul><li>added a retry</li><li>added a test</li></ul>\n"
        "<p>Run:</p>\n"
        '<div class="code panel" style="border-width: 1px;"><div class="codeContent panelContent">'
        '<pre class="code-java">make test &lt; in</pre></div></div>\n'
        "<p>Done.</p>")
