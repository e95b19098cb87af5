"""Units and top-level organisations: who sees which, and the changes admins make to them.

A provincial admin manages the units of their province; the national office the organisations (the
provinces and the central departments) and their minimums. Services flush; the boundary commits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from clipjury.accounts.models import (
    ORG_KIND_LABELS,
    UNIT_KIND_LABELS,
    OrgKind,
    Province,
    Role,
    Unit,
    UnitKind,
    User,
)
from clipjury.audit.service import record
from clipjury.campaigns.models import Campaign, ProvinceQuota, UnitQuota
from clipjury.campaigns.service import active_campaign
from clipjury.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from clipjury.reports.models import ActivityEntry
from clipjury.timeutil import utcnow
from clipjury.units.models import UnitMembership, new_join_code
from clipjury.works.models import Work

UNIT_NAME_MAX = 128
ORG_NAME_MAX = 64
QUOTA_MAX = 100_000
SORT_MAX = 1_000_000


class UnitNotFound(NotFound):
    code = "unit_not_found"
    message = "找不到该单位，或您无权查看。"


class UnitExists(Conflict):
    code = "unit_exists"
    message = "本省已有同名单位。"


class UnitHasWorks(Conflict):
    code = "unit_has_works"
    message = "该单位已有作品或成员，不能删除；请改为“停用”（停用后不再出现在名单和配额中，已有作品不受影响）。"


def _forbidden(what: str) -> Forbidden:
    return Forbidden(what, code="forbidden_role")


def kind_of(value: str) -> UnitKind | None:
    """A unit kind by its code (``city``) or its Chinese label (``设区市``)."""
    value = (value or "").strip()
    for kind, label in UNIT_KIND_LABELS.items():
        if value in (kind.value, label):
            return kind
    return None


def kinds_hint() -> str:
    return "、".join(UNIT_KIND_LABELS.values())


def clean_unit_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise Invalid("请填写单位名称。", code="unit_name_required")
    if len(name) > UNIT_NAME_MAX:
        raise Invalid(f"单位名称不能超过 {UNIT_NAME_MAX} 个字。", code="unit_name_too_long")
    return name


def check_quota(quota: int | None) -> int | None:
    if quota is not None and not (0 <= quota <= QUOTA_MAX):
        raise Invalid(f"配额必须是 0 到 {QUOTA_MAX} 之间的整数。", code="bad_quota")
    return quota


def current_campaign(session: Session) -> Campaign | None:
    try:
        return active_campaign(session)
    except DomainError:
        return None


# -- scope -------------------------------------------------------------------------------------------

def visible_units_query(user: User) -> SelectOfScalar[Unit]:
    """The units the user may read: all (national admin), their province's (provincial admin,
    reviewer), their own (coordinator); other roles none."""
    role = Role(user.role)
    q = select(Unit)
    if role == Role.national_admin:
        return q
    if role in (Role.provincial_admin, Role.reviewer):
        return q.where(Unit.province_id == (user.province_id or -1))
    if role == Role.unit_coordinator:
        return q.where(Unit.id == (user.unit_id or -1))
    raise _forbidden("只有单位联络员、省级评审人员和管理员可以查看单位。")


def unit_in_scope(session: Session, user: User, unit_id: int) -> Unit:
    """A unit the user may read, or 404 exactly as for one that does not exist."""
    unit = session.exec(visible_units_query(user).where(Unit.id == unit_id)).first()
    if unit is None:
        raise UnitNotFound()
    return unit


def managed_unit(session: Session, user: User, unit_id: int) -> Unit:
    """A unit the provincial admin may change: one of their province."""
    if Role(user.role) != Role.provincial_admin:
        raise _forbidden("只有省级管理员可以管理本省单位。")
    return unit_in_scope(session, user, unit_id)


# -- reading ----------------------------------------------------------------------------------------

@dataclass
class UnitView:
    id: int
    province: str  # code
    province_name: str
    name: str
    kind: str
    kind_label: str
    sort_order: int
    quota: int  # the effective minimum for the current campaign
    quota_override: int | None  # the unit's own minimum, when it differs from its kind's
    archived: bool

    def contract(self) -> dict[str, object]:
        return {"id": self.id, "province": self.province, "name": self.name, "kind": self.kind, "quota": self.quota}


def _overrides(session: Session, campaign: Campaign | None) -> dict[int, int]:
    if campaign is None:
        return {}
    rows = session.exec(select(UnitQuota.unit_id, UnitQuota.required).where(UnitQuota.campaign_id == campaign.id))
    return {unit_id: required for unit_id, required in rows}


def effective_quota(campaign: Campaign | None, unit: Unit, overrides: dict[int, int]) -> int:
    if unit.id in overrides:
        return overrides[unit.id or 0]
    return int(campaign.quota_by_kind.get(unit.kind, 0)) if campaign else 0


def list_units(
    session: Session, user: User, *, include_archived: bool = False, province_id: int | None = None
) -> list[UnitView]:
    q = visible_units_query(user)
    if not include_archived:
        q = q.where(col(Unit.archived_at).is_(None))
    if province_id is not None:
        q = q.where(Unit.province_id == province_id)
    units = list(session.exec(q.order_by(col(Unit.province_id), col(Unit.sort_order), col(Unit.id))))
    provinces = {p.id: p for p in session.exec(select(Province))}
    campaign = current_campaign(session)
    overrides = _overrides(session, campaign)
    views = []
    for unit in units:
        province = provinces.get(unit.province_id)
        try:
            label = UNIT_KIND_LABELS[UnitKind(unit.kind)]
        except ValueError:
            label = unit.kind
        views.append(UnitView(
            id=unit.id or 0, province=province.code if province else "",
            province_name=province.name if province else "",
            name=unit.name, kind=unit.kind, kind_label=label, sort_order=unit.sort_order,
            quota=effective_quota(campaign, unit, overrides), quota_override=overrides.get(unit.id or 0),
            archived=unit.archived_at is not None,
        ))
    return views


def view_of(session: Session, user: User, unit: Unit) -> UnitView:
    return next(v for v in list_units(session, user, include_archived=True) if v.id == unit.id)


# -- changing units ---------------------------------------------------------------------------------

def _name_taken(session: Session, province_id: int, name: str, *, except_id: int | None = None) -> bool:
    q = select(Unit.id).where(Unit.province_id == province_id, Unit.name == name, col(Unit.archived_at).is_(None))
    if except_id is not None:
        q = q.where(Unit.id != except_id)
    return session.exec(q).first() is not None


def _store_required(
    session: Session, row: UnitQuota | ProvinceQuota | None, required: int | None,
    new_row: Callable[[], UnitQuota | ProvinceQuota],
) -> None:
    """A unit's quota or an organisation's minimum for the campaign: None removes the row (the default
    applies again), a number creates or updates it."""
    if required is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(new_row())
    else:
        row.required = required
        session.add(row)


def _set_quota(session: Session, campaign: Campaign | None, unit: Unit, quota: int | None) -> None:
    if campaign is None:
        if quota is not None:
            raise Invalid("当前没有进行中的征集活动，不能设置配额。", code="no_active_campaign")
        return
    row = session.exec(
        select(UnitQuota).where(UnitQuota.campaign_id == campaign.id, UnitQuota.unit_id == unit.id)
    ).first()
    _store_required(session, row, quota,
                    lambda: UnitQuota(campaign_id=campaign.id or 0, unit_id=unit.id or 0, required=quota or 0))


def next_sort_order(session: Session, province_id: int) -> int:
    top = session.exec(select(func.max(Unit.sort_order)).where(Unit.province_id == province_id)).one()
    return int(top or 0) + 1


def create_unit(
    session: Session, user: User, *, name: str, kind: str, quota: int | None, sort_order: int | None = None,
    audit: bool = True,
) -> Unit:
    """A new unit of the provincial admin's own province, with its join code. ``quota`` None: its kind's
    minimum from the campaign's settings."""
    if Role(user.role) != Role.provincial_admin or user.province_id is None:
        raise _forbidden("只有省级管理员可以在本省添加单位。")
    name = clean_unit_name(name)
    unit_kind = kind_of(kind)
    if unit_kind is None:
        raise Invalid(f"单位类型“{kind}”不存在，可选：{kinds_hint()}。", code="unknown_unit_kind")
    check_quota(quota)
    if sort_order is not None and not (0 <= sort_order <= SORT_MAX):
        raise Invalid("排序必须是非负整数。", code="bad_sort_order")
    if _name_taken(session, user.province_id, name):
        raise UnitExists(f"本省已有名为“{name}”的单位。")
    unit = Unit(
        province_id=user.province_id, name=name, kind=unit_kind.value,
        sort_order=sort_order if sort_order is not None else next_sort_order(session, user.province_id),
        join_code=new_join_code(),
    )
    session.add(unit)
    session.flush()
    campaign = current_campaign(session)
    _set_quota(session, campaign, unit, quota)
    session.flush()
    if audit:
        record(session, actor=user, action="unit_create", province_id=unit.province_id,
               data={"unit_id": unit.id, "name": name, "kind": unit_kind.value, "quota": quota})
    return unit


