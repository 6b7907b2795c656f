"""A fake JIRA REST API (v2) modelling Server/Data Center and Cloud, with projects, issues,
comments, workflows and a small JQL engine in memory.

It serves what ``services.integrations.jira.client`` reaches through the ``jira`` library 3.10,
under an optional context path (``context="/jira"``); ``{api}`` is ``{ctx}/rest/api/2``:

* ``GET {api}/serverInfo``: ``deploymentType`` "Server" or "Cloud", ``baseUrl`` is the fake's url
* ``GET {api}/myself``
* ``GET {api}/field``: Story Points ``customfield_10016``; Epic Link ``customfield_10014`` on Server only
* ``GET {api}/project``, ``GET {api}/priority``
* ``GET {api}/issue/createmeta/{project}/issuetypes`` and ``.../issuetypes/{typeId}`` (create fields):
  paged by startAt/maxResults/total, Server answering under ``values``, Cloud under ``issueTypes``
  and ``fields``
* ``GET {api}/issue/{keyOrId}?fields=...&expand=renderedFields,changelog,transitions``
* ``GET {api}/issue/{keyOrId}/transitions``; ``POST`` it: 204, or 400 when the workflow has no such
  transition from the current status
* ``GET {api}/issue/{keyOrId}/comment`` (paged); ``POST`` it: 201 with the comment
* ``POST {api}/issue``: 201 ``{id, key, self}``, or 400 with JIRA's ``errors`` per field
* Server: ``GET|POST {api}/search`` (startAt/maxResults/total)
* Cloud: ``GET|POST {api}/search/jql`` (nextPageToken/isLast, no total); the old ``/search``
  answers 410 as Atlassian's has since 2025

Paging caps maxResults whatever is asked: searches at ``max_results`` (JIRA's server-side limit),
comment and createmeta listings at ``page_limit``; an issue carries at most ``embedded_comments``
comments (None: all, like Server). Only the asked ``fields`` are in an issue (Server's default is
all, Cloud's search default is none); ``expand`` adds renderedFields (a small wiki-markup
rendering), changelog and transitions.

Auth: a Bearer personal access token (Server only) or HTTP basic with an e-mail address and API
token; each credential belongs to a user, so ``currentUser()`` works (user ids are accountIds on
Cloud, user names on Server). Anything else gets JIRA's 401 body.

JQL: a tokenizer and recursive-descent parser for AND/OR/NOT, parentheses, ``= != ~ !~ > >= < <=``,
``IN``/``NOT IN``, ``IS [NOT] EMPTY`` and ORDER BY, over project, key, issuetype/type, status,
statusCategory, assignee, reporter, priority, labels, parent, "Epic Link" (Server), summary,
description, comment, text, created, updated and "Story Points", with ``currentUser()``, ``now()``,
``startOfDay()``, relative dates ("-15m", "-1w 2d") and absolute ones ("yyyy/MM/dd HH:mm",
"yyyy-MM-dd") read in the fake's ``timezone``. Errors carry JIRA's wording; ``!=`` and ``NOT IN``
skip issues where the field is empty, as JIRA's do.

Scripted failures (``fail``), an optional request budget per window of the fake's clock
(``rate_limit``; pass ``fake.advance`` as the client's sleep to let the window pass), recorded
requests and seeding helpers (``add_project``, ``add_user``, ``add_issue``, ``add_comment``,
``set_status``, ``set_workflow``) make the tests.
"""

from __future__ import annotations

import base64
import copy
import html
import itertools
import json
import math
import operator
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Literal, NoReturn
from urllib.parse import parse_qs, quote, urlsplit

from tests.fakes.http_fake import FakeHTTPServer, QuietHandler, take_scripted

Json = dict[str, Any]
Query = dict[str, list[str]]
Deployment = Literal["Server", "Cloud"]

CATEGORIES: dict[str, tuple[int, str, str]] = {  # key -> (id, name, colour), as JIRA has them
    "new": (2, "To Do", "blue-gray"),
    "indeterminate": (4, "In Progress", "yellow"),
    "done": (3, "Done", "green"),
}
ISSUE_TYPES: tuple[tuple[str, str, bool, int], ...] = (  # id, name, subtask, hierarchy level
    ("10000", "Epic", False, 1),
    ("10001", "Story", False, 0),
    ("10002", "Task", False, 0),
    ("10003", "Bug", False, 0),
    ("10004", "Sub-task", True, -1),
)
PRIORITIES = ("Highest", "High", "Medium", "Low", "Lowest")  # ids "1".."5"
STORY_POINTS = "customfield_10016"
EPIC_LINK = "customfield_10014"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.000%z"
NOT_AUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received; ``auth`` is the scheme used (never the secret)."""

    method: str
    path: str  # without the query, context path included
    query: Query
    body: Any  # the JSON body, None without one
    auth: Literal["bearer", "basic"] | None
    at: float = field(compare=False)


@dataclass
class _Failure:
    """A scripted answer for the next ``times`` matching requests (``None``: every one)."""

    status: int
    times: int | None
    retry_after: str | None
    path_contains: str
    method: str | None
    body: str | None
    content_type: str
    delay: float


@dataclass
class FakeUser:
    name: str  # the login name the seeding helpers use
    id: str  # the user name on Server, an accountId on Cloud
    display_name: str
    email: str
    token: str | None = None  # personal access token (Server)
    api_token: str | None = None


@dataclass(frozen=True)
class FakeTransition:
    id: str
    name: str
    sources: tuple[str, ...]  # the statuses it leaves from
    to: str


DEFAULT_WORKFLOW = (
    FakeTransition("11", "Start Progress", ("To Do",), "In Progress"),
    FakeTransition("21", "Send to Review", ("In Progress",), "In Review"),
    FakeTransition("31", "Done", ("In Review",), "Done"),
    FakeTransition("41", "Stop Progress", ("In Progress",), "To Do"),
    FakeTransition("51", "Reopen", ("Done",), "To Do"),
)


@dataclass
class FakeComment:
    id: str
    author: str  # user name
    body: str
    created: datetime
    updated: datetime


@dataclass
class FakeChange:
    """One changelog history: who changed what, in JIRA's item form."""

    id: str
    author: str
    at: datetime
    items: list[Json]


@dataclass
class FakeIssue:
    id: str
    key: str
    project: str
    type: str
    summary: str
    status: str
    reporter: str
    created: datetime
    updated: datetime
    description: str = ""
    assignee: str | None = None
    priority: str | None = "Medium"
    labels: list[str] = field(default_factory=list)
    parent: str | None = None  # a subtask's issue, or (Cloud) an epic
    epic: str | None = None  # Server's Epic Link
    story_points: float | None = None
    comments: list[FakeComment] = field(default_factory=list)
    changes: list[FakeChange] = field(default_factory=list)

    @property
    def number(self) -> int:
        return int(self.key.rsplit("-", 1)[1])


class JqlProblem(Exception):
    """A query JIRA would refuse; the message is JIRA's."""


