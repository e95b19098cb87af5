"""Works: create, read, list one's own, submit, withdraw, and where to play them."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import CurrentUser, SessionDep, WorkId
from api.params import NO_NUL
from api.problems import AUTH_ERRORS, BODY_ERRORS, CHANGE_AUTH_ERRORS, VALIDATION_ERRORS, problem_responses
from api.schemas.works import WorkCreate, WorkPublic, work_public, works_public
from clipjury.audit.service import events_of_work
from clipjury.campaigns.service import CampaignClosed, NoActiveCampaign, SubmissionClosed, SubmissionNotOpen
from clipjury.reviews.events import Event, visible_events
from clipjury.works import playback, service
from clipjury.works.policy import (
    AlreadySubmitted,
    Disqualified,
    NotReady,
    NotSubmitted,
    UnderReview,
    WorkNotFound,
)

router = APIRouter(prefix="/api/v1/works", tags=["works"])


# Reading one work: it must be visible to the caller; someone else's answers like a missing one.
_READ_ERRORS = problem_responses(*AUTH_ERRORS, *VALIDATION_ERRORS, WorkNotFound)


class WithdrawBody(BaseModel):
    reason: str = Field(default="", max_length=2000, pattern=NO_NUL)


@router.post("", status_code=201, response_model=WorkPublic, responses=problem_responses(
    *BODY_ERRORS, *CHANGE_AUTH_ERRORS, *VALIDATION_ERRORS, NoActiveCampaign, SubmissionNotOpen, SubmissionClosed,
    CampaignClosed, (403, "role_cannot_submit"), (422, "title_required"), (422, "title_too_long"),
    (422, "description_too_long"),
    (422, "unknown_province"), (422, "province_mismatch"), (422, "province_required"), (429, "too_many_drafts"),
))
def create_work(body: WorkCreate, user: CurrentUser, session: SessionDep) -> WorkPublic:
    work = service.create_work(
        session, user, title=body.title, description=body.description, province_code=body.province
    )
    return work_public(session, work, user)


@router.get("", response_model=list[WorkPublic], responses=problem_responses(*AUTH_ERRORS))
def list_my_works(user: CurrentUser, session: SessionDep) -> list[WorkPublic]:
    return works_public(session, service.list_own_works(session, user), user)


@router.get("/{work_id}", response_model=WorkPublic, responses=_READ_ERRORS)
def get_work(work_id: WorkId, user: CurrentUser, session: SessionDep) -> WorkPublic:
    return work_public(session, service.get_visible_work(session, user, work_id), user)


@router.post("/{work_id}/submit", response_model=WorkPublic, responses=problem_responses(
    *CHANGE_AUTH_ERRORS, *VALIDATION_ERRORS, WorkNotFound, AlreadySubmitted, NotReady, (409, "processing"),
    UnderReview, Disqualified, SubmissionClosed, CampaignClosed,
))
def submit_work(work_id: WorkId, user: CurrentUser, session: SessionDep) -> WorkPublic:
    return work_public(session, service.submit(session, user, work_id), user)


@router.post("/{work_id}/withdraw", response_model=WorkPublic, responses=problem_responses(
    *BODY_ERRORS, *CHANGE_AUTH_ERRORS, *VALIDATION_ERRORS, WorkNotFound, UnderReview, NotSubmitted, SubmissionClosed,
    (409, "stale_state"),
))
def withdraw_work(
    work_id: WorkId, user: CurrentUser, session: SessionDep, body: WithdrawBody | None = None
) -> WorkPublic:
    work = service.withdraw(session, user, work_id, reason=body.reason if body else "")
    return work_public(session, work, user)


@router.get("/{work_id}/playback", response_model=playback.Playback, responses=_READ_ERRORS)
def get_playback(work_id: WorkId, user: CurrentUser, session: SessionDep) -> playback.Playback:
    work = service.get_visible_work(session, user, work_id)
    return playback.playback_for(session, work)


@router.get("/{work_id}/events", response_model=list[Event], responses=_READ_ERRORS)
def get_work_events(work_id: WorkId, user: CurrentUser, session: SessionDep) -> list[Event]:
    """The work's audit trail: who changed what, when, from which state to which, and why."""
    work = service.get_visible_work(session, user, work_id)
    return visible_events(session, user, work, events_of_work(session, work.id or 0))
