"""JIRA Server/Data Center and Cloud as a `TicketTracker`, through the `jira` library (3.10).

The only module allowed to import `jira`. What the library does not do for us, and why:

* Its retries sleep for real and repeat POSTs blindly, so they are off (`max_retries=0`): each
  request goes through our `Backoff`, which waits out 429s (and 5xx on reads) with an injectable
  sleep. A POST that creates something (a comment, an issue) is not repeated after a 5xx, a
  timeout or a dropped connection: JIRA may have stored it, so that is `IntegrationUncertain`.
* Paging is done here, one request (and one retry budget) per page: Server pages by
  startAt/total and may cap maxResults below what was asked; Cloud's /search/jql pages by
  nextPageToken without a total (its old /search answers 410).
* Searches ask for the fields a `Ticket` needs, never "*all"; the Story Points and Epic Link
  custom fields are found by name in the field metadata, once per client.
* The library refuses the createmeta endpoints on Cloud although Cloud serves them
  (pycontribs/jira#2353), so create metadata is read through its generic `find` on both
  deployments; the pages differ only in the key holding the items.
* The constructor talks to the given URL only (`check_update` stays off: it would ask PyPI), and
  the secret is registered with `services.redaction` before the first request can log anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import requests
from jira import JIRA
from jira.exceptions import JIRAError
from urllib3.exceptions import NameResolutionError, NewConnectionError

from services import redaction
from services.integrations.backoff import Backoff, RetryLater, retry_after_seconds
from services.integrations.base import IntegrationAuthError, IntegrationError, IntegrationUncertain
from services.integrations.tickets import (
    CATEGORIES,
    FieldSpec,
    HistoryItem,
    IssueType,
    JqlError,
    NewTicket,
    Project,
    SearchPage,
    Status,
    StatusChange,
    Ticket,
    TicketComment,
    TicketDetail,
    TicketNotFound,
    TrackerRefused,
    TrackerServer,
    TrackerUser,
    Transition,
)

Json = dict[str, Any]
T = TypeVar("T")

TICKET_FIELDS = ("project", "summary", "status", "issuetype", "priority", "assignee", "reporter", "created",
                 "updated", "description", "parent", "labels")  # the key comes with every issue, asked or not
STORY_POINT_NAMES = ("story points", "story point estimate")  # company-managed / team-managed Cloud projects
EPIC_LINK_NAME = "epic link"  # Server and Data Center; Cloud links epics through `parent`
DETAIL_EXPAND = "renderedFields,changelog,transitions"
COMMENT_PAGE = 100
META_PAGE = 50
JIRA_TIME = "%Y-%m-%dT%H:%M:%S.%f%z"  # "2026-11-21T10:00:00.000+0000"


class Effect(Enum):
    """What a failed request may have done, which decides what is retried."""

    READ = "read"  # nothing: retried after 429 and 5xx
    CHANGE = "change"  # a transition, harmless to refuse twice: retried after 429 only
    CREATE = "create"  # a comment or issue: retried after 429 only; 5xx and broken connections are uncertain


@dataclass(frozen=True)
class CustomFields:
    """The ids of the custom fields a Ticket reads; "" when the site has no such field."""

    story_points: str = ""
    epic_link: str = ""

    def ids(self) -> list[str]:
        return [field_id for field_id in (self.story_points, self.epic_link) if field_id]


class JiraTracker:
    """One JIRA site, signed in with a personal access token (Server/Data Center) or an e-mail
    address and API token (Cloud, or Server with basic auth). Connecting reads the server
    information, so a wrong URL or refused credentials fail here."""

    def __init__(self, url: str, *, token: str | None = None, email: str | None = None,
                 api_token: str | None = None, timeout: float = 20, max_wait: float = 60.0,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.url = site_url(url)
        auth: Json
        if token:
            auth, self._credential = {"token_auth": token}, "personal access token"
        elif email and api_token:
            auth, self._credential = {"basic_auth": (email, api_token)}, "e-mail address and API token"
        else:
            raise IntegrationError("JIRA needs a personal access token, or an e-mail address and an API token")
        redaction.register(token or api_token)
        self._backoff = Backoff("JIRA", max_wait=max_wait, sleep=sleep)
        self._custom: CustomFields | None = None
        self._jira = self._connect(auth, timeout)
        self.cloud = self._jira.deploymentType == "Cloud"
        # Read again: the library keeps only the version numbers and deployment type of it.
        info: Json = self._call("reading the server information", self._jira.server_info)
        self._server = TrackerServer(deployment="cloud" if self.cloud else "server",
                                     version=str(info.get("version", "")), title=str(info.get("serverTitle", "")),
                                     base_url=str(info.get("baseUrl") or self.url))

    def server(self) -> TrackerServer:
        return self._server

    def myself(self) -> TrackerUser:
        user: Json = self._call("reading the signed-in user", self._jira.myself)
        return TrackerUser(id=user_id(user), name=user.get("displayName", ""), email=user.get("emailAddress") or "")

    # -- tickets ---------------------------------------------------------------------------------

    def search(self, jql: str, *, page_size: int = 100, comments: bool = False,
               changelog: bool = False) -> Iterator[SearchPage]:
        fields = self._ticket_fields(comments)
        expand = "changelog" if changelog else None
        pages = self._cloud_pages if self.cloud else self._server_pages
        for issues, total in pages(jql, page_size, fields, expand):
            yield SearchPage(tickets=tuple(self._ticket(raw) for raw in issues), total=total)

    def detail(self, key: str) -> TicketDetail:
        raw = self._issue(key, self._ticket_fields(comments=True), expand=DETAIL_EXPAND)
        rendered = raw.get("renderedFields") or {}
        return TicketDetail(
            ticket=self._ticket(raw),
            description_html=rendered.get("description") or "",
            comments=tuple(self._all_comments(key, raw)),
            history=tuple(sorted(history_items(raw), key=lambda item: item.at)),
            transitions=tuple(transition(entry) for entry in raw.get("transitions", [])),
        )

    def transitions(self, key: str) -> list[Transition]:
        entries: list[Json] = self._call(f"reading the transitions of {key}",
                                         partial(self._jira.transitions, path_key(key)), missing=no_issue(key))
        return [transition(entry) for entry in entries]

    def transition(self, key: str, transition_id: str) -> None:
        self._call(f"moving {key}", partial(self._jira.transition_issue, path_key(key), transition_id),
                   effect=Effect.CHANGE, refused=TrackerRefused, missing=no_issue(key))

    def comments(self, key: str) -> list[TicketComment]:
        return self._all_comments(key, self._issue(key, ["comment"], expand="renderedFields"))

    def add_comment(self, key: str, body: str) -> TicketComment:
        created = self._call(f"adding a comment to {key}", partial(self._jira.add_comment, path_key(key), body),
                             effect=Effect.CREATE, refused=TrackerRefused, missing=no_issue(key))
        return comment(created.raw)

    def create(self, ticket: NewTicket) -> Ticket:
        created = self._call(f"creating an issue in {ticket.project}",
                             partial(self._jira.create_issue, fields=new_ticket_fields(ticket), prefetch=False),
                             effect=Effect.CREATE, refused=TrackerRefused)
        try:
            return self._ticket(self._issue(created.key, self._ticket_fields(comments=False)))
        except IntegrationError as exc:
            raise IntegrationUncertain(f"JIRA created {created.key} but reading it back failed ({exc}); "
                                       "do not create it again") from exc

    # -- metadata --------------------------------------------------------------------------------

    def projects(self) -> list[Project]:
        found = self._call("listing the projects", self._jira.projects)
        return [Project(id=str(project.raw["id"]), key=project.raw["key"], name=project.raw["name"])
                for project in found]

    def issue_types(self, project: str) -> list[IssueType]:
        entries = self._meta_pages(f"issue/createmeta/{path_key(project)}/issuetypes", "issueTypes",
                                   f"reading the issue types of {project}", project)
        return [IssueType(id=str(entry["id"]), name=entry["name"], subtask=bool(entry.get("subtask")),
                          hierarchy_level=hierarchy_level(entry)) for entry in entries]

    def priorities(self) -> list[str]:
        return [priority.raw["name"] for priority in self._call("listing the priorities", self._jira.priorities)]

    def fields(self) -> list[FieldSpec]:
        entries: list[Json] = self._call("reading the field list", self._jira.fields)
        return [FieldSpec(id=entry["id"], name=entry.get("name") or entry["id"],
                          schema_type=(entry.get("schema") or {}).get("type", ""),
                          custom_type=(entry.get("schema") or {}).get("custom", "")) for entry in entries]

    def create_fields(self, project: str, issue_type_id: str) -> list[FieldSpec]:
        entries = self._meta_pages(f"issue/createmeta/{path_key(project)}/issuetypes/{path_key(issue_type_id)}",
                                   "fields", f"reading the create screen of {project}", project)
        return [create_field(entry) for entry in entries]

    # -- requests --------------------------------------------------------------------------------

    def _connect(self, auth: Json, timeout: float) -> JIRA:
        not_jira = (f"{self.url} does not look like JIRA: it has no REST API at /rest/api/2/serverInfo; "
                    "give the address you open JIRA at in a browser, with its context path (such as /jira)")
        try:
            return self._call("connecting", partial(JIRA, self.url, options={"check_update": False}, max_retries=0,
                                                    get_server_info=True, timeout=timeout, **auth),
                              missing=IntegrationError(not_jira))
        except (KeyError, TypeError) as exc:  # JSON, but not JIRA's server information
            raise IntegrationError(not_jira) from exc

    def _server_pages(self, jql: str, page_size: int, fields: list[str],
                      expand: str | None) -> Iterator[tuple[list[Json], int | None]]:
        """startAt/total paging that trusts the server's startAt and the issues it sent, not the
        maxResults asked for: Server caps it (50 by default) whatever the client wants."""
        start = 0
        while True:
            data: Json = self._call("searching for issues", partial(
                self._jira.search_issues, jql, startAt=start, maxResults=page_size, fields=list(fields),
                expand=expand, json_result=True), refused=JqlError)
            issues = data.get("issues", [])
            total = int(data.get("total", 0))
            yield issues, total
            start = int(data.get("startAt", start)) + len(issues)
            if not issues or start >= total:
                return

    def _cloud_pages(self, jql: str, page_size: int, fields: list[str],
                     expand: str | None) -> Iterator[tuple[list[Json], int | None]]:
        token: str | None = None
        while True:
            data: Json = self._call("searching for issues", partial(
                self._jira.enhanced_search_issues, jql, nextPageToken=token, maxResults=page_size,
                fields=list(fields), expand=expand, json_result=True), refused=JqlError)
            yield data.get("issues", []), None
            token = data.get("nextPageToken")
            if not token or data.get("isLast"):
                return

    def _issue(self, key: str, fields: list[str], *, expand: str | None = None) -> Json:
        issue = self._call(f"reading {key}", partial(self._jira.issue, path_key(key), fields=",".join(fields),
                                                     expand=expand), missing=no_issue(key))
        return issue.raw

    def _all_comments(self, key: str, raw: Json) -> list[TicketComment]:
        """The comments the issue came with, then the rest a page at a time: the issue carries
        only the first ones on Cloud."""
        block = raw.get("fields", {}).get("comment") or {}
        rendered = ((raw.get("renderedFields") or {}).get("comment") or {}).get("comments", [])
        html = {entry["id"]: entry.get("body") or "" for entry in rendered}
        comments = [comment(entry, html.get(entry["id"], "")) for entry in block.get("comments", [])]
        total = int(block.get("total", len(comments)))
        while len(comments) < total:
            page = self._call(f"reading the comments of {key}", partial(
                self._jira.comments, path_key(key), expand="renderedBody", start_at=len(comments),
                max_results=COMMENT_PAGE), missing=no_issue(key))
            if not page:
                break
            comments.extend(comment(entry.raw, entry.raw.get("renderedBody") or "") for entry in page)
        return comments

    def _meta_pages(self, path: str, cloud_key: str, what: str, project: str) -> list[Json]:
        """Every entry of a createmeta listing: Server pages them under "values", Cloud under
        `cloud_key`; both with startAt/maxResults/total."""
        entries: list[Json] = []
        missing = IntegrationError(f"JIRA has no project {project}, or this user may not create issues in it")
        while True:
            page = self._call(what, partial(self._jira.find, f"{path}?startAt={len(entries)}&maxResults={META_PAGE}"),
                              missing=missing)
            data: Json = page.raw
            batch = data.get("values", data.get(cloud_key, []))
            entries.extend(batch)
            total = data.get("total")
            if not batch or data.get("isLast") or (total is not None and len(entries) >= int(total)):
                return entries

    def _call(self, what: str, request: Callable[[], T], *, effect: Effect = Effect.READ,
              refused: type[IntegrationError] = IntegrationError, missing: IntegrationError | None = None) -> T:
        """One library call (one HTTP request, or one page), retried as `effect` allows; every
        failure becomes one of our errors. `refused` is raised with JIRA's words for a 400,
        `missing` for a 404."""
        return self._backoff.run(what, partial(self._attempt, what, request, effect, refused, missing))

    def _attempt(self, what: str, request: Callable[[], T], effect: Effect, refused: type[IntegrationError],
                 missing: IntegrationError | None) -> T:
        try:
            return request()
        except JIRAError as exc:
            raise self._http_error(exc, what, effect, refused, missing) from exc
        except ValueError as exc:  # a 2xx body that is no JSON (requests' JSONDecodeError included)
            raise IntegrationError(f"JIRA at {self.url} did not answer with JSON while {what}; is the URL the "
                                   "address you open JIRA at, and not a login page or proxy?") from exc
        except requests.RequestException as exc:
            raise self._transport_error(exc, what, effect) from exc

    def _http_error(self, exc: JIRAError, what: str, effect: Effect, refused: type[IntegrationError],
                    missing: IntegrationError | None) -> Exception:
        status = exc.status_code or 0
        response = exc.response
        words = jira_words(response) if response is not None else ""
        if status == 429 or (status >= 500 and effect is Effect.READ):
            hint = response.headers.get("Retry-After") if response is not None else None
            return RetryLater(status, retry_after_seconds(hint))
        if status in (401, 403):
            says = f" JIRA says: {words}" if words else ""
            return IntegrationAuthError(f"JIRA refused the credentials: HTTP {status} while {what}. Check the "
                                        f"{self._credential} and that its user may do this.{says}")
        if status == 404 and missing is not None:
            return missing
        if status == 400:
            return refused(words or f"JIRA rejected the request while {what} (HTTP 400)")
        if status >= 500 and effect is Effect.CREATE:
            return IntegrationUncertain(f"JIRA failed (HTTP {status}) after receiving the request while {what}; "
                                        "it may have been saved: look in JIRA before trying again")
        if status >= 500:
            return IntegrationError(f"JIRA at {self.url} failed (HTTP {status}) while {what}; try again later, "
                                    "or ask its administrator if this persists")
        if not status:  # raised by the library itself, before or without a request
            return IntegrationError(f"The JIRA client gave up while {what}: {exc.text}")
        return IntegrationError(f"JIRA answered HTTP {status} while {what}: {words or 'no reason given'}")

    def _transport_error(self, exc: requests.RequestException, what: str, effect: Effect) -> IntegrationError:
        reason, sent = transport_failure(exc)
        if sent and effect is Effect.CREATE:
            return IntegrationUncertain(f"The connection to JIRA broke ({reason}) after the request was sent while "
                                        f"{what}; it may have been saved: look in JIRA before trying again")
        return IntegrationError(f"Could not reach JIRA at {self.url}: {reason} while {what}")

    # -- records ---------------------------------------------------------------------------------

    def _custom_fields(self) -> CustomFields:
        if self._custom is None:
            by_name = {spec.name.casefold(): spec.id for spec in self.fields()}
            story_points = next((by_name[name] for name in STORY_POINT_NAMES if name in by_name), "")
            self._custom = CustomFields(story_points=story_points, epic_link=by_name.get(EPIC_LINK_NAME, ""))
        return self._custom

    def _ticket_fields(self, comments: bool) -> list[str]:
        return [*TICKET_FIELDS, *(["comment"] if comments else []), *self._custom_fields().ids()]

    def _ticket(self, raw: Json) -> Ticket:
        fields: Json = raw.get("fields", {})
        custom = self._custom_fields()
        issue_type = fields.get("issuetype") or {}
        comment_block = fields.get("comment") or {}
        comments = tuple(comment(entry) for entry in comment_block.get("comments", []))
        points = fields.get(custom.story_points) if custom.story_points else None
        return Ticket(
            key=raw["key"],
            id=str(raw["id"]),
            project=(fields.get("project") or {}).get("key") or raw["key"].rsplit("-", 1)[0],
            type=issue_type.get("name", ""),
            subtask=bool(issue_type.get("subtask")),
            status=status(fields.get("status") or {}),
            priority=(fields.get("priority") or {}).get("name", ""),
            summary=fields.get("summary") or "",
            assignee=display_name(fields.get("assignee")),
            assignee_id=user_id(fields.get("assignee")),
            reporter=display_name(fields.get("reporter")),
            created=parse_time(fields["created"]),
            updated=parse_time(fields["updated"]),
            description=fields.get("description") or "",
            parent=(fields.get("parent") or {}).get("key", ""),
            epic=str(fields.get(custom.epic_link) or "") if custom.epic_link else "",
            labels=tuple(fields.get("labels") or ()),
            story_points=float(points) if points is not None else None,
            url=f"{self.url}/browse/{raw['key']}",
            comment_total=int(comment_block.get("total", len(comments))),
            comments=comments,
            status_changes=tuple(sorted(status_changes(raw), key=lambda change: change.at)),
        )


def site_url(url: str) -> str:
    """The base URL REST paths hang off, context path included, without a trailing slash."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise IntegrationError("The JIRA URL must start with http:// or https:// and name a host")
    if parts.username or parts.password:
        raise IntegrationError("Put the JIRA credentials in the token fields, not in the URL")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def path_key(value: str) -> str:
    """An issue key, project key or id made safe to put in a URL path."""
    return quote(value, safe="")


