"""uploads: a raw PUT sent again with the same Idempotency-Key is the same upload (idempotency_digest)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 03:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idempotency_digest', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_upload_idempotency_digest'), ['idempotency_digest'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_upload_idempotency_digest'))
        batch_op.drop_column('idempotency_digest')
