"""The record of every background job: what the UI shows as progress."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from services.db.models.base import new_id, utcnow


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)


class JobRun(SQLModel, table=True):
    __tablename__ = "job_run"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    type: str = Field(max_length=80, index=True)
    owner_id: int | None = Field(default=None, foreign_key="user.id", index=True, ondelete="SET NULL")
    status: str = Field(default=JobStatus.queued.value, max_length=20, index=True)
    progress: int = Field(default=0)
    message: str = Field(default="", max_length=500)
    params_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    result_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    error: str = Field(default="", sa_column=Column(Text, nullable=False))
    traceback: str = Field(default="", sa_column=Column(Text, nullable=False))
    queue: str = Field(default="default", max_length=20)
    runner: str = Field(default="", max_length=20)
    worker: str = Field(default="", max_length=200)
    cancel_requested: bool = Field(default=False)
    retry_of: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    started_at: datetime | None = None
    finished_at: datetime | None = None