class FakeJira(FakeHTTPServer):
    """Start with ``with FakeJira() as fake:``; ``fake.url`` is the base URL to configure. The
    default user "ann" signs in with ``fake.token`` (Server) or ``fake.email`` + ``fake.api_token``."""

    def __init__(
        self,
        deployment: Deployment = "Server",
        *,
        token: str = "jira-server-pat-secret",
        email: str = "ann@example.com",
        api_token: str = "jira-cloud-api-token-secret",
        context: str = "",
        max_results: int = 50,
        page_limit: int = 50,
        embedded_comments: int | None = None,
        rate_limit: int | None = None,
        rate_window: float = 60.0,
        timezone: tzinfo = UTC,
        now: datetime = datetime(2026, 11, 21, 10, 0, tzinfo=UTC),
    ) -> None:
        super().__init__(_Handler, "fake-jira")
        self.deployment = deployment
        self.token, self.email, self.api_token = token, email, api_token
        self.context = context.rstrip("/")
        self.max_results = max_results
        self.page_limit = page_limit
        self.embedded_comments = embedded_comments
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.timezone = timezone
        self.now = now
        self._lock = threading.RLock()
        self._users: dict[str, FakeUser] = {}
        self._projects: dict[str, tuple[str, str]] = {}  # key -> (id, name)
        self._workflows: dict[str, tuple[FakeTransition, ...]] = {}
        self._statuses: dict[str, tuple[str, str]] = {  # name -> (id, category key)
            "To Do": ("10000", "new"), "In Progress": ("3", "indeterminate"),
            "In Review": ("10100", "indeterminate"), "Done": ("10001", "done"),
        }
        self._issues: dict[str, FakeIssue] = {}
        self._numbers: dict[str, itertools.count[int]] = {}
        self._ids = itertools.count(10000)
        self._failures: list[_Failure] = []
        self._requests: list[RecordedRequest] = []
        self._window: tuple[datetime, int] = (now, 0)  # start of the rate-limit window, requests in it
        self.add_user("ann", "Ann Example", email, token=token, api_token=api_token)
        self.add_user("bob", "Bob Builder", "bob@example.com")

    @property
    def url(self) -> str:
        """The base URL, context path included, as a user would configure it."""
        return self.origin + self.context

    @property
    def cloud(self) -> bool:
        return self.deployment == "Cloud"

    # -- seeding and inspecting ------------------------------------------------------------------

    def add_user(self, name: str, display_name: str, email: str, *, token: str | None = None,
                 api_token: str | None = None) -> FakeUser:
        with self._lock:
            user_id = f"5b10ac8d82e05b22cc7d4e{len(self._users):02d}" if self.cloud else name
            user = FakeUser(name, user_id, display_name, email, token, api_token)
            self._users[name] = user
            return user

    def user(self, name: str) -> FakeUser:
        return self._users[name]

    def add_project(self, key: str, name: str) -> None:
        with self._lock:
            self._projects[key] = (str(10000 + len(self._projects)), name)
            self._workflows[key] = DEFAULT_WORKFLOW
            self._numbers[key] = itertools.count(1)

    def add_status(self, name: str, category: str) -> None:
        with self._lock:
            self._statuses[name] = (str(next(self._ids)), category)

    def set_workflow(self, project: str, transitions: Iterable[FakeTransition]) -> None:
        with self._lock:
            self._workflows[project] = tuple(transitions)

    def add_issue(
        self,
        project: str,
        summary: str,
        *,
        type: str = "Task",
        status: str = "To Do",
        assignee: str | None = None,
        reporter: str = "ann",
        priority: str | None = "Medium",
        description: str = "",
        labels: Sequence[str] = (),
        parent: str | None = None,
        story_points: float | None = None,
        created: datetime | None = None,
        updated: datetime | None = None,
        comments: Sequence[str] = (),
    ) -> str:
        """A new issue, returning its key. A ``parent`` that is an epic becomes the Epic Link on
        Server, as there only subtasks have a parent; ``comments`` are by the reporter."""
        with self._lock:
            created = created or self.now
            issue = FakeIssue(
                id=str(next(self._ids)), key=f"{project}-{next(self._numbers[project])}", project=project,
                type=type, summary=summary, status=status, reporter=reporter, created=created,
                updated=updated or created, description=description, assignee=assignee, priority=priority,
                labels=list(labels), story_points=story_points,
            )
            if parent is not None and not self.cloud and self._issues[parent].type == "Epic":
                issue.epic = parent
            else:
                issue.parent = parent
            self._issues[issue.key] = issue
            for body in comments:
                issue.comments.append(FakeComment(str(next(self._ids)), reporter, body, issue.updated, issue.updated))
            return issue.key

    def add_comment(self, key: str, body: str, *, author: str = "ann") -> str:
        """A comment written now; the issue's ``updated`` moves with it, as in JIRA."""
        with self._lock:
            return self._append_comment(self._issues[key], author, body).id

    def set_status(self, key: str, status: str, *, author: str = "ann") -> None:
        """Move an issue as a user would, outside the workflow: recorded in its changelog."""
        with self._lock:
            self._move(self._issues[key], status, self._users[author])

    def issue(self, key: str) -> FakeIssue:
        """A copy of the issue's state."""
        with self._lock:
            return copy.deepcopy(self._issues[key])

    def advance(self, seconds: float) -> None:
        """Move the fake's clock on; usable as a client's ``sleep``."""
        with self._lock:
            self.now += timedelta(seconds=seconds)

    def search(self, jql: str, *, as_user: str = "ann") -> list[str]:
        """The keys a query finds, in its order, as ``as_user`` would get them; raises
        ``JqlProblem`` with JIRA's message for a query JIRA would refuse."""
        with self._lock:
            return [issue.key for issue in self._run_jql(jql, self._users[as_user])]

    # -- scripting and records -------------------------------------------------------------------

    def fail(self, status: int, *, times: int | None = 1, retry_after: float | str | None = None,
             path_contains: str = "", method: str | None = None, body: str | None = None,
             content_type: str = "application/json", delay: float = 0.0) -> None:
        """Answer the next ``times`` requests (``None``: all) whose path contains ``path_contains``
        (and whose method is ``method``, when given) with ``status`` after ``delay`` seconds, without
        acting on them; ``body`` replaces JIRA's JSON error body."""
        hint = f"{retry_after:g}" if isinstance(retry_after, float | int) else retry_after
        with self._lock:
            self._failures.append(_Failure(status, times, hint, path_contains, method, body, content_type, delay))

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path_suffix: str, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith(path_suffix) and method in (None, r.method)]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- serving ---------------------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        header = handler.headers.get("Authorization", "")
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            handler.reply(400, json.dumps(_errors("Unexpected character in the request body: it is no JSON")))
            return
        with self._lock:
            self._requests.append(RecordedRequest(handler.command, parts.path, query, body, _scheme(header),
                                                  time.monotonic()))
            failure = take_scripted(self._failures, lambda f: f.path_contains in parts.path
                                    and f.method in (None, handler.command))
            throttled = self._over_budget() if failure is None else None
        if failure is not None:
            self._reply_failure(handler, failure)
            return
        if throttled is not None:
            handler.reply(429, json.dumps(_errors("Rate limit exceeded.")),
                          extra={"Retry-After": str(throttled), "X-RateLimit-Limit": str(self.rate_limit)})
            return
        self._answer(handler, parts.path, query, body, header)

    def _answer(self, handler: _Handler, path: str, query: Query, body: Any, header: str) -> None:
        prefix = self.context + "/rest/api/2/"
        if not path.startswith(prefix):
            handler.reply(404, "<html><body><h1>HTTP Status 404 - Not Found</h1></body></html>", "text/html")
            return
        user = self._authenticated(header)
        if user is None:
            extra = {} if self.cloud else {"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"}
            handler.reply(401, json.dumps(_errors(NOT_AUTHENTICATED)), extra=extra)
            return
        route = _route(handler.command, path[len(prefix) - 1:])
        if route is None:
            handler.reply(404, json.dumps({"message": f"null for uri: {self.origin}{path}", "status-code": 404}))
            return
        name, args = route
        with self._lock:
            status, answer = getattr(self, f"_{name}")(_Request(user, query, body), **args)
        if status == 204:
            handler.send_body(204, b"", None)
        else:
            handler.reply(status, json.dumps(answer))

    def _over_budget(self) -> int | None:
        """Seconds until the window ends when this request is over the budget (call under the lock)."""
        if self.rate_limit is None:
            return None
        start, count = self._window
        elapsed = (self.now - start).total_seconds()
        if elapsed >= self.rate_window:
            start, count, elapsed = self.now, 0, 0.0
        if count >= self.rate_limit:
            return max(1, math.ceil(self.rate_window - elapsed))
        self._window = (start, count + 1)
        return None

    @staticmethod
    def _reply_failure(handler: _Handler, failure: _Failure) -> None:
        body = failure.body if failure.body is not None else json.dumps(_errors(f"Scripted failure ({failure.status})"))
        extra = {} if failure.retry_after is None else {"Retry-After": failure.retry_after}
        time.sleep(failure.delay)
        handler.reply(failure.status, body, failure.content_type, extra)

    def _authenticated(self, header: str) -> FakeUser | None:
        scheme, _, credential = header.partition(" ")
        for user in self._users.values():
            if scheme == "Bearer" and not self.cloud and user.token and credential == user.token:
                return user
            if scheme == "Basic" and user.api_token:
                logins = [user.email] if self.cloud else [user.email, user.name]
                if credential in (_basic(login, user.api_token) for login in logins):
                    return user
        return None

    # Each endpoint below runs under the lock and returns (status, JSON value).

    def _server_info(self, _: _Request) -> tuple[int, Any]:
        version, numbers = ("1001.0.0-SNAPSHOT", [1001, 0, 0]) if self.cloud else ("9.12.2", [9, 12, 2])
        return 200, {"baseUrl": self.url, "version": version, "versionNumbers": numbers,
                     "deploymentType": self.deployment, "buildNumber": 100283 if self.cloud else 9120002,
                     "buildDate": "2026-10-01T00:00:00.000+0000", "serverTime": self._time(self.now),
                     "scmInfo": "0123456789abcdef", "serverTitle": "Jira" if self.cloud else "JIRA"}

    def _myself(self, request: _Request) -> tuple[int, Any]:
        return 200, self._user_json(request.user.name)

    def _fields(self, _: _Request) -> tuple[int, Any]:
        return 200, [self._field_json(*spec) for spec in self._field_specs()]

    def _projects_list(self, _: _Request) -> tuple[int, Any]:
        return 200, [self._project_json(key) for key in self._projects]

    def _priorities(self, _: _Request) -> tuple[int, Any]:
        return 200, [self._priority_json(name) for name in PRIORITIES]

    def _create_types(self, request: _Request, project: str) -> tuple[int, Any]:
        if project not in self._projects:
            return 404, _errors(f"No project could be found with key '{project}'.")
        entries = [self._type_json(name) for _, name, _, _ in ISSUE_TYPES]
        return 200, self._meta_page(request.query, entries, "issueTypes")

    def _create_fields(self, request: _Request, project: str, type_id: str) -> tuple[int, Any]:
        type_name = next((name for tid, name, _, _ in ISSUE_TYPES if tid == type_id), None)
        if project not in self._projects:
            return 404, _errors(f"No project could be found with key '{project}'.")
        if type_name is None:
            return 404, _errors(f"Issue type with id '{type_id}' does not exist in project '{project}'.")
        entries = [self._create_field_json(project, type_name, field_id) for field_id in self._screen(type_name)]
        return 200, self._meta_page(request.query, entries, "fields")

    def _meta_page(self, query: Query, entries: list[Json], cloud_key: str) -> Json:
        start = int(_first(query, "startAt", "0"))
        limit = min(int(_first(query, "maxResults", "50")), self.page_limit)
        window = entries[start:start + limit]
        page: Json = {"maxResults": limit, "startAt": start, "total": len(entries)}
        if self.cloud:
            return {**page, cloud_key: window}
        return {**page, "isLast": start + len(window) >= len(entries), "values": window}

    def _issue_get(self, request: _Request, key: str) -> tuple[int, Any]:
        issue = self._find(key)
        if issue is None:
            return _no_issue()
        wanted = _listed(request.query.get("fields")) or {"*all"}
        return 200, self._issue_json(issue, wanted, _listed(request.query.get("expand")))

    def _transitions_get(self, _: _Request, key: str) -> tuple[int, Any]:
        issue = self._find(key)
        if issue is None:
            return _no_issue()
        return 200, {"expand": "transitions", "transitions": self._transitions_json(issue)}

    def _transition_post(self, request: _Request, key: str) -> tuple[int, Any]:
        issue = self._find(key)
        if issue is None:
            return _no_issue()
        wanted = str(((request.body or {}).get("transition") or {}).get("id", ""))
        chosen = next((t for t in self._available(issue) if t.id == wanted), None)
        if chosen is None:
            message = (f"Transition id '{wanted}' is not valid for this issue." if self.cloud else
                       f"It seems that you have tried to perform a workflow operation ({wanted}) that is not valid "
                       f"for the current state of this issue ({issue.key}). The likely cause is that somebody has "
                       "changed the issue recently, please look at the issue history for details.")
            return 400, _errors(message)
        self._move(issue, chosen.to, request.user)
        return 204, None

    def _comments_get(self, request: _Request, key: str) -> tuple[int, Any]:
        issue = self._find(key)
        if issue is None:
            return _no_issue()
        start = int(_first(request.query, "startAt", "0"))
        limit = min(int(_first(request.query, "maxResults", str(self.page_limit))), self.page_limit)
        ordered = issue.comments[::-1] if _first(request.query, "orderBy", "created") == "-created" else issue.comments
        rendered = "renderedBody" in _listed(request.query.get("expand"))
        return 200, {"startAt": start, "maxResults": limit, "total": len(issue.comments),
                     "comments": [self._comment_json(c, rendered=rendered) for c in ordered[start:start + limit]]}

    def _comment_post(self, request: _Request, key: str) -> tuple[int, Any]:
        issue = self._find(key)
        if issue is None:
            return _no_issue()
        body = str((request.body or {}).get("body") or "")
        if not body.strip():
            return 400, {"errorMessages": [], "errors": {"comment": "Comment body can not be empty!"}}
        return 201, self._comment_json(self._append_comment(issue, request.user.name, body))

    def _issue_post(self, request: _Request) -> tuple[int, Any]:
        fields = (request.body or {}).get("fields") or {}
        issue, errors = self._new_issue(fields, request.user)
        if issue is None:
            return 400, {"errorMessages": [], "errors": errors}
        self._issues[issue.key] = issue
        return 201, {"id": issue.id, "key": issue.key, "self": f"{self.url}/rest/api/2/issue/{issue.id}"}

    def _search(self, request: _Request) -> tuple[int, Any]:
        if self.cloud:
            return 410, _errors(
                "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
                "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046")
        params = _search_params(request)
        try:
            found = self._run_jql(str(params.get("jql") or ""), request.user)
        except JqlProblem as problem:
            return 400, _errors(str(problem))
        start = int(params.get("startAt") or 0)
        limit = min(int(params.get("maxResults") or 50), self.max_results)
        wanted = _listed(params.get("fields")) or {"*navigable"}
        expand = _listed(params.get("expand"))
        return 200, {"expand": "names,schema", "startAt": start, "maxResults": limit, "total": len(found),
                     "issues": [self._issue_json(i, wanted, expand) for i in found[start:start + limit]]}

    def _search_jql(self, request: _Request) -> tuple[int, Any]:
        if not self.cloud:
            return 404, _errors("null for uri: /rest/api/2/search/jql")
        params = _search_params(request)
        jql = str(params.get("jql") or "")
        try:
            found = self._run_jql(jql, request.user, bounded=True)
            start = _page_token_offset(params.get("nextPageToken"), jql)
        except JqlProblem as problem:
            return 400, _errors(str(problem))
        limit = min(int(params.get("maxResults") or 50), self.max_results)
        wanted = _listed(params.get("fields")) or {"id"}
        expand = _listed(params.get("expand"))
        window = found[start:start + limit]
        answer: Json = {"issues": [self._issue_json(i, wanted, expand) for i in window],
                        "isLast": start + len(window) >= len(found)}
        if not answer["isLast"]:
            answer["nextPageToken"] = _page_token(jql, start + len(window))
        return 200, answer

    # -- state changes ---------------------------------------------------------------------------

    def _append_comment(self, issue: FakeIssue, author: str, body: str) -> FakeComment:
        new = FakeComment(str(next(self._ids)), author, body, self.now, self.now)
        issue.comments.append(new)
        issue.updated = self.now
        return new

    def _move(self, issue: FakeIssue, status: str, author: FakeUser) -> None:
        old = issue.status
        issue.status = status
        issue.updated = self.now
        issue.changes.append(FakeChange(str(next(self._ids)), author.name, self.now, [{
            "field": "status", "fieldtype": "jira", "fieldId": "status",
            "from": self._statuses[old][0], "fromString": old,
            "to": self._statuses[status][0], "toString": status,
        }]))

    def _available(self, issue: FakeIssue) -> list[FakeTransition]:
        return [t for t in self._workflows[issue.project] if issue.status in t.sources]

    def _new_issue(self, fields: Json, user: FakeUser) -> tuple[FakeIssue | None, dict[str, str]]:
        """The issue a create request describes, or JIRA's field errors."""
        errors: dict[str, str] = {}
        project = _pick(fields.get("project"), {key: project_id for key, (project_id, _) in self._projects.items()})
        type_name = _pick(fields.get("issuetype"), {name: type_id for type_id, name, _, _ in ISSUE_TYPES})
        if project is None:
            errors["project"] = "valid project is required"
        if type_name is None:
            errors["issuetype"] = "valid issue type is required"
        if not str(fields.get("summary") or "").strip():
            errors["summary"] = "You must specify a summary of the issue."
        priority = "Medium"
        if fields.get("priority") is not None:
            priority = _pick(fields["priority"], {name: str(n + 1) for n, name in enumerate(PRIORITIES)})
            if priority is None:
                errors["priority"] = "The priority selected is invalid."
        screen = self._screen(type_name) if type_name else tuple(fields)
        for name in fields:
            if name not in screen:
                errors[name] = f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
        parent, epic = self._hierarchy_errors(fields, type_name, errors)
        assignee = self._assignee(fields.get("assignee"), errors)
        if errors or project is None or type_name is None:
            return None, errors
        number = next(self._numbers[project])
        return FakeIssue(
            id=str(next(self._ids)), key=f"{project}-{number}", project=project, type=type_name,
            summary=str(fields["summary"]), status="To Do", reporter=user.name, created=self.now, updated=self.now,
            description=str(fields.get("description") or ""), assignee=assignee, priority=priority,
            labels=list(fields.get("labels") or []), parent=parent, epic=epic,
            story_points=fields.get(STORY_POINTS),
        ), {}

    def _hierarchy_errors(self, fields: Json, type_name: str | None,
                          errors: dict[str, str]) -> tuple[str | None, str | None]:
        """The parent and epic keys of a new issue, adding JIRA's errors for wrong ones."""
        subtask = type_name is not None and _type_info(type_name)[2]
        parent_ref = fields.get("parent") or {}
        parent = self._find(str(parent_ref.get("key") or parent_ref.get("id") or "")) if parent_ref else None
        if parent_ref and parent is None:
            errors.setdefault("parent", "Could not find issue by id or key.")
        elif subtask and parent is None:
            errors.setdefault("parent", "Issue type is a sub-task but parent issue key or id not specified.")
        elif parent is not None and type_name and _type_info(parent.type)[3] != _type_info(type_name)[3] + 1:
            errors.setdefault("parent", "Given parent issue does not belong to appropriate hierarchy.")
        epic_key = fields.get(EPIC_LINK)
        epic = self._find(str(epic_key)) if epic_key else None
        if epic_key and (epic is None or epic.type != "Epic"):
            errors.setdefault(EPIC_LINK, f"Issue '{epic_key}' is not an Epic.")
        return (parent.key if parent else None), (epic.key if epic else None)

    def _assignee(self, ref: Json | None, errors: dict[str, str]) -> str | None:
        if not ref:
            return None
        wanted = ref.get("accountId") if self.cloud else ref.get("name")
        user = next((u for u in self._users.values() if u.id == wanted), None)
        if user is None:
            errors["assignee"] = f"User '{wanted}' does not exist."
            return None
        return user.name

    def _find(self, key_or_id: str) -> FakeIssue | None:
        issue = self._issues.get(key_or_id.upper())
        return issue or next((i for i in self._issues.values() if i.id == key_or_id), None)

    # -- JSON ------------------------------------------------------------------------------------

    def _time(self, moment: datetime) -> str:
        return moment.astimezone(self.timezone).strftime(TIME_FORMAT)

    def _user_json(self, name: str | None) -> Json | None:
        if name is None:
            return None
        user = self._users[name]
        common = {"emailAddress": user.email, "displayName": user.display_name, "active": True,
                  "timeZone": str(self.timezone)}
        if self.cloud:
            return {"self": f"{self.url}/rest/api/2/user?accountId={user.id}", "accountId": user.id,
                    "accountType": "atlassian", **common}
        return {"self": f"{self.url}/rest/api/2/user?username={quote(user.name)}", "name": user.name,
                "key": f"JIRAUSER{10000 + list(self._users).index(name)}", **common}

    def _project_json(self, key: str) -> Json:
        project_id, name = self._projects[key]
        return {"self": f"{self.url}/rest/api/2/project/{project_id}", "id": project_id, "key": key, "name": name,
                "projectTypeKey": "software"}

    def _priority_json(self, name: str) -> Json:
        number = str(PRIORITIES.index(name) + 1)
        return {"self": f"{self.url}/rest/api/2/priority/{number}", "id": number, "name": name}

    def _type_json(self, name: str) -> Json:
        type_id, _, subtask, level = _type_info(name)
        answer = {"self": f"{self.url}/rest/api/2/issuetype/{type_id}", "id": type_id, "name": name,
                  "subtask": subtask, "description": ""}
        return {**answer, "hierarchyLevel": level, "untranslatedName": name} if self.cloud else answer

    def _status_json(self, name: str) -> Json:
        status_id, category = self._statuses[name]
        category_id, category_name, colour = CATEGORIES[category]
        return {"self": f"{self.url}/rest/api/2/status/{status_id}", "id": status_id, "name": name,
                "statusCategory": {"id": category_id, "key": category, "name": category_name, "colorName": colour}}

    def _field_specs(self) -> list[tuple[str, str, Json, list[str]]]:
        """Every field of the site: id, name, schema, JQL clause names."""
        specs = [
            ("summary", "Summary", {"type": "string", "system": "summary"}, ["summary"]),
            ("description", "Description", {"type": "string", "system": "description"}, ["description"]),
            ("project", "Project", {"type": "project", "system": "project"}, ["project"]),
            ("issuetype", "Issue Type", {"type": "issuetype", "system": "issuetype"}, ["issuetype", "type"]),
            ("status", "Status", {"type": "status", "system": "status"}, ["status"]),
            ("priority", "Priority", {"type": "priority", "system": "priority"}, ["priority"]),
            ("assignee", "Assignee", {"type": "user", "system": "assignee"}, ["assignee"]),
            ("reporter", "Reporter", {"type": "user", "system": "reporter"}, ["reporter"]),
            ("created", "Created", {"type": "datetime", "system": "created"}, ["created", "createdDate"]),
            ("updated", "Updated", {"type": "datetime", "system": "updated"}, ["updated", "updatedDate"]),
            ("labels", "Labels", {"type": "array", "items": "string", "system": "labels"}, ["labels"]),
            ("parent", "Parent", {"type": "issuelink", "system": "parent"}, ["parent"]),
            ("comment", "Comment", {"type": "comments-page", "system": "comment"}, ["comment"]),
            (STORY_POINTS, "Story Points", {"type": "number", "custom": _FLOAT, "customId": 10016},
             ["cf[10016]", "Story Points"]),
        ]
        if not self.cloud:
            specs.append((EPIC_LINK, "Epic Link", {"type": "any", "custom": _EPIC_LINK_TYPE, "customId": 10014},
                          ["cf[10014]", "Epic Link"]))
        return specs

    def _field_json(self, field_id: str, name: str, schema: Json, clauses: list[str]) -> Json:
        answer = {"id": field_id, "name": name, "custom": field_id.startswith("customfield_"), "orderable": True,
                  "navigable": True, "searchable": True, "clauseNames": clauses, "schema": schema}
        return {**answer, "key": field_id} if self.cloud else answer

    def _screen(self, type_name: str) -> tuple[str, ...]:
        """The create screen of a type: the fields a create request may set."""
        level = _type_info(type_name)[3]
        fields = ["summary", "issuetype", "project", "description", "priority", "labels", "assignee"]
        if level == -1 or (self.cloud and level == 0):
            fields.append("parent")
        if level >= 0:
            fields.append(STORY_POINTS)
        if level == 0 and not self.cloud:
            fields.append(EPIC_LINK)
        return tuple(fields)

    def _create_field_json(self, project: str, type_name: str, field_id: str) -> Json:
        spec = next(s for s in self._field_specs() if s[0] == field_id)
        required = field_id in ("summary", "issuetype", "project") or (field_id == "parent"
                                                                       and _type_info(type_name)[2])
        answer: Json = {"required": required, "schema": spec[2], "name": spec[1], "fieldId": field_id,
                        "hasDefaultValue": field_id == "priority", "operations": ["set"]}
        allowed = {"priority": [self._priority_json(n) for n in PRIORITIES], "issuetype": [self._type_json(type_name)],
                   "project": [self._project_json(project)]}.get(field_id)
        if allowed is not None:
            answer["allowedValues"] = allowed
        return {**answer, "key": field_id} if self.cloud else answer

    def _comment_json(self, note: FakeComment, *, rendered: bool = False, body: str | None = None) -> Json:
        author = self._user_json(note.author)
        answer = {"self": f"{self.url}/rest/api/2/issue/comment/{note.id}", "id": note.id, "author": author,
                  "body": note.body if body is None else body, "updateAuthor": author,
                  "created": self._time(note.created), "updated": self._time(note.updated)}
        return {**answer, "renderedBody": render_wiki(note.body)} if rendered else answer

    def _comment_block(self, issue: FakeIssue, *, rendered: bool) -> Json:
        shown = issue.comments[:self.embedded_comments] if self.embedded_comments is not None else issue.comments
        return {"comments": [self._comment_json(c, body=render_wiki(c.body) if rendered else None) for c in shown],
                "maxResults": len(shown), "total": len(issue.comments), "startAt": 0}

    def _issue_fields(self, issue: FakeIssue) -> dict[str, Callable[[], Any]]:
        return {
            "summary": lambda: issue.summary,
            "description": lambda: issue.description or None,
            "project": lambda: self._project_json(issue.project),
            "issuetype": lambda: self._type_json(issue.type),
            "status": lambda: self._status_json(issue.status),
            "priority": lambda: self._priority_json(issue.priority) if issue.priority else None,
            "assignee": lambda: self._user_json(issue.assignee),
            "reporter": lambda: self._user_json(issue.reporter),
            "created": lambda: self._time(issue.created),
            "updated": lambda: self._time(issue.updated),
            "labels": lambda: list(issue.labels),
            "comment": lambda: self._comment_block(issue, rendered=False),
            STORY_POINTS: lambda: issue.story_points,
            **({} if self.cloud else {EPIC_LINK: lambda: issue.epic}),
        }

    def _issue_json(self, issue: FakeIssue, wanted: set[str], expand: set[str]) -> Json:
        every = wanted & {"*all", "*navigable"}
        fields = {name: value() for name, value in self._issue_fields(issue).items() if every or name in wanted}
        if (every or "parent" in wanted) and issue.parent:
            parent = self._issues[issue.parent]
            fields["parent"] = {"id": parent.id, "key": parent.key, "self": f"{self.url}/rest/api/2/issue/{parent.id}",
                                "fields": {"summary": parent.summary, "status": self._status_json(parent.status),
                                           "issuetype": self._type_json(parent.type)}}
        answer: Json = {"expand": "renderedFields,names,schema,transitions,changelog", "id": issue.id,
                        "self": f"{self.url}/rest/api/2/issue/{issue.id}", "key": issue.key, "fields": fields}
        if "renderedFields" in expand:
            answer["renderedFields"] = self._rendered(issue, fields)
        if "changelog" in expand:
            histories = [{"id": c.id, "author": self._user_json(c.author), "created": self._time(c.at),
                          "items": c.items} for c in issue.changes]
            answer["changelog"] = {"startAt": 0, "maxResults": len(histories), "total": len(histories),
                                   "histories": histories}
        if "transitions" in expand:
            answer["transitions"] = self._transitions_json(issue)
        return answer

    def _rendered(self, issue: FakeIssue, fields: Json) -> Json:
        """JIRA's renderedFields: HTML for text, friendly dates, null for the rest."""
        friendly = {"created": issue.created, "updated": issue.updated}
        rendered: Json = dict.fromkeys(fields)
        for name in fields:
            if name == "description":
                rendered[name] = render_wiki(issue.description) if issue.description else None
            elif name == "comment":
                rendered[name] = self._comment_block(issue, rendered=True)
            elif name in friendly:
                rendered[name] = friendly[name].astimezone(self.timezone).strftime("%d/%b/%y %I:%M %p")
        return rendered

    def _transitions_json(self, issue: FakeIssue) -> list[Json]:
        return [{"id": t.id, "name": t.name, "to": self._status_json(t.to), "hasScreen": False, "isGlobal": False,
                 "isInitial": False, "isAvailable": True, "isConditional": False} for t in self._available(issue)]

    # -- JQL -------------------------------------------------------------------------------------

    def _run_jql(self, jql: str, user: FakeUser, *, bounded: bool = False) -> list[FakeIssue]:
        """The issues a query finds, ordered; Cloud's /search/jql refuses a query without a
        restriction (``bounded``)."""
        query = JqlParser(jql, self._jql_fields(user)).parse()
        if bounded and query.unrestricted:
            raise JqlProblem("Unbounded JQL queries are not allowed here. Please add a search restriction to "
                             "your query.")
        return query.run(self._issues.values())

    def _jql_fields(self, caller: FakeUser) -> dict[str, JqlField]:
        """Every field a query may name (by lower-cased clause name), bound to this fake's state."""
        fields = {**self._jql_named_fields(), **self._jql_people_fields(caller), **self._jql_text_and_time_fields()}
        if not self.cloud:
            fields["epic link"] = JqlField("Epic Link", EXACT, lambda i: _held(i.epic), self._key_resolver("Epic Link"))
        return {**fields, **{alias: fields[name] for alias, name in JQL_ALIASES.items() if name in fields}}

    def _jql_named_fields(self) -> dict[str, JqlField]:
        """Fields holding named things: projects, keys, types, statuses, priorities, labels."""
        projects = [(key, name, project_id) for key, (project_id, name) in self._projects.items()]
        types = [(name, type_id) for type_id, name, _, _ in ISSUE_TYPES]
        statuses = [(name, status_id) for name, (status_id, _) in self._statuses.items()]
        categories = [(key, name, str(category_id)) for key, (category_id, name, _) in CATEGORIES.items()]
        priorities = [(name, str(number + 1)) for number, name in enumerate(PRIORITIES)]
        status_order = list(self._statuses)
        return {
            "project": JqlField("project", EXACT, lambda i: _held(i.project),
                                self._named_resolver("project", projects), lambda i: i.project),
            "key": JqlField("key", EXACT, lambda i: _held(i.key), self._key_resolver("key"),
                            lambda i: (i.project, i.number)),
            "issuetype": JqlField("issuetype", EXACT, lambda i: _held(i.type),
                                  self._named_resolver("issuetype", types), lambda i: i.type),
            "status": JqlField("status", EXACT, lambda i: _held(i.status), self._named_resolver("status", statuses),
                               lambda i: status_order.index(i.status)),
            "statuscategory": JqlField("statusCategory", EXACT, lambda i: _held(self._statuses[i.status][1]),
                                       self._named_resolver("statusCategory", categories)),
            "priority": JqlField("priority", EXACT, lambda i: _held(i.priority),
                                 self._named_resolver("priority", priorities),
                                 lambda i: -PRIORITIES.index(i.priority) if i.priority else None),
            "labels": JqlField("labels", EXACT, lambda i: tuple(label.casefold() for label in i.labels),
                               lambda operand: _literal(operand, "labels").casefold()),
            "parent": JqlField("parent", EXACT, lambda i: _held(i.parent), self._key_resolver("parent")),
        }

    def _jql_people_fields(self, caller: FakeUser) -> dict[str, JqlField]:
        return {
            "assignee": JqlField("assignee", EXACT, lambda i: self._user_ids(i.assignee),
                                 self._user_resolver("assignee", caller), lambda i: self._display_name(i.assignee)),
            "reporter": JqlField("reporter", EXACT, lambda i: self._user_ids(i.reporter),
                                 self._user_resolver("reporter", caller), lambda i: self._display_name(i.reporter)),
        }

    def _jql_text_and_time_fields(self) -> dict[str, JqlField]:
        return {
            "summary": JqlField("summary", TEXT, lambda i: _held(i.summary), _terms("summary"),
                                lambda i: i.summary.casefold()),
            "description": JqlField("description", TEXT, lambda i: _held(i.description), _terms("description")),
            "comment": JqlField("comment", TEXT, lambda i: tuple(c.body.casefold() for c in i.comments),
                                _terms("comment")),
            "text": JqlField("text", TEXT, lambda i: _held(" ".join([i.summary, i.description, *(
                c.body for c in i.comments)])), _terms("text")),
            "created": JqlField("created", ORDERED, lambda i: (i.created,), self._date_resolver("created"),
                                lambda i: i.created),
            "updated": JqlField("updated", ORDERED, lambda i: (i.updated,), self._date_resolver("updated"),
                                lambda i: i.updated),
            "story points": JqlField("Story Points", ORDERED,
                                     lambda i: () if i.story_points is None else (float(i.story_points),),
                                     _number("Story Points"), lambda i: i.story_points),
        }

    def _user_ids(self, name: str | None) -> tuple[str, ...]:
        return (self._users[name].id,) if name else ()

    def _display_name(self, name: str | None) -> str | None:
        return self._users[name].display_name if name else None

    @staticmethod
    def _named_resolver(field_name: str, known: list[tuple[str, ...]]) -> Callable[[JqlOperand], str]:
        """A value named by any of its identifiers (key, name, id), to the first of them."""
        def resolve(operand: JqlOperand) -> str:
            text = _literal(operand, field_name).casefold()
            for identifiers in known:
                if text in (ident.casefold() for ident in identifiers):
                    return identifiers[0].casefold()
            raise JqlProblem(f"The value '{operand.text}' does not exist for the field '{field_name}'.")
        return resolve

    def _key_resolver(self, field_name: str) -> Callable[[JqlOperand], str]:
        def resolve(operand: JqlOperand) -> str:
            issue = self._find(_literal(operand, field_name))
            if issue is None:
                raise JqlProblem(f"An issue with key '{operand.text}' does not exist for field '{field_name}'.")
            return issue.key.casefold()
        return resolve

    def _user_resolver(self, field_name: str, caller: FakeUser) -> Callable[[JqlOperand], str]:
        """Users by accountId on Cloud; by name, e-mail address or display name on Server."""
        def resolve(operand: JqlOperand) -> str:
            if operand.function == "currentuser":
                return caller.id
            text = _literal(operand, field_name).casefold()
            for user in self._users.values():
                names = [user.id] if self.cloud else [user.name, user.email, user.display_name]
                if text in (name.casefold() for name in names):
                    return user.id
            raise JqlProblem(f"The value '{operand.text}' does not exist for the field '{field_name}'.")
        return resolve

    def _date_resolver(self, field_name: str) -> Callable[[JqlOperand], datetime]:
        def resolve(operand: JqlOperand) -> datetime:
            if operand.function == "now":
                return self.now
            if operand.function in ("startofday", "endofday"):
                midnight = self.now.astimezone(self.timezone).replace(hour=0, minute=0, second=0, microsecond=0)
                return midnight if operand.function == "startofday" else midnight + timedelta(days=1, microseconds=-1)
            moment = _jql_date(_literal(operand, field_name), self.now, self.timezone)
            if moment is None:
                raise JqlProblem(
                    f"Date value '{operand.text}' for field '{field_name}' is invalid. Valid formats include: "
                    "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format "
                    "e.g. '-5d', '4w 2d'.")
            return moment
        return resolve


