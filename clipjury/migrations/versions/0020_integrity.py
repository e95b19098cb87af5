"""integrity: frame and audio fingerprints, similar pairs, OCR screenings and per-campaign switches

Revision ID: 0020_integrity
Revises: 0019_judging
Create Date: 2026-12-04 21:45:32.640456
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import clipjury.db

revision: str = '0020_integrity'
down_revision: str | None = '0019_judging'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('integrity_switches',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('fingerprints', sa.Boolean(), nullable=False),
    sa.Column('screening', sa.Boolean(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['updated_by_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('campaign_id')
    )
    op.create_table('integrity_fingerprint',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('work_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('frame_times', sa.LargeBinary(), nullable=False),
    sa.Column('frame_hashes', sa.LargeBinary(), nullable=False),
    sa.Column('mirror_hashes', sa.LargeBinary(), nullable=False),
    sa.Column('audio', sa.LargeBinary(), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('done_at', clipjury.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['version_id'], ['work_version.id'], ),
    sa.ForeignKeyConstraint(['work_id'], ['work.id'], ),
    sa.PrimaryKeyConstraint('version_id')
    )
    with op.batch_alter_table('integrity_fingerprint', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_integrity_fingerprint_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_integrity_fingerprint_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_integrity_fingerprint_work_id'), ['work_id'], unique=False)

    op.create_table('integrity_pair',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('work_a_id', sa.Integer(), nullable=False),
    sa.Column('work_b_id', sa.Integer(), nullable=False),
    sa.Column('version_a_id', sa.Integer(), nullable=False),
    sa.Column('version_b_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('video_score', sa.Float(), nullable=False),
    sa.Column('audio_ber', sa.Float(), nullable=False),
    sa.Column('matched_seconds', sa.Float(), nullable=False),
    sa.Column('speed', sa.Float(), nullable=False),
    sa.Column('flipped', sa.Boolean(), nullable=False),
    sa.Column('moments', sa.JSON(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('dismissed_by_id', sa.Integer(), nullable=True),
    sa.Column('dismissed_at', clipjury.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dismissed_by_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['version_a_id'], ['work_version.id'], ),
    sa.ForeignKeyConstraint(['version_b_id'], ['work_version.id'], ),
    sa.ForeignKeyConstraint(['work_a_id'], ['work.id'], ),
    sa.ForeignKeyConstraint(['work_b_id'], ['work.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('work_a_id', 'work_b_id', name='uq_integrity_pair')
    )
    with op.batch_alter_table('integrity_pair', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_integrity_pair_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_integrity_pair_work_a_id'), ['work_a_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_integrity_pair_work_b_id'), ['work_b_id'], unique=False)

    op.create_table('integrity_screening',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('work_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('opening_found', sa.Boolean(), nullable=False),
    sa.Column('opening_text', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('opening_at_s', sa.Float(), nullable=True),
    sa.Column('opening_similarity', sa.Float(), nullable=False),
    sa.Column('markings', sa.JSON(), nullable=False),
    sa.Column('frames_read', sa.Integer(), nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('done_at', clipjury.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['version_id'], ['work_version.id'], ),
    sa.ForeignKeyConstraint(['work_id'], ['work.id'], ),
    sa.PrimaryKeyConstraint('version_id')
    )
    with op.batch_alter_table('integrity_screening', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_integrity_screening_status'), ['status'], unique=False)
        batch_op.create_index('ix_integrity_screening_work', ['work_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('integrity_screening', schema=None) as batch_op:
        batch_op.drop_index('ix_integrity_screening_work')
        batch_op.drop_index(batch_op.f('ix_integrity_screening_status'))

    op.drop_table('integrity_screening')
    with op.batch_alter_table('integrity_pair', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_integrity_pair_work_b_id'))
        batch_op.drop_index(batch_op.f('ix_integrity_pair_work_a_id'))
        batch_op.drop_index(batch_op.f('ix_integrity_pair_status'))

    op.drop_table('integrity_pair')
    with op.batch_alter_table('integrity_fingerprint', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_integrity_fingerprint_work_id'))
        batch_op.drop_index(batch_op.f('ix_integrity_fingerprint_status'))
        batch_op.drop_index(batch_op.f('ix_integrity_fingerprint_campaign_id'))

    op.drop_table('integrity_fingerprint')
    op.drop_table('integrity_switches')
