"""campaign: duration_step_s, the rounding of measured durations before they meet max_duration_s

Revision ID: 0011_media_measure
Revises: 0010_media_jobs
Create Date: 2026-12-04 12:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011_media_measure'
down_revision: str | None = '0010_media_jobs'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('duration_step_s', sa.Float(), nullable=False, server_default='0.1'))


def downgrade() -> None:
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_column('duration_step_s')
