"""Works and their stored file versions.

A work's ``status`` follows an explicit state machine (see ``clipjury.works.service``). Every file
stored for a work is a ``WorkVersion`` pinned by its sha256; ``current_version_id`` is the newest
version that passed validation (the submittable entry), ``pending_version_id`` the one being checked,
and ``submitted_version_id`` the one later rounds see.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from clipjury.db import UTCDateTime
from clipjury.timeutil import utcnow


class WorkStatus(StrEnum):
    draft = "draft"
    processing = "processing"
    ready = "ready"
    rejected = "rejected"
    submitted = "submitted"


WORK_STATUS_LABELS: dict[str, str] = {
    "draft": "待上传",
    "processing": "校验中",
    "ready": "可提交",
    "rejected": "未通过校验",
    "submitted": "已提交",
}


class VersionStatus(StrEnum):
    processing = "processing"
    ready = "ready"
    rejected = "rejected"


class Playback(StrEnum):
    original = "original"  # the original plays in browsers as it is
    rendition = "rendition"  # a transcoded H.264/AAC rendition is made for the browser


class Work(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    owner_id: int = Field(foreign_key="app_user.id", index=True)
    province_id: int = Field(foreign_key="province.id", index=True)
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    title: str = Field(max_length=100)
    description: str = Field(default="", max_length=2000)
    status: str = Field(default=WorkStatus.draft.value, max_length=32, index=True)

    current_version_id: int | None = Field(default=None)
    pending_version_id: int | None = Field(default=None)
    latest_version_id: int | None = Field(default=None)
    submitted_version_id: int | None = Field(default=None)
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)

    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WorkVersion(SQLModel, table=True):
    __tablename__ = "work_version"

    id: int | None = Field(default=None, primary_key=True)
    work_id: int = Field(foreign_key="work.id", index=True)
    upload_id: str | None = Field(default=None, max_length=64, index=True)
    object_key: str = Field(max_length=512)
    original_filename: str = Field(default="", max_length=255)
    size_bytes: int = 0
    sha256: str | None = Field(default=None, max_length=64, index=True)
    # When the upload that produced this file started: decides the deadline grace period.
    upload_started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    status: str = Field(default=VersionStatus.processing.value, max_length=32, index=True)
    rejection_code: str | None = Field(default=None, max_length=32)
    rejection_message: str | None = Field(default=None, max_length=1000)
    warnings: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))

    # What the worker measured.
    duration_s: float | None = None
    header_duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    video_codec: str | None = Field(default=None, max_length=32)
    audio_codec: str | None = Field(default=None, max_length=32)
    major_brand: str | None = Field(default=None, max_length=8)
    probe: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    ffmpeg_version: str | None = Field(default=None, max_length=64)
    rules_version: str | None = Field(default=None, max_length=64)
    validated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    # Job bookkeeping: a stale heartbeat means the worker died and the job is run again.
    attempts: int = 0
    heartbeat_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    # What the web needs.
    playback: str | None = Field(default=None, max_length=16)
    poster_key: str | None = Field(default=None, max_length=512)
    rendition_key: str | None = Field(default=None, max_length=512)
    rendition_status: str | None = Field(default=None, max_length=16)
