"""A submitter's request to belong to a unit, decided by the unit's coordinator."""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from clipjury.db import UTCDateTime
from clipjury.timeutil import utcnow


class MembershipStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


MEMBERSHIP_STATUS_LABELS: dict[MembershipStatus, str] = {
    MembershipStatus.pending: "待审核", MembershipStatus.approved: "已通过", MembershipStatus.rejected: "已拒绝",
}


class UnitMembership(SQLModel, table=True):
    """One per user and unit. Only an approved membership sets ``User.unit_id``, which is what a new
    work's unit (and so the quota counting) is read from: a pending member submits as an individual."""

    __tablename__ = "unit_membership"
    __table_args__ = (UniqueConstraint("user_id", "unit_id"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    status: str = Field(default=MembershipStatus.pending.value, max_length=16)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by: int | None = Field(default=None, foreign_key="app_user.id")


# A unit's join code: short enough to read out in a meeting, without the letters and digits people confuse
# (I/1, O/0, L).
JOIN_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
JOIN_CODE_LENGTH = 8


def new_join_code() -> str:
    return "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(JOIN_CODE_LENGTH))


def normalise_code(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())
