"""The provincial activity report due June 1 (正文 §三: "各地各单位请于6月1日前将前3项活动组织开展情况…报送").

Units report the activities the platform does not run (场次, 参与人次, 说明); the micro-video contest's
figures come from the works themselves (``quota_rows``). A coordinator reports for its unit, a
provincial admin for any unit of its province; the national admin reads every province.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from clipjury.accounts.models import ROLE_LABELS, Province, Role, Unit, User
from clipjury.accounts.policy import REPORT_ENTRY_ROLES, REPORT_READ_ROLES
from clipjury.audit.service import record
from clipjury.awards import nominations
from clipjury.awards import service as awards_service
from clipjury.campaigns.models import Campaign
from clipjury.db import rowcount
from clipjury.errors import Forbidden, Invalid, NotFound
from clipjury.numbers import ascii_digits
from clipjury.reports.models import ActivityEntry
from clipjury.reports.spreadsheet import Cell, Report, Sheet
from clipjury.reviews.quotas import QuotaRow, quota_rows
from clipjury.timeutil import as_utc, fmt_local, local, utcnow
from clipjury.works.models import Work, WorkStatus
from clipjury.works.service import StaleState

# The one activity whose figures the platform counts itself (附件3): nobody types them in.
PLATFORM_ACTIVITY = "microvideo"
NOTE_MAX = 2000
# Sanity bounds: a unit holding more than 10,000 sessions, or more people than a province has, is a typo.
SESSIONS_MAX = 10_000
PARTICIPANTS_MAX = 100_000_000
ENTRY_ROLES = REPORT_ENTRY_ROLES
READ_ROLES = REPORT_READ_ROLES
AWARDS_NOT_STARTED = "评奖尚未开始"
AWARDS_NOT_PUBLISHED = "评奖结果尚未发布"
NO_NOMINATIONS = "尚无基层保密办推荐"


class UnknownActivity(Invalid):
    code = "unknown_activity"
    message = "该活动不在本次报送的活动范围内。"


class PlatformActivity(Invalid):
    code = "activity_from_platform"
    message = "微视频征集活动的数据由平台根据作品自动统计，无需填报。"


class UnitNotFound(NotFound):
    code = "unit_not_found"
    message = "找不到该单位，或您无权为其填报。"


class ProvinceNotFound(NotFound):
    code = "province_not_found"
    message = "找不到该省份，或您无权查看其报表。"


@dataclass(frozen=True)
class Activity:
    key: str
    name: str

    @property
    def from_platform(self) -> bool:
        return self.key == PLATFORM_ACTIVITY


def activities(campaign: Campaign) -> list[Activity]:
    return [Activity(str(a["key"]), str(a.get("name") or a["key"])) for a in campaign.report_activities]


def reported_activities(campaign: Campaign) -> list[Activity]:
    """The activities units type in (everything but the contest the platform counts)."""
    return [a for a in activities(campaign) if not a.from_platform]


def activity_of(campaign: Campaign, key: str) -> Activity:
    for activity in activities(campaign):
        if activity.key == key:
            if activity.from_platform:
                raise PlatformActivity()
            return activity
    raise UnknownActivity(f"未知的活动：{key[:32]}。可填报的活动：" + "、".join(
        f"{a.name}（{a.key}）" for a in reported_activities(campaign)
    ))


# -- scope -----------------------------------------------------------------------------------------

def _require_read(user: User) -> Role:
    role = Role(user.role)
    if role not in READ_ROLES:
        raise Forbidden("只有单位联络员和省级、全国管理员可以查看活动报送情况。", code="forbidden_role")
    return role


def province_by_code(session: Session, code: str) -> Province:
    province = session.exec(select(Province).where(Province.code == code)).first()
    if province is None:
        raise ProvinceNotFound()
    return province


def units_in_scope(
    session: Session, user: User, *, unit_id: int | None = None, province_code: str | None = None
) -> list[Unit]:
    """The units whose activity entries the user may read, in the quota tables' order.

    A unit or province outside the scope answers 404, exactly like one that does not exist.
    """
    role = _require_read(user)
    query = select(Unit)
    if role == Role.unit_coordinator:
        if user.unit_id is None:
            raise Forbidden("您的账号未关联单位，无法填报活动情况。", code="no_unit")
        query = query.where(Unit.id == user.unit_id)
    elif role == Role.provincial_admin:
        query = query.where(Unit.province_id == user.province_id)
    if province_code:
        province = province_by_code(session, province_code)
        if role != Role.national_admin and province.id != _home_province_id(session, user):
            raise ProvinceNotFound()
        query = query.where(Unit.province_id == province.id)
    if unit_id is not None:
        query = query.where(Unit.id == unit_id)
    units = list(session.exec(query.order_by(col(Unit.province_id), col(Unit.sort_order), col(Unit.id))))
    if unit_id is not None and not units:
        raise UnitNotFound()
    return units


def _home_province_id(session: Session, user: User) -> int | None:
    if user.province_id is not None:
        return user.province_id
    unit = session.get(Unit, user.unit_id) if user.unit_id else None
    return unit.province_id if unit else None


def editable_unit(session: Session, user: User, unit_id: int) -> Unit:
    """The unit if the user may report for it: a coordinator its own, a provincial admin its province's."""
    role = Role(user.role)
    if role not in ENTRY_ROLES:
        raise Forbidden("只有单位联络员和省级管理员可以填报活动情况。", code="forbidden_role")
    return units_in_scope(session, user, unit_id=unit_id)[0]


