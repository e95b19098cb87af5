"""A campaign and its settings. Defaults are the 2023 notice's values (附件3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from clipjury.db import UTCDateTime
from clipjury.timeutil import utcnow

# "文件大小不超过300M": read as 300 MiB.
DEFAULT_MAX_SIZE_BYTES = 300 * 1024 * 1024
# "时长原则上不超过2分钟".
DEFAULT_MAX_DURATION_S = 120.0
DEFAULT_OPENING_LINE = "我在{province}话保密，今天我要讲的是……"
DEFAULT_UPLOAD_GRACE_MINUTES = 30
# ISO BMFF major brands accepted as MP4 (fragmented MP4 from phones and screen recorders included).
DEFAULT_ALLOWED_BRANDS = [
    "isom", "iso2", "iso4", "iso5", "iso6", "mp41", "mp42", "avc1", "M4V ", "MSNV", "dash",
]
# 附件3 §2: cities and 雄安新区 at least 10, 定州 and 辛集 at least 2, listed provincial units at least 1.
DEFAULT_QUOTA_BY_KIND: dict[str, int] = {
    "city": 10, "new_area": 10, "county_city": 2, "provincial_unit": 1, "other": 0,
}


class Campaign(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    name: str = Field(max_length=200)
    year: int
    is_active: bool = True

    submission_opens_at: datetime = Field(sa_type=UTCDateTime)
    submission_deadline: datetime = Field(sa_type=UTCDateTime)
    upload_grace_minutes: int = DEFAULT_UPLOAD_GRACE_MINUTES
    showcase_starts_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    showcase_ends_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    report_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    max_size_bytes: int = DEFAULT_MAX_SIZE_BYTES
    max_duration_s: float = DEFAULT_MAX_DURATION_S
    allowed_brands: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ALLOWED_BRANDS), sa_column=Column(JSON, nullable=False)
    )
    opening_line_template: str = Field(default=DEFAULT_OPENING_LINE, max_length=200)
    quota_by_kind: dict[str, Any] = Field(
        default_factory=lambda: dict(DEFAULT_QUOTA_BY_KIND), sa_column=Column(JSON, nullable=False)
    )
    # Shown on the new-work form: the rights the organiser receives (附件3 §6).
    rights_notice: str = Field(default="", max_length=4000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    def opening_line(self, province_name: str) -> str:
        return self.opening_line_template.format(province=province_name)


class UnitQuota(SQLModel, table=True):
    """A unit's minimum number of works for the preliminary review, when it differs from its kind's."""

    __tablename__ = "unit_quota"
    __table_args__ = (UniqueConstraint("campaign_id", "unit_id"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    required: int = 0