def no_issue(key: str) -> TicketNotFound:
    return TicketNotFound(f"JIRA has no issue {key}, or this user may not see it")


def jira_words(response: requests.Response) -> str:
    """JIRA's own explanation: its errorMessages, then each field error as "field: message"."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    messages = [str(message) for message in body.get("errorMessages") or []]
    errors = body.get("errors") or {}
    if isinstance(errors, dict):
        messages += [f"{name}: {message}" for name, message in errors.items()]
    return "; ".join(messages)


def transport_failure(exc: requests.RequestException) -> tuple[str, bool]:
    """What went wrong in words, and whether the request may have reached JIRA."""
    if isinstance(exc, requests.ConnectTimeout):
        return "the connection timed out", False
    if isinstance(exc, requests.exceptions.SSLError):
        return "its TLS certificate was not accepted", False
    if isinstance(exc, requests.Timeout):
        return "it did not answer in time", True
    cause = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(cause, NameResolutionError):
        return "its host name does not resolve", False
    if isinstance(cause, NewConnectionError):
        return "the connection was refused", False
    return "the connection dropped", True


def parse_time(value: str) -> datetime:
    return datetime.strptime(value, JIRA_TIME)


def user_id(user: Json | None) -> str:
    """Cloud's accountId, or the user name on Server."""
    if not user:
        return ""
    return str(user.get("accountId") or user.get("name") or user.get("key") or "")


