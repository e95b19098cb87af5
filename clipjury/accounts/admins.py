"""National administrators are made by an operator on the server (``clipjury create-admin``): no page or
API can make one, and production has no demo seed, so this is how the first one comes to exist."""

from __future__ import annotations

import re

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from clipjury.accounts.models import Role, User
from clipjury.accounts.passwords import ensure_strong_password
from clipjury.accounts.service import create_user
from clipjury.audit.service import record
from clipjury.errors import Conflict, Invalid

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")
DISPLAY_NAME_MAX_CHARS = 64


class UsernameTaken(Conflict):
    code = "username_taken"
    message = "该用户名已被使用，请换一个。"


class BadUsername(Invalid):
    code = "bad_username"
    message = "用户名须为 3–64 个英文字母、数字、点、下划线或连字符，并以字母或数字开头。"


def create_national_admin(session: Session, *, username: str, display_name: str, password: str) -> User:
    """A new national admin, audited; ``BadUsername``, ``UsernameTaken`` (also differing only in case,
    which a person reading the audit log could not tell apart) or ``WeakPassword`` otherwise."""
    username = username.strip()
    if not USERNAME.match(username):
        raise BadUsername()
    display_name = " ".join(display_name.split()) or username
    if len(display_name) > DISPLAY_NAME_MAX_CHARS:
        raise Invalid(f"显示名称不能超过 {DISPLAY_NAME_MAX_CHARS} 个字符。", code="bad_display_name")
    if session.exec(select(User.id).where(func.lower(User.username) == username.lower())).first() is not None:
        raise UsernameTaken()
    ensure_strong_password(password, username=username)
    try:
        user = create_user(
            session, username=username, password=password, role=Role.national_admin, display_name=display_name
        )
    except IntegrityError as exc:  # another operator's command took the name between the check and here
        raise UsernameTaken() from exc
    record(
        session, actor=None, action="create_admin", to_status=Role.national_admin.value,
        reason="clipjury create-admin",
        data={"user_id": user.id, "username": user.username, "display_name": user.display_name,
              "role": Role.national_admin.value},
    )
    return user
