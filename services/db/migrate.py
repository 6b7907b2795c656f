"""Alembic driven from code: no alembic.ini, the URL comes from settings."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

import services.db.models  # noqa: F401  (registers every table)
from services.db.engine import get_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Full-text objects the migrations create beside the models: FTS5's tables and their shadow
# tables on SQLite (0006, 0007), the generated tsvector column and its index on PostgreSQL (0006),
# the inbox's trigram index on PostgreSQL (0008).
_UNMODELLED = ("doc_chunk_fts", "llm_call_text", "search_vector", "ix_doc_chunk_search", "ix_inbox_message_search")


def include_object(obj, name: str | None, type_: str, reflected: bool, _compare_to) -> bool:
    """Alembic's filter: objects only the migrations know are not drift."""
    return not (reflected and name is not None and name.startswith(_UNMODELLED))


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(revision: str = "head", url: str | None = None) -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(revision: str = "base", url: str | None = None) -> None:
    command.downgrade(alembic_config(url), revision)


def revision(message: str) -> None:
    """Autogenerate a migration from the models (developer command)."""
    command.revision(alembic_config(), message=message, autogenerate=True)


def head_revision() -> str:
    """The newest migration in the code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision() -> str | None:
    with get_engine().connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def drift(url: str | None = None) -> list:
    """Differences between the models and the migrated schema; empty when in step."""
    from services.db.engine import build_engine

    engine = build_engine(url) if url else get_engine()
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object})
            return compare_metadata(ctx, SQLModel.metadata)
    finally:
        if url:  # a one-off engine: do not leave its pool connected
            engine.dispose()
