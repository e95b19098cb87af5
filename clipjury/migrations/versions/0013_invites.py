"""invitation: one-time links where invited staff set their password

Revision ID: 0013_invites
Revises: 0012_checklist
Create Date: 2026-12-04 14:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import clipjury.db

revision: str = '0013_invites'
down_revision: str | None = '0012_checklist'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'invitation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', clipjury.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('used_at', clipjury.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', clipjury.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['app_user.id'], ),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    with op.batch_alter_table('invitation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invitation_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('invitation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invitation_user_id'))
    op.drop_table('invitation')
