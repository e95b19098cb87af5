"""Account administration: which accounts an admin manages, the list of them, deactivation (ending
every session at once) and reactivation. The last active national admin cannot be deactivated.
National admins are made only by an operator on the server (``clipjury create-admin``): no page or API
can make one, and production has no demo seed, so this is how the first one comes to exist."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from clipjury.accounts.invitations import (
    NO_PASSWORD,
    Invitation,
    account_reason,
    audit_province,
    revoke_invitations,
)
from clipjury.accounts.models import Province, Role, Unit, User
from clipjury.accounts.passwords import ensure_strong_password
from clipjury.accounts.service import create_user
from clipjury.accounts.sessions import end_all_sessions
from clipjury.accounts.usernames import DISPLAY_NAME_MAX_CHARS, UsernameTaken, ensure_username_free, normalise_username
from clipjury.audit.service import record
from clipjury.db import rowcount
from clipjury.errors import Conflict, Forbidden, Invalid, NotFound
from clipjury.timeutil import utcnow

log = logging.getLogger(__name__)

ADMIN_ROLES = frozenset({Role.national_admin, Role.provincial_admin})
# What a provincial admin manages: the accounts it creates, in its own province.
PROVINCE_MANAGED = frozenset({Role.reviewer, Role.unit_coordinator})


class AccountNotFound(NotFound):
    code = "account_not_found"
    message = "找不到该账号，或您无权管理。"


class LastNationalAdmin(Conflict):
    code = "last_national_admin"
    message = "这是最后一个启用的全国管理员账号，不能停用。请先创建或启用另一个全国管理员。"


class CannotDeactivateSelf(Conflict):
    code = "cannot_deactivate_self"
    message = "不能停用自己的账号，请由另一位管理员操作。"


def may_administer(actor: User) -> bool:
    return Role(actor.role) in ADMIN_ROLES


def may_manage(actor: User, target: User) -> bool:
    """Whether ``actor`` may deactivate, reactivate or send a new link to ``target``: the national office
    every account, a province its reviewers and coordinators."""
    role = Role(actor.role)
    if role == Role.national_admin:
        return True
    if role == Role.provincial_admin:
        return target.role in PROVINCE_MANAGED and target.province_id == actor.province_id
    return False


def placement_choices(session: Session, actor: User) -> tuple[list[Province], list[Unit]]:
    """The provinces and units an administrator may place a new account in: a provincial admin only
    its own province's, a national admin all of them."""
    provinces_q = select(Province).order_by(col(Province.id))
    units_q = select(Unit).order_by(col(Unit.province_id), col(Unit.sort_order), col(Unit.id))
    if Role(actor.role) == Role.provincial_admin:
        provinces_q = provinces_q.where(col(Province.id) == actor.province_id)
        units_q = units_q.where(col(Unit.province_id) == actor.province_id)
    return list(session.exec(provinces_q)), list(session.exec(units_q))


def require_admin(actor: User) -> None:
    if not may_administer(actor):
        raise Forbidden("只有全国管理员和省级管理员可以管理账号。")


def managed_account(session: Session, actor: User, user_id: int) -> User:
    """The account, if the actor manages it; otherwise answered as one that does not exist."""
    require_admin(actor)
    user = session.get(User, user_id)
    if user is None or not may_manage(actor, user):
        raise AccountNotFound()
    return user


@dataclass(frozen=True)
class AccountRow:
    user: User
    # "active", "invited" (no password set yet), "inactive"
    state: str
    invite_expires_at: datetime | None


STATE_LABELS = {"active": "已启用", "invited": "待接受邀请", "inactive": "已停用"}


def account_state(user: User) -> str:
    if not user.is_active:
        return "inactive"
    return "invited" if user.password_hash == NO_PASSWORD else "active"


