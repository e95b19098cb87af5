"""units: organisation kind and order, per-campaign organisation minimums, unit join codes and archiving,
unit membership requests

Revision ID: 0015_units
Revises: 0014_campaigns
Create Date: 2026-12-04 15:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import clipjury.db

revision: str = '0015_units'
down_revision: str | None = '0014_campaigns'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('province', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                      server_default='province'))
        batch_op.add_column(sa.Column('sort_order', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('unit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('join_code', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('archived_at', clipjury.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint('uq_unit_join_code', ['join_code'])
    op.create_table(
        'province_quota',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('province_id', sa.Integer(), nullable=False),
        sa.Column('required', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id']),
        sa.ForeignKeyConstraint(['province_id'], ['province.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('campaign_id', 'province_id'),
    )
    op.create_index('ix_province_quota_campaign_id', 'province_quota', ['campaign_id'], unique=False)
    op.create_index('ix_province_quota_province_id', 'province_quota', ['province_id'], unique=False)
    op.create_table(
        'unit_membership',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('requested_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('decided_at', clipjury.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('decided_by', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['decided_by'], ['app_user.id']),
        sa.ForeignKeyConstraint(['unit_id'], ['unit.id']),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id', 'unit_id'),
    )
    op.create_index('ix_unit_membership_unit_id', 'unit_membership', ['unit_id'], unique=False)
    op.create_index('ix_unit_membership_user_id', 'unit_membership', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_unit_membership_user_id', table_name='unit_membership')
    op.drop_index('ix_unit_membership_unit_id', table_name='unit_membership')
    op.drop_table('unit_membership')
    op.drop_index('ix_province_quota_province_id', table_name='province_quota')
    op.drop_index('ix_province_quota_campaign_id', table_name='province_quota')
    op.drop_table('province_quota')
    with op.batch_alter_table('unit', schema=None) as batch_op:
        batch_op.drop_constraint('uq_unit_join_code', type_='unique')
        batch_op.drop_column('archived_at')
        batch_op.drop_column('join_code')
    with op.batch_alter_table('province', schema=None) as batch_op:
        batch_op.drop_column('sort_order')
        batch_op.drop_column('kind')
