"""campaign: the organiser that issues the award certificates (a setting, the notice's value as default)

Revision ID: 0024_organiser
Revises: 0023_organising
Create Date: 2026-12-05 05:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel types)
from alembic import op

revision: str = '0024_organiser'
down_revision: str | None = '0023_organising'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('campaign') as batch_op:
        batch_op.add_column(sa.Column('organiser', sqlmodel.sql.sqltypes.AutoString(length=100),
                                      server_default='中央保密办（国家保密局）', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('campaign') as batch_op:
        batch_op.drop_column('organiser')
