"""Works: create, read, list one's own, submit, withdraw, and where to play them."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import CurrentUser, SessionDep
from clipjury.works import playback, service
from clipjury.works.schemas import WorkCreate, WorkPublic, work_public

router = APIRouter(prefix="/api/v1/works", tags=["works"])


class WithdrawBody(BaseModel):
    reason: str = Field(default="", max_length=2000)


@router.post("", status_code=201, response_model=WorkPublic)
def create_work(body: WorkCreate, user: CurrentUser, session: SessionDep) -> WorkPublic:
    work = service.create_work(
        session, user, title=body.title, description=body.description, province_code=body.province
    )
    return work_public(session, work)


@router.get("", response_model=list[WorkPublic])
def list_my_works(user: CurrentUser, session: SessionDep) -> list[WorkPublic]:
    return [work_public(session, w) for w in service.list_own_works(session, user)]


@router.get("/{work_id}", response_model=WorkPublic)
def get_work(work_id: int, user: CurrentUser, session: SessionDep) -> WorkPublic:
    return work_public(session, service.get_visible_work(session, user, work_id))


@router.post("/{work_id}/submit", response_model=WorkPublic)
def submit_work(work_id: int, user: CurrentUser, session: SessionDep) -> WorkPublic:
    return work_public(session, service.submit(session, user, work_id))


@router.post("/{work_id}/withdraw", response_model=WorkPublic)
def withdraw_work(work_id: int, user: CurrentUser, session: SessionDep, body: WithdrawBody | None = None) -> WorkPublic:
    return work_public(session, service.withdraw(session, user, work_id, reason=body.reason if body else ""))


@router.get("/{work_id}/playback", response_model=playback.Playback)
def get_playback(work_id: int, user: CurrentUser, session: SessionDep) -> playback.Playback:
    work = service.get_visible_work(session, user, work_id)
    return playback.playback_for(session, work)