_FLOAT = "com.atlassian.jira.plugin.system.customfieldtypes:float"
_EPIC_LINK_TYPE = "com.pyxis.greenhopper.jira:gh-epic-link"


@dataclass(frozen=True)
class _Request:
    user: FakeUser
    query: Query
    body: Any


_ROUTES: list[tuple[str, str, re.Pattern[str]]] = [
    ("GET", "server_info", re.compile(r"/serverInfo")),
    ("GET", "myself", re.compile(r"/myself")),
    ("GET", "fields", re.compile(r"/field")),
    ("GET", "projects_list", re.compile(r"/project")),
    ("GET", "priorities", re.compile(r"/priority")),
    ("GET", "create_types", re.compile(r"/issue/createmeta/(?P<project>[^/]+)/issuetypes")),
    ("GET", "create_fields", re.compile(r"/issue/createmeta/(?P<project>[^/]+)/issuetypes/(?P<type_id>[^/]+)")),
    ("POST", "issue_post", re.compile(r"/issue")),
    ("GET", "issue_get", re.compile(r"/issue/(?P<key>[^/]+)")),
    ("GET", "transitions_get", re.compile(r"/issue/(?P<key>[^/]+)/transitions")),
    ("POST", "transition_post", re.compile(r"/issue/(?P<key>[^/]+)/transitions")),
    ("GET", "comments_get", re.compile(r"/issue/(?P<key>[^/]+)/comment")),
    ("POST", "comment_post", re.compile(r"/issue/(?P<key>[^/]+)/comment")),
    ("GET", "search", re.compile(r"/search")),
    ("POST", "search", re.compile(r"/search")),
    ("GET", "search_jql", re.compile(r"/search/jql")),
    ("POST", "search_jql", re.compile(r"/search/jql")),
]


