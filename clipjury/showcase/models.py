"""The showcase's own rows: one ``ShowcaseEntry`` per work the national office has dealt with.

Publishing is a column beside the work's status, never a new status: a work is on the showcase while its
entry is published and the work is still ``recommended`` (a disqualified work drops out whatever the
entry says) and its public copy is ready.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from clipjury.db import UTCDateTime
from clipjury.timeutil import utcnow


class CopyStatus(StrEnum):
    pending = "pending"  # the public-copy job has not finished yet
    ready = "ready"  # public_key and public_poster_key hold the stripped copy and its poster
    failed = "failed"  # the job gave up (copy_error says why); staff retry it


class ShowcaseEntry(SQLModel, table=True):
    __tablename__ = "showcase_entry"

    work_id: int = Field(foreign_key="work.id", primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    # The version the public copy was made from (the submitted one).
    version_id: int | None = Field(default=None, foreign_key="work_version.id")

    # Published by the national office (None: not on the showcase, never published or withdrawn).
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    published_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    withdrawn_by_id: int | None = Field(default=None, foreign_key="app_user.id")

    # The public copy: metadata stripped, +faststart, browser-playable, and its poster.
    copy_status: str = Field(default=CopyStatus.pending.value, max_length=16, index=True)
    public_key: str | None = Field(default=None, max_length=512)
    public_poster_key: str | None = Field(default=None, max_length=512)
    copy_error: str | None = Field(default=None, max_length=500)
    copy_attempts: int = 0
    copy_attempted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
