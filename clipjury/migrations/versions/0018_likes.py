"""likes: voters blocked or erased, and the append-only like snapshots

Revision ID: 0018_likes
Revises: 0017_register
Create Date: 2026-12-05 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import clipjury.db

revision: str = '0018_likes'
down_revision: str | None = '0017_register'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('voter', schema=None) as batch_op:
        batch_op.add_column(sa.Column('blocked_at', clipjury.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('erased_at', clipjury.db.UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        'likes_snapshot',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('frozen_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('window_starts_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('window_ends_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('total_likes', sa.Integer(), nullable=False),
        sa.Column('total_voided', sa.Integer(), nullable=False),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id']),
        sa.ForeignKeyConstraint(['created_by_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('campaign_id', 'version'),
    )
    with op.batch_alter_table('likes_snapshot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_likes_snapshot_campaign_id'), ['campaign_id'], unique=False)
    op.create_table(
        'likes_snapshot_work',
        sa.Column('snapshot_id', sa.Integer(), nullable=False),
        sa.Column('work_id', sa.Integer(), nullable=False),
        sa.Column('likes', sa.Integer(), nullable=False),
        sa.Column('voided', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['snapshot_id'], ['likes_snapshot.id']),
        sa.ForeignKeyConstraint(['work_id'], ['work.id']),
        sa.PrimaryKeyConstraint('snapshot_id', 'work_id'),
    )


def downgrade() -> None:
    op.drop_table('likes_snapshot_work')
    with op.batch_alter_table('likes_snapshot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_likes_snapshot_campaign_id'))
    op.drop_table('likes_snapshot')
    with op.batch_alter_table('voter', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
        batch_op.drop_column('blocked_at')
