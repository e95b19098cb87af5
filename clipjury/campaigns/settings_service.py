"""Editing the current campaign's settings and starting next year's campaign (national admin only).

Every consistency rule of the settings lives here; the API parses the body, calls, and renders.
"""

from __future__ import annotations

import calendar
import copy
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, or_, select, update

from clipjury.accounts.models import Role, UnitKind, User
from clipjury.audit.service import record
from clipjury.campaigns.models import ORGANISER_MAX, Campaign, ProvinceQuota, UnitQuota
from clipjury.campaigns.service import active_campaign
from clipjury.db import rowcount
from clipjury.errors import Conflict, Forbidden, Invalid
from clipjury.judging import settings as judging_settings
from clipjury.media.rules import exceeds, format_seconds
from clipjury.showcase.snapshots import ensure_window_may_move
from clipjury.timeutil import CAMPAIGN_TZ, as_utc, fmt_local
from clipjury.works.models import Work, WorkVersion

NAME_MAX = 200
RIGHTS_NOTICE_MAX = 4000
OPENING_LINE_MAX = 200
# A day: a longer grace would be a second deadline, which the notice does not have.
GRACE_MINUTES_MAX = 24 * 60
CLAIM_TTL_HOURS_MAX = 24 * 30
# A larger quota per unit than any province has units' staff for is a typo.
QUOTA_MAX = 10_000
BRANDS_MAX = 64
CHECKLIST_ITEMS_MAX = 30
CHECKLIST_LABEL_MAX = 200
CHECKLIST_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# What a checklist label may name; the review page fills them in (Campaign.checklist_for).
CHECKLIST_PLACEHOLDERS = ("{opening_line}", "{max_duration}")
YEAR_MIN, YEAR_MAX = 2000, 2999
# How many works a refusal to shrink a limit names (the count is always given).
AFFECTED_SHOWN = 50

TIME_FIELDS = (
    "submission_opens_at", "submission_deadline", "forward_deadline", "showcase_starts_at", "showcase_ends_at",
    "report_due_at",
)
# Times that may be cleared (null): the notice's default applies (forward, report) or there is no showcase.
NULLABLE_FIELDS = frozenset({"forward_deadline", "showcase_starts_at", "showcase_ends_at", "report_due_at"})
EDITABLE_FIELDS = frozenset({
    "name", *TIME_FIELDS, "upload_grace_minutes", "claim_ttl_hours", "max_size_bytes", "max_duration_s",
    "duration_step_s", "allowed_brands", "opening_line_template", "rights_notice", "organiser", "quota_by_kind",
    "review_checklist", "judging",
})
# What the settings answer shows, in this order (the campaign's columns).
SETTINGS_FIELDS = (
    "id", "slug", "name", "year", "is_active", "revision", "submission_opens_at", "submission_deadline",
    "upload_grace_minutes", "forward_deadline", "showcase_starts_at", "showcase_ends_at", "report_due_at",
    "claim_ttl_hours", "national_results_published_at", "max_size_bytes", "max_duration_s", "duration_step_s",
    "allowed_brands", "opening_line_template", "rights_notice", "organiser", "quota_by_kind", "review_checklist",
    "report_activities", "judging", "created_at",
)


# What each setting is called in a refusal (the API's problem names the field as well; the page shows the
# refusal beside it).
FIELD_LABELS: dict[str, str] = {
    "name": "活动名称",
    "submission_opens_at": "征集开始时间",
    "submission_deadline": "作品提交截止时间",
    "forward_deadline": "报送全国复评截止时间",
    "showcase_starts_at": "网络展示开始时间",
    "showcase_ends_at": "网络展示结束时间",
    "report_due_at": "活动报告报送截止时间",
    "upload_grace_minutes": "上传宽限（分钟）",
    "claim_ttl_hours": "评审认领有效期（小时）",
    "max_size_bytes": "文件大小上限",
    "max_duration_s": "时长上限（秒）",
    "duration_step_s": "时长取整步长（秒）",
    "allowed_brands": "允许的 MP4 品牌",
    "opening_line_template": "开头语",
    "rights_notice": "权利声明",
    "organiser": "主办单位（证书落款）",
    "quota_by_kind": "各类单位最低报送数",
    "review_checklist": "初评要点",
    "judging": "专家评审设置",
    "year": "年度",
}


