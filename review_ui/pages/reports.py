"""报表 / 活动报送: units enter their activity figures, provincial admins review and correct them, and the
organisers download the activity report, the quota table and the review lists (XLSX or CSV).
Thin: the figures, scopes and files come from clipjury.reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from sqlmodel import Session

from api.deps import CurrentUser, SessionDep
from api.downloads import file_response
from clipjury.accounts.models import Province, Role, Unit, User
from clipjury.accounts.service import list_provinces, units_by_id
from clipjury.campaigns.models import Campaign
from clipjury.campaigns.service import active_campaign
from clipjury.errors import DomainError, Forbidden
from clipjury.reports import exports
from clipjury.reports import service as reports
from clipjury.reviews.quotas import QuotaRow, quota_rows
from clipjury.reviews.service import QueueFilter
from clipjury.timeutil import as_utc, fmt_local
from review_ui.context import user_context
from review_ui.core.flash import flash
from review_ui.core.forms import FormDep, see_other
from review_ui.core.render import render
from review_ui.core.routing import PageRoute
from review_ui.presenters.format import time_left_label

router = APIRouter(route_class=PageRoute, include_in_schema=False)

FIELD_MAX = 10000


FormatParam = Annotated[str | None, Query(max_length=8)]
ProvinceParam = Annotated[str | None, Query(max_length=32)]


def left_label(seconds: int | None) -> str:
    if seconds is None:
        return ""
    return time_left_label(seconds, closed="已过报送截止时间")


@dataclass
class Due:
    at: str
    left: str
    seconds: int | None

    @property
    def passed(self) -> bool:
        return self.seconds is not None and self.seconds <= 0

    @property
    def urgent(self) -> bool:
        return self.seconds is not None and 0 < self.seconds <= 7 * 86400


def due_of(campaign: Campaign) -> Due:
    at, seconds = reports.due_info(campaign)
    return Due(at=at, left=left_label(seconds), seconds=seconds)


# -- the entry form --------------------------------------------------------------------------------

@dataclass
class ActivityForm:
    key: str
    name: str
    sessions: str
    participants: str
    note: str
    rev: str
    updated: str
    updated_by: str
    errors: dict[str, str] = field(default_factory=dict)
    # After a refused stale save: what is stored now, shown beside the user's own input.
    saved_now: str = ""


FIELD_OF_CODE = {
    "sessions": ("sessions_required", "invalid_sessions", "negative_sessions", "sessions_too_large"),
    "participants": ("participants_required", "invalid_participants", "negative_participants",
                     "participants_too_large"),
    "note": ("note_too_long",),
}


def _field_of(code: str) -> str:
    for name, codes in FIELD_OF_CODE.items():
        if code in codes:
            return name
    return "form"


# The form's version of an activity nobody has reported yet: saving it must not overwrite a report
# someone else made after the page was shown.
NEW = "new"


def _rev(value: datetime | None) -> str:
    return as_utc(value).isoformat() if value else NEW


def activity_forms(session: Session, user: User, campaign: Campaign, unit: Unit) -> list[ActivityForm]:
    views = {v.activity_key: v for v in reports.list_entries(session, user, campaign, unit_id=unit.id)}
    out = []
    for activity in reports.reported_activities(campaign):
        v = views.get(activity.key)
        reported = v is not None and v.reported
        out.append(ActivityForm(
            key=activity.key, name=activity.name,
            sessions=str(v.sessions) if reported and v else "",
            participants=str(v.participants) if reported and v else "",
            note=v.note if v else "", rev=_rev(v.updated_at) if v else NEW,
            updated=fmt_local(v.updated_at) if v else "", updated_by=(v.updated_by or "") if v else "",
        ))
    return out


def platform_row(session: Session, user: User, campaign: Campaign, unit: Unit) -> QuotaRow | None:
    """The contest's figures for this unit (what the platform counted), in the viewer's scope."""
    try:
        rows = quota_rows(session, user, campaign)
    except DomainError:
        return None
    return next((r for r in rows if r.unit_id == unit.id), None)


def _form_page(
    request: Request, session: Session, user: User, campaign: Campaign, unit: Unit,
    forms: list[ActivityForm], *, status_code: int = 200,
) -> Response:
    province = session.get(Province, unit.province_id)
    return render(request, "reports/unit.html", {
        **user_context(user),
        "campaign": campaign,
        "unit": unit,
        "province": province.name if province else "",
        "forms": forms,
        "platform": platform_row(session, user, campaign, unit),
        "platform_name": next((a.name for a in reports.activities(campaign) if a.from_platform), ""),
        "due": due_of(campaign),
        "is_admin": Role(user.role) == Role.provincial_admin,
    }, status_code=status_code)


# -- pages -----------------------------------------------------------------------------------------

@dataclass
class UnitLine:
    unit_id: int
    unit: str
    province: str
    kind: str
    cells: list[tuple[int | None, int | None]]  # per activity: (sessions, participants); None: not reported
    missing: int
    updated: str


def unit_lines(
    session: Session, user: User, campaign: Campaign, province_code: str | None
) -> list[UnitLine]:
    views = reports.list_entries(session, user, campaign, province_code=province_code)
    units = units_by_id(session, {v.unit_id for v in views})
    lines: dict[int, UnitLine] = {}
    for v in views:
        unit = units.get(v.unit_id)
        line = lines.setdefault(v.unit_id, UnitLine(
            unit_id=v.unit_id, unit=v.unit, province=v.province,
            kind=unit.kind if unit else "", cells=[], missing=0, updated="",
        ))
        line.cells.append((v.sessions, v.participants) if v.reported else (None, None))
        line.missing += 0 if v.reported else 1
        if v.updated_at is not None:
            stamp = fmt_local(v.updated_at)
            line.updated = max(line.updated, stamp)
    return list(lines.values())




@router.get("/reports")
def reports_page(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    province: ProvinceParam = None,
) -> Response:
    campaign = active_campaign(session)
    role = Role(user.role)
    if role == Role.unit_coordinator:
        unit = reports.editable_unit(session, user, user.unit_id or 0) if user.unit_id else None
        if unit is None:
            raise Forbidden("您的账号未关联单位，无法填报活动情况。", code="no_unit")
        return _form_page(request, session, user, campaign, unit, activity_forms(session, user, campaign, unit))
    if role not in (Role.provincial_admin, Role.national_admin):
        raise Forbidden("只有单位联络员和省级、全国管理员可以使用报表页面。", code="forbidden_role")
    scope = reports.report_scope(session, user, province or None)
    chosen = scope.province.code if scope.province else None
    provinces = list_provinces(session) if role == Role.national_admin else []
    lines = unit_lines(session, user, campaign, chosen) if chosen else []
    return render(request, "reports/index.html", {
        **user_context(user),
        "campaign": campaign,
        "due": due_of(campaign),
        "scope_label": scope.label,
        "chosen": chosen,
        "provinces": provinces,
        "activities": reports.reported_activities(campaign),
        "lines": lines,
        "missing": [ln for ln in lines if ln.missing],
        "can_edit": role == Role.provincial_admin,
        # The export buttons' filter: the chosen province (a provincial admin's exports are its own anyway).
        "export_query": urlencode({"province": chosen}) if chosen and role == Role.national_admin else "",
    })


@router.get("/reports/units/{unit_id}")
def unit_form(request: Request, unit_id: int, user: CurrentUser, session: SessionDep) -> Response:
    campaign = active_campaign(session)
    unit = reports.editable_unit(session, user, unit_id)
    return _form_page(request, session, user, campaign, unit, activity_forms(session, user, campaign, unit))


@router.post("/reports/units/{unit_id}")
def save_unit(request: Request, unit_id: int, user: CurrentUser, session: SessionDep, form: FormDep) -> Response:
    """Every activity of the unit at once, all or nothing: one bad figure keeps the whole form on screen."""
    campaign = active_campaign(session)
    unit = reports.editable_unit(session, user, unit_id)

    def value(name: str) -> str:
        raw = form.get(name)
        return raw[:FIELD_MAX] if isinstance(raw, str) else ""

    forms: list[ActivityForm] = []
    failed = False
    for activity in reports.reported_activities(campaign):
        entry = ActivityForm(
            key=activity.key, name=activity.name, sessions=value(f"sessions__{activity.key}"),
            participants=value(f"participants__{activity.key}"), note=value(f"note__{activity.key}"),
            rev=value(f"rev__{activity.key}"), updated="", updated_by="",
        )
        forms.append(entry)
        try:
            expected = datetime.fromisoformat(entry.rev) if entry.rev not in ("", NEW) else None
        except ValueError:
            expected = None
        try:
            reports.save_entry(
                session, user, campaign, unit.id or 0, activity.key, sessions=entry.sessions,
                participants=entry.participants, note=entry.note, expected_updated_at=expected,
                expect_absent=entry.rev == NEW,
            )
        except DomainError as exc:
            if exc.status_code in (403, 404):
                raise
            failed = True
            entry.errors[_field_of(exc.code)] = exc.message
    if failed:
        # Nothing of this form is kept; what was saved by others stays on screen beside the input.
        session.rollback()
        current = {f.key: f for f in activity_forms(session, user, campaign, unit)}
        for entry in forms:
            now = current.get(entry.key)
            if now is None:
                continue
            entry.updated, entry.updated_by = now.updated, now.updated_by
            if "form" in entry.errors:
                # Someone saved meanwhile: show theirs; sending the form again then replaces it knowingly.
                entry.saved_now = f"场次 {now.sessions or '—'}，参与人次 {now.participants or '—'}"
                entry.rev = now.rev
        return _form_page(request, session, user, campaign, unit, forms, status_code=422)
    flash(request, f"{unit.name}的活动开展情况已保存。")
    target = "/reports" if Role(user.role) == Role.unit_coordinator else f"/reports/units/{unit.id}"
    return see_other(target)


# -- downloads (HTML error pages instead of problem+json: these are links in the browser) -----------

@router.get("/reports/export/activity")
def export_activity(
    user: CurrentUser,
    session: SessionDep,
    format: FormatParam = None,
    province: ProvinceParam = None,
) -> Response:
    return file_response(exports.activity_export(session, user, format, province))


@router.get("/reports/export/quotas")
def export_quotas(
    user: CurrentUser,
    session: SessionDep,
    format: FormatParam = None,
    province: ProvinceParam = None,
) -> Response:
    return file_response(exports.quotas_export(session, user, format, province))


@router.get("/reports/export/review-works")
def export_review_works(
    user: CurrentUser,
    session: SessionDep,
    format: FormatParam = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    province: ProvinceParam = None,
    unit: int | None = None,
    reviewer: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    flt = QueueFilter(status=status, province_code=province, unit_id=unit, reviewer=reviewer, q=q)
    return file_response(exports.review_works_export(session, user, format, flt))
