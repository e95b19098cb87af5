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

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from clipjury.db import UTCDateTime
from clipjury.timeutil import utcnow


class WorkStatus(StrEnum):
    draft = "draft"
    processing = "processing"
    ready = "ready"
    rejected = "rejected"
    submitted = "submitted"
    # The review rounds (clipjury.reviews): 初评 by the province, 复评 by the national office.
    returned = "returned"
    passed = "passed"
    failed = "failed"
    forwarded = "forwarded"
    recommended = "recommended"
    not_recommended = "not_recommended"
    disqualified = "disqualified"


WORK_STATUS_LABELS: dict[str, str] = {
    "draft": "待上传",
    "processing": "校验中",
    "ready": "可提交",
    "rejected": "未通过校验",
    "submitted": "已提交，待初评",
    "returned": "退回修改",
    "passed": "初评通过",
    "failed": "初评未通过",
    "forwarded": "已报送全国复评",
    "recommended": "复评推荐展播",
    "not_recommended": "复评未推荐",
    "disqualified": "已取消参选资格",
}

# The submitter may still change these works (upload a new file, submit).
EDITABLE_STATUSES = frozenset({"draft", "processing", "ready", "rejected", "returned"})
# Works that entered the review and have not been returned: they count as submitted for the quotas.
IN_REVIEW_STATUSES = frozenset(
    {"submitted", "passed", "failed", "forwarded", "recommended", "not_recommended"}
)
PASSED_STATUSES = frozenset({"passed", "forwarded", "recommended", "not_recommended"})
FORWARDED_STATUSES = frozenset({"forwarded", "recommended", "not_recommended"})
# The national re-review's outcome, hidden outside the national office until it publishes it.
NATIONAL_DECISION_STATUSES = frozenset({"recommended", "not_recommended"})


class VersionStatus(StrEnum):
    processing = "processing"
    ready = "ready"
    rejected = "rejected"
    # The workers kept dying on this version (``worker_gave_up``): no verdict, staff retry it
    # (``clipjury retry-version``). A worker death is not evidence about the file.
    held = "held"


class Playback(StrEnum):
    original = "original"  # the original plays in browsers as it is
    rendition = "rendition"  # a transcoded H.264/AAC rendition is made for the browser


class Work(SQLModel, table=True):
    # The review queue: a province's works in one status, in the order they were submitted.
    __table_args__ = (Index("ix_work_review_queue", "province_id", "status", "submitted_at"),)

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

    # The review: who holds the work in the preliminary review (claims are compare-and-set), the
    # provincial admin's optional ranking when forwarding, and a counter every review decision bumps so
    # a page rendered before another decision cannot submit a decision on a stale view.
    claimed_by_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    forward_rank: int | None = None
    forwarded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    review_rev: int = 0
    # The national re-review's own counter and time: its decisions are hidden until published, so they
    # must not move what a province reads (review_rev, updated_at). The national office sees both.
    national_rev: int = 0
    national_updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

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
    # When the retention sweep deleted this version's stored objects (neither submitted nor current good
    # one); the row stays, so the work's history is intact.
    purged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The playback job's own bookkeeping: attempts so far, when the last one started (the sweep's
    # back-off counts from it) and why the last one failed. After ``media_max_attempts`` the rendition
    # is recorded ``failed`` and a missing poster stays missing; staff see ``media_error``.
    media_attempts: int = 0
    media_attempted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    media_error: str | None = Field(default=None, max_length=500)