def _label(name: str) -> str:
    return FIELD_LABELS.get(name, name)


class CampaignChanged(Conflict):
    code = "campaign_changed"
    message = "活动设置已被他人修改，请刷新后在最新设置上重新修改。"


class CampaignYearTaken(Conflict):
    code = "campaign_year_taken"
    message = "该年度的征集活动已存在。"


class NotNationalAdmin(Forbidden):
    code = "forbidden"
    message = "只有全国管理员可以修改征集活动设置。"


class SettingInvalid(Invalid):
    """A setting refused: ``field`` names it, so a form can show the message next to it."""

    code = "invalid_setting"

    def __init__(self, field_name: str, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message, code=code, field=field_name, **extra)


@dataclass
class SettingsResult:
    campaign: Campaign
    warnings: list[dict[str, Any]] = field(default_factory=list)


def ensure_national_admin(user: User) -> None:
    if user.role != Role.national_admin:
        raise NotNationalAdmin()


def settings_of(campaign: Campaign) -> dict[str, Any]:
    """The settings as stored (times aware UTC); the effective forward and report deadlines alongside."""
    values: dict[str, Any] = {}
    for name in SETTINGS_FIELDS:
        value = getattr(campaign, name)
        if isinstance(value, datetime):
            value = as_utc(value)
        values[name] = value
    values["judging"] = judging_settings.effective(campaign.judging)
    values["effective_forward_deadline"] = campaign.effective_forward_deadline()
    values["effective_report_due_at"] = campaign.effective_report_due_at()
    return values


def all_campaigns(session: Session) -> list[Campaign]:
    return list(session.exec(select(Campaign).order_by(col(Campaign.year).desc(), col(Campaign.id).desc())))


# -- checking one value ------------------------------------------------------------------------------

def _time(name: str, value: Any) -> datetime | None:
    if value is None:
        if name not in NULLABLE_FIELDS:
            raise SettingInvalid(name, f"{_label(name)}不能为空。", code="setting_required")
        return None
    if not isinstance(value, datetime):
        raise SettingInvalid(name, f"{_label(name)}须为带时区的 ISO 8601 时间。", code="invalid_time")
    if value.tzinfo is None or value.utcoffset() is None:
        # A time without an offset is read differently by every client; the campaign's are Beijing time.
        raise SettingInvalid(
            name, f"{_label(name)}须带时区，例如 2026-04-13T23:59:59+08:00（北京时间）。", code="naive_time"
        )
    return as_utc(value)


