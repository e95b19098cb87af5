"""The campaign's settings: any signed-in user reads them, the national admin edits them and starts next
year's campaign. The rules are clipjury.campaigns.settings_service's."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from api.deps import CurrentUser, SessionDep
from api.params import NO_NUL
from api.problems import AUTH_ERRORS, BODY_ERRORS, CHANGE_AUTH_ERRORS, VALIDATION_ERRORS, ErrorDoc, problem_responses
from clipjury.campaigns import settings_service as service
from clipjury.campaigns.service import NoActiveCampaign, active_campaign
from clipjury.showcase.policy import LikesFrozen

router = APIRouter(tags=["campaigns"])


class RubricCriterion(BaseModel):
    key: str
    name: str
    weight: float
    min: float
    max: float


class JudgingSettings(BaseModel):
    """Expert judging: judges per work, the rubric, the likes' weight in the final score, the shrinkage
    n0 of the per-judge normalisation, the award levels (each ``{"name", "count"}`` or ``{"name", "share"}``,
    filled top-down) and the near-tie margin (points of the 0–100 final score)."""

    judges_per_work: int
    rubric: list[RubricCriterion]
    likes_weight: float
    shrinkage_n0: float
    award_levels: list[dict[str, Any]]
    near_tie_margin: float
    organising: dict[str, Any] = Field(description=(
        "优秀组织奖: `fulfilment_weight`, `pass_rate_weight`, `award_weight`, `level_points` "
        "`[{\"name\", \"points\"}]` (highest level first) and `award_count` or `award_share`."))


class CampaignSettings(BaseModel):
    """The campaign's settings, named as its columns. Times are UTC; ``effective_*`` are the deadlines that
    apply when the stored one is null (the notice's defaults)."""

    id: int
    slug: str
    name: str
    year: int
    is_active: bool = Field(description="The current campaign; an earlier one takes no new works.")
    revision: int = Field(description="Send it back with a change: a change on an older revision is a 409.")
    submission_opens_at: datetime
    submission_deadline: datetime
    upload_grace_minutes: int
    forward_deadline: datetime | None
    showcase_starts_at: datetime | None
    showcase_ends_at: datetime | None
    report_due_at: datetime | None
    claim_ttl_hours: int
    national_results_published_at: datetime | None
    max_size_bytes: int
    max_duration_s: float
    duration_step_s: float
    allowed_brands: list[str]
    opening_line_template: str
    rights_notice: str
    organiser: str = Field(description="Who issues the award certificates (default: the notice's "
                                       "中央保密办（国家保密局）).")
    quota_by_kind: dict[str, int]
    review_checklist: list[Any] = Field(
        description="The preliminary review's checklist: `[{\"key\", \"label\", \"required\"}]`; a pass "
                    "through the API's verdict names the keys it ticked."
    )
    report_activities: list[dict[str, str]] = Field(description="Read-only here.")
    judging: JudgingSettings
    created_at: datetime
    effective_forward_deadline: datetime
    effective_report_due_at: datetime


class SettingsWarning(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str
    field: str
    message: str


class CampaignSettingsChanged(CampaignSettings):
    warnings: list[SettingsWarning] = Field(
        default_factory=list,
        description="Accepted but worth knowing: `showcase_overlaps_submission`, or `limit_below_works` with "
                    "the works (`force: true`).",
    )


_Text = Annotated[str, Field(max_length=10000, pattern=NO_NUL)]


def _time_text_only(value: Any) -> Any:
    """An ISO 8601 string only: pydantic's lax mode would read a number as seconds since 1970 and move a
    deadline there."""
    if value is not None and not isinstance(value, str | datetime):
        raise ValueError("time must be an ISO 8601 string with an offset")
    return value


_Time = Annotated[datetime, BeforeValidator(_time_text_only)]


class ChecklistItemIn(BaseModel):
    """One item of the preliminary review's checklist; the label may name ``{opening_line}`` and
    ``{max_duration}``, filled in for each province and from the duration limit."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(max_length=64, pattern=NO_NUL)
    label: _Text
    required: bool = True


_Num = Annotated[float, Field(allow_inf_nan=False, ge=-(2**53), le=2**53)]


class RubricCriterionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(max_length=64, pattern=NO_NUL)
    name: str = Field(max_length=200, pattern=NO_NUL)
    weight: _Num
    min: _Num
    max: _Num


class AwardLevelIn(BaseModel):
    """One award level: ``count`` works, or a ``share`` of the ranked works (give one of them)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200, pattern=NO_NUL)
    count: int | None = Field(default=None, ge=-(2**31), le=2**31 - 1)
    share: _Num | None = None


class JudgingPatch(BaseModel):
    """Any subset of the judging settings; those not named keep their value."""

    model_config = ConfigDict(extra="forbid")

    judges_per_work: int | None = Field(default=None, ge=-(2**31), le=2**31 - 1)
    rubric: list[RubricCriterionIn] | None = Field(default=None, max_length=64)
    likes_weight: _Num | None = None
    shrinkage_n0: _Num | None = None
    award_levels: list[AwardLevelIn] | None = Field(default=None, max_length=64)
    near_tie_margin: _Num | None = None
    organising: dict[str, Any] | None = Field(default=None, description=(
        "优秀组织奖 settings (all of them; see the answer's `judging.organising`); 422 `invalid_organising`."))


class SettingsPatch(BaseModel):
    """Any subset of the editable settings and, optionally, the ``revision`` they were read at (then a change
    made on an older revision is a 409; without it the change applies to the current settings, as the fixed
    contract's clients send it). Times are ISO 8601 with an offset. ``report_activities`` is not edited here."""

    model_config = ConfigDict(extra="forbid")

    revision: int | None = Field(default=None, ge=1, le=2**31 - 1)
    force: bool = Field(
        default=False,
        description="Apply a lowered size or duration limit although works already exceed it (they are listed "
                    "in the answer's warnings and the audit log); without it that is a 422 `limit_below_works`.",
    )
    name: _Text | None = None
    submission_opens_at: _Time | None = None
    submission_deadline: _Time | None = None
    upload_grace_minutes: int | None = Field(default=None, ge=-(2**31), le=2**31 - 1)
    forward_deadline: _Time | None = None
    showcase_starts_at: _Time | None = None
    showcase_ends_at: _Time | None = None
    report_due_at: _Time | None = None
    claim_ttl_hours: int | None = Field(default=None, ge=-(2**31), le=2**31 - 1)
    max_size_bytes: int | None = Field(default=None, ge=-(2**62), le=2**62)
    max_duration_s: float | None = Field(default=None, allow_inf_nan=False)
    duration_step_s: float | None = Field(default=None, allow_inf_nan=False)
    allowed_brands: list[Annotated[str, Field(max_length=8, pattern=NO_NUL)]] | None = Field(
        default=None, max_length=256
    )
    opening_line_template: _Text | None = None
    rights_notice: _Text | None = None
    organiser: _Text | None = None
    quota_by_kind: dict[Annotated[str, Field(max_length=32, pattern=NO_NUL)],
                        Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]] | None = Field(default=None, max_length=32)
    review_checklist: list[ChecklistItemIn] | None = Field(default=None, max_length=64)
    judging: JudgingPatch | None = None


