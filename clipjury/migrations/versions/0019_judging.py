"""judging: the campaign's judging settings, assignments with their scores, typed conflicts, judge states

Revision ID: 0019_judging
Revises: 0018_likes
Create Date: 2026-12-04 21:42:15
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op

import clipjury.db  # noqa: F401  (UTCDateTime)
from clipjury.judging.settings import default_judging


revision: str = '0019_judging'
down_revision: str | None = '0018_likes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('judge_state',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('judge_id', sa.Integer(), nullable=False),
    sa.Column('submitted_at', clipjury.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_active_at', clipjury.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['judge_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('campaign_id', 'judge_id')
    )
    op.create_table('judging_round',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('judges_per_work', sa.Integer(), nullable=False),
    sa.Column('snapshot_version', sa.Integer(), nullable=False),
    sa.Column('applied_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('applied_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['applied_by_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.PrimaryKeyConstraint('campaign_id')
    )
    op.create_table('judge_conflict',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('work_id', sa.Integer(), nullable=False),
    sa.Column('judge_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['created_by_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['judge_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['work_id'], ['work.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('work_id', 'judge_id', 'kind')
    )
    with op.batch_alter_table('judge_conflict', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_judge_conflict_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_judge_conflict_judge_id'), ['judge_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_judge_conflict_work_id'), ['work_id'], unique=False)

    op.create_table('judging_assignment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('work_id', sa.Integer(), nullable=False),
    sa.Column('judge_id', sa.Integer(), nullable=False),
    sa.Column('why', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('rev', sa.Integer(), nullable=False),
    sa.Column('complete', sa.Boolean(), nullable=False),
    sa.Column('scored_at', clipjury.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', clipjury.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('created_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['judge_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['work_id'], ['work.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('work_id', 'judge_id')
    )
    with op.batch_alter_table('judging_assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_judging_assignment_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_judging_assignment_judge_id'), ['judge_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_judging_assignment_work_id'), ['work_id'], unique=False)

    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('judging', sa.JSON(), nullable=True))
    campaign = sa.table('campaign', sa.column('judging', sa.JSON()))
    op.execute(campaign.update().values(judging=default_judging()))
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.alter_column('judging', existing_type=sa.JSON(), nullable=False)



def downgrade() -> None:
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_column('judging')

    with op.batch_alter_table('judging_assignment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_judging_assignment_work_id'))
        batch_op.drop_index(batch_op.f('ix_judging_assignment_judge_id'))
        batch_op.drop_index(batch_op.f('ix_judging_assignment_campaign_id'))

    op.drop_table('judging_assignment')
    with op.batch_alter_table('judge_conflict', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_judge_conflict_work_id'))
        batch_op.drop_index(batch_op.f('ix_judge_conflict_judge_id'))
        batch_op.drop_index(batch_op.f('ix_judge_conflict_campaign_id'))

    op.drop_table('judge_conflict')
    op.drop_table('judging_round')
    op.drop_table('judge_state')