# -- entries ---------------------------------------------------------------------------------------

@dataclass
class EntryView:
    unit_id: int
    unit: str
    province: str
    activity_key: str
    activity: str
    reported: bool
    sessions: int | None
    participants: int | None
    note: str
    updated_at: datetime | None
    updated_by: str | None


def entries_by_key(
    session: Session, campaign: Campaign, unit_ids: list[int]
) -> dict[tuple[int, str], ActivityEntry]:
    if not unit_ids:
        return {}
    rows = session.exec(
        select(ActivityEntry).where(
            ActivityEntry.campaign_id == campaign.id, col(ActivityEntry.unit_id).in_(unit_ids)
        )
    )
    return {(e.unit_id, e.activity_key): e for e in rows}


def list_entries(
    session: Session,
    user: User,
    campaign: Campaign,
    *,
    unit_id: int | None = None,
    province_code: str | None = None,
) -> list[EntryView]:
    """Every unit in scope × every activity units report, reported or not (``reported``)."""
    units = units_in_scope(session, user, unit_id=unit_id, province_code=province_code)
    entries = entries_by_key(session, campaign, [u.id or 0 for u in units])
    provinces = {p.id: p.name for p in session.exec(select(Province))}
    authors = _authors(session, user, {e.updated_by_id for e in entries.values() if e.updated_by_id})
    out = []
    for unit in units:
        for activity in reported_activities(campaign):
            entry = entries.get((unit.id or 0, activity.key))
            out.append(EntryView(
                unit_id=unit.id or 0, unit=unit.name, province=provinces.get(unit.province_id, ""),
                activity_key=activity.key, activity=activity.name, reported=entry is not None,
                sessions=entry.sessions if entry else None, participants=entry.participants if entry else None,
                note=entry.note if entry else "", updated_at=as_utc(entry.updated_at) if entry else None,
                updated_by=authors.get(entry.updated_by_id or 0) if entry else None,
            ))
    return out


