"""Staff invitations: who may create which account in which scope, and the one-time link where the
invitee sets a password.

An invitation is a random token that only the link holds; the table keeps its SHA-256, so a copy of the
database opens no account. It lasts ``invite_ttl_hours`` (72 h), is used once, and a new link for the
same account replaces every earlier one. Until the link is used the account has no password at all
(``NO_PASSWORD``, which no password verifies), so an account is never reachable with a guessed default.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, String, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from clipjury.accounts import invite_delivery
from clipjury.accounts.models import ROLE_LABELS, Province, Role, Unit, User
from clipjury.accounts.passwords import ensure_strong_password
from clipjury.accounts.security import hash_password
from clipjury.accounts.sessions import end_all_sessions
from clipjury.accounts.usernames import DISPLAY_NAME_MAX_CHARS, UsernameTaken, ensure_username_free, normalise_username
from clipjury.audit.service import record
from clipjury.db import UTCDateTime, rowcount
from clipjury.errors import Conflict, Forbidden, Gone, Invalid, NotFound
from clipjury.settings import get_settings
from clipjury.timeutil import utcnow

log = logging.getLogger(__name__)

# Not an Argon2 hash: pwdlib cannot read it, so verify_password is False for every password.
NO_PASSWORD = "!invited"
INVITE_PATH = "/invite/"


class Invitation(SQLModel, table=True):
    __tablename__ = "invitation"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    # sha256 hex of the link's token.
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    created_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set when a newer link for the account, or its deactivation, ended this one.
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# -- errors ----------------------------------------------------------------------------------------

class InviteNotFound(NotFound):
    code = "invite_not_found"
    message = "邀请链接无效，请核对链接，或请管理员重新发送。"


class InviteUsed(Gone):
    code = "invite_used"
    message = "该邀请链接已经使用过。如已设置密码，请直接登录；否则请管理员重新发送链接。"


class InviteExpired(Gone):
    code = "invite_expired"
    message = "该邀请链接已过期，请管理员重新发送链接。"


class InviteReplaced(Gone):
    code = "invite_replaced"
    message = "该邀请链接已被新的链接取代或已被管理员收回，请使用最新的链接。"


class AccountInactive(Conflict):
    code = "account_inactive"
    message = "该账号已停用，请先重新启用。"


# -- policy ----------------------------------------------------------------------------------------

# Who creates whom: the national office its provincial admins and the judges, a province its reviewers
# and unit coordinators. National admins come only from `clipjury create-admin`.
CREATABLE: dict[Role, frozenset[Role]] = {
    Role.national_admin: frozenset({Role.provincial_admin, Role.judge}),
    Role.provincial_admin: frozenset({Role.reviewer, Role.unit_coordinator}),
}


def creatable_roles(actor: User) -> list[Role]:
    allowed = CREATABLE.get(Role(actor.role), frozenset())
    return [role for role in Role if role in allowed]


def may_create(actor: User, role: Role, province: Province | None, unit: Unit | None) -> bool:
    """Whether ``actor`` may create an account of ``role`` in this province and unit."""
    if role not in CREATABLE.get(Role(actor.role), frozenset()):
        return False
    if Role(actor.role) == Role.provincial_admin:
        if province is not None and province.id != actor.province_id:
            return False
        if unit is not None and unit.province_id != actor.province_id:
            return False
    return True


def _scope_of(
    session: Session, actor: User, role: Role, province_code: str | None, unit_id: int | None
) -> tuple[Province | None, Unit | None]:
    """The province and unit the new account belongs to, from what the form or body named; refusals
    that are about the caller's rights are 403, those about the input 422."""
    province: Province | None = None
    if province_code:
        province = session.exec(select(Province).where(Province.code == province_code.strip())).first()
        if province is None:
            raise Invalid("没有这个省份代码。", code="unknown_province")
    unit: Unit | None = None
    if unit_id is not None:
        if role not in (Role.unit_coordinator, Role.judge):
            raise Invalid("只有单位联络员（和评审专家的回避信息）需要填写单位。", code="unit_not_allowed")
        unit = session.get(Unit, unit_id)
        if unit is None:
            raise Invalid("没有这个单位。", code="unknown_unit")
    if not may_create(actor, role, province, unit):
        raise Forbidden("您不能在该范围内创建该角色的账号。")
    if Role(actor.role) == Role.provincial_admin and province is None:
        # A province creates accounts in itself; naming it is optional.
        province = session.get(Province, actor.province_id)
    if unit is not None:
        if province is not None and unit.province_id != province.id:
            raise Invalid("所选单位不属于所选省份。", code="unit_not_in_province")
        province = province or session.get(Province, unit.province_id)
    if role in (Role.provincial_admin, Role.reviewer, Role.unit_coordinator) and province is None:
        raise Invalid("请选择所属省份。", code="province_required")
    if role == Role.unit_coordinator and unit is None:
        raise Invalid("单位联络员必须选择所属单位。", code="unit_required")
    return province, unit


def audit_province(user: User) -> int | None:
    """The province an account's audit events are filed under: a judge's affiliation is for the national
    office's conflict checks, not for the province's audit log (who judges is not the province's to read)."""
    return None if user.role == Role.judge.value else user.province_id


def account_reason(user: User) -> str:
    """What the audit log shows of the account an event is about (its data carries the ids)."""
    return f"账号 {user.username}（{role_label(user.role)}）"


# -- links -----------------------------------------------------------------------------------------

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite_url(token: str, request_base: str) -> str:
    """The link the invitee opens: under the public base URL when one is set (the address people reach
    behind the proxy), else the address this request came to."""
    base = get_settings().public_base_url or request_base
    return base.rstrip("/") + INVITE_PATH + token


