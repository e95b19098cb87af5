"""awards: the national office's 优秀组织奖 decisions and the cities' grassroots nominations (附件2)

Revision ID: 0023_organising
Revises: 0022_awards_publish
Create Date: 2026-12-05 01:55:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op

import clipjury.db  # noqa: F401  (UTCDateTime)

revision: str = '0023_organising'
down_revision: str | None = '0022_awards_publish'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('organising_decision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('province_id', sa.Integer(), nullable=True),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('awarded', sa.Boolean(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['decided_by_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['province_id'], ['province.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_organising_decision_campaign_id'), 'organising_decision', ['campaign_id'], unique=False)
    op.create_table('grassroots_nomination',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('province_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('office', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('write_up', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['created_by_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['province_id'], ['province.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_grassroots_nomination_campaign_id'), 'grassroots_nomination', ['campaign_id'], unique=False)
    op.create_index(op.f('ix_grassroots_nomination_province_id'), 'grassroots_nomination', ['province_id'], unique=False)
    op.create_index(op.f('ix_grassroots_nomination_unit_id'), 'grassroots_nomination', ['unit_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_grassroots_nomination_unit_id'), table_name='grassroots_nomination')
    op.drop_index(op.f('ix_grassroots_nomination_province_id'), table_name='grassroots_nomination')
    op.drop_index(op.f('ix_grassroots_nomination_campaign_id'), table_name='grassroots_nomination')
    op.drop_table('grassroots_nomination')
    op.drop_index(op.f('ix_organising_decision_campaign_id'), table_name='organising_decision')
    op.drop_table('organising_decision')
