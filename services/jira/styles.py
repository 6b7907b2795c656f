"""The user's learned JIRA comment style, kept on their connection: each of their own comments
the sync stored is counted once (`JiraComment.learned`), and the drafting prompt gets the
description plus a few of their most recent comments as examples."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import select

from services.db import session_scope
from services.db.models import JiraComment, JiraConnection, JiraIssue
from services.jira import comment_style

BATCH = 500
EXAMPLES = 3
EXAMPLE_CHARS = 1200


def _own_comments(connection_id: int):  # noqa: ANN202 - a select
    return select(JiraComment).join(JiraIssue, JiraIssue.id == JiraComment.issue_id).where(
        JiraIssue.connection_id == connection_id)


def learn(connection_id: int) -> int:
    """Counts the comments not learned yet; returns how many."""
    learned = 0
    while True:
        with session_scope() as session:
            row = session.get(JiraConnection, connection_id)
            if row is None:
                return learned
            batch = list(session.exec(_own_comments(connection_id).where(JiraComment.learned == False)  # noqa: E712
                                      .order_by(JiraComment.created).limit(BATCH)))
            if not batch:
                return learned
            profile = comment_style.from_json(row.style_json)
            for comment in batch:
                profile = comment_style.add(profile, comment.body)
            row.style_json = comment_style.to_json(profile)
            session.add(row)
            session.exec(update(JiraComment).where(JiraComment.id.in_([c.id for c in batch]))  # type: ignore[call-overload, union-attr]
                         .values(learned=True))
            learned += len(batch)


def profile(connection_id: int) -> comment_style.CommentStyle:
    with session_scope() as session:
        row = session.get(JiraConnection, connection_id)
        return comment_style.from_json(row.style_json if row is not None else None)


def examples(connection_id: int) -> list[str]:
    """The user's most recent comments, shortened, oldest first."""
    with session_scope() as session:
        rows = session.exec(_own_comments(connection_id).order_by(JiraComment.created.desc())  # type: ignore[attr-defined]
                            .limit(EXAMPLES)).all()
        return [row.body[:EXAMPLE_CHARS] for row in reversed(rows)]