def _route(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    for route_method, name, pattern in _ROUTES:
        match = pattern.fullmatch(path)
        if match and route_method == method:
            return name, match.groupdict()
    return None


def _first(query: Query, name: str, default: str) -> str:
    return query.get(name, [default])[0]


def _listed(values: Any) -> set[str]:
    """A comma-separated parameter, repeated or not, or a JSON list, as a set of its items."""
    if values is None:
        return set()
    items = [values] if isinstance(values, str) else list(values)
    return {part.strip() for item in items for part in str(item).split(",") if part.strip()}


def _search_params(request: _Request) -> Json:
    """The search parameters of a GET (query) or POST (JSON body)."""
    if isinstance(request.body, dict):
        return request.body
    return {name: values if name == "fields" else values[0] for name, values in request.query.items()}


def _page_token(jql: str, offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"jql": jql, "offset": offset}).encode()).decode()


def _page_token_offset(token: str | None, jql: str) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        data = {}
    if not isinstance(data, dict) or data.get("jql") != jql:
        raise JqlProblem("The provided next page token is invalid or expired.")
    return int(data["offset"])


def _scheme(header: str) -> Literal["bearer", "basic"] | None:
    kind = header.split(" ", 1)[0].lower()
    return "bearer" if kind == "bearer" else "basic" if kind == "basic" else None