_UNSET: object = object()


def update_unit(
    session: Session, user: User, unit_id: int, *, name: str | None = None, kind: str | None = None,
    quota: int | object | None = _UNSET, sort_order: int | None = None, archived: bool | None = None,
) -> Unit:
    """Rename, re-kind, re-order, set or clear (``quota=None``) the unit's own minimum, archive or restore."""
    unit = managed_unit(session, user, unit_id)
    before = {"name": unit.name, "kind": unit.kind, "sort_order": unit.sort_order,
              "archived": unit.archived_at is not None}
    if name is not None:
        name = clean_unit_name(name)
        if name != unit.name and _name_taken(session, unit.province_id, name, except_id=unit.id):
            raise UnitExists(f"本省已有名为“{name}”的单位。")
        unit.name = name
    if kind is not None:
        unit_kind = kind_of(kind)
        if unit_kind is None:
            raise Invalid(f"单位类型“{kind}”不存在，可选：{kinds_hint()}。", code="unknown_unit_kind")
        unit.kind = unit_kind.value
    if sort_order is not None:
        if not (0 <= sort_order <= SORT_MAX):
            raise Invalid("排序必须是非负整数。", code="bad_sort_order")
        unit.sort_order = sort_order
    if archived is not None:
        if not archived and unit.archived_at is not None and _name_taken(
                session, unit.province_id, unit.name, except_id=unit.id):
            raise UnitExists(f"本省已有名为“{unit.name}”的单位，不能恢复同名单位。")
        # Archiving ends the join code: nobody joins a retired unit.
        unit.archived_at = (unit.archived_at or utcnow()) if archived else None
        if archived:
            unit.join_code = None
    session.add(unit)
    if quota is not _UNSET:
        _set_quota(session, current_campaign(session), unit, check_quota(quota))  # type: ignore[arg-type]  # checked against the _UNSET sentinel just above
    session.flush()
    after = {"name": unit.name, "kind": unit.kind, "sort_order": unit.sort_order,
             "archived": unit.archived_at is not None}
    data: dict[str, object] = {"unit_id": unit.id, "before": before, "after": after}
    if quota is not _UNSET:
        data["quota"] = quota
    record(session, actor=user, action="unit_update", province_id=unit.province_id, data=data)
    return unit


