"""Tables of the unified inbox: connected accounts, their synced messages, reply drafts and
the user's learned writing style.

Messages keep `owner_id` beside `account_id` so the inbox list (one user's messages, newest
first, 10,000 and more) is one index range scan without a join. Bodies are fetched on demand
and cached in the row; the list never reads them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.db.models.base import utcnow


class InboxAccount(SQLModel, table=True):
    """A Gmail, Outlook, IMAP/SMTP or Slack account of one user."""

    __tablename__ = "inbox_account"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=20)  # gmail | outlook | imap | slack
    name: str = Field(max_length=200)
    address: str = Field(default="", max_length=320)  # the account's own address, or "user @ team" on Slack
    config_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # hosts, ports, channels
    secret: str = Field(default="", sa_column=Column(Text, nullable=False))  # encrypted JSON (services.crypto)
    cursor: str = Field(default="", sa_column=Column(Text, nullable=False))  # the source's own, opaque
    status: str = Field(default="new", max_length=20)  # new | queued | syncing | ready | error
    error: str = Field(default="", sa_column=Column(Text, nullable=False))
    messages: int = Field(default=0)
    last_sync_at: datetime | None = None
    last_job_id: str | None = Field(default=None, max_length=32)
    sync_interval_minutes: int = Field(default=15)  # 0: only when asked
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class InboxMessage(SQLModel, table=True):
    __tablename__ = "inbox_message"
    __table_args__ = (
        UniqueConstraint("account_id", "external_id"),
        Index("ix_inbox_message_owner_sent", "owner_id", "sent_at"),
        Index("ix_inbox_message_thread", "account_id", "thread_id"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="inbox_account.id", ondelete="CASCADE")
    owner_id: int = Field(foreign_key="user.id", ondelete="CASCADE")
    kind: str = Field(max_length=20)  # the account's, for the source filter
    external_id: str = Field(max_length=300)
    thread_id: str = Field(max_length=300)
    sender_name: str = Field(default="", max_length=300)
    sender_address: str = Field(default="", max_length=320)
    recipients: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON {"to": [...], "cc": [...]}
    subject: str = Field(default="", max_length=1000)
    snippet: str = Field(default="", max_length=400)
    sent_at: datetime
    unread: bool = Field(default=True)
    from_me: bool = Field(default=False)
    mentions_me: bool = Field(default=False)
    needs_reply: bool = Field(default=False)
    needs_reply_reason: str = Field(default="", max_length=40)
    replied: bool = Field(default=False)  # the user answered it from here
    folder: str = Field(default="", max_length=200)
    message_id: str = Field(default="", max_length=500)
    in_reply_to: str = Field(default="", max_length=500)
    references: str = Field(default="", sa_column=Column(Text, nullable=False))
    body_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # fetched on demand
    body_html: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


class InboxDraft(SQLModel, table=True):
    """A reply being written. `key` names it to the vendor (Message-ID), so a retried send is
    recognised; `status` moves draft -> sending -> sent (or failed / unknown) exactly once."""

    __tablename__ = "inbox_draft"

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    account_id: int = Field(foreign_key="inbox_account.id", index=True, ondelete="CASCADE")
    message_id: int | None = Field(default=None, foreign_key="inbox_message.id", index=True, ondelete="SET NULL")
    key: str = Field(max_length=64, unique=True)
    reply_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # recipients, subject, thread
    text: str = Field(default="", sa_column=Column(Text, nullable=False))  # what the user will send
    ai_text: str = Field(default="", sa_column=Column(Text, nullable=False))  # the draft as generated
    call_id: str = Field(default="", max_length=32)  # the LLM call that wrote ai_text
    tone: str = Field(default="", max_length=20)
    length: str = Field(default="", max_length=20)
    status: str = Field(default="draft", max_length=20)  # draft | sending | sent | failed | unknown
    error: str = Field(default="", sa_column=Column(Text, nullable=False))
    attempted_at: datetime | None = None  # set just before the vendor is asked to send
    sent_at: datetime | None = None
    sent_external_id: str = Field(default="", max_length=300)
    job_id: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class InboxStyle(SQLModel, table=True):
    """The user's writing style for one mail account, or one Slack channel (`scope`)."""

    __tablename__ = "inbox_style"
    __table_args__ = (UniqueConstraint("account_id", "scope"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="inbox_account.id", ondelete="CASCADE")
    scope: str = Field(default="", max_length=100)  # "" for a mail account, the channel id on Slack
    profile_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    overrides_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    learned_ids: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # sent messages already counted
    updated_at: datetime = Field(default_factory=utcnow)


class InboxOAuthState(SQLModel, table=True):
    """An authorization the user started and the provider has not yet answered: the callback
    (maybe served by another web process) finds it by `state`, which it must match."""

    __tablename__ = "inbox_oauth_state"

    state_hash: str = Field(primary_key=True, max_length=64)  # sha256 of the state sent
    owner_id: int = Field(foreign_key="user.id", ondelete="CASCADE")
    provider: str = Field(max_length=20)  # gmail | outlook | slack
    code_verifier: str = Field(default="", sa_column=Column(Text, nullable=False))  # encrypted
    redirect_uri: str = Field(max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)


class InboxEvent(SQLModel, table=True):
    """A Slack Events API delivery already handled: Slack retries deliveries it thinks failed."""

    __tablename__ = "inbox_event"

    event_id: str = Field(primary_key=True, max_length=100)
    received_at: datetime = Field(default_factory=utcnow, index=True)
