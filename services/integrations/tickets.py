"""The `TicketTracker` Protocol the JIRA board uses instead of the `jira` SDK, with its plain
records. One implementation today (services.integrations.jira.client) serves JIRA Server/Data
Center and Cloud alike; the differences (paging, user ids, epic links) stay inside it.

Texts come back as the tracker stores them (JIRA wiki markup); `html` fields hold the server's
own rendering when the call asked for it, unsanitised: sanitise before showing them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from services.integrations.base import IntegrationError

CATEGORIES = ("new", "indeterminate", "done")  # JIRA's status category keys, in board order


class JqlError(IntegrationError):
    """The tracker rejected a query; the message is the tracker's own words."""


class TicketNotFound(IntegrationError):
    """No such ticket, or the user may not see it."""


class TrackerRefused(IntegrationError):
    """The tracker refused a change (a field it will not take, a transition the workflow does not
    allow); the message is the tracker's own words."""


@dataclass(frozen=True)
class TrackerServer:
    deployment: str  # "cloud" | "server" (Server and Data Center)
    version: str
    title: str
    base_url: str


@dataclass(frozen=True)
class TrackerUser:
    id: str  # accountId on Cloud, the user name on Server
    name: str  # display name
    email: str = ""


@dataclass(frozen=True)
class Status:
    name: str
    category: str  # one of CATEGORIES
    id: str = ""


@dataclass(frozen=True)
class TicketComment:
    id: str
    author: str  # display name
    author_id: str
    body: str  # wiki markup
    created: datetime
    updated: datetime
    html: str = ""  # the server's rendering, when asked for


@dataclass(frozen=True)
class StatusChange:
    """One status transition from an issue's changelog."""

    at: datetime
    author: str
    from_status: str
    to_status: str


@dataclass(frozen=True)
class HistoryItem:
    """One changed field from an issue's changelog, for the ticket drawer."""

    at: datetime
    author: str
    field: str
    from_text: str
    to_text: str


@dataclass(frozen=True)
class Ticket:
    key: str
    id: str
    project: str  # project key
    type: str  # issue type name
    subtask: bool
    status: Status
    priority: str  # "" when the project has no priorities
    summary: str
    assignee: str  # display name, "" when unassigned
    assignee_id: str
    reporter: str
    created: datetime
    updated: datetime
    description: str  # wiki markup
    parent: str = ""  # the parent's key (a subtask's issue, or an epic through `parent`)
    epic: str = ""  # the epic's key through the Epic Link field (Server)
    labels: tuple[str, ...] = ()
    story_points: float | None = None
    url: str = ""  # the browser URL
    comment_total: int = 0
    comments: tuple[TicketComment, ...] = ()  # when the search asked for them; maybe only the first ones
    status_changes: tuple[StatusChange, ...] = ()  # when the search asked for the changelog


@dataclass(frozen=True)
class SearchPage:
    tickets: tuple[Ticket, ...]
    total: int | None  # Server counts; Cloud's token paging does not


@dataclass(frozen=True)
class Transition:
    id: str
    name: str
    to: Status


@dataclass(frozen=True)
class TicketDetail:
    ticket: Ticket
    description_html: str  # the server's rendering, unsanitised
    comments: tuple[TicketComment, ...]  # all of them, oldest first, with `html`
    history: tuple[HistoryItem, ...]  # oldest first
    transitions: tuple[Transition, ...]  # the ones the user may take now


@dataclass(frozen=True)
class Project:
    id: str
    key: str
    name: str


@dataclass(frozen=True)
class IssueType:
    id: str
    name: str
    subtask: bool
    hierarchy_level: int = 0  # 1 for epics, -1 for subtasks, 0 otherwise (Cloud says; Server is inferred)


@dataclass(frozen=True)
class FieldSpec:
    """A field of the create screen (or of the whole site, from field metadata)."""

    id: str  # "summary", "customfield_10016"
    name: str
    required: bool = False
    schema_type: str = ""  # "string", "number", "option", "array", "user", "priority", ...
    custom_type: str = ""  # e.g. "com.atlassian.jira.plugin.system.customfieldtypes:float"
    allowed: tuple[str, ...] = ()  # the names of the allowed values, for option-like fields
    has_default: bool = False


@dataclass(frozen=True)
class NewTicket:
    project: str  # key
    issue_type_id: str
    summary: str
    description: str = ""
    priority: str = ""
    parent: str = ""  # key: a subtask's issue, or the epic of a story on Cloud
    epic_link_field: str = ""  # Server: the Epic Link custom field id, with `parent` the epic's key
    extra: Mapping[str, Any] = field(default_factory=dict)  # other fields by id, in REST form


class TicketTracker(Protocol):
    """A ticket tracker reached through its vendor SDK (JIRA today). Every method raises
    `IntegrationAuthError` when the credentials are refused, `IntegrationRateLimited` when the
    tracker kept answering 429 after the allowed waits, and `IntegrationError` otherwise."""

    def server(self) -> TrackerServer:
        """What the tracker said about itself when the client connected."""
        ...

    def myself(self) -> TrackerUser: ...

    def search(self, jql: str, *, page_size: int = 100, comments: bool = False,
               changelog: bool = False) -> Iterator[SearchPage]:
        """Every ticket the query finds, a page at a time, in the tracker's paging. Raises
        `JqlError` with the tracker's message for a query it rejects."""
        ...

    def detail(self, key: str) -> TicketDetail:
        """One ticket for the drawer: rendered description, all comments, changelog, transitions."""
        ...

    def transitions(self, key: str) -> list[Transition]: ...

    def transition(self, key: str, transition_id: str) -> None:
        """Raises `TrackerRefused` when the workflow refuses it."""
        ...

    def comments(self, key: str) -> list[TicketComment]: ...

    def add_comment(self, key: str, body: str) -> TicketComment:
        """Raises `IntegrationUncertain` when the tracker failed after receiving the comment."""
        ...

    def projects(self) -> list[Project]: ...

    def issue_types(self, project: str) -> list[IssueType]: ...

    def priorities(self) -> list[str]: ...

    def fields(self) -> list[FieldSpec]:
        """Every field of the site (field metadata), to find Story Points or Epic Link by name."""
        ...

    def create_fields(self, project: str, issue_type_id: str) -> list[FieldSpec]:
        """The fields of the project's create screen for that type, with what is required."""
        ...

    def create(self, ticket: NewTicket) -> Ticket:
        """Raises `TrackerRefused` with the tracker's words for a field it will not take, and
        `IntegrationUncertain` when it failed after receiving the request."""
        ...
