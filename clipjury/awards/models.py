"""The awards domain's table: every awards version of a campaign, never edited. A version holds its rows
(``versions.version_to_dict``), the ranking's parameters and the likes snapshot it was computed on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from clipjury.db import UTCDateTime
from clipjury.timeutil import utcnow


class AwardsVersionRecord(SQLModel, table=True):
    __tablename__ = "awards_version"
    __table_args__ = (UniqueConstraint("campaign_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    number: int
    # "computed", "adjusted", "disqualified" or "reinstated" (versions.Cause).
    cause: str = Field(max_length=16)
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    parameters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    snapshot_version: int
    snapshot_sha256: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="app_user.id")


class AwardsPublication(SQLModel, table=True):
    """Each time the national office publishes the awards: which version became public, when, by whom. The
    public results are those of the campaign's latest publication."""

    __tablename__ = "awards_publication"

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    version_number: int
    published_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    published_by_id: int | None = Field(default=None, foreign_key="app_user.id")


class AwardCertificate(SQLModel, table=True):
    """The certificate of an awarded work: one per work and campaign, its serial and verification code fixed
    when first issued. A later publication updates its level, or revokes it (``revoked_at``) when the work no
    longer has an award; a revoked certificate no longer verifies."""

    __tablename__ = "award_certificate"
    __table_args__ = (UniqueConstraint("campaign_id", "work_id"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    work_id: int = Field(foreign_key="work.id", index=True)
    serial: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    code: str = Field(sa_column=Column(String(16), unique=True, nullable=False))
    level: str = Field(max_length=64)
    version_number: int
    issued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OrganisingDecision(SQLModel, table=True):
    """The national office's decision on one organisation's 优秀组织奖, with a reason; never edited: a later row
    for the same organisation replaces it. ``scope`` is ``national`` (``organisation_id``: a province or
    department) or ``province`` (``organisation_id``: a unit of ``province_id``)."""

    __tablename__ = "organising_decision"

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    scope: str = Field(max_length=16)
    province_id: int | None = Field(default=None, foreign_key="province.id")
    organisation_id: int
    awarded: bool
    reason: str = Field(max_length=2000)
    decided_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    decided_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class GrassrootsNomination(SQLModel, table=True):
    """附件2: a city's nomination of a grassroots secrecy office for the 下基层 activity, with a write-up of at
    most 1,500 characters; it fills the activity report's 获奖提名 sheet."""

    __tablename__ = "grassroots_nomination"

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    province_id: int = Field(foreign_key="province.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    office: str = Field(max_length=100)
    write_up: str = Field(sa_column=Column(Text, nullable=False))
    created_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
