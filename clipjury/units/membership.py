"""Joining a unit: a submitter asks with the unit's join code and is a pending member until the unit's
coordinator (or the provincial admin) approves. Only then is ``User.unit_id`` set, which a new work's
unit, and so every quota count, is read from: pending and rejected members submit as individuals of
their province. Every decision is compare-and-set on the request's status, and audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from clipjury.accounts.contact import masked_phone
from clipjury.accounts.models import Role, Unit, User
from clipjury.audit.service import record
from clipjury.db import rowcount
from clipjury.errors import Conflict, Forbidden, Invalid
from clipjury.timeutil import utcnow
from clipjury.units.models import (
    JOIN_CODE_LENGTH,
    MEMBERSHIP_STATUS_LABELS,
    MembershipStatus,
    UnitMembership,
    new_join_code,
    normalise_code,
)
from clipjury.units.service import unit_in_scope

# No 0/O, 1/I/L: the code is read aloud and typed from a screen.
MEMBER_ROLES = frozenset({Role.unit_coordinator, Role.provincial_admin, Role.national_admin})


class BadJoinCode(Invalid):
    code = "bad_join_code"
    message = "单位邀请码无效或已更换，请向本单位联络员索取最新的邀请码。"


class NotPending(Conflict):
    code = "not_pending"
    message = "该成员申请已处理或不存在，请刷新页面。"


def unit_for_code(session: Session, code: str) -> Unit:
    """The (not archived) unit whose join code this is, in any case and spacing; ``BadJoinCode`` else."""
    wanted = normalise_code(code)
    if len(wanted) != JOIN_CODE_LENGTH:
        raise BadJoinCode()
    unit = session.exec(
        select(Unit).where(Unit.join_code == wanted, col(Unit.archived_at).is_(None))
    ).first()
    if unit is None:
        raise BadJoinCode()
    return unit


def join_with_code(session: Session, user: User, code: str) -> UnitMembership:
    """The submitter asks to join the unit whose join code this is: a pending membership (asking again
    after a rejection re-opens it). Registration calls this with the code typed on its form."""
    if Role(user.role) != Role.submitter:
        raise Forbidden("只有投稿人可以通过邀请码加入单位。", code="forbidden_role")
    unit = unit_for_code(session, code)
    if user.unit_id is not None:
        raise Conflict("您已是某单位的成员，不能再加入其他单位。", code="already_member")
    if user.province_id is not None and user.province_id != unit.province_id:
        raise Invalid("该单位不属于您所选的省份。", code="province_mismatch")
    membership = session.exec(
        select(UnitMembership).where(UnitMembership.user_id == user.id, UnitMembership.unit_id == unit.id)
    ).first()
    if membership is None:
        membership = UnitMembership(user_id=user.id or 0, unit_id=unit.id or 0)
    elif membership.status == MembershipStatus.pending.value:
        return membership
    else:
        membership.status = MembershipStatus.pending.value
        membership.requested_at = utcnow()
        membership.decided_at = None
        membership.decided_by = None
    session.add(membership)
    session.flush()
    record(session, actor=user, action="unit_join_request", province_id=unit.province_id,
           data={"unit_id": unit.id, "user_id": user.id})
    return membership


def _manageable(session: Session, actor: User, unit_id: int) -> Unit:
    if Role(actor.role) not in MEMBER_ROLES:
        raise Forbidden("只有本单位联络员或管理员可以管理成员。", code="forbidden_role")
    return unit_in_scope(session, actor, unit_id)


def _decide(session: Session, actor: User, unit_id: int, user_id: int, to: MembershipStatus) -> UnitMembership:
    unit = _manageable(session, actor, unit_id)
    now = utcnow()
    result = session.execute(
        update(UnitMembership)
        .where(col(UnitMembership.unit_id) == unit.id, col(UnitMembership.user_id) == user_id,
               col(UnitMembership.status) == MembershipStatus.pending.value)
        .values(status=to.value, decided_at=now, decided_by=actor.id)
    )
    if rowcount(result) != 1:
        raise NotPending()
    if to == MembershipStatus.approved:
        # Compare-and-set on the account too: two coordinators approving the same person into two units
        # cannot both win.
        moved = session.execute(
            update(User).where(col(User.id) == user_id, col(User.unit_id).is_(None),
                               col(User.role) == Role.submitter.value)
            .values(unit_id=unit.id, province_id=unit.province_id)
        )
        if rowcount(moved) != 1:
            raise Conflict("该用户已加入其他单位或不再是投稿人。", code="already_member")
    session.expire_all()
    membership = session.exec(select(UnitMembership).where(
        UnitMembership.unit_id == unit.id, UnitMembership.user_id == user_id)).one()
    record(session, actor=actor, action=f"unit_member_{'approve' if to == MembershipStatus.approved else 'reject'}",
           province_id=unit.province_id, data={"unit_id": unit.id, "user_id": user_id})
    return membership


def approve(session: Session, actor: User, unit_id: int, user_id: int) -> UnitMembership:
    return _decide(session, actor, unit_id, user_id, MembershipStatus.approved)


def reject(session: Session, actor: User, unit_id: int, user_id: int) -> UnitMembership:
    return _decide(session, actor, unit_id, user_id, MembershipStatus.rejected)


def rotate_code(session: Session, actor: User, unit_id: int) -> str:
    """A new join code; the old one stops working at once. The code itself is not written to the log."""
    unit = _manageable(session, actor, unit_id)
    if unit.archived_at is not None:
        raise Conflict("该单位已停用，不能生成邀请码。", code="unit_archived")
    unit.join_code = new_join_code()
    session.add(unit)
    session.flush()
    record(session, actor=actor, action="unit_join_code_rotate", province_id=unit.province_id,
           data={"unit_id": unit.id})
    return unit.join_code


@dataclass
class MemberView:
    user_id: int
    username: str
    display_name: str
    status: str
    status_label: str
    requested_at: datetime
    decided_at: datetime | None
    phone: str = ""  # masked (138****8000): staff never see a registered number whole


def members(session: Session, actor: User, unit_id: int) -> tuple[Unit, list[MemberView]]:
    """The unit's membership requests, pending first, then approved, then rejected."""
    unit = _manageable(session, actor, unit_id)
    rows = session.exec(
        select(UnitMembership, User).join(User, col(User.id) == UnitMembership.user_id)
        .where(UnitMembership.unit_id == unit.id).order_by(col(UnitMembership.requested_at))
    ).all()
    order = {MembershipStatus.pending.value: 0, MembershipStatus.approved.value: 1, MembershipStatus.rejected.value: 2}
    views = [
        MemberView(user_id=u.id or 0, username=u.username, display_name=u.display_name, status=m.status,
                   status_label=MEMBERSHIP_STATUS_LABELS[MembershipStatus(m.status)],
                   requested_at=m.requested_at, decided_at=m.decided_at, phone=masked_phone(u))
        for m, u in rows
    ]
    views.sort(key=lambda v: order.get(v.status, 3))
    return unit, views


@dataclass
class OwnMembership:
    unit_name: str
    status: str
    status_label: str


def own_memberships(session: Session, user: User) -> list[OwnMembership]:
    """The caller's own requests to join units, newest first (what their account page shows)."""
    rows = session.exec(
        select(UnitMembership, Unit).join(Unit, col(Unit.id) == UnitMembership.unit_id)
        .where(UnitMembership.user_id == user.id).order_by(col(UnitMembership.requested_at).desc())
    ).all()
    return [OwnMembership(unit_name=u.name, status=m.status,
                          status_label=MEMBERSHIP_STATUS_LABELS[MembershipStatus(m.status)]) for m, u in rows]
