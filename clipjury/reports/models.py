"""What units report about the activities the platform does not run itself (附件1, 附件2)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from clipjury.db import UTCDateTime
from clipjury.timeutil import utcnow


class ActivityEntry(SQLModel, table=True):
    __tablename__ = "activity_entry"
    __table_args__ = (UniqueConstraint("campaign_id", "unit_id", "activity_key"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    activity_key: str = Field(max_length=32)
    sessions: int = 0  # 场次
    participants: int = 0  # 参与人次
    note: str = Field(default="", max_length=2000)
    updated_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
