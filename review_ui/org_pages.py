"""The organisers' pages: forwarding passed works to the national re-review (provincial admin), the
national re-review itself (national admin) and the quota dashboards with charts (coordinators,
provincial staff, national admin). Thin: every decision is a call into clipjury.reviews."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlmodel import Session
from starlette.datastructures import FormData

from api.deps import CurrentUser, SessionDep
from clipjury.accounts.models import Province, Role, User
from clipjury.accounts.policy import require_role
from clipjury.campaigns.models import Campaign
from clipjury.campaigns.service import active_campaign
from clipjury.errors import Conflict, DomainError, Invalid, NotFound
from clipjury.numbers import ascii_digits, db_id
from clipjury.reviews import quotas as quota_mod
from clipjury.reviews import service
from clipjury.timeutil import fmt_local
from clipjury.works.models import (
    NATIONAL_DECISION_STATUSES,
    WORK_STATUS_LABELS,
    Work,
    WorkStatus,
)
from review_ui import presenters
from review_ui.pages import user_context
from review_ui.web import PageRoute, flash, render, safe_next

router = APIRouter(route_class=PageRoute, include_in_schema=False)

NATIONAL_PAGE_SIZE = 50
# The national page's status filter: the forwarded works and what became of them.
NATIONAL_STATUSES = ["forwarded", "recommended", "not_recommended", "disqualified"]
REASON_FIELD_MAX = 10000
RANK_FIELD_MAX = 16


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _attempt(request: Request, session: Session, action: Callable[[], str]) -> None:
    """Run a state change from a form; its refusal becomes a Chinese flash message, and nothing of it
    is kept (the request boundary would otherwise commit what the service had already flushed)."""
    try:
        done = action()
    except DomainError as exc:
        session.rollback()
        flash(request, exc.message, "error")
    else:
        flash(request, done)


@dataclass
class Deadline:
    label: str
    at: str
    left: str
    seconds_left: int

    @property
    def passed(self) -> bool:
        return self.seconds_left <= 0

    @property
    def urgent(self) -> bool:
        return 0 < self.seconds_left <= 3 * 86400


def deadlines(campaign: Campaign) -> dict[str, Deadline]:
    left = quota_mod.time_left(campaign)
    sub_s, fwd_s = cast(int, left["submission_seconds_left"]), cast(int, left["forward_seconds_left"])
    label = presenters.time_left_label
    return {
        "submission": Deadline("作品提交截止", fmt_local(campaign.submission_deadline), label(sub_s), sub_s),
        "forward": Deadline("报送全国复评截止", fmt_local(campaign.effective_forward_deadline()), label(fwd_s), fwd_s),
    }


@dataclass
class WorkLine:
    id: int
    title: str
    province: str
    unit: str
    status: str
    status_label: str
    rank: int | None
    review_rev: int
    submitted: str
    forwarded: str
    reason: str = ""


def work_lines(
    session: Session, works: list[Work], user: User, campaign: Campaign, *, reasons: bool = False
) -> list[WorkLine]:
    """Rows for a list of works: province and unit names in two queries, national reasons in one."""
    provinces = service.province_names(session, (w.province_id for w in works))
    units = service.unit_names(session, (w.unit_id for w in works))
    latest_reason: dict[int, str] = {}
    if reasons:
        for work_id, decisions in service.decisions_of(session, [w.id or 0 for w in works]).items():
            live = [d for d in decisions if d.national and d.undone_at is None and d.action != "undo"]
            latest_reason[work_id] = live[-1].reason if live else ""
    lines = []
    for w in works:
        shown = service.shown_status(w, user, campaign)
        lines.append(WorkLine(
            id=w.id or 0, title=w.title, province=provinces.get(w.province_id or 0, ""),
            unit=units.get(w.unit_id or 0, quota_mod.NO_UNIT), status=shown,
            status_label=WORK_STATUS_LABELS.get(shown, shown), rank=w.forward_rank,
            review_rev=service.shown_rev(w, user, campaign),
            submitted=fmt_local(w.submitted_at), forwarded=fmt_local(w.forwarded_at),
            reason=latest_reason.get(w.id or 0, ""),
        ))
    return lines


async def form_data(request: Request) -> FormData:
    """The whole posted form (the forward form has one rank field per work, named rank_<id>)."""
    return await request.form()


FormDep = Annotated[FormData, Depends(form_data)]


# -- forwarding (provincial admin) -------------------------------------------------------------------

@router.get("/review/forward")
def forward_page(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    require_role(user, (Role.provincial_admin,), "报送作品至全国复评")
    campaign = active_campaign(session)
    rows = quota_mod.quota_rows(session, user, campaign)
    under = sorted((r for r in rows if r.unit_id is not None and not r.met), key=lambda r: -r.missing)
    passed = service.all_of(session, service.review_queue_query(
        session, user, campaign, service.QueueFilter(status=WorkStatus.passed.value)
    ))
    forwarded = service.all_of(session, service.ranked(service.review_queue_query(
        session, user, campaign, service.QueueFilter(status=WorkStatus.forwarded.value)
    )))
    times = deadlines(campaign)
    return render(request, "org/forward.html", {
        **user_context(user),
        "deadline": times["forward"],
        "open": not times["forward"].passed,
        "under": under,
        "units_total": sum(1 for r in rows if r.unit_id is not None),
        "passed": work_lines(session, passed, user, campaign),
        "forwarded": work_lines(session, forwarded, user, campaign),
    })


def _parse_ranks(form: FormData) -> dict[int, int]:
    ranks: dict[int, int] = {}
    for key, value in form.multi_items():
        if not key.startswith("rank_") or not isinstance(value, str) or not value.strip():
            continue
        work_id = db_id(key[5:])
        text = value.strip()[:RANK_FIELD_MAX]
        if work_id is None or not ascii_digits(text):
            raise Invalid("排序号必须是 1 到 10000 之间的整数。", code="invalid_rank")
        ranks[work_id] = int(text)
    return ranks


def _parse_ids(form: FormData) -> list[int]:
    ids = [db_id(v) for v in form.getlist("work_id") if isinstance(v, str)]
    if any(i is None for i in ids):
        raise Invalid("所选作品无效，请刷新页面后重试。", code="invalid_selection")
    return [i for i in ids if i is not None]


@router.post("/review/forward")
def forward_works(
    request: Request, user: CurrentUser, session: SessionDep, form: FormDep,
    scope: Annotated[str, Query(max_length=8)] = "",
) -> Response:
    """报送所选 (the ticked works) or, with ?scope=all (the 全部报送 button), every passed work."""
    require_role(user, (Role.provincial_admin,), "报送作品至全国复评")

    def run() -> str:
        ranks = _parse_ranks(form)
        work_ids: list[int] | None = None
        if scope != "all":
            work_ids = _parse_ids(form)
            if not work_ids:
                raise Invalid("请先勾选要报送的作品。", code="nothing_selected")
            ranks = {k: v for k, v in ranks.items() if k in work_ids}
        done = service.forward_many(session, user, work_ids=work_ids, ranks=ranks)
        return f"已将 {len(done)} 件作品报送全国复评。"

    _attempt(request, session, run)
    return _see_other("/review/forward")


@router.post("/review/forward/{work_id}/undo")
def undo_forward(
    request: Request, work_id: int, user: CurrentUser, session: SessionDep,
    reason: Annotated[str, Form(max_length=REASON_FIELD_MAX)] = "",
    expected_rev: Annotated[int | None, Form()] = None,
) -> Response:
    require_role(user, (Role.provincial_admin,), "撤销报送")

    def run() -> str:
        work = service.get_work_in_scope(session, user, work_id)
        if work.status != WorkStatus.forwarded:
            raise Conflict("该作品当前不是“已报送全国复评”状态，无法撤销报送。", code="not_forwarded")
        service.undo(session, user, work_id, reason, expected_rev=expected_rev)
        return f"已撤销《{work.title}》的报送，作品回到“初评通过”。"

    _attempt(request, session, run)
    return _see_other("/review/forward")


# -- national re-review (national admin) -------------------------------------------------------------

@router.get("/review/national")
def national_page(
    request: Request, user: CurrentUser, session: SessionDep,
    province: Annotated[str, Query(max_length=32)] = "",
    status: Annotated[str, Query(max_length=32)] = "",
    q: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> Response:
    require_role(user, (Role.national_admin,), "进行全国复评")
    campaign = active_campaign(session)
    if status and status not in NATIONAL_STATUSES:
        status = ""
    flt = service.QueueFilter(status=status or None, province_code=province or None, q=q.strip() or None)
    query = service.review_queue_query(session, user, campaign, flt)
    query = query.where(service.forwarded_scope())
    total = service.count_rows(session, query)
    pages = max(1, -(-total // NATIONAL_PAGE_SIZE))
    page = min(page, pages)
    works = service.page_of(session, service.ranked(query), offset=(page - 1) * NATIONAL_PAGE_SIZE,
                            limit=NATIONAL_PAGE_SIZE)
    counts = service.national_counts(session, campaign)
    filters = {k: v for k, v in (("province", province), ("status", status), ("q", q.strip())) if v}

    def page_url(n: int) -> str:
        return "/review/national?" + urlencode({**filters, "page": n})

    here = "/review/national" + ("?" + urlencode({**filters, "page": page}) if filters or page > 1 else "")
    return render(request, "org/national.html", {
        **user_context(user),
        "works": work_lines(session, works, user, campaign, reasons=True),
        "counts": counts,
        "totals": service.ProvinceCount("合计", "", *(sum(getattr(c, f) for c in counts) for f in (
            "total", "forwarded", "recommended", "not_recommended", "disqualified"))),
        "provinces": service.all_provinces(session),
        "statuses": [(s, WORK_STATUS_LABELS[s]) for s in NATIONAL_STATUSES],
        "filters": {"province": province, "status": status, "q": q.strip()},
        "total": total,
        "page": page,
        "pages": pages,
        "prev_url": page_url(page - 1) if page > 1 else "",
        "next_url": page_url(page + 1) if page < pages else "",
        "here": here,
        "published_at": fmt_local(campaign.national_results_published_at),
        "published": campaign.national_results_published_at is not None,
    })


@router.post("/review/national/{work_id}/recommendation")
def national_recommendation(
    request: Request, work_id: int, user: CurrentUser, session: SessionDep,
    recommended: Annotated[str, Form(max_length=8)] = "",
    reason: Annotated[str, Form(max_length=REASON_FIELD_MAX)] = "",
    expected_rev: Annotated[int | None, Form()] = None,
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    require_role(user, (Role.national_admin,), "作出全国复评决定")

    def run() -> str:
        if recommended not in ("1", "0"):
            raise Invalid("请选择“推荐展播”或“不推荐”。", code="invalid_decision")
        yes = recommended == "1"
        work = service.recommend(session, user, work_id, yes, reason, expected_rev=expected_rev)
        return f"《{work.title}》：{'推荐展播' if yes else '不推荐'}（结果发布前仅全国管理员可见）。"

    _attempt(request, session, run)
    return _see_other(safe_next(next, "/review/national"))


@router.post("/review/national/{work_id}/undo")
def national_undo(
    request: Request, work_id: int, user: CurrentUser, session: SessionDep,
    reason: Annotated[str, Form(max_length=REASON_FIELD_MAX)] = "",
    expected_rev: Annotated[int | None, Form()] = None,
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    require_role(user, (Role.national_admin,), "撤销复评决定")

    def run() -> str:
        # This page undoes national decisions only (a forward is the province's to undo).
        if service.get_work_in_scope(session, user, work_id).status not in NATIONAL_DECISION_STATUSES:
            raise Conflict("该作品还没有复评决定，无需撤销。", code="nothing_to_undo")
        work = service.undo(session, user, work_id, reason, expected_rev=expected_rev)
        return f"已撤销《{work.title}》的决定，当前状态：{WORK_STATUS_LABELS[work.status]}。"

    _attempt(request, session, run)
    return _see_other(safe_next(next, "/review/national"))


@router.post("/review/national/publish")
def national_publish(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    require_role(user, (Role.national_admin,), "发布全国复评结果")
    _attempt(request, session, lambda: (
        f"全国复评结果已发布，已通知 {service.publish_national_results(session, user)} 件作品的投稿人。"
    ))
    return _see_other("/review/national")


# -- dashboards --------------------------------------------------------------------------------------

@dataclass
class DashRow:
    """One line of a dashboard table and one bar of its charts (a unit, or a province nationally)."""

    label: str
    kind: str
    required: int
    submitted: int
    passed: int
    forwarded: int
    failed: int
    met: bool | None  # None: no quota applies (submitters outside any unit)
    missing: int
    href: str = ""
    detail: str = ""

    @property
    def pending(self) -> int:
        return max(0, self.submitted - self.passed - self.failed)

    def chart(self) -> dict[str, object]:
        return {
            "label": self.label, "required": self.required, "submitted": self.submitted, "passed": self.passed,
            "forwarded": self.forwarded, "failed": self.failed, "pending": self.pending, "met": self.met,
            "href": self.href,
        }


def unit_rows(rows: list[quota_mod.QuotaRow]) -> list[DashRow]:
    return [
        DashRow(
            label=r.unit, kind=r.unit_kind_label, required=r.required, submitted=r.submitted, passed=r.passed,
            forwarded=r.forwarded, failed=r.failed, met=r.met if r.unit_id is not None else None,
            missing=r.missing if r.unit_id is not None else 0,
        )
        for r in rows
    ]


def province_rows(rows: list[quota_mod.QuotaRow]) -> list[DashRow]:
    failed: dict[str, int] = {}
    for r in rows:
        failed[r.province_code] = failed.get(r.province_code, 0) + r.failed
    missing: dict[str, int] = {}
    for r in rows:
        if r.unit_id is not None:
            missing[r.province_code] = missing.get(r.province_code, 0) + r.missing
    return [
        DashRow(
            label=s.province, kind=f"{s.units_met}/{s.units} 个单位达标", required=s.required, submitted=s.submitted,
            passed=s.passed, forwarded=s.forwarded, failed=failed.get(s.province_code, 0),
            met=s.units_met == s.units, missing=missing.get(s.province_code, 0),
            href="/dashboard?" + urlencode({"province": s.province_code}),
            detail=f"{s.units - s.units_met} 个单位未达标" if s.units_met < s.units else "全部达标",
        )
        for s in quota_mod.province_summaries(rows)
    ]


def _sorted(rows: list[DashRow], sort: str) -> list[DashRow]:
    if sort != "missing":
        return rows
    # Under quota first, the furthest behind at the top; rows without a quota last.
    order = {True: 1, False: 0, None: 2}
    return sorted(rows, key=lambda r: (order[r.met], -r.missing))


@router.get("/dashboard")
def dashboard(
    request: Request, user: CurrentUser, session: SessionDep,
    province: Annotated[str, Query(max_length=32)] = "",
    sort: Annotated[str, Query(max_length=16)] = "missing",
) -> Response:
    campaign = active_campaign(session)
    role = Role(user.role)
    sort = sort if sort in ("missing", "order") else "missing"
    national = role == Role.national_admin
    level = "units"
    chosen: Province | None = None
    if national and province:
        chosen = service.find_province(session, province)
        if chosen is None:
            raise NotFound("找不到该省份。", code="province_not_found")
    rows = quota_mod.quota_rows(session, user, campaign, province_code=chosen.code if chosen else None)
    if national and chosen is None:
        level = "provinces"
        lines = province_rows(rows)
    else:
        lines = unit_rows(rows)
    lines = _sorted(lines, sort)
    if role == Role.unit_coordinator:
        title = f"{rows[0].unit}配额" if rows else "单位配额"
    elif chosen is not None:
        title = f"{chosen.name}配额看板"
    elif national:
        title = "全国配额看板"
    else:
        title = f"{rows[0].province}配额看板" if rows else "配额看板"
    quota_lines = [r for r in lines if r.met is not None]
    totals = {
        "required": sum(r.required for r in lines), "submitted": sum(r.submitted for r in lines),
        "passed": sum(r.passed for r in lines), "forwarded": sum(r.forwarded for r in lines),
        "failed": sum(r.failed for r in lines), "pending": sum(r.pending for r in lines),
        "met": sum(1 for r in quota_lines if r.met), "with_quota": len(quota_lines),
    }
    base = {"province": chosen.code} if chosen else {}
    return render(request, "org/dashboard.html", {
        **user_context(user),
        "title": title,
        "level": level,
        "lines": lines,
        "totals": totals,
        "deadlines": deadlines(campaign),
        "campaign_name": campaign.name,
        "chosen": chosen,
        "national": national,
        "sort": sort,
        "sort_urls": {s: "/dashboard?" + urlencode({**base, "sort": s}) for s in ("missing", "order")},
        # Rendered with Jinja's |tojson, which escapes what could close the <script> element.
        "chart_data": {"level": level, "rows": [r.chart() for r in lines]},
    })