def list_accounts(session: Session, actor: User) -> list[AccountRow]:
    """The accounts the actor manages, staff first by role, then by name; submitters are left to their
    own pages (the national office would otherwise page through the public)."""
    require_admin(actor)
    query = select(User).where(col(User.role) != Role.submitter.value)
    if Role(actor.role) == Role.provincial_admin:
        query = query.where(
            col(User.province_id) == actor.province_id, col(User.role).in_([r.value for r in PROVINCE_MANAGED])
        )
    users = list(session.exec(query.order_by(col(User.role), col(User.username))))
    now = utcnow()
    open_links = {
        user_id: expires
        for user_id, expires in session.exec(
            select(Invitation.user_id, func.max(Invitation.expires_at))
            .where(col(Invitation.user_id).in_([u.id for u in users]), col(Invitation.used_at).is_(None),
                   col(Invitation.revoked_at).is_(None), col(Invitation.expires_at) > now)
            .group_by(col(Invitation.user_id))
        )
    } if users else {}
    return [AccountRow(u, account_state(u), open_links.get(u.id or 0)) for u in users]


def deactivate(session: Session, actor: User | None, user: User) -> bool:
    """Deactivate ``user`` and end every session, token and open invitation of it at once; False when it
    already was inactive. ``actor`` None: an operator's command (``clipjury deactivate``).

    The last active national admin is refused, also against a concurrent deactivation of another one:
    on PostgreSQL the active national admins are locked first; SQLite runs one writer at a time, and the
    single UPDATE re-counts them under the write lock."""
    if actor is not None and user.id == actor.id:
        raise CannotDeactivateSelf()
    # Whether the account had set its password yet: an unused invitation deactivated reads differently.
    before = account_state(user)
    condition = and_(col(User.id) == user.id, col(User.is_active).is_(True))
    if user.role == Role.national_admin.value:
        session.exec(
            select(User.id)
            .where(col(User.role) == Role.national_admin.value, col(User.is_active).is_(True))
            .order_by(col(User.id))
            .with_for_update()
        ).all()
        others = (
            select(func.count())
            .select_from(User)
            .where(col(User.role) == Role.national_admin.value, col(User.is_active).is_(True),
                   col(User.id) != user.id)
            .scalar_subquery()
        )
        condition = and_(condition, others > 0)
    changed = rowcount(session.execute(
        update(User).where(condition).values(is_active=False).execution_options(synchronize_session=False)
    ))
    session.refresh(user)
    if not changed and user.is_active:
        raise LastNationalAdmin()
    end_all_sessions(session, user)
    revoke_invitations(session, user)
    if changed:
        record(session, actor=actor, action="account.deactivate", province_id=audit_province(user),
               reason=account_reason(user),
               data={"user_id": user.id, "username": user.username, "was": before})
    log.info("user %s deactivated by %s (changed: %s); all sessions ended", user.id,
             actor.id if actor else "system", bool(changed))
    return bool(changed)


def reactivate(session: Session, actor: User, user: User) -> bool:
    """Let the account sign in again (with its password, or a new link); False if it was active."""
    changed = rowcount(session.execute(
        update(User).where(col(User.id) == user.id, col(User.is_active).is_(False)).values(is_active=True)
        .execution_options(synchronize_session=False)
    ))
    session.refresh(user)
    if changed:
        record(session, actor=actor, action="account.reactivate", province_id=audit_province(user),
               reason=account_reason(user),
               data={"user_id": user.id, "username": user.username})
    return bool(changed)


def create_national_admin(session: Session, *, username: str, display_name: str, password: str) -> User:
    """A new national admin, audited; ``BadUsername``, ``UsernameTaken`` (also differing only in case,
    which a person reading the audit log could not tell apart) or ``WeakPassword`` otherwise."""
    username = normalise_username(username)
    display_name = " ".join(display_name.split()) or username
    if len(display_name) > DISPLAY_NAME_MAX_CHARS:
        raise Invalid(f"显示名称不能超过 {DISPLAY_NAME_MAX_CHARS} 个字符。", code="bad_display_name")
    ensure_username_free(session, username)
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
