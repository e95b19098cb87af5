"""附件2: each city's coordinator nominates at least one grassroots secrecy office (基层保密办) for the 下基层
activity, each with a write-up of at most 1,500 characters. The nominations fill the activity report's 获奖提名
sheet; a province's admin and the national office read them, with the cities that have not nominated yet.

Rules: only the coordinator of a city unit (设区市) nominates, edits or withdraws, and only their own city's,
until the activity report's due time (``Campaign.effective_report_due_at``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from clipjury.accounts.models import Province, Role, Unit, UnitKind, User
from clipjury.accounts.policy import require_role
from clipjury.audit.service import record
from clipjury.awards.models import GrassrootsNomination
from clipjury.campaigns.models import Campaign
from clipjury.errors import Conflict, Forbidden, Invalid, NotFound
from clipjury.timeutil import as_utc, fmt_local, utcnow

OFFICE_MAX = 100
WRITE_UP_MAX = 1500
READ_ROLES = (Role.unit_coordinator, Role.provincial_admin, Role.national_admin)


class NominationClosed(Conflict):
    code = "nominations_closed"
    message = "活动开展情况报送已截止，不能再修改基层推荐。"


class NotACity(Forbidden):
    code = "forbidden_role"
    message = "只有设区市的单位联络员可以推荐基层保密办。"


class NominationNotFound(NotFound):
    code = "not_found"
    message = "没有这条推荐。"


def _text(value: object, *, field: str, label: str, limit: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise Invalid(f"请填写{label}。", code=f"{field}_required", field=field)
    if "\x00" in text:
        raise Invalid(f"{label}含有不允许的字符。", code=f"{field}_invalid", field=field)
    if len(text) > limit:
        raise Invalid(f"{label}不能超过 {limit} 个字（现为 {len(text)} 个字）。", code="too_long", field=field,
                      limit=limit, length=len(text))
    return text


def _city_unit(session: Session, user: User) -> Unit:
    require_role(user, (Role.unit_coordinator,), "推荐基层保密办")
    unit = session.get(Unit, user.unit_id) if user.unit_id is not None else None
    if unit is None or unit.kind != UnitKind.city.value:
        raise NotACity()
    return unit


def _open(campaign: Campaign, now: datetime) -> None:
    due = campaign.effective_report_due_at()
    if as_utc(now) >= as_utc(due):
        raise NominationClosed(f"活动开展情况报送已于 {fmt_local(due)}（北京时间）截止，不能再修改基层推荐。")


@dataclass(frozen=True)
class NominationView:
    id: int
    province: str
    unit: str
    unit_id: int
    office: str
    write_up: str
    created_at: datetime
    updated_at: datetime
    mine: bool


@dataclass(frozen=True)
class Listing:
    nominations: list[NominationView]
    missing_cities: list[str]  # city units of the scope without a nomination (the notice asks for at least one)
    open_until: str
    is_open: bool


def listing(session: Session, user: User, campaign: Campaign, province_code: str | None = None) -> Listing:
    """The nominations this user may read: a coordinator their unit's, a provincial admin their province's, the
    national office all (or one province's)."""
    require_role(user, READ_ROLES, "查看基层推荐")
    role = Role(user.role)
    query = select(GrassrootsNomination).where(col(GrassrootsNomination.campaign_id) == campaign.id)
    units_q = select(Unit).where(col(Unit.kind) == UnitKind.city.value, col(Unit.archived_at).is_(None))
    if role == Role.unit_coordinator:
        query = query.where(col(GrassrootsNomination.unit_id) == (user.unit_id or -1))
        units_q = units_q.where(col(Unit.id) == (user.unit_id or -1))
    elif role == Role.provincial_admin:
        query = query.where(col(GrassrootsNomination.province_id) == (user.province_id or -1))
        units_q = units_q.where(col(Unit.province_id) == (user.province_id or -1))
    elif province_code:
        province = session.exec(select(Province).where(col(Province.code) == province_code)).first()
        pid = province.id if province else -1
        query = query.where(col(GrassrootsNomination.province_id) == pid)
        units_q = units_q.where(col(Unit.province_id) == pid)
    rows = session.exec(query.order_by(col(GrassrootsNomination.province_id), col(GrassrootsNomination.unit_id),
                                       col(GrassrootsNomination.id))).all()
    provinces = {p.id: p.name for p in session.exec(select(Province))}
    units = {u.id: u for u in session.exec(units_q.order_by(col(Unit.province_id), col(Unit.sort_order)))}
    names = {u.id: u.name for u in session.exec(select(Unit).where(
        col(Unit.id).in_({r.unit_id for r in rows})))} if rows else {}
    nominated = {r.unit_id for r in rows}
    due = campaign.effective_report_due_at()
    return Listing(
        nominations=[NominationView(r.id or 0, provinces.get(r.province_id, ""), names.get(r.unit_id, ""), r.unit_id,
                                    r.office, r.write_up, r.created_at, r.updated_at,
                                    role == Role.unit_coordinator and r.unit_id == user.unit_id) for r in rows],
        missing_cities=[f"{provinces.get(u.province_id, '')} {u.name}" for uid, u in units.items()
                        if uid not in nominated],
        open_until=fmt_local(due), is_open=utcnow() < as_utc(due),
    )


def create(session: Session, user: User, campaign: Campaign, office: object, write_up: object,
           now: datetime | None = None) -> GrassrootsNomination:
    unit = _city_unit(session, user)
    _open(campaign, now or utcnow())
    made = GrassrootsNomination(
        campaign_id=campaign.id or 0, province_id=unit.province_id, unit_id=unit.id or 0,
        office=_text(office, field="office", label="基层保密办名称", limit=OFFICE_MAX),
        write_up=_text(write_up, field="write_up", label="推荐材料", limit=WRITE_UP_MAX), created_by_id=user.id,
    )
    session.add(made)
    session.flush()
    record(session, actor=user, action="nomination_create", data={"nomination": made.id, "office": made.office})
    return made


def _own(session: Session, user: User, campaign: Campaign, nomination_id: int) -> GrassrootsNomination:
    unit = _city_unit(session, user)
    found = session.get(GrassrootsNomination, nomination_id)
    if found is None or found.campaign_id != campaign.id or found.unit_id != unit.id:
        raise NominationNotFound()
    return found


def update(session: Session, user: User, campaign: Campaign, nomination_id: int, office: object, write_up: object,
           now: datetime | None = None) -> GrassrootsNomination:
    found = _own(session, user, campaign, nomination_id)
    _open(campaign, now or utcnow())
    found.office = _text(office, field="office", label="基层保密办名称", limit=OFFICE_MAX)
    found.write_up = _text(write_up, field="write_up", label="推荐材料", limit=WRITE_UP_MAX)
    found.updated_at = utcnow()
    session.add(found)
    session.flush()
    record(session, actor=user, action="nomination_update", data={"nomination": found.id, "office": found.office})
    return found


def delete(session: Session, user: User, campaign: Campaign, nomination_id: int, now: datetime | None = None) -> None:
    found = _own(session, user, campaign, nomination_id)
    _open(campaign, now or utcnow())
    record(session, actor=user, action="nomination_delete", data={"nomination": found.id, "office": found.office})
    session.delete(found)
    session.flush()


def for_report(session: Session, campaign: Campaign, province_id: int | None) -> list[tuple[str, str, str, str]]:
    """(province, city, office, write-up) of the nominations, for the activity report's 获奖提名 sheet."""
    query = select(GrassrootsNomination).where(col(GrassrootsNomination.campaign_id) == campaign.id)
    if province_id is not None:
        query = query.where(col(GrassrootsNomination.province_id) == province_id)
    rows = session.exec(query.order_by(col(GrassrootsNomination.province_id), col(GrassrootsNomination.unit_id),
                                       col(GrassrootsNomination.id))).all()
    provinces = {p.id: p.name for p in session.exec(select(Province))}
    units = {u.id: u.name for u in session.exec(select(Unit))}
    return [(provinces.get(r.province_id, ""), units.get(r.unit_id, ""), r.office, r.write_up) for r in rows]