def _authors(session: Session, viewer: User, ids: set[int | None]) -> dict[int, str]:
    """Who last saved an entry: account names for the organisers, the role for a unit coordinator."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    users = session.exec(select(User).where(col(User.id).in_(wanted)))
    admin = Role(viewer.role) in (Role.provincial_admin, Role.national_admin)
    return {
        u.id or 0: (u.username if admin or u.id == viewer.id else ROLE_LABELS.get(Role(u.role), u.role))
        for u in users
    }


def parse_count(raw: Any, *, field: str, label: str, maximum: int) -> int:
    """A count from a form or a JSON body: a whole number from 0 to ``maximum``, else a specific 422."""
    if isinstance(raw, bool):
        raise Invalid(f"{label}应为整数。", code=f"invalid_{field}")
    if isinstance(raw, str):
        text = raw.strip().replace(",", "").replace("，", "")
        if not text:
            raise Invalid(f"请填写{label}（没有开展请填 0）。", code=f"{field}_required")
        digits = text.removeprefix("-")
        # A number longer than any count is over the maximum before it is read (int() refuses more
        # than 4,300 digits).
        if not ascii_digits(digits):
            raise Invalid(f"{label}应为整数，不能包含其他字符。", code=f"invalid_{field}")
        if len(digits) > 18:
            raise Invalid(f"{label}不能超过 {maximum:,}，请核对是否多输入了数字。", code=f"{field}_too_large")
        raw = int(text)
    if not isinstance(raw, int):
        raise Invalid(f"{label}应为整数。", code=f"invalid_{field}")
    if raw < 0:
        raise Invalid(f"{label}不能为负数。", code=f"negative_{field}")
    if raw > maximum:
        raise Invalid(f"{label}不能超过 {maximum:,}，请核对是否多输入了数字。", code=f"{field}_too_large")
    return raw


def clean_note(note: str | None) -> str:
    text = (note or "").strip().replace("\r\n", "\n")
    if len(text) > NOTE_MAX:
        raise Invalid(f"说明不能超过 {NOTE_MAX} 个字（当前 {len(text)} 个字）。", code="note_too_long")
    return text


def save_entry(
    session: Session,
    user: User,
    campaign: Campaign,
    unit_id: int,
    activity_key: str,
    *,
    sessions: Any,
    participants: Any,
    note: str | None,
    expected_updated_at: datetime | None = None,
    expect_absent: bool = False,
    now: datetime | None = None,
) -> ActivityEntry:
    """Create or replace a unit's figures for one activity.

    Safe under concurrent saves: the insert runs in a savepoint and a lost race on the unique key
    becomes an update. With ``expected_updated_at`` (what the form showed) the update is a
    compare-and-set, so a coordinator and the provincial admin cannot silently overwrite each other;
    ``expect_absent`` (a form shown before anything was reported) refuses to replace a report made since.
    """
    now = now or utcnow()
    unit = editable_unit(session, user, unit_id)
    activity = activity_of(campaign, activity_key)
    values = {
        "sessions": parse_count(sessions, field="sessions", label="场次", maximum=SESSIONS_MAX),
        "participants": parse_count(participants, field="participants", label="参与人次", maximum=PARTICIPANTS_MAX),
        "note": clean_note(note),
    }
    key = (ActivityEntry.campaign_id == campaign.id, ActivityEntry.unit_id == unit.id,
           ActivityEntry.activity_key == activity.key)
    existing = session.exec(select(ActivityEntry).where(*key)).first()
    before: dict[str, Any] | None = None
    if existing is None:
        if expected_updated_at is not None:
            raise StaleState("该活动的填报记录已不存在，请刷新页面后重试。")
        # INSERT ... ON CONFLICT DO NOTHING rather than a savepoint: a save that loses the race to the
        # same unit and activity neither aborts the transaction (PostgreSQL) nor errors; it updates below.
        if _insert_if_absent(session, campaign, unit, activity, user, now, values):
            saved = session.exec(select(ActivityEntry).where(*key)).one()
        else:
            existing = session.exec(select(ActivityEntry).where(*key)).one()
    if existing is not None:
        if expect_absent:
            raise _stale(session, existing)
        if expected_updated_at is not None and as_utc(expected_updated_at) != as_utc(existing.updated_at):
            raise _stale(session, existing)
        before = {"sessions": existing.sessions, "participants": existing.participants, "note": existing.note}
        stmt = update(ActivityEntry).where(col(ActivityEntry.id) == existing.id)
        if expected_updated_at is not None:
            # Compare-and-set: the row must still be the version the form showed.
            stmt = stmt.where(col(ActivityEntry.updated_at) == existing.updated_at)
        result = session.execute(stmt.values(updated_by_id=user.id, updated_at=now, **values))
        if rowcount(result) != 1:
            raise _stale(session, existing)
        session.refresh(existing)
        saved = existing
    record(
        session, actor=user, action="activity_report", province_id=unit.province_id,
        data={"campaign_id": campaign.id, "unit_id": unit.id, "unit": unit.name, "activity": activity.key,
              "before": before, "after": values},
    )
    return saved


def _insert_if_absent(
    session: Session, campaign: Campaign, unit: Unit, activity: Activity, user: User, now: datetime,
    values: dict[str, Any],
) -> bool:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(ActivityEntry).values(
        campaign_id=campaign.id, unit_id=unit.id, activity_key=activity.key, updated_by_id=user.id,
        updated_at=now, **values,
    ).on_conflict_do_nothing(index_elements=["campaign_id", "unit_id", "activity_key"])
    # RETURNING rather than rowcount: an ORM-enabled INSERT does not report a reliable rowcount everywhere.
    return session.execute(stmt.returning(col(ActivityEntry.id))).first() is not None


def _stale(session: Session, entry: ActivityEntry) -> StaleState:
    session.refresh(entry)
    who = session.get(User, entry.updated_by_id) if entry.updated_by_id else None
    name = (who.display_name or who.username) if who else "他人"
    return StaleState(
        f"该活动的填报已于 {fmt_local(entry.updated_at)} 被{name}修改，您的修改没有保存。"
        "请刷新页面查看最新数据后再填写。"
    )


# -- the report ------------------------------------------------------------------------------------

@dataclass
class ReportScope:
    province: Province | None  # None: every province (national admin only)

    @property
    def label(self) -> str:
        return self.province.name if self.province else "全国"

    @property
    def code(self) -> str:
        return self.province.code if self.province else "all"


def report_scope(session: Session, user: User, province_code: str | None) -> ReportScope:
    """Provincial admin: its own province (another one answers 404); national admin: one or all."""
    role = Role(user.role)
    if role == Role.national_admin:
        return ReportScope(province_by_code(session, province_code) if province_code else None)
    if role == Role.provincial_admin and user.province_id is not None:
        own = session.get(Province, user.province_id)
        if own is None or (province_code and province_code != own.code):
            raise ProvinceNotFound()
        return ReportScope(own)
    raise Forbidden("只有省级管理员和全国管理员可以导出活动开展情况报表。", code="forbidden_role")


def due_info(campaign: Campaign, now: datetime | None = None) -> tuple[str, int | None]:
    """The report's due time (Beijing) and the seconds left."""
    due = campaign.effective_report_due_at()
    now = now or utcnow()
    return fmt_local(due), int((due - as_utc(now)).total_seconds())


