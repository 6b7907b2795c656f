"""doc q&a: sources, documents, chunks with embeddings, symbols, questions, full-text index

Revision ID: 0006_doc_qa
Revises: 0005_llm_call_text_search
Create Date: 2026-11-21 16:20:00.000000

The keyword index is the database's own: on SQLite an FTS5 table over the chunks' title,
heading and text (porter stemming), kept in step by triggers, so every way a chunk row goes
(deletes cascading from its document or source included) updates it; on PostgreSQL a
generated tsvector column (English stemming; title weighted A, heading B) with a GIN index.
Neither is in the SQLModel models: services.db.migrate.include_object hides them from the
drift check.

Sources and chunks never reuse an id on SQLite either (AUTOINCREMENT; PostgreSQL's sequences
never do): each process caches embeddings by chunk id and source id (services/search/dense.py),
and a re-synced document's new chunk taking a deleted chunk's id kept the old vector there.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0006_doc_qa'
down_revision = '0005_llm_call_text_search'
branch_labels = None
depends_on = None

# source_id is indexed too, as a token: a search filters by source inside the index
# ("... AND source_id:(1 OR 4)") instead of joining every match back to doc_chunk, which
# took two thirds of a query's time at 100,000 chunks.
FTS_COLUMNS = "title, heading, text, source_id"
NEW_VALUES = "new.id, new.title, new.heading, new.text, new.source_id"
OLD_VALUES = "old.id, old.title, old.heading, old.text, old.source_id"
SQLITE_FTS = [
    f"CREATE VIRTUAL TABLE doc_chunk_fts USING fts5({FTS_COLUMNS}, content='doc_chunk', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER doc_chunk_fts_insert AFTER INSERT ON doc_chunk BEGIN "
    f"INSERT INTO doc_chunk_fts(rowid, {FTS_COLUMNS}) VALUES ({NEW_VALUES}); END",
    f"CREATE TRIGGER doc_chunk_fts_delete AFTER DELETE ON doc_chunk BEGIN "
    f"INSERT INTO doc_chunk_fts(doc_chunk_fts, rowid, {FTS_COLUMNS}) VALUES ('delete', {OLD_VALUES}); END",
    f"CREATE TRIGGER doc_chunk_fts_update AFTER UPDATE ON doc_chunk BEGIN "
    f"INSERT INTO doc_chunk_fts(doc_chunk_fts, rowid, {FTS_COLUMNS}) VALUES ('delete', {OLD_VALUES}); "
    f"INSERT INTO doc_chunk_fts(rowid, {FTS_COLUMNS}) VALUES ({NEW_VALUES}); END",
]
POSTGRES_FTS = [
    "ALTER TABLE doc_chunk ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', heading), 'B') || "
    "to_tsvector('english', text)) STORED",
    "CREATE INDEX ix_doc_chunk_search ON doc_chunk USING gin (search_vector)",
]


def upgrade() -> None:
    op.create_table('doc_source',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('shared', sa.Boolean(), nullable=False),
    sa.Column('config_json', sa.Text(), nullable=False),
    sa.Column('secret', sa.Text(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('documents', sa.Integer(), nullable=False),
    sa.Column('chunks', sa.Integer(), nullable=False),
    sa.Column('symbols', sa.Integer(), nullable=False),
    sa.Column('last_sync_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('last_job_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('sync_interval_minutes', sa.Integer(), nullable=False),
    sa.Column('window_start_hour', sa.Integer(), nullable=True),
    sa.Column('window_end_hour', sa.Integer(), nullable=True),
    sa.Column('checkpoint_json', sa.Text(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True,
    )
    with op.batch_alter_table('doc_source', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_doc_source_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_doc_source_owner_id'), ['owner_id'], unique=False)

    op.create_table('doc_document',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('location', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('version', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('labels', sa.Text(), nullable=False),
    sa.Column('media_type', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=True),
    sa.Column('content_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['doc_source.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_id', 'external_id')
    )
    with op.batch_alter_table('doc_document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_doc_document_source_id'), ['source_id'], unique=False)

    op.create_table('doc_chunk',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('ordinal', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('heading', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('page', sa.Integer(), nullable=True),
    sa.Column('start', sa.Integer(), nullable=False),
    sa.Column('end', sa.Integer(), nullable=False),
    sa.Column('embedding', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['doc_document.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['doc_source.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True,
    )
    with op.batch_alter_table('doc_chunk', schema=None) as batch_op:
        batch_op.create_index('ix_doc_chunk_document', ['document_id', 'ordinal'], unique=False)
        batch_op.create_index(batch_op.f('ix_doc_chunk_source_id'), ['source_id'], unique=False)

    op.create_table('doc_symbol',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('qualname', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('signature', sa.Text(), nullable=False),
    sa.Column('docstring', sa.Text(), nullable=False),
    sa.Column('file', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['doc_document.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['doc_source.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('doc_symbol', schema=None) as batch_op:
        batch_op.create_index('ix_doc_symbol_name', ['name'], unique=False)
        batch_op.create_index('ix_doc_symbol_qualname', ['qualname'], unique=False)
        batch_op.create_index(batch_op.f('ix_doc_symbol_source_id'), ['source_id'], unique=False)

    op.create_table('doc_question',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('citations_json', sa.Text(), nullable=False),
    sa.Column('call_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('doc_question', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_doc_question_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_doc_question_user_id'), ['user_id'], unique=False)

    for statement in SQLITE_FTS if op.get_bind().dialect.name == "sqlite" else POSTGRES_FTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS doc_chunk_fts")  # its triggers go with doc_chunk
    op.drop_table('doc_question')
    op.drop_table('doc_symbol')
    op.drop_table('doc_chunk')
    op.drop_table('doc_document')
    op.drop_table('doc_source')