def display_name(user: Json | None) -> str:
    return str((user or {}).get("displayName") or "")


def status(raw: Json) -> Status:
    category = (raw.get("statusCategory") or {}).get("key", "")
    return Status(name=raw.get("name", ""), category=category if category in CATEGORIES else CATEGORIES[0],
                  id=str(raw.get("id", "")))


def transition(raw: Json) -> Transition:
    return Transition(id=str(raw["id"]), name=raw.get("name", ""), to=status(raw.get("to") or {}))


def comment(raw: Json, html: str = "") -> TicketComment:
    created = parse_time(raw["created"])
    author = raw.get("author")
    return TicketComment(id=str(raw["id"]), author=display_name(author), author_id=user_id(author),
                         body=raw.get("body") or "", created=created,
                         updated=parse_time(raw["updated"]) if raw.get("updated") else created, html=html)


def history_items(raw: Json) -> Iterator[HistoryItem]:
    for history in (raw.get("changelog") or {}).get("histories", []):
        at, author = parse_time(history["created"]), display_name(history.get("author"))
        for item in history.get("items", []):
            yield HistoryItem(at=at, author=author, field=item.get("field", ""),
                              from_text=item.get("fromString") or "", to_text=item.get("toString") or "")


def status_changes(raw: Json) -> Iterator[StatusChange]:
    for item in history_items(raw):
        if item.field == "status":
            yield StatusChange(at=item.at, author=item.author, from_status=item.from_text, to_status=item.to_text)


