"""uploads: the length of a raw PUT without Content-Length is unknown until its body ends

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.alter_column('length', existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE upload SET length = \"offset\" WHERE length IS NULL")
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.alter_column('length', existing_type=sa.Integer(), nullable=False)
