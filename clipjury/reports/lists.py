"""Exports of the review lists and the quota table: every matching row (not a page), in the same scope
and with the same filters as the list the user is looking at.

The review list is read in a fixed number of queries whatever its length: the works, then names,
durations and decisions each in one query keyed by a subquery of the same filtered list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlmodel import Session, col, select

from clipjury.accounts.models import Province, Role, Unit, User
from clipjury.campaigns.models import Campaign
from clipjury.media.rules import shown_duration
from clipjury.reports.spreadsheet import Cell, Report, Sheet
from clipjury.reviews import service as reviews
from clipjury.reviews.models import ACTION_LABELS, ReviewDecision
from clipjury.reviews.quotas import NO_UNIT, quota_rows
from clipjury.timeutil import fmt_local, local, utcnow
from clipjury.works.models import WORK_STATUS_LABELS, Work, WorkVersion


def _date(now: datetime) -> str:
    stamp = local(now)
    assert stamp is not None
    return stamp.strftime("%Y%m%d")


def _scope_label(session: Session, user: User, province_code: str | None) -> tuple[str, str]:
    """(Chinese, ASCII) words for the file name: the province, the unit, or 全国."""
    if province_code:
        province = session.exec(select(Province).where(Province.code == province_code)).first()
        if province is not None:
            return province.name, province.code
    role = Role(user.role)
    if role == Role.unit_coordinator and user.unit_id is not None:
        unit = session.get(Unit, user.unit_id)
        return (unit.name if unit else "本单位"), f"unit{user.unit_id}"
    if role != Role.national_admin and user.province_id is not None:
        own = session.get(Province, user.province_id)
        if own is not None:
            return own.name, own.code
    return "全国", "all"


WORK_COLUMNS: tuple[Any, ...] = (
    Work.id, Work.title, Work.province_id, Work.unit_id, Work.owner_id, Work.submitted_at, Work.status,
    Work.claimed_by_id, Work.submitted_version_id, Work.current_version_id, Work.forward_rank,
)
DECISION_COLUMNS: tuple[Any, ...] = (
    ReviewDecision.id, ReviewDecision.work_id, ReviewDecision.action, ReviewDecision.reason,
    ReviewDecision.national, ReviewDecision.undoes_id,
)

REVIEW_COLUMNS = [
    ("作品编号", 10.0), ("标题", 36.0), ("省份", 10.0), ("单位", 22.0), ("投稿人", 22.0), ("提交时间", 17.0),
    ("状态", 16.0), ("认领人", 16.0), ("时长（秒）", 10.0), ("最近决定", 14.0), ("理由", 40.0), ("报送排序", 9.0),
]


def review_list_report(
    session: Session, user: User, campaign: Campaign, flt: reviews.QueueFilter, *, now: datetime | None = None
) -> Report:
    now = now or utcnow()
    query = reviews.review_queue_query(session, user, campaign, flt)  # 403 for submitters and judges
    staff = reviews.is_staff(user)
    # Plain rows, not ORM objects: building 12,400 model instances costs more than writing the file.
    # The rows carry the attributes the shared rules read (``status``; a decision's action, national,
    # id, undoes_id), so shown_status and visible_decisions still decide what this viewer may see.
    works: list[Any] = list(session.execute(query.with_only_columns(*WORK_COLUMNS)))
    listed = query.order_by(None).subquery()

    provinces = {p.id: p.name for p in session.exec(select(Province))}
    units = {u.id: u.name for u in session.exec(select(Unit))}
    people: dict[int, str] = {}
    usernames: dict[int, str] = {}
    if works and staff:
        wanted = select(listed.c.owner_id).union(select(listed.c.claimed_by_id))
        for uid, username, display in session.exec(
            select(User.id, User.username, User.display_name).where(col(User.id).in_(wanted))
        ):
            people[uid or 0] = display or username
            usernames[uid or 0] = username
    durations: dict[int, float | None] = {}
    if works:
        version_of = select(listed.c.submitted_version_id).union(select(listed.c.current_version_id))
        durations = {
            vid: duration for vid, duration in session.execute(
                select(WorkVersion.id, WorkVersion.duration_s).where(col(WorkVersion.id).in_(version_of))
            )
        }
    decisions: dict[int, list[Any]] = {}
    if works:
        for d in session.execute(
            select(*DECISION_COLUMNS).where(col(ReviewDecision.work_id).in_(select(listed.c.id)))
            .order_by(col(ReviewDecision.id))
        ):
            decisions.setdefault(d.work_id, []).append(d)

    sheet = Sheet("作品列表", freeze_header=True)
    columns = [c for c in REVIEW_COLUMNS if staff or c[0] not in ("投稿人", "认领人")]
    sheet.widths = [w for _, w in columns]
    sheet.header([name for name, _ in columns])
    for w in works:
        shown = reviews.shown_status(cast(Work, w), user, campaign)
        visible = reviews.visible_decisions(cast(list[ReviewDecision], decisions.get(w.id, [])), user, campaign)
        last = visible[-1] if visible else None
        version_id = w.submitted_version_id or w.current_version_id
        duration = durations.get(version_id) if version_id else None
        line: dict[str, Cell] = {
            "作品编号": w.id,
            "标题": w.title,
            "省份": provinces.get(w.province_id, ""),
            "单位": units.get(w.unit_id, NO_UNIT) if w.unit_id else NO_UNIT,
            "投稿人": people.get(w.owner_id, ""),
            "提交时间": fmt_local(w.submitted_at),
            "状态": WORK_STATUS_LABELS.get(shown, shown),
            "认领人": usernames.get(w.claimed_by_id, "") if w.claimed_by_id else "",
            # Rounded as the rules round before comparing with the limit, like every page shows it.
            "时长（秒）": shown_duration(duration, campaign.duration_step_s) if duration is not None else None,
            "最近决定": ACTION_LABELS.get(last.action, last.action) if last else "",
            "理由": last.reason if last else "",
            "报送排序": w.forward_rank,
        }
        sheet.row([line[name] for name, _ in columns])
    label, code = _scope_label(session, user, flt.province_code)
    date = _date(now)
    return Report(
        sheets=[sheet], filename_stem=f"评审作品列表-{label}-{date}", ascii_stem=f"review-works-{code}-{date}"
    )


QUOTA_COLUMNS = [
    ("省份", 10.0), ("单位", 26.0), ("类别", 12.0), ("最低报送数", 10.0), ("已提交", 8.0), ("初评通过", 10.0),
    ("已报送复评", 12.0), ("退回", 8.0), ("未通过", 8.0), ("取消资格", 10.0), ("是否达标", 10.0), ("差额", 8.0),
]


def quota_report(
    session: Session, user: User, campaign: Campaign, province_code: str | None, *, now: datetime | None = None
) -> Report:
    now = now or utcnow()
    rows = quota_rows(session, user, campaign, province_code=province_code)  # 403 outside the quota roles
    sheet = Sheet("配额统计", freeze_header=True)
    sheet.widths = [w for _, w in QUOTA_COLUMNS]
    sheet.header([name for name, _ in QUOTA_COLUMNS])
    totals: dict[str, int] = dict.fromkeys(
        ("required", "submitted", "passed", "forwarded", "returned", "failed", "disqualified", "missing"), 0
    )
    for r in rows:
        quota = r.unit_id is not None and r.required > 0
        for k in totals:
            totals[k] += int(getattr(r, k))
        sheet.row([
            r.province, r.unit, r.unit_kind_label, r.required, r.submitted, r.passed, r.forwarded, r.returned,
            r.failed, r.disqualified, ("是" if r.met else "否") if quota else "不设配额", r.missing,
        ])
    counted = [r for r in rows if r.unit_id is not None and r.required > 0]
    units = len([r for r in rows if r.unit_id is not None])
    sheet.header([
        "合计", f"{units} 个单位", "", totals["required"], totals["submitted"],
        totals["passed"], totals["forwarded"], totals["returned"], totals["failed"], totals["disqualified"],
        f"{sum(r.met for r in counted)}/{len(counted)}", totals["missing"],
    ])
    label, code = _scope_label(session, user, province_code)
    date = _date(now)
    return Report(sheets=[sheet], filename_stem=f"配额统计-{label}-{date}", ascii_stem=f"quotas-{code}-{date}")
