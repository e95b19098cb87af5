"""uploads: tus concatenation (partial and final uploads)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 13:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.alter_column('work_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('concat', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('final_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('partial_ids', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('part_base', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_upload_final_id'), ['final_id'], unique=False)


def downgrade() -> None:
    # Partials without a work cannot be kept under the old schema; they are unfinished pieces anyway.
    op.execute("DELETE FROM upload WHERE work_id IS NULL")
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_upload_final_id'))
        batch_op.drop_column('part_base')
        batch_op.drop_column('partial_ids')
        batch_op.drop_column('final_id')
        batch_op.drop_column('concat')
        batch_op.alter_column('work_id', existing_type=sa.Integer(), nullable=False)
