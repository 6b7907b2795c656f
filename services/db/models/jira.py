"""Tables of the JIRA board: the user's connection, saved filters, the synced tickets the board
draws from, the user's own comments (for the learned style), status changes (for workflow
learning), tracked tickets and comment drafts.

A connection is personal (one per user): the tickets are what JIRA lets that user see, so no
other user, admins included, reads them. Tickets keep `owner_id` beside `connection_id` so the
board (one user's tickets of one filter) needs no join through the connection.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.db.models.base import utcnow


class JiraConnection(SQLModel, table=True):
    __tablename__ = "jira_connection"

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="user.id", unique=True, ondelete="CASCADE")
    url: str = Field(max_length=500)
    email: str = Field(default="", max_length=320)  # "" with a personal access token
    secret: str = Field(default="", sa_column=Column(Text, nullable=False))  # encrypted JSON (services.crypto)
    deployment: str = Field(default="server", max_length=20)  # server | cloud
    server_title: str = Field(default="", max_length=300)
    server_version: str = Field(default="", max_length=50)
    account_id: str = Field(default="", max_length=200)  # Cloud accountId or Server user name
    account_name: str = Field(default="", max_length=300)
    fields_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # story points / epic link ids
    style_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # learned comment style
    status: str = Field(default="new", max_length=20)  # new | queued | syncing | ready | error
    error: str = Field(default="", sa_column=Column(Text, nullable=False))
    last_sync_at: datetime | None = None
    last_job_id: str | None = Field(default=None, max_length=32)
    sync_interval_minutes: int = Field(default=15)  # 0: only when asked
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class JiraFilter(SQLModel, table=True):
    """A saved JQL filter; each is synced on its own (`synced_at` is its incremental cursor)."""

    __tablename__ = "jira_filter"
    __table_args__ = (UniqueConstraint("connection_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="jira_connection.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=100)
    jql: str = Field(sa_column=Column(Text, nullable=False))
    position: int = Field(default=0)
    synced_at: datetime | None = None  # when the last complete sync of this filter started
    full_at: datetime | None = None  # ... of the last one that read everything (not only changes)
    tickets: int = Field(default=0)
    error: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class JiraIssue(SQLModel, table=True):
    __tablename__ = "jira_issue"
    __table_args__ = (
        UniqueConstraint("connection_id", "key"),
        Index("ix_jira_issue_owner_updated", "owner_id", "updated"),
    )

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="jira_connection.id", ondelete="CASCADE")
    owner_id: int = Field(foreign_key="user.id", ondelete="CASCADE")
    key: str = Field(max_length=50)
    jira_id: str = Field(default="", max_length=50)
    project: str = Field(default="", max_length=50)
    issue_type: str = Field(default="", max_length=100)
    subtask: bool = Field(default=False)
    status: str = Field(default="", max_length=100)
    status_category: str = Field(default="new", max_length=20)  # new | indeterminate | done
    priority: str = Field(default="", max_length=50)
    summary: str = Field(default="", max_length=1000)
    assignee: str = Field(default="", max_length=300)
    assignee_id: str = Field(default="", max_length=200)
    reporter: str = Field(default="", max_length=300)
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    parent: str = Field(default="", max_length=50)
    epic: str = Field(default="", max_length=50)
    labels: str = Field(default="", max_length=1000)  # space-separated, as JIRA labels hold no spaces
    story_points: float | None = None
    url: str = Field(default="", max_length=600)
    comment_total: int = Field(default=0)
    created: datetime
    updated: datetime
    synced_at: datetime = Field(default_factory=utcnow)


class JiraFilterIssue(SQLModel, table=True):
    """Which tickets a filter found at its last sync: the board is this join."""

    __tablename__ = "jira_filter_issue"

    filter_id: int = Field(foreign_key="jira_filter.id", primary_key=True, ondelete="CASCADE")
    issue_id: int = Field(foreign_key="jira_issue.id", primary_key=True, index=True, ondelete="CASCADE")


class JiraComment(SQLModel, table=True):
    """One of the user's own comments: the learned style counts each once (`learned`), and the
    drafting prompt shows the most recent as examples."""

    __tablename__ = "jira_comment"
    __table_args__ = (UniqueConstraint("issue_id", "jira_id"),)

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="jira_issue.id", index=True, ondelete="CASCADE")
    jira_id: str = Field(max_length=50)
    body: str = Field(sa_column=Column(Text, nullable=False))
    created: datetime
    learned: bool = Field(default=False)


class JiraStatusChange(SQLModel, table=True):
    """A status transition from a changelog; workflow learning counts these per issue type."""

    __tablename__ = "jira_status_change"
    __table_args__ = (UniqueConstraint("issue_id", "at", "from_status", "to_status"),)

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="jira_issue.id", index=True, ondelete="CASCADE")
    connection_id: int = Field(foreign_key="jira_connection.id", index=True, ondelete="CASCADE")
    issue_type: str = Field(max_length=100)
    from_status: str = Field(max_length=100)
    to_status: str = Field(max_length=100)
    at: datetime


class JiraTracked(SQLModel, table=True):
    """A ticket the user flagged: the tracking job compares what it sees with the last seen."""

    __tablename__ = "jira_tracked"
    __table_args__ = (UniqueConstraint("connection_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="jira_connection.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=50)
    summary: str = Field(default="", max_length=1000)
    status: str = Field(default="", max_length=100)
    comment_total: int = Field(default=0)
    last_comment_id: int = Field(default=0)  # JIRA's comment ids grow: newer ones are news (no clocks compared)
    checked_at: datetime | None = None  # the last check that completed
    claimed_at: datetime | None = None  # when the scheduler last queued a check
    error: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class JiraCommentDraft(SQLModel, table=True):
    """A comment being written for a ticket. `status` moves draft -> posting -> posted (or failed /
    unknown) exactly once per claim, so a double click or a retry never posts it twice."""

    __tablename__ = "jira_comment_draft"
    __table_args__ = (UniqueConstraint("connection_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="jira_connection.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=50)  # the ticket's
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    ai_text: str = Field(default="", sa_column=Column(Text, nullable=False))
    call_id: str = Field(default="", max_length=32)
    status: str = Field(default="draft", max_length=20)  # draft | posting | posted | failed | unknown
    error: str = Field(default="", sa_column=Column(Text, nullable=False))
    attempted_at: datetime | None = None
    posted_at: datetime | None = None
    comment_id: str = Field(default="", max_length=50)
    updated_at: datetime = Field(default_factory=utcnow)