def _basic(login: str, secret: str) -> str:
    return base64.b64encode(f"{login}:{secret}".encode()).decode()


def _errors(*messages: str) -> Json:
    """JIRA's error body."""
    return {"errorMessages": list(messages), "errors": {}}


def _no_issue() -> tuple[int, Any]:
    return 404, _errors("Issue does not exist or you do not have permission to see it.")


def _pick(ref: Any, known: dict[str, str]) -> str | None:
    """The name (of ``known``, names to ids) that a REST reference, {"key"|"name": ...} or {"id": ...},
    points at."""
    if not isinstance(ref, dict):
        return None
    return next((name for name, ident in known.items()
                 if ref.get("key", ref.get("name")) == name or str(ref.get("id")) == ident), None)


def _type_info(name: str) -> tuple[str, str, bool, int]:
    return next(entry for entry in ISSUE_TYPES if entry[1] == name)


# -- wiki markup ---------------------------------------------------------------------------------

_CODE = re.compile(r"\{code(?::[^}]*)?\}(.*?)\{code\}", re.DOTALL)
_BOLD = re.compile(r"\*(\S(?:[^*\n]*\S)?)\*")
_MONOSPACE = re.compile(r"\{\{(.+?)\}\}")


def render_wiki(text: str) -> str:
    """JIRA's HTML for the wiki markup the tests use: paragraphs, *bold*, {{monospace}}, {code}
    blocks and bullet lists."""
    parts: list[str] = []
    position = 0
    for match in _CODE.finditer(text):
        parts.extend(_render_blocks(text[position:match.start()]))
        parts.append('<div class="code panel" style="border-width: 1px;"><div class="codeContent panelContent">'
                     f'<pre class="code-java">{html.escape(match.group(1).strip(chr(10)))}</pre></div></div>')
        position = match.end()
    parts.extend(_render_blocks(text[position:]))
    return "\n".join(parts)