def recommended_counts(
    session: Session, campaign: Campaign, province_id: int | None
) -> dict[tuple[int, int | None], int]:
    """Recommended works per (province, unit) — read only once the national results are published."""
    query = (
        select(Work.province_id, Work.unit_id, func.count())
        .where(Work.campaign_id == campaign.id, Work.status == WorkStatus.recommended.value)
        .group_by(col(Work.province_id), col(Work.unit_id))
    )
    if province_id is not None:
        query = query.where(Work.province_id == province_id)
    return {(p, u): n for p, u, n in session.exec(query)}


def _met_label(row: QuotaRow) -> str:
    if row.unit_id is None or row.required == 0:
        return "不设配额"
    return "是" if row.met else f"否（差 {row.missing} 件）"


def activity_report(
    session: Session, user: User, campaign: Campaign, province_code: str | None, *, now: datetime | None = None
) -> Report:
    now = now or utcnow()
    scope = report_scope(session, user, province_code)
    all_provinces = scope.province is None
    published = campaign.national_results_published_at is not None
    rows = quota_rows(session, user, campaign, province_code=scope.province.code if scope.province else None)
    due, _left = due_info(campaign, now)
    stamp = local(now)
    assert stamp is not None
    title: list[list[Cell]] = [
        [f"{campaign.name} 活动开展情况报表"],
        ["省份", scope.label if scope.province else "全国（全部省份）"],
        ["报送截止", f"{due}（北京时间）" if due else "未设定"],
        ["生成时间", f"{fmt_local(now)}（北京时间）"],
        ["生成人", user.display_name or user.username],
    ]
    lead: list[str] = ["省份"] if all_provinces else []

    # Sheet 1: the contest, from the works.
    videos = Sheet("微视频征集")
    videos.widths = [10.0] * len(lead) + [26, 12, 10, 8, 10, 12] + ([10] if published else []) + [8, 8, 10, 14]
    header = [*lead, "单位", "类别", "最低报送数", "已提交", "初评通过", "已报送复评"]
    if published:
        header.append("复评推荐")
    videos.header([*header, "退回", "未通过", "取消资格", "是否达标"])
    recommended = recommended_counts(session, campaign, scope.province.id if scope.province else None) \
        if published else {}
    province_ids = {p.code: p.id for p in session.exec(select(Province))}
    totals: defaultdict[str, int] = defaultdict(int)
    for r in rows:
        rec = recommended.get((province_ids.get(r.province_code) or 0, r.unit_id), 0)
        numbers: dict[str, int] = {
            "required": r.required, "submitted": r.submitted, "passed": r.passed, "forwarded": r.forwarded,
            "recommended": rec, "returned": r.returned, "failed": r.failed, "disqualified": r.disqualified,
        }
        for k, v in numbers.items():
            totals[k] += v
        line: list[Cell] = [*([r.province] if all_provinces else []), r.unit, r.unit_kind_label,
                            r.required, r.submitted, r.passed, r.forwarded]
        if published:
            line.append(rec)
        videos.row([*line, r.returned, r.failed, r.disqualified, _met_label(r)])
    with_quota = [r for r in rows if r.unit_id is not None and r.required > 0]
    total_line: list[Cell] = [*([""] if all_provinces else []), "合计", "", totals["required"], totals["submitted"],
                              totals["passed"], totals["forwarded"]]
    if published:
        total_line.append(totals["recommended"])
    videos.header([*total_line, totals["returned"], totals["failed"], totals["disqualified"],
                   f"{sum(r.met for r in with_quota)}/{len(with_quota)} 个单位达标"])
    if not published:
        videos.blank()
        videos.row(["注：全国复评结果发布后，本表增加“复评推荐”数。"])

    # Sheet 2: what units reported about the other activities.
    units = units_in_scope(session, user, province_code=scope.province.code if scope.province else None)
    entries = entries_by_key(session, campaign, [u.id or 0 for u in units])
    by_unit = {r.unit_id: r for r in rows if r.unit_id is not None}
    province_names = {p.id: p.name for p in session.exec(select(Province))}
    typed = reported_activities(campaign)
    acts = Sheet("活动开展情况")
    acts.widths = [10.0] * len(lead) + [26, 36, 10, 12, 60, 18]
    acts.header([*lead, "单位", "活动", "场次", "参与人次", "说明", "填报时间"])
    missing: list[tuple[Unit, list[Activity]]] = []
    sums: dict[str, list[int]] = {a.key: [0, 0, 0] for a in typed}
    for unit in units:
        place: list[Cell] = [province_names.get(unit.province_id, "")] if all_provinces else []
        not_reported = []
        for activity in activities(campaign):
            if activity.from_platform:
                q = by_unit.get(unit.id or 0)
                note = (f"平台统计：已提交 {q.submitted} 件，初评通过 {q.passed} 件，已报送复评 {q.forwarded} 件"
                        f"（详见“微视频征集”表）") if q else "平台统计（详见“微视频征集”表）"
                acts.row([*place, unit.name, activity.name, None, None, note, ""])
                continue
            entry = entries.get((unit.id or 0, activity.key))
            if entry is None:
                not_reported.append(activity)
                acts.row([*place, unit.name, activity.name, None, None, "（未填报）", ""])
                continue
            sums[activity.key][0] += entry.sessions
            sums[activity.key][1] += entry.participants
            sums[activity.key][2] += 1
            acts.row([*place, unit.name, activity.name, entry.sessions, entry.participants, entry.note,
                      fmt_local(entry.updated_at)])
        if not_reported:
            missing.append((unit, not_reported))
    acts.blank()
    acts.header([*lead, "合计", "活动", "场次", "参与人次", "已填报单位数", ""])
    for activity in typed:
        s, p, n = sums[activity.key]
        acts.row([*([""] if all_provinces else []), "合计", activity.name, s, p, f"{n}/{len(units)}", ""])
    acts.blank()
    if missing:
        acts.header([*lead, f"未填报的单位（{len(missing)} 个）", "未填报的活动"])
        for unit, acts_missing in missing:
            acts.row([*([province_names.get(unit.province_id, "")] if all_provinces else []), unit.name,
                      "、".join(a.name for a in acts_missing)])
    else:
        acts.header(["全部单位均已填报。"])

    # Sheet 3: 获奖提名: the awarded works of the published awards, then the cities' grassroots nominations
    # (附件2). Before either exists it says so and invents nothing.
    province_id = scope.province.id if scope.province else None
    awarded = awards_service.report_rows(session, campaign, province_id)
    nominated = nominations.for_report(session, campaign, province_id)
    awards = Sheet("获奖提名")
    awards.widths = [10.0] * len(lead) + [26, 10, 36, 16, 20]
    awards.header([*lead, "单位", "作品编号", "作品标题", "投稿人", "获奖等级"])
    if not awarded and not nominated:
        awards.row([AWARDS_NOT_STARTED])
    else:
        for a in awarded:
            awards.row([*([a["province"]] if all_provinces else []), a["unit"], a["work_id"], a["title"],
                        a["submitter"], a["level"]])
        if not awarded:
            awards.row([AWARDS_NOT_PUBLISHED])
        awards.blank()
        awards.header([*lead, "推荐城市", "基层保密办（下基层活动推荐，附件2）", "推荐材料"])
        for province_name, city, office, write_up in nominated:
            awards.row([*([province_name] if all_provinces else []), city, office, write_up])
        if not nominated:
            awards.row([NO_NOMINATIONS])

    date = stamp.strftime("%Y%m%d")
    return Report(
        sheets=[videos, acts, awards],
        title_rows=title,
        filename_stem=f"活动开展情况报表-{scope.label}-{date}",
        ascii_stem=f"activity-report-{scope.code}-{date}",
    )


def not_reported_units(session: Session, campaign: Campaign, units: list[Unit]) -> list[tuple[Unit, list[Activity]]]:
    """Units with at least one activity not reported yet, and which."""
    entries = entries_by_key(session, campaign, [u.id or 0 for u in units])
    out = []
    for unit in units:
        gaps = [a for a in reported_activities(campaign) if (unit.id or 0, a.key) not in entries]
        if gaps:
            out.append((unit, gaps))
    return out
