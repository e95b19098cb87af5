"""Account operations: authentication, passwords, deactivation and lookups."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from clipjury.accounts import throttle
from clipjury.accounts.models import Province, Role, Unit, User
from clipjury.accounts.passwords import ensure_strong_password
from clipjury.accounts.scopes import missing_scope
from clipjury.accounts.security import dummy_hash, hash_password, verify_password
from clipjury.accounts.sessions import end_all_sessions
from clipjury.db import rowcount
from clipjury.errors import Invalid, NotFound
from clipjury.phones.crypto import lookup_hmac
from clipjury.phones.numbers import BadPhone, normalise_mobile
from clipjury.timeutil import utcnow

log = logging.getLogger(__name__)



class BadCredentials(Invalid):
    status_code = 401
    code = "bad_credentials"
    message = "用户名（或手机号）或密码错误。"


def _login_target(session: Session, login: str) -> tuple[str, User | None]:
    """The account a login name means: a username, else a registered mainland mobile number in any
    accepted spelling. Returns the throttle's key (the E.164 number for a phone, so spellings share one
    budget) and the user."""
    name = login.strip()
    user = session.exec(select(User).where(User.username == name)).first()
    if user is not None:
        return name, user
    try:
        e164 = normalise_mobile(name)
    except BadPhone:
        return name, None
    return e164, session.exec(select(User).where(col(User.phone_hmac) == lookup_hmac(e164))).first()


def authenticate(
    session: Session, username: str, password: str, *, address: str = "", now: datetime | None = None
) -> User:
    """The user with this username (or registered phone number) and password; failures from ``address``
    are counted and, past the limit, refused before the password is checked
    (``clipjury.accounts.throttle``)."""
    key, user = _login_target(session, username)
    throttle.check(key, address)
    if user is None:
        verify_password(password, dummy_hash())
        throttle.failed(key, address)
        raise BadCredentials()
    if not verify_password(password, user.password_hash) or not user.is_active:
        throttle.failed(key, address)
        raise BadCredentials()
    throttle.succeeded(key, address)
    # The inactive-account sweep counts from here (one small write per sign-in). Not on an account without
    # its role's scope: the database's check refuses any change to such a row, and every route refuses it.
    if not missing_scope(user):
        user.last_login_at = now or utcnow()
        session.add(user)
    return user


class UnknownUser(NotFound):
    code = "unknown_user"
    message = "没有这个用户名的账号。"


def user_by_username(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username.strip())).first()
    if user is None:
        raise UnknownUser()
    return user


def change_password(session: Session, user: User, new_password: str) -> None:
    """Set a new password and end every session and token of the account: whoever knew the old one
    (and kept a cookie or token from then) is out."""
    ensure_strong_password(new_password, username=user.username)
    user.password_hash = hash_password(new_password)
    session.add(user)
    session.flush()
    end_all_sessions(session, user)
    log.info("password changed for user %s; all sessions ended", user.id)


def deactivate(session: Session, user: User) -> bool:
    """Deactivate the account and end all its sessions and tokens; False if it already was inactive
    (compare-and-set, so two operators at once deactivate it once)."""
    changed = rowcount(session.execute(
        update(User).where(col(User.id) == user.id, col(User.is_active).is_(True)).values(is_active=False)
    ))
    end_all_sessions(session, user)
    log.info("user %s deactivated (changed: %s); all sessions ended", user.id, bool(changed))
    return bool(changed)


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


def list_provinces(session: Session) -> list[Province]:
    return list(session.exec(select(Province).order_by(col(Province.id))))


def units_by_id(session: Session, ids: set[int]) -> dict[int, Unit]:
    return {u.id or 0: u for u in session.exec(select(Unit).where(col(Unit.id).in_(ids)))}


def home_province_id(session: Session, user: User) -> int | None:
    """The province a user's works belong to: their unit's, else their own."""
    if user.unit_id is not None:
        unit = session.get(Unit, user.unit_id)
        if unit is not None:
            return unit.province_id
    return user.province_id
