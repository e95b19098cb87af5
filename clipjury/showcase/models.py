"""The showcase's own rows: one ``ShowcaseEntry`` per work the national office has dealt with.

Publishing is a column beside the work's status, never a new status: a work is on the showcase while its
entry is published and the work is still ``recommended`` (a disqualified work drops out whatever the
entry says) and its public copy is ready.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
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


class Voter(SQLModel, table=True):
    """A member of the public who verified a phone to like works. Never a staff or submitter account:
    it holds only the HMAC of the number (never the number), the nickname and the consent's digest."""

    id: int | None = Field(default=None, primary_key=True)
    phone_hmac: str = Field(max_length=64, unique=True)
    nickname: str = Field(max_length=32)
    consent_digest: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_active_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    # Set when the national office voided the voter's likes: the voter's further likes are refused.
    blocked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set by the retention sweep, which replaces the HMAC and the nickname: the likes stay, anonymous.
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Like(SQLModel, table=True):
    """One like: the primary key (work, voter) is what makes it count once; the insert says whether it added
    a row. No counter column is updated with it. A voided like stays, marked, so every snapshot can say
    how many were voided and why."""

    __tablename__ = "showcase_like"

    work_id: int = Field(foreign_key="work.id", primary_key=True)
    voter_id: int = Field(foreign_key="voter.id", primary_key=True, index=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    # Evidence for the fraud report, blanked by the retention sweep.
    client_address: str | None = Field(default=None, max_length=64)
    client_network: str | None = Field(default=None, max_length=64, index=True)
    voided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    voided_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    void_reason: str | None = Field(default=None, max_length=500)


class LikesSnapshot(SQLModel, table=True):
    """One frozen version of a campaign's like counts, never edited: the window's close makes version 1,
    each later voiding a new version. ``sha256`` is the digest of the canonical answer
    (``clipjury.showcase.snapshots.canonical``), also written to the audit log."""

    __tablename__ = "likes_snapshot"
    __table_args__ = (UniqueConstraint("campaign_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    version: int
    frozen_at: datetime = Field(sa_type=UTCDateTime)
    # The window the counts were taken over (likes created in [starts, ends)).
    window_starts_at: datetime = Field(sa_type=UTCDateTime)
    window_ends_at: datetime = Field(sa_type=UTCDateTime)
    sha256: str = Field(max_length=64)
    total_likes: int = 0
    total_voided: int = 0
    # "closed" (the window's close) or "voided" (a voiding after it).
    reason: str = Field(max_length=16)
    created_by_id: int | None = Field(default=None, foreign_key="app_user.id")


class LikesSnapshotWork(SQLModel, table=True):
    """A work's counts in one snapshot version: every work published at the close is listed."""

    __tablename__ = "likes_snapshot_work"

    snapshot_id: int = Field(foreign_key="likes_snapshot.id", primary_key=True)
    work_id: int = Field(foreign_key="work.id", primary_key=True)
    likes: int
    voided: int