def _render_blocks(text: str) -> Iterator[str]:
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        lines = [line for line in paragraph.splitlines() if line.strip()]
        for bullets, group in itertools.groupby(lines, key=lambda line: line.startswith("* ")):
            items = [_inline(line[2:] if bullets else line) for line in group]
            yield ("<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>" if bullets
                   else "<p>" + "<br/>\n".join(items) + "</p>")


def _inline(text: str) -> str:
    return _MONOSPACE.sub(r"<tt>\1</tt>", _BOLD.sub(r"<b>\1</b>", html.escape(text.strip())))


# -- JQL -----------------------------------------------------------------------------------------

KEYWORDS = frozenset({"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"})
EXACT = frozenset({"=", "!=", "in", "not in", "is", "is not"})
ORDERED = EXACT | {">", ">=", "<", "<="}
TEXT = frozenset({"~", "!~", "is", "is not"})
JQL_ALIASES = {"type": "issuetype", "issuekey": "key", "id": "key", "createddate": "created", "updateddate": "updated",
               "cf[10016]": "story points", "cf[10014]": "epic link"}
FUNCTIONS = frozenset({"currentuser", "now", "startofday", "endofday"})
OPERATORS_HELP = ("The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' "
                  "and 'IS NOT'.")
_TOKEN = re.compile(r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>!=|!~|>=|<=|=|~|>|<)
                        |(?P<punct>[(),])|(?P<word>cf\[\d+\]|[\w-]+))""", re.VERBOSE)
_PERIOD = re.compile(r"([-+]?)((?:\d+[wdhm]\s*)+)")
_DATE_FORMATS = ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {">": operator.gt, ">=": operator.ge, "<": operator.lt,
                                                    "<=": operator.le}


@dataclass(frozen=True)
class Token:
    kind: Literal["string", "op", "punct", "word", "end"]
    text: str  # a string's text without its quotes
    at: int  # 1-based character of the query

    def keyword(self, *words: str) -> bool:
        return self.kind == "word" and self.text.casefold() in words


@dataclass(frozen=True)
class JqlOperand:
    text: str
    function: str | None = None  # the lower-cased name of a function call


@dataclass(frozen=True)
class JqlField:
    """A field a query may name: the operators it takes, what an issue holds in it (an empty
    tuple is EMPTY), how a query value becomes comparable with that, and how it sorts."""

    name: str
    operators: frozenset[str]
    values: Callable[[FakeIssue], tuple[Any, ...]]
    resolve: Callable[[JqlOperand], Any]
    sort_key: Callable[[FakeIssue], Any] | None = None


Predicate = Callable[[FakeIssue], bool]


@dataclass(frozen=True)
class JqlQuery:
    matches: Predicate
    order: list[tuple[Callable[[FakeIssue], Any], bool]]  # (sort key, descending), most significant first
    unrestricted: bool

    def run(self, issues: Iterable[FakeIssue]) -> list[FakeIssue]:
        found = sorted((i for i in issues if self.matches(i)), key=lambda i: (i.project, i.number))
        for key, descending in reversed(self.order):
            found.sort(key=lambda i, key=key: _sortable(key(i)), reverse=descending)
        return found


def _sortable(value: Any) -> tuple[Any, ...]:
    """Empty values sort as the largest, as JIRA's do: last ascending, first descending."""
    return (1,) if value is None else (0, value)