def delete_unit(session: Session, user: User, unit_id: int) -> None:
    """Only a unit nothing points at (no works, accounts or membership requests) is deleted; any other
    is archived instead (``update_unit(archived=True)``), so works and reports keep their unit."""
    unit = managed_unit(session, user, unit_id)
    used = (
        session.exec(select(Work.id).where(Work.unit_id == unit.id).limit(1)).first()
        or session.exec(select(User.id).where(User.unit_id == unit.id).limit(1)).first()
        or session.exec(select(UnitMembership.id).where(UnitMembership.unit_id == unit.id).limit(1)).first()
        or session.exec(select(ActivityEntry.id).where(ActivityEntry.unit_id == unit.id).limit(1)).first()
    )
    if used:
        raise UnitHasWorks()
    for row in session.exec(select(UnitQuota).where(UnitQuota.unit_id == unit.id)):
        session.delete(row)
    session.flush()
    record(session, actor=user, action="unit_delete", province_id=unit.province_id,
           data={"unit_id": unit.id, "name": unit.name})
    session.delete(unit)
    session.flush()


# -- organisations (national office) ----------------------------------------------------------------

class OrgNotFound(Invalid):
    code = "unknown_organisation"
    message = "找不到该组织（省份或部门）。"


@dataclass
class OrgView:
    code: str
    name: str
    kind: str
    kind_label: str
    sort_order: int
    minimum: int | None  # the organisation's minimum for the current campaign (None: not set)
    units_quota: int  # the sum of its units' minimums, for comparison


def _require_national(user: User) -> None:
    if Role(user.role) != Role.national_admin:
        raise _forbidden("只有全国管理员可以管理省份和部门。")


def sorted_orgs_query() -> SelectOfScalar[Province]:
    """Provinces first, then the departments, each in their order."""
    kind_rank = func.coalesce(func.nullif(Province.kind, OrgKind.province.value), "")
    return select(Province).order_by(kind_rank, col(Province.sort_order), col(Province.id))


