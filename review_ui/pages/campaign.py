"""活动设置: the national admin's page for the current campaign's settings (dates, limits, the opening line,
the rights notice, the review checklist, quota rules) and for starting next year's campaign.

Thin: the form's strings become typed values here (Beijing wall-clock times, megabytes, one brand per line),
and every rule — consistency, limits below works already submitted, who may — is
``clipjury.campaigns.settings_service``'s, the same the API's PATCH calls."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlmodel import Session

from api.deps import CurrentUser, SessionDep
from clipjury.accounts.models import UNIT_KIND_LABELS, UnitKind, User
from clipjury.campaigns import settings_service as settings
from clipjury.campaigns.models import DEFAULT_FORWARD_DAYS_AFTER_DEADLINE, Campaign
from clipjury.campaigns.service import active_campaign
from clipjury.errors import DomainError
from clipjury.timeutil import CAMPAIGN_TZ, as_utc
from review_ui.context import user_context
from review_ui.core.flash import flash
from review_ui.core.forms import FormDep, see_other
from review_ui.core.render import render
from review_ui.core.routing import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)

MB = 1024 * 1024
# Blank checklist rows the form offers below the current items (one more item per blank row).
BLANK_CHECKLIST_ROWS = 3
# With seconds: a deadline at 23:59:59 shown as 23:59 would be saved back a minute early.
LOCAL_INPUT = "%Y-%m-%dT%H:%M:%S"
LOCAL_INPUT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")

# The form's sections: (field, label, hint). Times are <input type="datetime-local"> in Beijing time.
TIME_HINTS: dict[str, str] = {
    "submission_opens_at": "",
    "submission_deadline": "截止后不能再提交新作品；截止前已开始的上传可在宽限期内完成。",
    "forward_deadline": f"留空：提交截止后 {DEFAULT_FORWARD_DAYS_AFTER_DEADLINE} 天。",
    "showcase_starts_at": "展示期与征集期重叠时会提示，仅建议用于演练。",
    "showcase_ends_at": "点赞在此时刻截止，截止后的点赞不计入。",
    "report_due_at": "留空：按通知默认。",
}
TIME_LABELS: dict[str, tuple[str, str]] = {
    name: (settings.FIELD_LABELS[name], hint) for name, hint in TIME_HINTS.items()
}
# The domain's names, with the form's own units (the size is typed in MB here).
FIELD_LABELS: dict[str, str] = {**settings.FIELD_LABELS, "max_size_bytes": "文件大小上限（MB）"}


def _local_input(value: datetime | None) -> str:
    return as_utc(value).astimezone(CAMPAIGN_TZ).strftime(LOCAL_INPUT) if value is not None else ""


def _number_text(value: float) -> str:
    return f"{value:g}"


def _form_of(campaign: Campaign) -> dict[str, Any]:
    """The form's values for a campaign, as the inputs show them."""
    values = settings.settings_of(campaign)
    return {
        "revision": campaign.revision,
        "name": campaign.name,
        **{name: _local_input(values[name]) for name in TIME_LABELS},
        "upload_grace_minutes": str(campaign.upload_grace_minutes),
        "claim_ttl_hours": str(campaign.claim_ttl_hours),
        "max_size_mb": _number_text(campaign.max_size_bytes / MB),
        "max_duration_s": _number_text(campaign.max_duration_s),
        "duration_step_s": _number_text(campaign.duration_step_s),
        "allowed_brands": "\n".join(b.rstrip() for b in campaign.allowed_brands),
        "opening_line_template": campaign.opening_line_template,
        "rights_notice": campaign.rights_notice,
        "organiser": campaign.organiser,
        "quota": {kind.value: str(campaign.quota_by_kind.get(kind.value, 0)) for kind in UnitKind},
        "checklist": [dict(item) for item in campaign.review_checklist],
    }


# -- the form's strings as typed values (what the API's JSON would carry) -------------------------------------

