"""Likes (issue 15 part B): voter sign-in, the like, and the national office's snapshot, report, voiding and
chart data. Thin: parse, call the showcase domain, render.

The like route commits itself before it answers: the display count is bumped in Redis after the commit,
so a Redis error never turns a like that was counted into an error answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from api.deps import CurrentUser, CurrentVoter, SessionDep, WorkId
from api.params import NO_NUL
from api.problems import (
    AUTH_ERRORS,
    BODY_ERRORS,
    CHANGE_AUTH_ERRORS,
    VALIDATION_ERRORS,
    ErrorDoc,
    problem_responses,
)
from api.routes.public import BODY_TOO_LARGE, SmallBodyRoute
from clipjury.accounts import nicknames
from clipjury.accounts.models import Role
from clipjury.accounts.policy import require_role
from clipjury.campaigns.service import NoActiveCampaign, active_campaign
from clipjury.phones.codes import BadCode, CodesUnavailable
from clipjury.phones.numbers import MAX_INPUT_CHARS, BadPhone
from clipjury.showcase import batcher, counts, fraud, likes, snapshots, voters
from clipjury.showcase.limits import TooManyLikes
from clipjury.showcase.policy import NotFrozen, NotOnShowcase, VoterBlocked, WindowClosed

router = APIRouter(tags=["showcase"])
public_router = APIRouter(prefix="/api/v1/public", tags=["public"], route_class=SmallBodyRoute)

VOTER_ERRORS: tuple[ErrorDoc, ...] = ((401, "unauthorized"), (401, "invalid_token"))
ADMIN_READ_ERRORS: tuple[ErrorDoc, ...] = (*AUTH_ERRORS, (403, "forbidden_role"), NoActiveCampaign)


# -- voter sessions -------------------------------------------------------------------------------------

class VoterSignIn(BaseModel):
    phone: str = Field(min_length=1, max_length=MAX_INPUT_CHARS, pattern=NO_NUL)
    code: str = Field(min_length=1, max_length=32, pattern=NO_NUL)
    nickname: str = Field(max_length=64, pattern=NO_NUL)
    consent: bool = Field(description="The voter ticked the privacy notice (`privacy_notice`); `false`: 422 "
                                      "`consent_required`.")


class VoterToken(BaseModel):
    access_token: str = Field(description="A voter token (`typ: voter`): send it as `Authorization: Bearer …` "
                                          "to the like routes; staff and submitter routes refuse it.")
    token_type: str = "bearer"
    expires_in_s: int
    nickname: str


@public_router.post("/sessions", response_model=VoterToken, responses=problem_responses(
    *BODY_ERRORS, *VALIDATION_ERRORS, BadPhone, BadCode, CodesUnavailable, BODY_TOO_LARGE,
    voters.ConsentRequired, (422, "nickname_required"), (422, "nickname_too_long"), nicknames.NicknameInvalid,
))
def voter_session(body: VoterSignIn, session: SessionDep) -> VoterToken:
    """A voter signs in with a phone code (`purpose: vote`, from `POST /api/v1/public/codes`), a nickname and
    consent. The same number is always the same voter. 401 `bad_code` (single use, expires)."""
    made = voters.sign_in(session, phone=body.phone, code=body.code, nickname=body.nickname, consent=body.consent)
    return VoterToken(access_token=made.access_token, expires_in_s=made.expires_in_s, nickname=made.nickname)


# -- the like -------------------------------------------------------------------------------------------

class LikeAnswer(BaseModel):
    liked: bool
    likes: int = Field(description="The work's like count as displayed (may lag the database by a sweep).")


_LIKE_ERRORS: tuple[ErrorDoc, ...] = (
    *VOTER_ERRORS, *VALIDATION_ERRORS, NotOnShowcase, WindowClosed, VoterBlocked, TooManyLikes, NoActiveCampaign,
)


@router.put("/api/v1/showcase/works/{work_id}/like", status_code=201, response_model=LikeAnswer, responses={
    200: {"model": LikeAnswer, "description": "The voter had liked the work already (counted once)."},
    **problem_responses(*_LIKE_ERRORS),
})
async def like(work_id: WorkId, voter_id: CurrentVoter, request: Request, response: Response) -> LikeAnswer:
    """Like a work on the showcase (voter token): 201 the first time, 200 after. 409 `window_closed` outside the
    window, 404 for a work not on the showcase, 403 `voter_blocked` after the voter's likes were voided, 429
    `too_many_likes`. A like cannot be taken back. The like is committed before the answer (in a group
    commit with the other likes arriving at the same moment: `clipjury.showcase.batcher`)."""
    address = request.client.host if request.client else ""
    answer = await batcher.like(voter_id, work_id, address)
    if not answer.created:
        response.status_code = 200
    return LikeAnswer(liked=True, likes=answer.likes)


@router.get("/api/v1/showcase/works/{work_id}/like", response_model=LikeAnswer, responses=problem_responses(
    *VOTER_ERRORS, *VALIDATION_ERRORS, NotOnShowcase,
))
def like_state(work_id: WorkId, voter_id: CurrentVoter, session: SessionDep) -> LikeAnswer:
    """Whether this voter has liked the work, and its displayed count (the like button's state)."""
    liked, shown = likes.like_state(session, voter_id, work_id)
    return LikeAnswer(liked=liked, likes=shown)


# -- the snapshot ---------------------------------------------------------------------------------------

class SnapshotWork(BaseModel):
    id: int
    likes: int = Field(description="Counted likes, after voiding.")
    voided: int = Field(description="Likes voided by the national office.")


class LikesSnapshotAnswer(BaseModel):
    version: int = Field(description="1 at the window's close; each later voiding adds one.")
    frozen_at: datetime
    sha256: str = Field(description="SHA-256 of `{\"frozen_at\",\"version\",\"works\"}` as answered here, as JSON "
                                    "with sorted keys, no spaces, `frozen_at` as `YYYY-MM-DDTHH:MM:SSZ`, works by id.")
    works: list[SnapshotWork]


@router.get("/api/v1/campaigns/current/likes-snapshot", response_model=LikesSnapshotAnswer,
            responses=problem_responses(*ADMIN_READ_ERRORS, NotFrozen))
def likes_snapshot(user: CurrentUser, session: SessionDep) -> LikesSnapshotAnswer:
    """The frozen like counts the awards use (national admin): 409 `not_frozen` before the window has closed.
    Every work published at the close is listed, also one disqualified or withdrawn since."""
    require_role(user, (Role.national_admin,), "查看点赞数快照")
    snapshot = snapshots.current(session, active_campaign(session))
    return LikesSnapshotAnswer(
        version=snapshot.version, frozen_at=snapshot.frozen_at, sha256=snapshot.sha256,
        works=[SnapshotWork(id=w.id, likes=w.likes, voided=w.voided) for w in snapshot.works],
    )


# -- the national office: report, voiding, chart --------------------------------------------------------

class BurstOut(BaseModel):
    work_id: int
    title: str
    minute: datetime
    likes: int


class NetworkOut(BaseModel):
    network: str
    voters: int
    likes: int
    first_at: datetime
    last_at: datetime
    voter_ids: list[int]


class SinglePurposeOut(BaseModel):
    work_id: int
    title: str
    voters: int
    voter_ids: list[int]


class TotalsOut(BaseModel):
    likes: int
    voided: int
    voters: int
    blocked_voters: int
    works: int


class ReportOut(BaseModel):
    totals: TotalsOut
    bursts: list[BurstOut]
    networks: list[NetworkOut]
    single_purpose: list[SinglePurposeOut]
    thresholds: dict[str, int]


@router.get("/api/v1/showcase/likes/report", response_model=ReportOut,
            responses=problem_responses(*ADMIN_READ_ERRORS))
def likes_report(user: CurrentUser, session: SessionDep) -> ReportOut:
    """Suspicious patterns among the counted likes (national admin): bursts per work and minute, networks with
    many voters, voters created just to like one work."""
    found = fraud.report(session, user, active_campaign(session))
    return ReportOut.model_validate(found, from_attributes=True)


class TimelinePoint(BaseModel):
    at: datetime = Field(description="The start of the minute or hour (UTC).")
    likes: int = Field(description="Counted likes made in it.")
    voided: int = Field(description="Likes made in it and voided since.")


class TimelineOut(BaseModel):
    bucket: str
    points: list[TimelinePoint]


@router.get("/api/v1/showcase/likes/timeline", response_model=TimelineOut, responses=problem_responses(
    *ADMIN_READ_ERRORS, *VALIDATION_ERRORS,
))
def likes_timeline(user: CurrentUser, session: SessionDep,
                   bucket: Annotated[Literal["minute", "hour"], Query()] = "hour") -> TimelineOut:
    """Likes per hour over the window, or per minute over the last 24 hours (national admin; the chart)."""
    found = fraud.timeline(session, user, active_campaign(session), bucket)
    return TimelineOut(bucket=found.bucket, points=[
        TimelinePoint(at=at, likes=likes, voided=voided) for at, likes, voided in found.rows
    ])


class VoidRequest(BaseModel):
    voter_ids: list[Annotated[int, Field(ge=1, le=2_147_483_647)]] = Field(
        min_length=1, max_length=fraud.VOID_MAX_VOTERS,
    )
    reason: str = Field(min_length=1, max_length=fraud.REASON_MAX, pattern=NO_NUL)


class VoidAnswer(BaseModel):
    voters: int
    likes: int = Field(description="Likes voided by this request.")
    works: dict[int, int] = Field(description="Likes voided per work.")
    snapshot_version: int | None = Field(description="The new snapshot version, when the counts were frozen.")


@router.post("/api/v1/showcase/likes/void", response_model=VoidAnswer, responses=problem_responses(
    *BODY_ERRORS, *CHANGE_AUTH_ERRORS, (403, "forbidden_role"), *VALIDATION_ERRORS, NoActiveCampaign,
    (422, "invalid_voter_ids"), (422, "reason_required"), (422, "reason_too_long"),
))
def void_likes(body: VoidRequest, user: CurrentUser, session: SessionDep) -> VoidAnswer:
    """Void every counted like of these voters with a reason and block their further likes (national admin);
    audited, and after the freeze a new snapshot version."""
    result = fraud.void_voters(session, user, active_campaign(session), body.voter_ids, body.reason)
    session.commit()
    counts.refresh_after_commit(session, result.works)
    return VoidAnswer(voters=result.voters, likes=result.likes, works=result.works,
                      snapshot_version=result.snapshot_version)
