"""review: decisions, claims, notifications, activity entries

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 11:53:45.357423
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op

import clipjury.db  # noqa: F401  (UTCDateTime)
from clipjury.campaigns.models import DEFAULT_REPORT_ACTIVITIES

# The notice's checklist as this revision stored it (labels only; 0012 adds keys), frozen here: the model's
# defaults move on.
CHECKLIST_LABELS = [
    "开头语为“{opening_line}”", "时长不超过 2 分钟", "不涉及国家秘密、工作秘密和内部敏感信息", "坚持正确政治方向",
    "不违反国家法律法规、社会公德，内容准确无误", "不存在侵权情况（无版权纠纷）", "声音、画面清晰可用",
]


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('activity_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('activity_key', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('sessions', sa.Integer(), nullable=False),
    sa.Column('participants', sa.Integer(), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.ForeignKeyConstraint(['updated_by_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('campaign_id', 'unit_id', 'activity_key')
    )
    with op.batch_alter_table('activity_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_entry_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_entry_unit_id'), ['unit_id'], unique=False)

    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('work_id', sa.Integer(), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('body', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
    sa.Column('created_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', clipjury.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['work_id'], ['work.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_work_id'), ['work_id'], unique=False)

    op.create_table('review_decision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('work_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('province_id', sa.Integer(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('actor_role', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('from_status', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('to_status', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('national', sa.Boolean(), nullable=False),
    sa.Column('undoes_id', sa.Integer(), nullable=True),
    sa.Column('undone_at', clipjury.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('document_key', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
    sa.Column('document_name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['province_id'], ['province.id'], ),
    sa.ForeignKeyConstraint(['work_id'], ['work.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('review_decision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_decision_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_decision_province_id'), ['province_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_decision_work_id'), ['work_id'], unique=False)

    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True))
        batch_op.add_column(sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))

    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('forward_deadline', clipjury.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('claim_ttl_hours', sa.Integer(), nullable=False, server_default='48'))
        batch_op.add_column(sa.Column('national_results_published_at', clipjury.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('review_checklist', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('report_activities', sa.JSON(), nullable=True))
    # Campaigns created before this revision get the notice's defaults.
    campaign = sa.table('campaign', sa.column('review_checklist', sa.JSON()), sa.column('report_activities', sa.JSON()))
    op.execute(campaign.update().values(
        review_checklist=list(CHECKLIST_LABELS),  # labels: 0012 adds keys
        report_activities=[dict(a) for a in DEFAULT_REPORT_ACTIVITIES],
    ))
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.alter_column('review_checklist', existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column('report_activities', existing_type=sa.JSON(), nullable=False)

    with op.batch_alter_table('work', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', clipjury.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('forward_rank', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('forwarded_at', clipjury.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('review_rev', sa.Integer(), nullable=False, server_default='0'))
        batch_op.create_index(batch_op.f('ix_work_claimed_by_id'), ['claimed_by_id'], unique=False)
        batch_op.create_index('ix_work_review_queue', ['province_id', 'status', 'submitted_at'], unique=False)
        batch_op.create_foreign_key('fk_work_claimed_by_id_app_user', 'app_user', ['claimed_by_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('work', schema=None) as batch_op:
        batch_op.drop_constraint('fk_work_claimed_by_id_app_user', type_='foreignkey')
        batch_op.drop_index('ix_work_review_queue')
        batch_op.drop_index(batch_op.f('ix_work_claimed_by_id'))
        batch_op.drop_column('review_rev')
        batch_op.drop_column('forwarded_at')
        batch_op.drop_column('forward_rank')
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('claimed_by_id')

    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_column('report_activities')
        batch_op.drop_column('review_checklist')
        batch_op.drop_column('national_results_published_at')
        batch_op.drop_column('claim_ttl_hours')
        batch_op.drop_column('forward_deadline')

    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_column('phone')
        batch_op.drop_column('email')

    with op.batch_alter_table('review_decision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_decision_work_id'))
        batch_op.drop_index(batch_op.f('ix_review_decision_province_id'))
        batch_op.drop_index(batch_op.f('ix_review_decision_campaign_id'))

    op.drop_table('review_decision')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_work_id'))
        batch_op.drop_index(batch_op.f('ix_notification_user_id'))
        batch_op.drop_index(batch_op.f('ix_notification_created_at'))

    op.drop_table('notification')
    with op.batch_alter_table('activity_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_entry_unit_id'))
        batch_op.drop_index(batch_op.f('ix_activity_entry_campaign_id'))

    op.drop_table('activity_entry')
