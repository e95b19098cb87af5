"""The scope each staff role needs: a reviewer without a province or a coordinator without a unit would
otherwise be filtered on NULL (``unit_id IS NULL``) and read what belongs to nobody, i.e. to everyone."""

from __future__ import annotations

from clipjury.accounts.models import Role, User
from clipjury.errors import Forbidden

# The columns each role's scope is read from; roles not named here need none (the national office sees
# everything, judges are assigned works, submitters pick the province of each work). The database holds
# the same rule as a CHECK constraint (SCOPE_CHECK_SQL in clipjury.accounts.models).
REQUIRED_SCOPE: dict[Role, tuple[str, ...]] = {
    Role.provincial_admin: ("province_id",),
    Role.reviewer: ("province_id",),
    Role.unit_coordinator: ("province_id", "unit_id"),
}


class AccountIncomplete(Forbidden):
    code = "account_incomplete"
    message = "您的账号尚未设置所属省份或单位，暂时不能使用。请联系管理员补全账号信息。"


def missing_scope(user: User) -> tuple[str, ...]:
    """The scope columns the user's role needs and the account lacks (empty when complete)."""
    try:
        role = Role(user.role)
    except ValueError:
        return ("role",)
    return tuple(column for column in REQUIRED_SCOPE.get(role, ()) if getattr(user, column) is None)


def ensure_account_complete(user: User) -> None:
    """Refuse every request of an account whose role needs a scope it does not have."""
    if missing_scope(user):
        raise AccountIncomplete(missing=list(missing_scope(user)))
