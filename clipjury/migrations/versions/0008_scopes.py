"""accounts: staff need the scope of their role (CHECK ck_app_user_role_scope); national decisions
before publication get their own revision (work.national_rev, work.national_updated_at)

Revision ID: 0008_scopes
Revises: 0007_sessions
Create Date: 2026-12-04 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import clipjury.db

revision: str = '0008_scopes'
down_revision: str | None = '0007_sessions'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Copied, not imported: a migration must keep meaning what it meant when it was written.
SCOPE_CHECK_NAME = 'ck_app_user_role_scope'
SCOPE_CHECK_SQL = (
    "(role NOT IN ('provincial_admin', 'reviewer', 'unit_coordinator') OR province_id IS NOT NULL)"
    " AND (role <> 'unit_coordinator' OR unit_id IS NOT NULL)"
)


class IncompleteAccounts(RuntimeError):
    pass


def upgrade() -> None:
    bind = op.get_bind()
    bad = bind.execute(sa.text(f"SELECT username, role FROM app_user WHERE NOT ({SCOPE_CHECK_SQL})")).all()
    if bad:
        # Refuse rather than guess a province or unit for someone: an operator must complete (or
        # deactivate and re-role) these accounts, then run the migration again.
        names = ", ".join(f"{row[0]} ({row[1]})" for row in bad[:20])
        raise IncompleteAccounts(
            f"{len(bad)} staff account(s) lack the province/unit their role needs: {names}. "
            "Set app_user.province_id / unit_id (or change the role) and upgrade again."
        )
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.create_check_constraint(SCOPE_CHECK_NAME, SCOPE_CHECK_SQL)
    with op.batch_alter_table('work', schema=None) as batch_op:
        batch_op.add_column(sa.Column('national_rev', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('national_updated_at', clipjury.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('work', schema=None) as batch_op:
        batch_op.drop_column('national_updated_at')
        batch_op.drop_column('national_rev')
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_constraint(SCOPE_CHECK_NAME, type_='check')
