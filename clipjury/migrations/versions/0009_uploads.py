"""uploads: a CRC of the tail object in the row (tail_crc); old versions purged from storage (purged_at)

Revision ID: 0009_uploads
Revises: 0008_scopes
Create Date: 2026-12-04 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import clipjury.db

revision: str = '0009_uploads'
down_revision: str | None = '0008_scopes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tail_crc', sa.String(length=8), nullable=True))
    with op.batch_alter_table('work_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purged_at', clipjury.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('work_version', schema=None) as batch_op:
        batch_op.drop_column('purged_at')
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.drop_column('tail_crc')
