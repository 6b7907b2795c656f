"""turbo: per-user turbo mode switch and its live suggestions

Revision ID: 0011_turbo
Revises: 0010_capture
Create Date: 2026-11-22 05:25:00

A suggestion is unique per (user, fingerprint): the same advice is never shown twice.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0011_turbo'
down_revision = '0010_capture'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('turbo_session',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('changed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('next_run_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('last_run_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('context_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('notice', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('turbo_suggestion',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('call_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('dismissed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'fingerprint')
    )
    with op.batch_alter_table('turbo_suggestion', schema=None) as batch_op:
        batch_op.create_index('ix_turbo_suggestion_user_created', ['user_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('turbo_suggestion', schema=None) as batch_op:
        batch_op.drop_index('ix_turbo_suggestion_user_created')
    op.drop_table('turbo_suggestion')
    op.drop_table('turbo_session')
