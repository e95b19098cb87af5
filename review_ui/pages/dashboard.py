"""配额看板: quotas and progress per unit or province, as the viewer's scope allows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response

from api.deps import CurrentUser, SessionDep
from clipjury.accounts.models import Province, Role
from clipjury.campaigns.service import active_campaign
from clipjury.errors import NotFound
from clipjury.reviews import quotas as quota_mod
from clipjury.reviews import service
from review_ui.context import user_context
from review_ui.core.render import render
from review_ui.core.routing import PageRoute
from review_ui.presenters.reviews import deadlines

router = APIRouter(route_class=PageRoute, include_in_schema=False)


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
    return render(request, "dashboard/index.html", {
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