def hierarchy_level(raw: Json) -> int:
    """Cloud says; Server is inferred: subtasks below, epics (by name) above the rest."""
    if "hierarchyLevel" in raw:
        return int(raw["hierarchyLevel"])
    if raw.get("subtask"):
        return -1
    return 1 if str(raw.get("name", "")).casefold() == "epic" else 0


def create_field(raw: Json) -> FieldSpec:
    schema = raw.get("schema") or {}
    return FieldSpec(
        id=raw.get("fieldId") or raw["key"],
        name=raw.get("name", ""),
        required=bool(raw.get("required")),
        schema_type=schema.get("type", ""),
        custom_type=schema.get("custom", ""),
        allowed=tuple(str(value.get("name") or value.get("value") or value.get("id", ""))
                      for value in raw.get("allowedValues", [])),
        has_default=bool(raw.get("hasDefaultValue")),
    )


def new_ticket_fields(ticket: NewTicket) -> Json:
    """The REST form of a new issue's fields; `extra` goes last so a caller can override any of them."""
    fields: Json = {"project": {"key": ticket.project}, "issuetype": {"id": ticket.issue_type_id},
                    "summary": ticket.summary}
    if ticket.description:
        fields["description"] = ticket.description
    if ticket.priority:
        fields["priority"] = {"name": ticket.priority}
    if ticket.parent and ticket.epic_link_field:
        fields[ticket.epic_link_field] = ticket.parent
    elif ticket.parent:
        fields["parent"] = {"key": ticket.parent}
    return {**fields, **ticket.extra}
