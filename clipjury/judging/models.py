"""The judging domain's tables: the assignment round (its stored seed), each judge's assignments with their
scores, the typed conflicts, and each judge's state (submitted = locked, last active)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from clipjury.db import UTCDateTime
from clipjury.timeutil import utcnow


class ConflictKind(StrEnum):
    province = "province"  # the judge's affiliation is the work's province (automatic)
    unit = "unit"  # the judge's affiliation is the work's unit (automatic)
    declared = "declared"  # the judge declared it: an abstention
    admin = "admin"  # the national office recused the judge, silently


CONFLICT_LABELS: dict[str, str] = {
    ConflictKind.province: "同省回避", ConflictKind.unit: "同单位回避", ConflictKind.declared: "专家声明回避",
    ConflictKind.admin: "管理员指定回避",
}


class JudgingRound(SQLModel, table=True):
    """The applied assignment of a campaign: its seed, kept so the top-ups and the judges' orders derive
    from it and a re-run of the proposal gives the same pairs."""

    __tablename__ = "judging_round"

    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True)
    seed: int
    judges_per_work: int
    snapshot_version: int
    applied_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    applied_by_id: int | None = Field(default=None, foreign_key="app_user.id")


class JudgingAssignment(SQLModel, table=True):
    """One work given to one judge, and the judge's scores for it. ``rev`` is bumped by every save (a save
    names the rev it was made on). An assignment ended by a conflict stays, marked (``ended_kind``)."""

    __tablename__ = "judging_assignment"
    __table_args__ = (UniqueConstraint("work_id", "judge_id"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    work_id: int = Field(foreign_key="work.id", index=True)
    judge_id: int = Field(foreign_key="app_user.id", index=True)
    why: str = Field(default="", max_length=500)
    # "proposal" (the applied round) or "topup" (after a conflict).
    source: str = Field(default="proposal", max_length=16)
    scores: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    rev: int = 0
    complete: bool = False
    scored_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_kind: str | None = Field(default=None, max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class JudgeConflict(SQLModel, table=True):
    """A typed conflict between a judge and a work: no assignment is made across it."""

    __tablename__ = "judge_conflict"
    __table_args__ = (UniqueConstraint("work_id", "judge_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    work_id: int = Field(foreign_key="work.id", index=True)
    judge_id: int = Field(foreign_key="app_user.id", index=True)
    kind: str = Field(max_length=16)
    reason: str = Field(default="", max_length=2000)
    created_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class JudgeState(SQLModel, table=True):
    """A judge's standing in a campaign: submitted (everything locked) and when last active."""

    __tablename__ = "judge_state"

    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True)
    judge_id: int = Field(foreign_key="app_user.id", primary_key=True)
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_active_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
