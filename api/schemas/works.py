"""The public shape of a work (the fixed API contract) and the payloads that create one.

It lives in the API, not in ``clipjury/works/``: the shape combines the work with what reviews decided
(who decided, the status shown to whom), so it depends on both ``works`` and ``reviews``, and ``reviews``
depends on ``works``. Kept in the works domain it made ``works`` import ``reviews`` back; here, above both
domains, every dependency points one way (api -> reviews -> works). Pages that show a work use the domain
functions directly, not this shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, WithJsonSchema
from sqlmodel import Session, col, select

from clipjury.accounts.models import Province, Unit, User
from clipjury.campaigns.models import Campaign
from clipjury.reviews.service import (
    decision_by,
    decisions_of,
    is_staff,
    shown_rev,
    shown_status,
    shown_updated_at,
    visible_decisions,
)
from clipjury.works.models import Work, WorkVersion
from clipjury.works.service import DESCRIPTION_MAX, TITLE_MAX, latest_rejection, media_of, shown_version


class WorkCreate(BaseModel):
    # No NUL: PostgreSQL cannot store it (api.params.NO_NUL). Blank and length are the service's checks
    # (``title_required``, ``title_too_long``, ``description_too_long``); the document states them too.
    title: Annotated[str, WithJsonSchema({
        "type": "string", "maxLength": TITLE_MAX, "pattern": r"^[^\x00]*\S[^\x00]*$",
        "description": f"Not blank; at most {TITLE_MAX} characters once surrounding spaces are dropped.",
    })] = Field(max_length=10000, pattern=r"^[^\x00]*$")
    description: Annotated[str, WithJsonSchema({
        "type": "string", "maxLength": DESCRIPTION_MAX, "pattern": r"^[^\x00]*$",
    })] = Field(default="", max_length=10000, pattern=r"^[^\x00]*$")
    # Submitters outside a unit choose their province (附件3 §2 "根据所属省上传").
    province: str | None = Field(default=None, max_length=32, pattern=r"^[^\x00]*$")


class Rejection(BaseModel):
    code: str
    message: str


class Media(BaseModel):
    duration_s: float | None
    width: int | None
    height: int | None
    size_bytes: int
    video_codec: str | None
    audio_codec: str | None
    major_brand: str | None


class Decision(BaseModel):
    action: str
    by: str
    at: datetime
    reason: str


class WorkPublic(BaseModel):
    id: int
    title: str
    description: str
    status: str
    province: str | None
    unit: str | None
    claimed_by: str | None
    decisions: list[Decision]
    rejection: Rejection | None
    media: Media | None
    submitted_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # Send it back as ``expected_rev`` with a decision to refuse deciding on a stale view (409 stale_state).
    review_rev: int


def works_public(session: Session, works: list[Work], viewer: User | None) -> list[WorkPublic]:
    """The public shape of many works in a fixed number of queries, whatever their number.

    Everything the per-work helpers read with ``session.get`` is loaded first in one query per table,
    so their lookups are answered from the session's identity map.
    """
    if not works:
        return []
    ids = [w.id or 0 for w in works]
    version_ids = {
        v for w in works for v in (w.submitted_version_id, w.current_version_id, w.latest_version_id) if v
    }
    # The identity map holds objects weakly: keep the loaded rows referenced until the loop is done.
    loaded = [
        _preload(session, WorkVersion, version_ids),
        _preload(session, Province, {w.province_id for w in works}),
        _preload(session, Unit, {w.unit_id for w in works if w.unit_id}),
        _preload(session, User, {w.claimed_by_id for w in works if w.claimed_by_id}),
        _preload(session, Campaign, {w.campaign_id for w in works}),
    ]
    decisions = decisions_of(session, ids)
    out = []
    for work in works:
        campaign = session.get(Campaign, work.campaign_id)
        assert campaign is not None
        province = session.get(Province, work.province_id)
        unit = session.get(Unit, work.unit_id) if work.unit_id else None
        holder = session.get(User, work.claimed_by_id) if work.claimed_by_id else None
        rejection: dict[str, Any] | None = latest_rejection(session, work)
        media = media_of(shown_version(session, work))
        out.append(WorkPublic(
            id=work.id or 0,
            title=work.title,
            description=work.description,
            status=shown_status(work, viewer, campaign),
            province=province.name if province else None,
            unit=unit.name if unit else None,
            # Who holds a work is the organisers' business; the submitter sees the review's progress.
            claimed_by=holder.username if holder and is_staff(viewer) else None,
            decisions=[
                Decision(action=d.action, by=decision_by(d, viewer), at=d.at, reason=d.reason)
                for d in visible_decisions(decisions[work.id or 0], viewer, campaign)
            ],
            rejection=Rejection(**rejection) if rejection else None,
            media=Media(**media) if media else None,
            submitted_at=work.submitted_at,
            created_at=work.created_at,
            # An unpublished national decision moves neither for those who may not see it.
            updated_at=shown_updated_at(work, viewer, campaign),
            review_rev=shown_rev(work, viewer, campaign),
        ))
    del loaded
    return out


def work_public(session: Session, work: Work, viewer: User | None) -> WorkPublic:
    return works_public(session, [work], viewer)[0]


def _preload(session: Session, model: Any, ids: set[int]) -> list[Any]:
    missing = [i for i in ids if session.identity_map.get(session.identity_key(model, i)) is None]
    if not missing:
        return []
    return list(session.exec(select(model).where(col(model.id).in_(missing))))
