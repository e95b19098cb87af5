"""Review decisions: the record a work's ``decisions`` list is read from.

The audit log keeps everything (claims included); this table keeps only the decisions a submitter or an
organiser reasons about, with who made them, why, and whether they were undone.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from clipjury.db import UTCDateTime
from clipjury.timeutil import utcnow


class Action(StrEnum):
    pass_ = "pass"
    fail = "fail"
    return_ = "return"
    forward = "forward"
    recommend = "recommend"
    not_recommend = "not_recommend"
    disqualify = "disqualify"
    undo = "undo"


ACTION_LABELS: dict[str, str] = {
    "pass": "初评通过",
    "fail": "初评不通过",
    "return": "退回修改",
    "forward": "报送全国复评",
    "recommend": "复评推荐展播",
    "not_recommend": "复评不推荐",
    "disqualify": "取消参选资格",
    "undo": "撤销决定",
}

# Decisions of the national re-review: nobody outside the national office sees them before it publishes.
NATIONAL_ACTIONS = frozenset({"recommend", "not_recommend"})


class ReviewDecision(SQLModel, table=True):
    __tablename__ = "review_decision"

    id: int | None = Field(default=None, primary_key=True)
    work_id: int = Field(foreign_key="work.id", index=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    province_id: int = Field(foreign_key="province.id", index=True)
    action: str = Field(max_length=32)
    actor_id: int | None = Field(default=None, foreign_key="app_user.id")
    actor_name: str = Field(max_length=64)
    actor_role: str = Field(max_length=32)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    reason: str = Field(default="", max_length=2000)
    from_status: str = Field(max_length=32)
    to_status: str = Field(max_length=32)
    # Whether the decision belongs to the national re-review (hidden until published).
    national: bool = False
    # An undo points at the decision it reverted; a reverted decision records when.
    undoes_id: int | None = Field(default=None)
    undone_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Disqualification may come with a document (e.g. the copyright complaint).
    document_key: str | None = Field(default=None, max_length=512)
    document_name: str | None = Field(default=None, max_length=255)