def list_orgs(session: Session, user: User) -> list[OrgView]:
    _require_national(user)
    campaign = current_campaign(session)
    minimums: dict[int, int] = {}
    if campaign is not None:
        rows = session.exec(select(ProvinceQuota.province_id, ProvinceQuota.required)
                            .where(ProvinceQuota.campaign_id == campaign.id))
        minimums = {pid: req for pid, req in rows}
    overrides = _overrides(session, campaign)
    sums: dict[int, int] = {}
    for unit in session.exec(select(Unit).where(col(Unit.archived_at).is_(None))):
        sums[unit.province_id] = sums.get(unit.province_id, 0) + effective_quota(campaign, unit, overrides)
    return [
        OrgView(code=p.code, name=p.name, kind=p.kind, kind_label=ORG_KIND_LABELS.get(OrgKind(p.kind), str(p.kind)),
                sort_order=p.sort_order, minimum=minimums.get(p.id or 0), units_quota=sums.get(p.id or 0, 0))
        for p in session.exec(sorted_orgs_query())
    ]


def _clean_code(code: str) -> str:
    code = (code or "").strip().lower()
    if not code or len(code) > 32 or not all(c.isascii() and (c.isalnum() or c in "-_") for c in code):
        raise Invalid("代码须为 1–32 位英文字母、数字、“-”或“_”（例如 shanxi、dept-foreign）。", code="bad_org_code")
    return code


def _clean_org_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise Invalid("请填写名称。", code="org_name_required")
    if len(name) > ORG_NAME_MAX:
        raise Invalid(f"名称不能超过 {ORG_NAME_MAX} 个字。", code="org_name_too_long")
    return name


def _org_kind(kind: str) -> OrgKind:
    try:
        return OrgKind(kind)
    except ValueError:
        raise Invalid("类型只能是 province（省、自治区、直辖市）或 department（中央和国家机关部门）。",
                      code="unknown_org_kind") from None


def _set_minimum(session: Session, province: Province, minimum: int | None) -> None:
    campaign = current_campaign(session)
    if campaign is None:
        raise Invalid("当前没有进行中的征集活动，不能设置最低作品数。", code="no_active_campaign")
    check_quota(minimum)
    row = session.exec(select(ProvinceQuota).where(
        ProvinceQuota.campaign_id == campaign.id, ProvinceQuota.province_id == province.id)).first()
    _store_required(session, row, minimum, lambda: ProvinceQuota(
        campaign_id=campaign.id or 0, province_id=province.id or 0, required=minimum or 0))


def create_org(
    session: Session, user: User, *, code: str, name: str, kind: str = "province", sort_order: int | None = None,
    minimum: int | None = None,
) -> Province:
    _require_national(user)
    code, name, org_kind = _clean_code(code), _clean_org_name(name), _org_kind(kind)
    if session.exec(select(Province.id).where(Province.code == code)).first() is not None:
        raise Conflict(f"代码“{code}”已被使用。", code="org_exists")
    if session.exec(select(Province.id).where(Province.name == name)).first() is not None:
        raise Conflict(f"已有名为“{name}”的省份或部门。", code="org_exists")
    if sort_order is None:
        top = session.exec(select(func.max(Province.sort_order)).where(Province.kind == org_kind.value)).one()
        sort_order = int(top or 0) + 1
    province = Province(code=code, name=name, kind=org_kind.value, sort_order=sort_order)
    session.add(province)
    session.flush()
    if minimum is not None:
        _set_minimum(session, province, minimum)
    session.flush()
    record(session, actor=user, action="org_create", province_id=province.id,
           data={"code": code, "name": name, "kind": org_kind.value, "minimum": minimum})
    return province


def update_org(
    session: Session, user: User, code: str, *, name: str | None = None, sort_order: int | None = None,
    minimum: int | object | None = _UNSET,
) -> Province:
    _require_national(user)
    province = session.exec(select(Province).where(Province.code == (code or "").strip().lower())).first()
    if province is None:
        raise OrgNotFound()
    before = {"name": province.name, "sort_order": province.sort_order}
    if name is not None:
        name = _clean_org_name(name)
        clash = session.exec(select(Province.id).where(Province.name == name, Province.id != province.id)).first()
        if clash is not None:
            raise Conflict(f"已有名为“{name}”的省份或部门。", code="org_exists")
        province.name = name
    if sort_order is not None:
        if not (0 <= sort_order <= SORT_MAX):
            raise Invalid("排序必须是非负整数。", code="bad_sort_order")
        province.sort_order = sort_order
    session.add(province)
    if minimum is not _UNSET:
        _set_minimum(session, province, minimum)  # type: ignore[arg-type]  # checked against the _UNSET sentinel just above
    session.flush()
    data: dict[str, object] = {"code": province.code, "before": before,
                               "after": {"name": province.name, "sort_order": province.sort_order}}
    if minimum is not _UNSET:
        data["minimum"] = minimum
    record(session, actor=user, action="org_update", province_id=province.id, data=data)
    return province


def province_by_id(session: Session, province_id: int) -> Province | None:
    return session.get(Province, province_id)


