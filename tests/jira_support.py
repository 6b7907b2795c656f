"""Helpers for the JIRA tests: a fake JIRA whose clock starts at the real time (the sync's
relative windows compare the two), a connected user, and a sync run in this process."""

from __future__ import annotations

from datetime import UTC, datetime

from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import JobRun
from services.jira import connection, sync
from services.jobs.progress import ProgressReporter
from tests.fakes.jira_server import FakeJira


def fake_jira(deployment: str = "Server", **options) -> FakeJira:
    fake = FakeJira(deployment, now=datetime.now(UTC).replace(microsecond=0), **options)  # type: ignore[arg-type]
    fake.add_project("ABC", "Alpha")
    return fake


def connect(user: AuthedUser, fake: FakeJira) -> int:
    if fake.cloud:
        return connection.connect(user, url=fake.url, token=fake.api_token, email=fake.email)
    return connection.connect(user, url=fake.url, token=fake.token)


def run_sync(connection_id: int) -> dict:
    row = JobRun(type=sync.JOB_TYPE, status="running")
    with session_scope() as session:
        session.add(row)
    return sync.run_sync(connection_id, ProgressReporter(row.id))
