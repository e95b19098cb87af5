"""Account operations: authentication and lookups."""

from __future__ import annotations

from sqlmodel import Session, select

from clipjury.accounts import throttle
from clipjury.accounts.models import Province, Role, Unit, User
from clipjury.accounts.scopes import missing_scope
from clipjury.accounts.security import dummy_hash, hash_password, verify_password
from clipjury.errors import Invalid


class BadCredentials(Invalid):
    status_code = 401
    code = "bad_credentials"
    message = "用户名或密码错误。"


def authenticate(session: Session, username: str, password: str, *, address: str = "") -> User:
    """The user with this username and password; failures from ``address`` are counted and, past
    the limit, refused before the password is checked (``clipjury.accounts.throttle``)."""
    throttle.check(username, address)
    user = session.exec(select(User).where(User.username == username.strip())).first()
    if user is None:
        verify_password(password, dummy_hash())
        throttle.failed(username, address)
        raise BadCredentials()
    if not verify_password(password, user.password_hash) or not user.is_active:
        throttle.failed(username, address)
        raise BadCredentials()
    throttle.succeeded(username, address)
    return user


def create_user(
    session: Session,
    *,
    username: str,
    password: str | None = None,
    password_hash: str | None = None,
    role: Role,
    display_name: str = "",
    province: Province | None = None,
    unit: Unit | None = None,
) -> User:
    if unit is not None and province is None:
        province = session.get(Province, unit.province_id)
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=password_hash or hash_password(password or ""),
        role=role.value,
        province_id=province.id if province else None,
        unit_id=unit.id if unit else None,
    )
    if missing_scope(user):
        # The database refuses the row too (ck_app_user_role_scope); this says why in words.
        raise Invalid("该角色的账号必须设置所属省份（单位联络员还须设置所属单位）。", code="account_incomplete")
    session.add(user)
    session.flush()
    return user
