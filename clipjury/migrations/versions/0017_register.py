"""register: phone (encrypted and its HMAC), consent digest, last sign-in and deletion on accounts

Revision ID: 0017_register
Revises: 0016_showcase
Create Date: 2026-12-04 19:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import clipjury.db

revision: str = '0017_register'
down_revision: str | None = '0016_showcase'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_enc', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
        batch_op.add_column(sa.Column('phone_hmac', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('consent_digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('consented_at', clipjury.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_login_at', clipjury.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('deleted_at', clipjury.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint('uq_app_user_phone_hmac', ['phone_hmac'])


def downgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_constraint('uq_app_user_phone_hmac', type_='unique')
        for name in ('deleted_at', 'last_login_at', 'consented_at', 'consent_digest', 'phone_hmac', 'phone_enc'):
            batch_op.drop_column(name)
