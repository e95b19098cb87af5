"""In-app notifications: the default channel, and the record every other channel is sent from."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from clipjury.db import UTCDateTime
from clipjury.timeutil import utcnow


class Notification(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    work_id: int | None = Field(default=None, foreign_key="work.id", index=True)
    kind: str = Field(max_length=32)
    title: str = Field(max_length=200)
    body: str = Field(default="", max_length=4000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
