"""work_version: the playback job's own attempt counter, last attempt and last error (media_attempts,
media_attempted_at, media_error); status may now be "held" (no schema change: a string column)

Revision ID: 0010_media_jobs
Revises: 0009_uploads
Create Date: 2026-12-04 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import clipjury.db

revision: str = '0010_media_jobs'
down_revision: str | None = '0009_uploads'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('work_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('media_attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('media_attempted_at', clipjury.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('media_error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('work_version', schema=None) as batch_op:
        batch_op.drop_column('media_error')
        batch_op.drop_column('media_attempted_at')
        batch_op.drop_column('media_attempts')
