"""Helpers every CLI command group shares: who acts, and waiting for jobs."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from sqlmodel import select

from services.auth.errors import ValidationError
from services.auth.users import AuthedUser
from services.db import session_scope
from services.db.models import JobRun, JobStatus, Role, User


def acting_user(email: str | None) -> AuthedUser:
    """Who the command acts as: --user, else the first active admin."""
    with session_scope() as session:
        query = select(User).where(User.is_active == True)  # noqa: E712 (SQL expression)
        query = query.where(User.email == email.strip().lower()) if email else \
            query.where(User.role == Role.admin.value).order_by(User.id)
        row = session.exec(query).first()
    if row is None:
        raise ValidationError(f"No active user {email}." if email else
                              "There is no admin yet: create one with `user create EMAIL --admin`.")
    return AuthedUser.from_row(row)


def wait_for_jobs(job_ids: list[str]) -> int:
    """Prints progress until the jobs finish; exit code 1 if any failed."""
    shown: dict[str, str] = {}
    while True:
        with session_scope() as session:
            rows = [session.get(JobRun, job_id) for job_id in job_ids]
        for row in rows:
            if row is not None and shown.get(row.id) != row.message:
                shown[row.id] = row.message
                print(f"  {row.id[:8]} {row.status:<9} {row.progress:>3}%  {row.message}", file=sys.stderr)
        if all(row is None or JobStatus(row.status).finished for row in rows):
            break
        time.sleep(0.5)
    failed = [row for row in rows if row is not None and row.status != JobStatus.succeeded.value]
    for row in failed:
        print(f"error: job {row.id} {row.status}: {row.error or row.message}", file=sys.stderr)
    return 1 if failed else 0


def guarded(fn: Callable[[argparse.Namespace], int], *errors: type[Exception]) -> Callable[[argparse.Namespace], int]:
    """The command, with the errors a user can act on printed as one line (exit code 2)."""
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except errors as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return run
