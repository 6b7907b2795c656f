"""llm call text search: a pg_trgm GIN index over the four searched texts (PostgreSQL only)

Revision ID: 0005_llm_call_text_search
Revises: 0004_llm_admin_learning
Create Date: 2026-11-22 09:00:00.000000

A substring search of the call log reads every row's texts without it (about 2 s at 100,000
calls); with it, a rare word takes milliseconds. SQLite keeps its plain LIKE scan: FTS5
doubled the database's size for the same 100,000 calls.

pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it. When the
migrating role may not (or the server lacks the contrib package), the migration still
succeeds without the index, logs why and the two statements that add it later (a superuser
runs them in the app's database), and searches fall back to scanning.
"""

import logging

from alembic import op
from sqlalchemy.exc import DBAPIError

revision = '0005_llm_call_text_search'
down_revision = '0004_llm_admin_learning'
branch_labels = None
depends_on = None

log = logging.getLogger("services.db.migrate")

INDEX = "ix_llm_call_text_search"
# The same expression services.llm.call_log searches with: the planner only uses an
# expression index for a query on the identical expression.
EXPRESSION = "task_text || ' ' || user_prompt || ' ' || response || ' ' || error_message"
CREATE_INDEX = f"CREATE INDEX {INDEX} ON llm_call USING gin (({EXPRESSION}) gin_trgm_ops)"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():  # a failed statement must not abort the migration's transaction
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError as exc:
        log.warning("No text search index on the LLM call log: creating the pg_trgm extension failed (%s). "
                    "Searching the call log's texts scans every row until a superuser runs, in this database: "
                    "CREATE EXTENSION pg_trgm; %s;", str(exc.orig).strip(), CREATE_INDEX)
        return
    op.execute(CREATE_INDEX)


def downgrade() -> None:
    # The extension stays: other objects may use it, and dropping it needs its owner.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
