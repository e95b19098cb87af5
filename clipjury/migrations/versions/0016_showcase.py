"""showcase: one entry per work the national office publishes, with its public copy

Revision ID: 0016_showcase
Revises: 0015_units
Create Date: 2026-12-04 18:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import clipjury.db

revision: str = '0016_showcase'
down_revision: str | None = '0015_units'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'showcase_entry',
        sa.Column('work_id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('version_id', sa.Integer(), nullable=True),
        sa.Column('published_at', clipjury.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('published_by_id', sa.Integer(), nullable=True),
        sa.Column('withdrawn_at', clipjury.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('withdrawn_by_id', sa.Integer(), nullable=True),
        sa.Column('copy_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('public_key', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
        sa.Column('public_poster_key', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
        sa.Column('copy_error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column('copy_attempts', sa.Integer(), nullable=False),
        sa.Column('copy_attempted_at', clipjury.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id']),
        sa.ForeignKeyConstraint(['published_by_id'], ['app_user.id']),
        sa.ForeignKeyConstraint(['version_id'], ['work_version.id']),
        sa.ForeignKeyConstraint(['withdrawn_by_id'], ['app_user.id']),
        sa.ForeignKeyConstraint(['work_id'], ['work.id']),
        sa.PrimaryKeyConstraint('work_id'),
    )
    with op.batch_alter_table('showcase_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_showcase_entry_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_showcase_entry_copy_status'), ['copy_status'], unique=False)
        batch_op.create_index(batch_op.f('ix_showcase_entry_published_at'), ['published_at'], unique=False)


    op.create_table(
        'voter',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('phone_hmac', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('nickname', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('consent_digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('created_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_active_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('phone_hmac'),
    )
    with op.batch_alter_table('voter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voter_last_active_at'), ['last_active_at'], unique=False)
    op.create_table(
        'showcase_like',
        sa.Column('work_id', sa.Integer(), nullable=False),
        sa.Column('voter_id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('created_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('client_address', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('client_network', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('voided_at', clipjury.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('voided_by_id', sa.Integer(), nullable=True),
        sa.Column('void_reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id']),
        sa.ForeignKeyConstraint(['voided_by_id'], ['app_user.id']),
        sa.ForeignKeyConstraint(['voter_id'], ['voter.id']),
        sa.ForeignKeyConstraint(['work_id'], ['work.id']),
        sa.PrimaryKeyConstraint('work_id', 'voter_id'),
    )
    with op.batch_alter_table('showcase_like', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_showcase_like_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_showcase_like_client_network'), ['client_network'], unique=False)
        batch_op.create_index(batch_op.f('ix_showcase_like_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_showcase_like_voter_id'), ['voter_id'], unique=False)


def downgrade() -> None:
    op.drop_table('showcase_like')
    op.drop_table('voter')
    with op.batch_alter_table('showcase_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_showcase_entry_published_at'))
        batch_op.drop_index(batch_op.f('ix_showcase_entry_copy_status'))
        batch_op.drop_index(batch_op.f('ix_showcase_entry_campaign_id'))
    op.drop_table('showcase_entry')