def _new_invitation(session: Session, actor: User | None, user: User) -> str:
    """A fresh link for ``user``; every earlier unused link of the account stops working."""
    assert user.id is not None
    now = utcnow()
    session.execute(
        update(Invitation)
        .where(col(Invitation.user_id) == user.id, col(Invitation.used_at).is_(None),
               col(Invitation.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    token = secrets.token_urlsafe(32)
    session.add(Invitation(
        user_id=user.id, token_hash=_token_hash(token), created_by_id=actor.id if actor else None,
        created_at=now, expires_at=now + timedelta(hours=get_settings().invite_ttl_hours),
    ))
    session.flush()
    return token


def revoke_invitations(session: Session, user: User) -> None:
    session.execute(
        update(Invitation)
        .where(col(Invitation.user_id) == user.id, col(Invitation.used_at).is_(None),
               col(Invitation.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


# -- operations ------------------------------------------------------------------------------------

def create_account(
    session: Session,
    actor: User,
    *,
    username: str,
    display_name: str,
    role: Role | str,
    province_code: str | None = None,
    unit_id: int | None = None,
) -> tuple[User, str]:
    """Create a staff account without a password and its first invitation; returns it and the token."""
    try:
        role = Role(role)
    except ValueError:
        raise Invalid("没有这个角色。", code="unknown_role") from None
    name = normalise_username(username)
    display = display_name.strip()[:DISPLAY_NAME_MAX_CHARS] or name
    province, unit = _scope_of(session, actor, role, province_code, unit_id)
    ensure_username_free(session, name)
    user = User(
        username=name, display_name=display, password_hash=NO_PASSWORD, role=role.value,
        province_id=province.id if province else None, unit_id=unit.id if unit else None,
    )
    try:
        with session.begin_nested():  # two admins choosing one name at once: the second is told so
            session.add(user)
            session.flush()
    except IntegrityError:
        raise UsernameTaken() from None
    token = _new_invitation(session, actor, user)
    record(
        session, actor=actor, action="account.create", province_id=audit_province(user),
        reason=account_reason(user),
        data={"user_id": user.id, "username": user.username, "role": user.role,
              "province_id": user.province_id, "unit_id": user.unit_id},
    )
    log.info("account %s (%s) created by user %s; invitation issued", user.id, user.role, actor.id)
    return user, token


def create_and_send(
    session: Session,
    actor: User,
    *,
    base_url: str,
    send_to_phone: str | None = None,
    send_to_email: str | None = None,
    **account: Any,
) -> tuple[User, str, list[str]]:
    """``create_account``, and the link sent by SMS and/or e-mail once the account is committed. The
    addresses are checked first: a bad one creates nothing. An e-mail address given is kept as the
    account's (its notifications use it); a phone number is not kept (staff give theirs themselves)."""
    to = invite_delivery.targets(send_to_phone, send_to_email)
    user, token = create_account(session, actor, **account)
    if to.email and not user.email:
        user.email = to.email
        session.add(user)
    channels = invite_delivery.queue(session, user, invite_url(token, base_url), to)
    if channels:
        record(session, actor=actor, action="account.invite_sent", province_id=audit_province(user),
               data={"user_id": user.id, "channels": channels})
    return user, token, channels


def reissue(session: Session, actor: User, user: User) -> str:
    """A new link for an account the actor manages (also how a forgotten password is reset); the old
    link stops working. Setting a password through it ends the account's sessions."""
    if not user.is_active:
        raise AccountInactive()
    token = _new_invitation(session, actor, user)
    record(session, actor=actor, action="account.invite", province_id=audit_province(user),
           reason=account_reason(user),
           data={"user_id": user.id, "username": user.username})
    return token


def invitation_for(session: Session, token: str) -> tuple[Invitation, User]:
    """The open invitation of this token and its account, or why it cannot be used."""
    found = session.exec(
        select(Invitation, User).join(User, col(User.id) == col(Invitation.user_id))
        .where(col(Invitation.token_hash) == _token_hash(token))
    ).first()
    if found is None:
        raise InviteNotFound()
    invitation, user = found
    if invitation.used_at is not None:
        raise InviteUsed()
    if invitation.revoked_at is not None or not user.is_active:
        raise InviteReplaced()
    if invitation.expires_at <= utcnow():
        raise InviteExpired()
    return invitation, user


def accept(session: Session, token: str, password: str) -> User:
    """Set the invitee's password through the link, once. Two submissions of one link at once: the
    compare-and-set lets one through, the other is told the link was used."""
    invitation, user = invitation_for(session, token)
    ensure_strong_password(password, username=user.username)
    now = utcnow()
    taken = rowcount(session.execute(
        update(Invitation)
        .where(col(Invitation.id) == invitation.id, col(Invitation.used_at).is_(None),
               col(Invitation.revoked_at).is_(None), col(Invitation.expires_at) > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ))
    if taken != 1:
        raise InviteUsed()
    had_password = user.password_hash != NO_PASSWORD
    user.password_hash = hash_password(password)
    session.add(user)
    session.flush()
    # A reset through a new link: whoever held the old password (and a cookie or token from then) is out.
    end_all_sessions(session, user)
    record(session, actor=user, action="account.invite_accepted", province_id=audit_province(user),
           reason=account_reason(user),
           data={"user_id": user.id, "username": user.username, "password_reset": had_password})
    return user


def role_label(role: str) -> str:
    try:
        return ROLE_LABELS[Role(role)]
    except ValueError:
        return role