def _positive_int(name: str, value: Any, maximum: int, *, zero_ok: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingInvalid(name, f"{_label(name)}须为整数。", code="invalid_number")
    if value < 0 or (value == 0 and not zero_ok):
        raise SettingInvalid(name, f"{_label(name)}须{'不小于 0' if zero_ok else '大于 0'}。", code="not_positive")
    if value > maximum:
        raise SettingInvalid(name, f"{_label(name)}不能超过 {maximum}。", code="too_large")
    return value


def _positive_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise SettingInvalid(name, f"{_label(name)}须为数字。", code="invalid_number")
    if value <= 0:
        raise SettingInvalid(name, f"{_label(name)}须大于 0。", code="not_positive")
    if value > 86400:
        raise SettingInvalid(name, f"{_label(name)}不能超过 86400 秒。", code="too_large")
    return float(value)


def _text(name: str, value: Any, maximum: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SettingInvalid(name, f"{_label(name)}不能为空。", code="setting_required")
    if "\x00" in value:
        raise SettingInvalid(name, f"{_label(name)}含有不可用的字符。", code="invalid_text")
    if len(value) > maximum:
        raise SettingInvalid(name, f"{_label(name)}不能超过 {maximum} 个字。", code="too_long")
    return value.strip()


def _opening_line(value: Any) -> str:
    text = _text("opening_line_template", value, OPENING_LINE_MAX)
    try:
        text.format(province="河北")
    except (KeyError, IndexError, ValueError):
        raise SettingInvalid(
            "opening_line_template", "开头语只能用 {province} 代表省份名称，不能含其他花括号。",
            code="invalid_template",
        ) from None
    return text


def _brands(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or len(value) > BRANDS_MAX:
        raise SettingInvalid("allowed_brands", f"请列出 1 至 {BRANDS_MAX} 个 MP4 品牌代码。", code="invalid_brands")
    brands: list[str] = []
    for brand in value:
        # An ISO BMFF brand is four printable ASCII characters ("M4V " ends with a space).
        if not isinstance(brand, str) or len(brand) != 4 or not all(" " <= c <= "~" for c in brand):
            raise SettingInvalid("allowed_brands", f"品牌代码须为 4 个字符：{brand!r}。", code="invalid_brands")
        if brand not in brands:
            brands.append(brand)
    return brands


def _quotas(value: Any) -> dict[str, int]:
    kinds = {kind.value for kind in UnitKind}
    if not isinstance(value, dict):
        raise SettingInvalid("quota_by_kind", "各类单位的最低报送数须为对象。", code="invalid_quota")
    quotas: dict[str, int] = {}
    for kind, required in value.items():
        if kind not in kinds:
            raise SettingInvalid(
                "quota_by_kind", f"未知的单位类型：{kind}（可用：{'、'.join(sorted(kinds))}）。",
                code="unknown_unit_kind",
            )
        quotas[kind] = _positive_int("quota_by_kind", required, QUOTA_MAX, zero_ok=True)
    return quotas


def _checklist(value: Any) -> list[dict[str, Any]]:
    """The preliminary review's checklist: 1 to 30 items, each a stable key (what the API's verdict names),
    a label and whether a pass needs it ticked."""
    field = "review_checklist"
    if not isinstance(value, list) or not 1 <= len(value) <= CHECKLIST_ITEMS_MAX:
        raise SettingInvalid(field, f"评审要点须为 1 至 {CHECKLIST_ITEMS_MAX} 项。", code="invalid_checklist")
    items: list[dict[str, Any]] = []
    for n, item in enumerate(value, start=1):
        if not isinstance(item, dict) or set(item) - {"key", "label", "required"}:
            raise SettingInvalid(field, f"第 {n} 项须只含 key、label、required。", code="invalid_checklist")
        key, label, required = item.get("key"), item.get("label"), item.get("required", True)
        if not isinstance(key, str) or not CHECKLIST_KEY.match(key):
            raise SettingInvalid(
                field, f"第 {n} 项的 key 须为小写字母开头的 1–32 个小写字母、数字或下划线。",
                code="invalid_checklist_key",
            )
        if any(key == other["key"] for other in items):
            raise SettingInvalid(field, f"第 {n} 项的 key“{key}”重复。", code="duplicate_checklist_key")
        if not isinstance(label, str) or not label.strip() or len(label) > CHECKLIST_LABEL_MAX:
            raise SettingInvalid(
                field, f"第 {n} 项的说明须为 1–{CHECKLIST_LABEL_MAX} 个字符。", code="invalid_checklist_label"
            )
        bare = label
        for placeholder in CHECKLIST_PLACEHOLDERS:
            bare = bare.replace(placeholder, "")
        if "{" in bare or "}" in bare:
            raise SettingInvalid(
                field, f"第 {n} 项的说明只能用 {{opening_line}}（开头语）和 {{max_duration}}（时长上限）两个占位符。",
                code="invalid_checklist_label",
            )
        if not isinstance(required, bool):
            raise SettingInvalid(field, f"第 {n} 项的 required 须为 true 或 false。", code="invalid_checklist")
        items.append({"key": key, "label": label.strip(), "required": required})
    return items


def _checked(name: str, value: Any) -> Any:
    if name in TIME_FIELDS:
        return _time(name, value)
    if value is None:
        raise SettingInvalid(name, f"{_label(name)}不能为空。", code="setting_required")
    if name == "name":
        return _text(name, value, NAME_MAX)
    if name == "rights_notice":
        return _text(name, value, RIGHTS_NOTICE_MAX)
    if name == "organiser":
        return _text(name, value, ORGANISER_MAX)
    if name == "opening_line_template":
        return _opening_line(value)
    if name == "upload_grace_minutes":
        return _positive_int(name, value, GRACE_MINUTES_MAX, zero_ok=True)
    if name == "claim_ttl_hours":
        return _positive_int(name, value, CLAIM_TTL_HOURS_MAX)
    if name == "max_size_bytes":
        return _positive_int(name, value, 1 << 40)
    if name in ("max_duration_s", "duration_step_s"):
        return _positive_float(name, value)
    if name == "allowed_brands":
        return _brands(value)
    if name == "quota_by_kind":
        return _quotas(value)
    if name == "review_checklist":
        return _checklist(value)
    raise SettingInvalid(name, f"{_label(name)}不能在这里修改。", code="not_editable")


# -- checking the whole --------------------------------------------------------------------------------

def _blame(changed: set[str], start: str, end: str) -> str:
    """The field a window's inconsistency is reported on: the end, unless only the start was changed."""
    return start if start in changed and end not in changed else end


def _check_consistency(after: dict[str, Any], changed: set[str]) -> list[dict[str, Any]]:
    """Refuses an inconsistent whole (422 with the field); returns the warnings of a consistent one."""
    opens, deadline = after["submission_opens_at"], after["submission_deadline"]
    if not opens < deadline:
        raise SettingInvalid(
            _blame(changed, "submission_opens_at", "submission_deadline"),
            f"征集开始时间（{fmt_local(opens)}）须早于提交截止时间（{fmt_local(deadline)}）。",
            code="window_inverted",
        )
    forward = after["forward_deadline"]
    if forward is not None and forward < deadline:
        raise SettingInvalid(
            _blame(changed, "submission_deadline", "forward_deadline"),
            f"报送全国复评的截止时间（{fmt_local(forward)}）不能早于作品提交截止时间（{fmt_local(deadline)}）。",
            code="forward_before_deadline",
        )
    report = after["report_due_at"]
    if report is not None and report <= deadline:
        raise SettingInvalid(
            _blame(changed, "submission_deadline", "report_due_at"),
            f"活动报告截止时间（{fmt_local(report)}）须晚于作品提交截止时间（{fmt_local(deadline)}）。",
            code="report_before_deadline",
        )
    starts, ends = after["showcase_starts_at"], after["showcase_ends_at"]
    if (starts is None) != (ends is None):
        missing = "showcase_ends_at" if ends is None else "showcase_starts_at"
        raise SettingInvalid(missing, "展示期的开始和结束时间须同时设置或同时清空。", code="showcase_incomplete")
    if starts is not None and not starts < ends:
        raise SettingInvalid(
            _blame(changed, "showcase_starts_at", "showcase_ends_at"),
            f"展示开始时间（{fmt_local(starts)}）须早于展示结束时间（{fmt_local(ends)}）。",
            code="bad_window",  # the showcase issue's fixed contract
        )
    if after["duration_step_s"] > after["max_duration_s"]:
        raise SettingInvalid(
            _blame(changed, "max_duration_s", "duration_step_s"), "时长取整步长不能大于时长上限。",
            code="step_over_limit",
        )
    warnings: list[dict[str, Any]] = []
    if starts is not None and starts < deadline and ends > opens:
        # Allowed for rehearsals and the demo: works submitted late in the window would miss the showcase.
        warnings.append({
            "code": "showcase_overlaps_submission", "field": "showcase_starts_at",
            "message": f"展示期（{fmt_local(starts)} 起）与作品征集期（至 {fmt_local(deadline)}）重叠，"
                       "截止前才提交的作品可能错过部分展示期。",
        })
    return warnings


def _over_limit(session: Session, campaign: Campaign, after: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Works already in the campaign (their accepted or submitted file) that a lowered limit would leave over
    it: (the field, the works). The size is checked before the duration."""
    lowered = [
        name for name in ("max_size_bytes", "max_duration_s")
        if after[name] < getattr(campaign, name)
        or (name == "max_duration_s" and after["duration_step_s"] != campaign.duration_step_s)
    ]
    if not lowered:
        return "", []
    rows = session.exec(
        select(Work, WorkVersion)
        .join(WorkVersion, or_(
            col(WorkVersion.id) == col(Work.current_version_id), col(WorkVersion.id) == col(Work.submitted_version_id)
        ))
        .where(Work.campaign_id == campaign.id)
        .order_by(col(Work.id))
    ).all()
    for name in lowered:
        affected: dict[int, dict[str, Any]] = {}
        for work, version in rows:
            if name == "max_size_bytes" and version.size_bytes > after[name]:
                value: Any = version.size_bytes
            elif (
                name == "max_duration_s" and version.duration_s is not None
                and exceeds(version.duration_s, after[name], after["duration_step_s"])
            ):
                value = format_seconds(version.duration_s, after["duration_step_s"])
            else:
                continue
            affected.setdefault(
                work.id or 0, {"id": work.id, "title": work.title, "status": work.status, "value": value}
            )
        if affected:
            return name, list(affected.values())
    return "", []


def update_settings(
    session: Session, user: User, changes: dict[str, Any], *, revision: int | None = None, force: bool = False,
) -> SettingsResult:
    """Applies any subset of the editable settings to the current campaign, on the revision the caller read
    (None: on whatever is current; the page always sends the revision it showed).

    A lowered size or duration limit that works already in the campaign exceed is refused with those works
    (422 ``limit_below_works``) unless ``force``: then it applies, and the answer and the audit name them."""
    ensure_national_admin(user)
    campaign = active_campaign(session)
    # Checked first too, so a change made on a stale page is told to re-read, whatever else is wrong with it.
    if revision is not None and campaign.revision != revision:
        raise CampaignChanged(current_revision=campaign.revision)
    unknown = sorted(set(changes) - EDITABLE_FIELDS)
    if unknown:
        raise SettingInvalid(unknown[0], f"{unknown[0]} 不能在这里修改。", code="not_editable")
    checked = {name: _checked(name, value) for name, value in changes.items() if name != "judging"}
    if "judging" in changes:
        # Merged: a change names the judging settings it changes, the others keep their value.
        checked["judging"] = judging_settings.checked(changes["judging"], campaign.judging)
    before_all = {name: getattr(campaign, name) for name in EDITABLE_FIELDS}
    for name in TIME_FIELDS:
        if before_all[name] is not None:
            before_all[name] = as_utc(before_all[name])
    if "quota_by_kind" in checked:
        # Merged: a change names the kinds it changes, and the others keep their minimum.
        checked["quota_by_kind"] = {**before_all["quota_by_kind"], **checked["quota_by_kind"]}
    after_all = {**before_all, **checked}
    changed = {name for name in checked if checked[name] != before_all[name]}
    if changed & {"showcase_starts_at", "showcase_ends_at"}:
        # Once the like counts are frozen for the awards, the window they were counted over stays put.
        ensure_window_may_move(session, campaign)
    warnings = _check_consistency(after_all, changed)
    limit_field, affected = _over_limit(session, campaign, after_all)
    if affected:
        shown = affected[:AFFECTED_SHOWN]
        titles = "、".join(f"《{w['title']}》（编号 {w['id']}）" for w in shown[:5])
        more = f"等 {len(affected)} 件" if len(affected) > 5 else ""
        message = f"已有作品超出新的上限：{titles}{more}。确认仍要修改时请同时提交 \"force\": true。"
        if not force:
            raise SettingInvalid(limit_field, message, code="limit_below_works", works=shown, works_count=len(affected))
        warnings.append({
            "code": "limit_below_works", "field": limit_field, "message": message.split("确认")[0],
            "works": shown, "works_count": len(affected),
        })
    if not changed:
        return SettingsResult(campaign, warnings)
    # Compare-and-set on the revision read (the caller's, or the one checked above): of two changes at
    # once, the second is told the settings changed.
    read = campaign.revision if revision is None else revision
    result = session.execute(
        update(Campaign)
        .where(col(Campaign.id) == campaign.id, col(Campaign.revision) == read)
        .values(**{name: checked[name] for name in changed}, revision=read + 1)
    )
    if rowcount(result) != 1:
        raise CampaignChanged()
    session.refresh(campaign)
    record(
        session, actor=user, action="campaign_update",
        reason="force" if affected else "",
        data={
            "campaign_id": campaign.id, "revision": campaign.revision,
            "before": {name: _json(before_all[name]) for name in sorted(changed)},
            "after": {name: _json(checked[name]) for name in sorted(changed)},
            **({"works_over_limit": [w["id"] for w in affected]} if affected else {}),
        },
    )
    return SettingsResult(campaign, warnings)


def _json(value: Any) -> Any:
    return as_utc(value).isoformat() if isinstance(value, datetime) else value


# -- next year's campaign -------------------------------------------------------------------------------

def _shift_years(value: datetime | None, years: int) -> datetime | None:
    """The same Beijing wall-clock time ``years`` later (29 February becomes the 28th)."""
    if value is None:
        return None
    shown = as_utc(value).astimezone(CAMPAIGN_TZ)
    year = shown.year + years
    day = min(shown.day, calendar.monthrange(year, shown.month)[1])
    return as_utc(shown.replace(year=year, day=day))


def start_campaign(session: Session, user: User, *, name: Any, year: Any) -> Campaign:
    """Next year's campaign: a copy of the current one's settings, unit quotas and organisations' minimums,
    with its dates moved by the difference in years, and no works. It becomes the current campaign; the
    earlier one stays readable and takes no new works."""
    ensure_national_admin(user)
    title = _text("name", name, NAME_MAX)
    if isinstance(year, bool) or not isinstance(year, int) or not YEAR_MIN <= year <= YEAR_MAX:
        raise SettingInvalid("year", f"年度须为 {YEAR_MIN} 至 {YEAR_MAX} 之间的整数。", code="invalid_year")
    current = active_campaign(session)
    if year <= current.year:
        raise SettingInvalid(
            "year", f"新一届活动的年度须晚于当前活动的年度（{current.year}）。", code="year_not_after_current"
        )
    slug = f"campaign-{year}"
    if session.exec(select(Campaign).where(or_(Campaign.year == year, Campaign.slug == slug))).first():
        raise CampaignYearTaken()
    shift = year - current.year
    values: dict[str, Any] = {name: getattr(current, name) for name in EDITABLE_FIELDS - set(TIME_FIELDS)}
    values.update({name: _shift_years(getattr(current, name), shift) for name in TIME_FIELDS})
    values.update(
        name=title, allowed_brands=list(current.allowed_brands), quota_by_kind=dict(current.quota_by_kind),
        review_checklist=list(current.review_checklist),
        judging=copy.deepcopy(judging_settings.effective(current.judging)),
        report_activities=[dict(a) for a in current.report_activities],
    )
    campaign = Campaign(slug=slug, year=year, is_active=True, **values)
    # Compare-and-set on the old one: two admins starting next year at once make one campaign, not two.
    result = session.execute(
        update(Campaign).where(col(Campaign.id) == current.id, col(Campaign.is_active)).values(is_active=False)
    )
    if rowcount(result) != 1:
        raise CampaignChanged()
    session.refresh(current)
    session.add(campaign)
    session.flush()
    quotas = session.exec(select(UnitQuota).where(UnitQuota.campaign_id == current.id)).all()
    for quota in quotas:
        session.add(UnitQuota(campaign_id=campaign.id or 0, unit_id=quota.unit_id, required=quota.required))
    minimums = session.exec(select(ProvinceQuota).where(ProvinceQuota.campaign_id == current.id)).all()
    for minimum in minimums:
        session.add(ProvinceQuota(campaign_id=campaign.id or 0, province_id=minimum.province_id,
                                  required=minimum.required))
    session.flush()
    record(
        session, actor=user, action="campaign_create",
        data={
            "campaign_id": campaign.id, "copied_from": current.id, "year": year, "years_shifted": shift,
            "unit_quotas": len(quotas), "organisation_minimums": len(minimums),
            "after": {k: _json(v) for k, v in settings_of(campaign).items() if k not in ("created_at",)},
        },
    )
    return campaign
