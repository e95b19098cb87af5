"""What a username may be, and that it is free: one rule for create-admin, invitations and registration.

Usernames are kept in lower case: two accounts differing only in case would read as one in the audit log.
"""

from __future__ import annotations

import re

from sqlalchemy import func
from sqlmodel import Session, select

from clipjury.accounts.models import User
from clipjury.errors import Conflict, Invalid

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
DISPLAY_NAME_MAX_CHARS = 64


class BadUsername(Invalid):
    code = "invalid_username"
    message = "用户名须为 3–64 个字符，只能包含字母、数字、点、下划线和连字符，并以字母或数字开头。"


class UsernameTaken(Conflict):
    code = "username_taken"
    message = "该用户名已被使用，请换一个。"


def normalise_username(username: str) -> str:
    name = username.strip().lower()
    if not USERNAME_RE.match(name):
        raise BadUsername()
    return name


def ensure_username_free(session: Session, name: str) -> None:
    """``UsernameTaken`` when an account has ``name`` in any case (the unique index and the caller's
    IntegrityError handling settle a race between two creators)."""
    if session.exec(select(User.id).where(func.lower(User.username) == name.lower())).first() is not None:
        raise UsernameTaken()
