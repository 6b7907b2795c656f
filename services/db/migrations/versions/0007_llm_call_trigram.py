"""llm call text search on SQLite: an FTS5 trigram index over the four searched texts

Revision ID: 0007_llm_call_trigram
Revises: 0006_doc_qa
Create Date: 2026-11-21 19:40:00.000000

Without it a rare word scans every row's texts: about 0.3 s at 100,000 calls. With it, a
substring LIKE on one of its columns is served by the index in well under a millisecond
(services.llm.call_log). detail=none keeps only which rows hold each trigram: about a tenth
of the texts' size, where detail=full doubled the database (0005's reason for going without).
LIKE rechecks every candidate against the texts, which the index reads from llm_call itself
(external content): llm_call has no integer key, so its rowid is the link. A VACUUM may
renumber rowids; the index then misses matches (never returns wrong rows) until rebuilt:
INSERT INTO llm_call_text(llm_call_text) VALUES ('rebuild').

The trigram tokenizer needs SQLite 3.34 or newer; with an older one the migration succeeds
without the index, logs why, and searches scan as before. PostgreSQL has its pg_trgm index (0005).
"""

import logging

from alembic import op
from sqlalchemy.exc import OperationalError

revision = '0007_llm_call_trigram'
down_revision = '0006_doc_qa'
branch_labels = None
depends_on = None

log = logging.getLogger("services.db.migrate")

COLUMNS = "task_text, user_prompt, response, error_message"
NEW_VALUES = "new.rowid, new.task_text, new.user_prompt, new.response, new.error_message"
OLD_VALUES = "old.rowid, old.task_text, old.user_prompt, old.response, old.error_message"
STATEMENTS = [
    (f"CREATE VIRTUAL TABLE llm_call_text USING fts5({COLUMNS}, content='llm_call', content_rowid='rowid', "
     "tokenize='trigram', detail=none)"),
    (f"CREATE TRIGGER llm_call_text_insert AFTER INSERT ON llm_call BEGIN "
     f"INSERT INTO llm_call_text(rowid, {COLUMNS}) VALUES ({NEW_VALUES}); END"),
    (f"CREATE TRIGGER llm_call_text_delete AFTER DELETE ON llm_call BEGIN "
     f"INSERT INTO llm_call_text(llm_call_text, rowid, {COLUMNS}) VALUES ('delete', {OLD_VALUES}); END"),
    # Only the searched texts: status and outcome updates leave the index alone.
    (f"CREATE TRIGGER llm_call_text_update AFTER UPDATE OF {COLUMNS} ON llm_call BEGIN "
     f"INSERT INTO llm_call_text(llm_call_text, rowid, {COLUMNS}) VALUES ('delete', {OLD_VALUES}); "
     f"INSERT INTO llm_call_text(rowid, {COLUMNS}) VALUES ({NEW_VALUES}); END"),
    "INSERT INTO llm_call_text(llm_call_text) VALUES ('rebuild')",  # the calls logged so far
]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    try:
        with bind.begin_nested():
            bind.exec_driver_sql(STATEMENTS[0])
    except OperationalError as exc:
        log.warning("No text search index on the LLM call log: SQLite %s cannot create it (%s); "
                    "searching the call log's texts scans every row.",
                    bind.exec_driver_sql("SELECT sqlite_version()").scalar(), str(exc.orig).strip())
        return
    for statement in STATEMENTS[1:]:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS llm_call_text_{trigger}")
        op.execute("DROP TABLE IF EXISTS llm_call_text")