def tokenize(jql: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while jql[position:].strip():
        start = len(jql) - len(jql[position:].lstrip())
        match = _TOKEN.match(jql, position)
        if match is None:
            _bad_character(jql, start)
        kind = match.lastgroup
        text = match.group(kind)
        if kind == "string":
            tokens.append(Token("string", re.sub(r"\\(.)", r"\1", text[1:-1]), start + 1))
        else:
            tokens.append(Token("op" if kind == "op" else "punct" if kind == "punct" else "word", text, start + 1))
        position = match.end()
    tokens.append(Token("end", "", len(jql) + 1))
    return tokens


def _bad_character(jql: str, index: int) -> NoReturn:
    char = jql[index]
    if char in "\"'":
        raise JqlProblem(f"Error in the JQL Query: The quoted string '{jql[index + 1:]}' has not been completed. "
                         f"(line 1, character {index + 1})")
    raise JqlProblem(f"Error in the JQL Query: The character '{char}' is a reserved JQL character. You must "
                     f"enclose it in a string or use the escape '\\u{ord(char):04x}' instead. "
                     f"(line 1, character {index + 1})")


class JqlParser:
    """Recursive descent over::

        query    := [or] [ORDER BY sort ("," sort)*]
        or       := and (OR and)*
        and      := not (AND not)*
        not      := NOT not | "(" or ")" | clause
        clause   := field operator operand
        operand  := value | "(" value ("," value)* ")" | EMPTY | NULL
        value    := word | string | function "(" ")"

    Each clause is checked against the field table as it is parsed (unknown fields, operators the
    field does not take, values that do not exist), as JIRA validates a query before running it."""

    def __init__(self, jql: str, fields: dict[str, JqlField]) -> None:
        self._tokens = tokenize(jql)
        self._position = 0
        self._fields = fields

    def parse(self) -> JqlQuery:
        restricted = not (self._peek().kind == "end" or self._peek().keyword("order"))
        matches: Predicate = self._or() if restricted else (lambda _: True)
        order = self._order_by() if self._peek().keyword("order") else []
        if self._peek().kind != "end":
            self._expected("either 'OR' or 'AND'")
        return JqlQuery(matches, order, unrestricted=not restricted)

    # -- grammar ---------------------------------------------------------------------------------

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._peek().keyword("or"):
            self._next()
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda issue: any(part(issue) for part in parts))

    def _and(self) -> Predicate:
        parts = [self._not()]
        while self._peek().keyword("and"):
            self._next()
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else (lambda issue: all(part(issue) for part in parts))

    def _not(self) -> Predicate:
        token = self._peek()
        if token.keyword("not"):
            self._next()
            inner = self._not()
            return lambda issue: not inner(issue)
        if token.kind == "punct" and token.text == "(":
            self._next()
            inner = self._or()
            self._punct(")")
            return inner
        return self._clause()

    def _clause(self) -> Predicate:
        name_token = self._next()
        if name_token.kind not in ("word", "string") or (name_token.kind == "word" and name_token.text.casefold()
                                                         in KEYWORDS):
            self._expected("a field name", name_token)
        jql_field = self._fields.get(name_token.text.casefold())
        if jql_field is None:
            raise JqlProblem(f"Field '{name_token.text}' does not exist or you do not have permission to view it.")
        op = self._operator()
        if op in ("is", "is not"):
            self._empty()
        elif op in ("=", "!=") and self._peek().keyword("empty", "null"):
            self._next()
            op = "is" if op == "=" else "is not"
        if op not in jql_field.operators:
            raise JqlProblem(f"The operator '{op.upper()}' is not supported by the '{jql_field.name}' field.")
        if op in ("is", "is not"):
            return _predicate(jql_field, op, [])
        operands = self._list() if op in ("in", "not in") else [self._value()]
        return _predicate(jql_field, op, [jql_field.resolve(operand) for operand in operands])

    def _operator(self) -> str:
        token = self._next()
        if token.kind == "op":
            return token.text
        if token.keyword("in", "is"):
            if token.text.casefold() == "is" and self._peek().keyword("not"):
                self._next()
                return "is not"
            return token.text.casefold()
        if token.keyword("not") and self._peek().keyword("in"):
            self._next()
            return "not in"
        self._expected("operator", token, OPERATORS_HELP)

    def _empty(self) -> None:
        token = self._next()
        if not token.keyword("empty", "null"):
            self._expected("'EMPTY'", token)

    def _list(self) -> list[JqlOperand]:
        self._punct("(")
        values = [self._value()]
        while self._peek().kind == "punct" and self._peek().text == ",":
            self._next()
            values.append(self._value())
        self._punct(")")
        return values

    def _value(self) -> JqlOperand:
        token = self._next()
        if token.kind == "string":
            return JqlOperand(token.text)
        if token.kind != "word" or token.text.casefold() in KEYWORDS:
            self._expected("either a value, list or function", token,
                           f"You must surround '{token.text}' in quotation marks to use it as a value."
                           if token.kind != "end" else "")
        if self._peek().kind == "punct" and self._peek().text == "(":
            self._next()
            self._punct(")")
            if token.text.casefold() not in FUNCTIONS:
                raise JqlProblem(f"Unable to find JQL function '{token.text}()'.")
            return JqlOperand(f"{token.text}()", token.text.casefold())
        return JqlOperand(token.text)

    def _order_by(self) -> list[tuple[Callable[[FakeIssue], Any], bool]]:
        self._next()
        by = self._next()
        if not by.keyword("by"):
            self._expected("'BY'", by)
        order = [self._sort()]
        while self._peek().kind == "punct" and self._peek().text == ",":
            self._next()
            order.append(self._sort())
        return order

    def _sort(self) -> tuple[Callable[[FakeIssue], Any], bool]:
        token = self._next()
        if token.kind not in ("word", "string") or token.keyword(*KEYWORDS):
            self._expected("a field name", token)
        jql_field = self._fields.get(token.text.casefold())
        if jql_field is None:
            raise JqlProblem(f"Field '{token.text}' does not exist or you do not have permission to view it.")
        if jql_field.sort_key is None:
            raise JqlProblem(f"Field '{jql_field.name}' does not support sorting.")
        descending = False
        if self._peek().keyword("asc", "desc"):
            descending = self._next().text.casefold() == "desc"
        return jql_field.sort_key, descending

    # -- tokens ----------------------------------------------------------------------------------

    def _peek(self) -> Token:
        return self._tokens[self._position]

    def _next(self) -> Token:
        token = self._tokens[self._position]
        self._position = min(self._position + 1, len(self._tokens) - 1)
        return token

    def _punct(self, char: str) -> None:
        token = self._next()
        if token.kind != "punct" or token.text != char:
            self._expected(f"'{char}'", token)

    def _expected(self, what: str, token: Token | None = None, advice: str = "") -> NoReturn:
        token = token or self._peek()
        tail = f" {advice}" if advice else ""
        if token.kind == "end":
            raise JqlProblem(f"Error in the JQL Query: Expecting {what} before the end of the query.{tail}")
        raise JqlProblem(f"Error in the JQL Query: Expecting {what} but got '{token.text}'.{tail} "
                         f"(line 1, character {token.at})")


