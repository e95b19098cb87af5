"""A campaign and its settings. Defaults are the 2023 notice's values (附件3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import JSON, Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from clipjury.db import UTCDateTime
from clipjury.judging.settings import default_judging
from clipjury.media.rules import DEFAULT_DURATION_STEP_S
from clipjury.timeutil import CAMPAIGN_TZ, as_utc, utcnow

# "文件大小不超过300M": read as 300 MiB.
DEFAULT_MAX_SIZE_BYTES = 300 * 1024 * 1024
# "时长原则上不超过2分钟".
DEFAULT_MAX_DURATION_S = 120.0
DEFAULT_OPENING_LINE = "我在{province}话保密，今天我要讲的是……"
# Who determines the awards (附件3 第5条: "中央保密办（国家保密局）综合专家评审成绩和展播网评情况确定作品获奖等次"):
# the issuer printed on the award certificates.
DEFAULT_ORGANISER = "中央保密办（国家保密局）"
ORGANISER_MAX = 100
DEFAULT_UPLOAD_GRACE_MINUTES = 30
# ISO BMFF major brands accepted as MP4 (fragmented MP4 from phones and screen recorders included).
DEFAULT_ALLOWED_BRANDS = [
    "isom", "iso2", "iso4", "iso5", "iso6", "mp41", "mp42", "avc1", "M4V ", "MSNV", "dash",
]
# 附件3 §2: cities and 雄安新区 at least 10, 定州 and 辛集 at least 2, listed provincial units at least 1.
DEFAULT_QUOTA_BY_KIND: dict[str, int] = {
    "city": 10, "new_area": 10, "county_city": 2, "provincial_unit": 1, "other": 0,
}
# The notice fixes no date for forwarding to the national re-review; the showcase opens 11 days after
# the submission deadline (4月13日 → 4月24日), so the provinces get five days by default.
DEFAULT_FORWARD_DAYS_AFTER_DEADLINE = 5
# 正文 §三: provinces report on the activities "6月1日前", 49 days after the 4月13日 deadline (due at the
# start of that day, Beijing time).
DEFAULT_REPORT_DAYS_AFTER_DEADLINE = 49
# 附件3 注意事项: what the new-work form shows as the rights the organiser receives.
DEFAULT_RIGHTS_NOTICE = (
    "有关作品要坚持正确政治方向，不得违反国家法律法规、社会公德，内容准确无误，不得存在侵权情况，"
    "一经发现版权纠纷，主办方有权取消侵权作品参选资格，同时保留对可能产生的损害进行追偿的权利。"
    "活动主办方对征集作品拥有发表权和出版权。主办方出于非营利性目的，有权在电视、网络或其他媒体无偿使用获奖作品。"
    "报送作品的个人或单位，均视为已确认并遵守本活动的各项规定要求。"
)
# A reviewer's claim lapses after this long, so a work never waits on someone who went away.
DEFAULT_CLAIM_TTL_HOURS = 48
# The preliminary review's checklist, from 附件3 (the opening line is filled in per province). Each item
# has a stable key: the API's verdict names the items it ticked by key, so a label can be reworded
# without breaking a client. ``required``: a pass needs the item ticked.
DEFAULT_REVIEW_CHECKLIST: list[dict[str, Any]] = [
    {"key": "opening_line", "label": "开头语为“{opening_line}”", "required": True},
    {"key": "duration", "label": "时长不超过 {max_duration}", "required": True},
    {"key": "no_secrets", "label": "不涉及国家秘密、工作秘密和内部敏感信息", "required": True},
    {"key": "political_direction", "label": "坚持正确政治方向", "required": True},
    {"key": "lawful", "label": "不违反国家法律法规、社会公德，内容准确无误", "required": True},
    {"key": "no_infringement", "label": "不存在侵权情况（无版权纠纷）", "required": True},
    {"key": "sound_picture", "label": "声音、画面清晰可用", "required": True},
]


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    label: str
    required: bool


# 正文 §三 and 附件1–3: the activities provinces report on by June 1 (the last one is this contest;
# its counts come from the platform itself).
DEFAULT_REPORT_ACTIVITIES = [
    {"key": "day_415", "name": "“4·15”全民国家安全教育日保密宣传活动"},
    {"key": "grassroots", "name": "“保密宣传教育下基层”活动"},
    {"key": "microvideo", "name": "“人人话保密”微视频征集评选活动"},
]


class Campaign(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    name: str = Field(max_length=200)
    year: int
    # The current campaign (clipjury.campaigns.service.active_campaign); an earlier one stays readable
    # and takes no new works.
    is_active: bool = True
    # Bumped by every settings change: a change names the revision it was made on (compare-and-set).
    revision: int = Field(default=1, sa_column_kwargs={"server_default": "1"})

    submission_opens_at: datetime = Field(sa_type=UTCDateTime)
    submission_deadline: datetime = Field(sa_type=UTCDateTime)
    upload_grace_minutes: int = DEFAULT_UPLOAD_GRACE_MINUTES
    showcase_starts_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    showcase_ends_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    report_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Provincial admins forward passed works to the national re-review until then (None: the
    # submission deadline + DEFAULT_FORWARD_DAYS_AFTER_DEADLINE).
    forward_deadline: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claim_ttl_hours: int = DEFAULT_CLAIM_TTL_HOURS
    # Until the national office publishes its re-review, only it sees recommended/not_recommended.
    national_results_published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    review_checklist: list[dict[str, Any]] = Field(
        default_factory=lambda: [dict(i) for i in DEFAULT_REVIEW_CHECKLIST], sa_column=Column(JSON, nullable=False)
    )
    report_activities: list[dict[str, str]] = Field(
        default_factory=lambda: [dict(a) for a in DEFAULT_REPORT_ACTIVITIES], sa_column=Column(JSON, nullable=False)
    )

    max_size_bytes: int = DEFAULT_MAX_SIZE_BYTES
    max_duration_s: float = DEFAULT_MAX_DURATION_S
    # Measured durations are rounded half up to this step before they are compared with max_duration_s
    # and wherever they are shown, so "120.0 秒" is never refused and a refusal states a value over the limit.
    duration_step_s: float = Field(
        default=DEFAULT_DURATION_STEP_S, sa_column_kwargs={"server_default": str(DEFAULT_DURATION_STEP_S)}
    )
    allowed_brands: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ALLOWED_BRANDS), sa_column=Column(JSON, nullable=False)
    )
    opening_line_template: str = Field(default=DEFAULT_OPENING_LINE, max_length=200)
    quota_by_kind: dict[str, Any] = Field(
        default_factory=lambda: dict(DEFAULT_QUOTA_BY_KIND), sa_column=Column(JSON, nullable=False)
    )
    # Shown on the new-work form: the rights the organiser receives (附件3 注意事项).
    rights_notice: str = Field(default=DEFAULT_RIGHTS_NOTICE, max_length=4000)
    # The organiser that issues the award certificates. Migration 0024_organiser.
    organiser: str = Field(default=DEFAULT_ORGANISER, max_length=ORGANISER_MAX,
                           sa_column_kwargs={"server_default": DEFAULT_ORGANISER})
    # The expert judging's settings (clipjury.judging.settings): rubric, judges per work, likes weight,
    # shrinkage, award levels, near-tie margin. Migration 0019_judging.
    judging: dict[str, Any] = Field(default_factory=default_judging, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    def opening_line(self, province_name: str) -> str:
        return self.opening_line_template.format(province=province_name)

    def effective_forward_deadline(self) -> datetime:
        if self.forward_deadline is not None:
            return as_utc(self.forward_deadline)
        return as_utc(self.submission_deadline) + timedelta(days=DEFAULT_FORWARD_DAYS_AFTER_DEADLINE)

    def effective_report_due_at(self) -> datetime:
        """The activity report's due time: the campaign's, or the notice's (49 days after the deadline's
        day, at 00:00 Beijing time)."""
        if self.report_due_at is not None:
            return as_utc(self.report_due_at)
        deadline_day = as_utc(self.submission_deadline).astimezone(CAMPAIGN_TZ).date()
        due_day = deadline_day + timedelta(days=DEFAULT_REPORT_DAYS_AFTER_DEADLINE)
        return as_utc(datetime.combine(due_day, time(0, 0), tzinfo=CAMPAIGN_TZ))

    def checklist_for(self, province_name: str) -> list[ChecklistItem]:
        line = self.opening_line(province_name)
        minutes, seconds = divmod(self.max_duration_s, 60)
        duration = f"{minutes:g} 分钟" if seconds == 0 else f"{self.max_duration_s:g} 秒"
        return [
            ChecklistItem(
                key=str(item["key"]),
                label=str(item["label"]).replace("{opening_line}", line).replace("{max_duration}", duration),
                required=bool(item.get("required", True)),
            )
            for item in self.review_checklist
        ]


class UnitQuota(SQLModel, table=True):
    """A unit's minimum number of works for the preliminary review, when it differs from its kind's."""

    __tablename__ = "unit_quota"
    __table_args__ = (UniqueConstraint("campaign_id", "unit_id"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    required: int = 0


class ProvinceQuota(SQLModel, table=True):
    """A top-level organisation's minimum number of works for the campaign (set by the national office)."""

    __tablename__ = "province_quota"
    __table_args__ = (UniqueConstraint("campaign_id", "province_id"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    province_id: int = Field(foreign_key="province.id", index=True)
    required: int = 0
