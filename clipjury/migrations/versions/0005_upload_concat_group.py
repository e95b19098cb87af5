"""uploads: finals made from the layout their partials declare (concat_group)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 23:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.add_column(sa.Column('concat_group', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_upload_concat_group'), ['concat_group'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_upload_concat_group'))
        batch_op.drop_column('concat_group')
