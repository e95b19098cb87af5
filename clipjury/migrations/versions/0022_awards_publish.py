"""awards: publications of an awards version and the certificates of awarded works

Revision ID: 0022_awards_publish
Revises: 0021_awards
Create Date: 2026-12-05 01:35:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op

import clipjury.db  # noqa: F401  (UTCDateTime)

revision: str = '0022_awards_publish'
down_revision: str | None = '0021_awards'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('awards_publication',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('version_number', sa.Integer(), nullable=False),
    sa.Column('published_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['published_by_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_awards_publication_campaign_id'), 'awards_publication', ['campaign_id'], unique=False)
    op.create_table('award_certificate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('work_id', sa.Integer(), nullable=False),
    sa.Column('serial', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('level', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('version_number', sa.Integer(), nullable=False),
    sa.Column('issued_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', clipjury.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['work_id'], ['work.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('campaign_id', 'work_id'),
    sa.UniqueConstraint('serial'),
    sa.UniqueConstraint('code')
    )
    op.create_index(op.f('ix_award_certificate_campaign_id'), 'award_certificate', ['campaign_id'], unique=False)
    op.create_index(op.f('ix_award_certificate_work_id'), 'award_certificate', ['work_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_award_certificate_work_id'), table_name='award_certificate')
    op.drop_index(op.f('ix_award_certificate_campaign_id'), table_name='award_certificate')
    op.drop_table('award_certificate')
    op.drop_index(op.f('ix_awards_publication_campaign_id'), table_name='awards_publication')
    op.drop_table('awards_publication')
