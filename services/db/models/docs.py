"""Tables of Doc Q&A: sources, their documents and chunks, code symbols, asked questions.

Chunks keep their float32 embedding in SQL: the database is the source of truth that every
process (app, workers, CLI) can read, and the vector index is rebuilt from it (see
services/search/dense.py). The keyword index is the database's own full-text search:
an FTS5 table kept in step by triggers on SQLite, a generated tsvector column on PostgreSQL
(both created by migration 0006, not by these models).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.db.models.base import utcnow


class DocSource(SQLModel, table=True):
    """Something the app indexes: a Confluence site, uploads, a URL, a folder, a Python package."""

    __tablename__ = "doc_source"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are cache keys: never reused (migration 0006)

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int | None = Field(default=None, foreign_key="user.id", index=True, ondelete="SET NULL")
    kind: str = Field(max_length=20, index=True)  # confluence | upload | url | folder | package | eval
    name: str = Field(max_length=200)
    shared: bool = Field(default=False)  # every signed-in user may ask it; else only its owner
    config_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    secret: str = Field(default="", sa_column=Column(Text, nullable=False))  # encrypted (services.crypto)
    status: str = Field(default="new", max_length=20)  # new | queued | indexing | ready | error
    error: str = Field(default="", sa_column=Column(Text, nullable=False))
    documents: int = Field(default=0)
    chunks: int = Field(default=0)
    symbols: int = Field(default=0)
    last_sync_at: datetime | None = None
    last_job_id: str | None = Field(default=None, max_length=32)
    sync_interval_minutes: int = Field(default=0)  # 0: only when asked
    window_start_hour: int | None = None  # scheduled syncs only between these hours (server's local time)
    window_end_hour: int | None = None
    checkpoint_json: str = Field(default="", sa_column=Column(Text, nullable=False))
    revision: int = Field(default=0)  # bumped by every change to its chunks
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class DocDocument(SQLModel, table=True):
    """One page, file, fetched URL or module of a source."""

    __tablename__ = "doc_document"
    __table_args__ = (UniqueConstraint("source_id", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="doc_source.id", index=True, ondelete="CASCADE")
    external_id: str = Field(max_length=500)  # page id, relative path, URL, module name
    title: str = Field(max_length=500)
    url: str = Field(default="", max_length=2000)  # where a citation links to ("" for uploads)
    location: str = Field(default="", max_length=500)  # space key, folder, package
    version: str = Field(default="", max_length=100)  # page version or content hash
    labels: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    media_type: str = Field(default="", max_length=100)
    size: int = Field(default=0)
    content: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))  # uploads only
    content_hash: str = Field(default="", max_length=64)  # of `content`
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class DocChunk(SQLModel, table=True):
    __tablename__ = "doc_chunk"
    __table_args__ = (Index("ix_doc_chunk_document", "document_id", "ordinal"),
                      {"sqlite_autoincrement": True})  # ids are cache keys: never reused (migration 0006)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="doc_source.id", index=True, ondelete="CASCADE")
    document_id: int = Field(foreign_key="doc_document.id", ondelete="CASCADE")
    ordinal: int
    title: str = Field(max_length=500)  # the document's, repeated so the keyword index can weigh it
    heading: str = Field(default="", max_length=1000)
    text: str = Field(sa_column=Column(Text, nullable=False))
    page: int | None = None
    start: int = Field(default=0)
    end: int = Field(default=0)
    embedding: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # float32, unit length


class DocSymbol(SQLModel, table=True):
    """A Python symbol of an indexed package: answers "what arguments does X take"."""

    __tablename__ = "doc_symbol"
    __table_args__ = (Index("ix_doc_symbol_name", "name"), Index("ix_doc_symbol_qualname", "qualname"))

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="doc_source.id", index=True, ondelete="CASCADE")
    document_id: int = Field(foreign_key="doc_document.id", ondelete="CASCADE")
    qualname: str = Field(max_length=500)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=30)
    signature: str = Field(sa_column=Column(Text, nullable=False))
    docstring: str = Field(sa_column=Column(Text, nullable=False))
    file: str = Field(max_length=500)
    line: int = Field(default=0)


class DocQuestion(SQLModel, table=True):
    """An asked question and its answer: the Ask page's conversation and its feedback."""

    __tablename__ = "doc_question"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    question: str = Field(sa_column=Column(Text, nullable=False))
    answer: str = Field(default="", sa_column=Column(Text, nullable=False))
    mode: str = Field(default="", max_length=20)  # llm | extractive | not_found | symbol
    citations_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    call_id: str | None = Field(default=None, max_length=32)
    rating: int | None = None  # 1 (down) or 5 (up)
    created_at: datetime = Field(default_factory=utcnow, index=True)