def _field(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _time(name: str, text: str) -> datetime | None:
    if not text:
        return None  # the domain refuses a blank where a time is required, with the field
    if not LOCAL_INPUT_RE.match(text):
        raise settings.SettingInvalid(name, f"{FIELD_LABELS[name]}的格式应为 年-月-日 时:分。", code="invalid_time")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise settings.SettingInvalid(
            name, f"{FIELD_LABELS[name]}不是有效的日期和时间。", code="invalid_time"
        ) from None
    return parsed.replace(tzinfo=CAMPAIGN_TZ)


def _integer(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise settings.SettingInvalid(name, f"{FIELD_LABELS[name]}须为整数。", code="invalid_number") from None


def _decimal(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise settings.SettingInvalid(name, f"{FIELD_LABELS[name]}须为数字。", code="invalid_number") from None
    if not math.isfinite(value):
        raise settings.SettingInvalid(name, f"{FIELD_LABELS[name]}须为数字。", code="invalid_number")
    return value


def _brands(text: str) -> list[str]:
    # A brand shorter than four characters is padded with spaces, as ISO BMFF writes "M4V ".
    return [b.strip().ljust(4) for b in re.split(r"[,，\s]*\n[,，\s]*|[,，]", text) if b.strip()]


def _checklist(form: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    keys = form.getlist("item_key")
    labels = form.getlist("item_label")
    required = set(form.getlist("item_required"))
    for n, (key, label) in enumerate(zip(keys, labels, strict=False)):
        if not str(key).strip() and not str(label).strip():
            continue  # a blank row
        items.append({"key": str(key).strip(), "label": str(label).strip(), "required": str(n) in required})
    return items


def changes_from(form: Any) -> dict[str, Any]:
    """Every editable setting from the posted form: the domain compares them with the stored ones, and
    records and applies only those that differ."""
    size_mb = _decimal("max_size_bytes", _field(form, "max_size_mb"))
    return {
        "name": _field(form, "name"),
        **{name: _time(name, _field(form, name)) for name in TIME_LABELS},
        "upload_grace_minutes": _integer("upload_grace_minutes", _field(form, "upload_grace_minutes")),
        "claim_ttl_hours": _integer("claim_ttl_hours", _field(form, "claim_ttl_hours")),
        "max_size_bytes": round(size_mb * MB),
        "max_duration_s": _decimal("max_duration_s", _field(form, "max_duration_s")),
        "duration_step_s": _decimal("duration_step_s", _field(form, "duration_step_s")),
        "allowed_brands": _brands(str(form.get("allowed_brands", ""))),
        "opening_line_template": _field(form, "opening_line_template"),
        "rights_notice": _field(form, "rights_notice"),
        "organiser": _field(form, "organiser"),
        "quota_by_kind": {
            kind.value: _integer("quota_by_kind", _field(form, f"quota_{kind.value}") or "0") for kind in UnitKind
        },
        "review_checklist": _checklist(form),
    }


def _posted_form(form: Any, campaign: Campaign) -> dict[str, Any]:
    """What the admin typed, shown again beside the refusal (nothing they typed is lost)."""
    shown = _form_of(campaign)
    for name in ("name", *TIME_LABELS, "upload_grace_minutes", "claim_ttl_hours", "max_size_mb", "max_duration_s",
                 "duration_step_s", "allowed_brands", "opening_line_template", "rights_notice", "organiser"):
        shown[name] = str(form.get(name, ""))
    shown["quota"] = {kind.value: str(form.get(f"quota_{kind.value}", "")) for kind in UnitKind}
    shown["checklist"] = _checklist(form)
    return shown


# -- the page ---------------------------------------------------------------------------------------------

def _page(
    request: Request, session: Session, user: User, *, form: dict[str, Any] | None = None,
    error: DomainError | None = None, warnings: list[dict[str, Any]] | None = None,
    new_form: dict[str, str] | None = None, new_error: DomainError | None = None, status_code: int = 200,
) -> Response:
    campaign = active_campaign(session)
    shown = form if form is not None else _form_of(campaign)
    error_field = str(error.extra.get("field", "")) if error is not None else ""
    works = error.extra.get("works", []) if error is not None else []
    return render(request, "campaign/index.html", {
        **user_context(user),
        "campaign": campaign,
        "campaigns": settings.all_campaigns(session),
        "form": shown,
        "time_fields": [(name, label, hint) for name, (label, hint) in TIME_LABELS.items()],
        "nullable": settings.NULLABLE_FIELDS,
        "unit_kinds": [(kind.value, UNIT_KIND_LABELS[kind]) for kind in UnitKind],
        "blank_rows": BLANK_CHECKLIST_ROWS,
        "error": error.message if error is not None else "",
        "error_code": error.code if error is not None else "",
        "error_field": error_field,
        "error_label": FIELD_LABELS.get(error_field, error_field),
        "over_limit_works": works,
        "warnings": warnings or [],
        "new_form": new_form or {"name": "", "year": str(campaign.year + 1)},
        "new_error": new_error.message if new_error is not None else "",
    }, status_code=status_code)


@router.get("/campaign")
def campaign_page(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    settings.ensure_national_admin(user)
    return _page(request, session, user)


@router.post("/campaign")
def save_settings(request: Request, user: CurrentUser, session: SessionDep, form: FormDep) -> Response:
    settings.ensure_national_admin(user)
    read_revision = active_campaign(session).revision
    revision_text = _field(form, "revision")
    try:
        revision = int(revision_text) if revision_text else None
        result = settings.update_settings(
            session, user, changes_from(form), revision=revision, force=_field(form, "force") == "1",
        )
    except (DomainError, ValueError) as exc:
        session.rollback()
        error = exc if isinstance(exc, DomainError) else settings.CampaignChanged()
        # On a stale page the fresh settings are shown (keeping the typed ones would overwrite the other
        # admin's change unseen); otherwise what was typed, beside the refusal.
        stale = isinstance(error, settings.CampaignChanged)
        shown = None if stale else _posted_form(form, active_campaign(session))
        return _page(request, session, user, form=shown, error=error, status_code=error.status_code)
    if result.warnings:
        # Saved, with what the admin should know; the page shows the new settings and the warnings.
        return _page(request, session, user, warnings=result.warnings)
    saved = result.campaign.revision != read_revision
    flash(request, f"活动设置已保存（第 {result.campaign.revision} 版）。" if saved else "设置没有变化。")
    return see_other("/campaign")


@router.post("/campaign/next")
def start_next(request: Request, user: CurrentUser, session: SessionDep, form: FormDep) -> Response:
    settings.ensure_national_admin(user)
    name, year_text = _field(form, "name"), _field(form, "year")
    try:
        year: Any = int(year_text) if year_text.isdigit() else year_text
        created = settings.start_campaign(session, user, name=name, year=year)
    except DomainError as exc:
        session.rollback()
        return _page(request, session, user, new_form={"name": name, "year": year_text}, new_error=exc,
                     status_code=exc.status_code)
    flash(request, f"已开始 {created.year} 年度活动“{created.name}”：设置、单位和配额已从上一届复制，"
                   "上一届的作品和记录仍可查看，但不再接收新作品。")
    return see_other("/campaign")