class NewCampaign(BaseModel):
    name: _Text
    year: int = Field(ge=-(2**31), le=2**31 - 1)


_SETTING_CODES = (
    "invalid_setting", "setting_required", "naive_time", "invalid_time", "invalid_number", "not_positive",
    "too_large", "too_long", "invalid_text", "invalid_template", "invalid_brands", "invalid_quota",
    "unknown_unit_kind", "not_editable", "window_inverted", "bad_window", "forward_before_deadline",
    "report_before_deadline",
    "showcase_incomplete", "step_over_limit", "limit_below_works",
    "invalid_rubric", "invalid_rubric_key", "duplicate_rubric_key", "invalid_range", "invalid_name",
    "invalid_levels", "duplicate_level", "shares_over_one",
)
_PATCH_ERRORS: tuple[ErrorDoc, ...] = (
    *BODY_ERRORS, *CHANGE_AUTH_ERRORS, *VALIDATION_ERRORS, NoActiveCampaign, service.NotNationalAdmin,
    service.CampaignChanged, LikesFrozen, *[(422, code) for code in _SETTING_CODES],
)


def _view(campaign: Any) -> dict[str, Any]:
    return service.settings_of(campaign)


@router.get("/api/v1/campaigns/current", response_model=CampaignSettings, responses=problem_responses(
    *AUTH_ERRORS, NoActiveCampaign,
))
def current_settings(user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """The current campaign's settings, for any signed-in user (the public landing page shows the public part)."""
    return _view(active_campaign(session))


@router.get("/api/v1/campaigns", response_model=list[CampaignSettings], responses=problem_responses(*AUTH_ERRORS))
def all_settings(user: CurrentUser, session: SessionDep) -> list[dict[str, Any]]:
    """Every campaign's settings, the newest year first: earlier campaigns stay readable."""
    return [_view(campaign) for campaign in service.all_campaigns(session)]


@router.patch("/api/v1/campaigns/current", response_model=CampaignSettingsChanged, responses=problem_responses(
    *_PATCH_ERRORS,
))
def change_settings(body: SettingsPatch, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """Changes any subset of the settings (national admin). An inconsistent whole is a 422 whose ``field``
    names the setting; a change made on an older ``revision`` is a 409 ``campaign_changed``; moving the showcase
    window once its like counts are frozen is a 409 ``likes_frozen``."""
    changes = body.model_dump(exclude_unset=True, exclude={"revision", "force", "judging"})
    if body.judging is not None:
        judging = body.judging.model_dump(exclude_unset=True)
        if judging.get("award_levels") is not None:
            # A level is {name, count} or {name, share}: the one not sent is not part of it.
            judging["award_levels"] = [
                {k: v for k, v in level.items() if v is not None or k == "name"} for level in judging["award_levels"]
            ]
        changes["judging"] = judging
    result = service.update_settings(session, user, changes, revision=body.revision, force=body.force)
    return {**_view(result.campaign), "warnings": result.warnings}


@router.post("/api/v1/campaigns", status_code=201, response_model=CampaignSettings, responses=problem_responses(
    *BODY_ERRORS, *CHANGE_AUTH_ERRORS, *VALIDATION_ERRORS, NoActiveCampaign, service.NotNationalAdmin,
    service.CampaignYearTaken, service.CampaignChanged,
    *[(422, code) for code in ("setting_required", "too_long", "invalid_text", "invalid_year",
                               "year_not_after_current")],
))
def new_campaign(body: NewCampaign, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """Starts next year's campaign as a copy of the current one (settings, unit quotas; no works), its dates
    moved by the difference in years. It becomes the current campaign (national admin)."""
    return _view(service.start_campaign(session, user, name=body.name, year=body.year))