def _predicate(jql_field: JqlField, op: str, targets: list[Any]) -> Predicate:
    held = jql_field.values
    if op == "is":
        return lambda issue: not held(issue)
    if op == "is not":
        return lambda issue: bool(held(issue))
    if op in ("=", "in"):
        return lambda issue: any(value in targets for value in held(issue))
    if op in ("!=", "not in"):
        return lambda issue: bool(held(issue)) and not any(value in targets for value in held(issue))
    if op == "~":
        return lambda issue: any(_contains(value, targets[0]) for value in held(issue))
    if op == "!~":
        return lambda issue: not any(_contains(value, targets[0]) for value in held(issue))
    compare = _COMPARE[op]
    return lambda issue: any(compare(value, targets[0]) for value in held(issue))


def _held(value: str | None) -> tuple[str, ...]:
    """A one-valued field as a query compares it: case-folded, or EMPTY."""
    return (value.casefold(),) if value else ()


def _contains(text: str, terms: tuple[str, ...]) -> bool:
    return all(term in text for term in terms)


def _terms(field_name: str) -> Callable[[JqlOperand], tuple[str, ...]]:
    """The words of a text search, wildcards dropped."""
    def resolve(operand: JqlOperand) -> tuple[str, ...]:
        words = _literal(operand, field_name).casefold().split()
        return tuple(word.strip("*?") for word in words if word.strip("*?"))
    return resolve


def _literal(operand: JqlOperand, field_name: str) -> str:
    if operand.function is not None:
        raise JqlProblem(f"The field '{field_name}' does not support the function '{operand.text}'.")
    return operand.text


def _number(field_name: str) -> Callable[[JqlOperand], float]:
    def resolve(operand: JqlOperand) -> float:
        try:
            return float(_literal(operand, field_name))
        except ValueError:
            raise JqlProblem(f"The value '{operand.text}' is not a valid number for the field "
                             f"'{field_name}'.") from None
    return resolve


def _jql_date(text: str, now: datetime, zone: tzinfo) -> datetime | None:
    """A relative period ("-15m", "-1w 2d", "4h") from now, or an absolute date read in ``zone``."""
    period = _PERIOD.fullmatch(text.strip())
    if period:
        units = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
        span = sum((int(amount) * units[unit] for amount, unit in re.findall(r"(\d+)([wdhm])", period.group(2))),
                   timedelta())
        return now - span if period.group(1) == "-" else now + span
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), pattern).replace(tzinfo=zone)
        except ValueError:
            continue
    return None


class _Handler(QuietHandler):
    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        try:
            self.server.fake._serve(self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (its timeout fired); nothing to answer

    def reply(self, status: int, body: str, content_type: str = "application/json",
              extra: dict[str, str] | None = None) -> None:
        self.send_body(status, body.encode(), f"{content_type};charset=UTF-8", extra)
