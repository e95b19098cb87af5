"""Expert judging (issue 16 part A): the national office's assignment proposal, applying it, unlocking and
progress; the judges' blind works, scores, abstentions and submission. Thin: parse, call
clipjury.judging.service, render."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from api.deps import CurrentUser, SessionDep, WorkId
from api.params import NO_NUL
from api.problems import BODY_ERRORS, CHANGE_AUTH_ERRORS, VALIDATION_ERRORS, ErrorDoc, problem_responses
from clipjury.campaigns.service import NoActiveCampaign
from clipjury.db import DB_ID_MAX
from clipjury.judging import policy
from clipjury.judging import service as judging
from clipjury.reasons import ReasonRequired, ReasonTooLong

router = APIRouter(prefix="/api/v1/judging", tags=["judging"])

SEED_MAX = 2**31 - 1
_ROLE: tuple[ErrorDoc, ...] = ((403, "forbidden_role"), NoActiveCampaign)
_READ_ERRORS: tuple[ErrorDoc, ...] = (*CHANGE_AUTH_ERRORS, *_ROLE)
_CHANGE_ERRORS: tuple[ErrorDoc, ...] = (*BODY_ERRORS, *CHANGE_AUTH_ERRORS, *VALIDATION_ERRORS, *_ROLE)
_Reason = Annotated[str, Field(max_length=10000, pattern=NO_NUL)]
Username = Annotated[str, Path(min_length=1, max_length=64, pattern=NO_NUL)]


class SeedIn(BaseModel):
    seed: int = Field(ge=0, le=SEED_MAX, description="The tie-break's seed: the same seed gives the same pairs.")


class PairOut(BaseModel):
    work_id: int
    judge: str = Field(description="The judge's username.")
    why: str


class UnfilledOut(BaseModel):
    work_id: int
    why: str


class ProposalOut(BaseModel):
    seed: int
    pairs: list[PairOut]
    unfilled: list[UnfilledOut] = Field(description="Works that cannot get N judges without a conflict, and why.")


def _proposal(found: judging.Proposal) -> ProposalOut:
    return ProposalOut(
        seed=found.seed,
        pairs=[PairOut(work_id=p.work_id, judge=p.judge, why=p.why) for p in found.pairs],
        unfilled=[UnfilledOut(work_id=u.work_id, why=u.why) for u in found.unfilled],
    )


@router.post("/assignments/proposal", response_model=ProposalOut, responses=problem_responses(
    *_CHANGE_ERRORS, policy.LikesNotFrozen,
))
def proposal(body: SeedIn, user: CurrentUser, session: SessionDep) -> ProposalOut:
    """The min-cost-flow assignment of the frozen snapshot's works (published, recommended, not disqualified)
    to the judges for ``seed``, each pair with why, each work short of N judges with why; changes nothing
    (national admin). 409 ``likes_not_frozen`` before the snapshot."""
    return _proposal(judging.propose(session, user, body.seed))


@router.post("/assignments/apply", response_model=ProposalOut, responses=problem_responses(
    *_CHANGE_ERRORS, policy.LikesNotFrozen, policy.AlreadyApplied,
))
def apply(body: SeedIn, user: CurrentUser, session: SessionDep) -> ProposalOut:
    """Applies the proposal for ``seed`` all at once and stores the seed (national admin). The same seed
    again changes nothing; another seed after one was applied is 409 ``already_applied``."""
    return _proposal(judging.apply(session, user, body.seed))


class JudgeWorkOut(BaseModel):
    """What a judge sees of a work, and nothing else: no unit, submitter, file name, likes or other scores."""

    id: int
    title: str
    video_url: str | None
    poster_url: str | None
    scores: dict[str, float]
    rev: int
    locked: bool


@router.get("/works", response_model=list[JudgeWorkOut], responses=problem_responses(*_READ_ERRORS))
def works(user: CurrentUser, session: SessionDep) -> list[JudgeWorkOut]:
    """The calling judge's works in the judge's own seeded random order (judge)."""
    return [JudgeWorkOut(**vars(w)) for w in judging.judge_works(session, user)]


class ScoresIn(BaseModel):
    scores: dict[Annotated[str, Field(max_length=64, pattern=NO_NUL)],
                 Annotated[float, Field(allow_inf_nan=False, ge=-(2**53), le=2**53)]] = Field(max_length=64)
    expected_rev: int = Field(ge=0, le=2**31 - 1, description="The `rev` the judge read.")


class RevOut(BaseModel):
    rev: int


@router.put("/works/{work_id}/scores", response_model=RevOut, responses=problem_responses(
    *_CHANGE_ERRORS, policy.NotAssigned, policy.StaleScores, policy.ScoresLocked, policy.UnknownCriterion,
    policy.ScoreOutOfRange,
))
def scores(work_id: WorkId, body: ScoresIn, user: CurrentUser, session: SessionDep) -> RevOut:
    """Saves the judge's scores of one assigned work by rubric key (judge). 409 ``stale_state`` on a stale
    ``expected_rev``, 422 ``out_of_range`` naming the criterion (``field``), 404 for a work not assigned to
    the caller, 409 ``locked`` after submission."""
    return RevOut(rev=judging.save_scores(session, user, work_id, dict(body.scores), body.expected_rev))


class ConflictIn(BaseModel):
    work_id: int = Field(ge=1, le=DB_ID_MAX)
    reason: _Reason = ""


class ConflictOut(BaseModel):
    id: int
    work_id: int
    kind: str
    created_at: datetime


@router.post("/conflicts", status_code=201, response_model=ConflictOut, responses=problem_responses(
    *_CHANGE_ERRORS, policy.NotAssigned,
))
def conflict(body: ConflictIn, user: CurrentUser, session: SessionDep) -> ConflictOut:
    """The judge declares a conflict with an assigned work: an abstention, followed by a top-up from another
    judge who is free (judge)."""
    made = judging.declare_conflict(session, user, body.work_id, body.reason)
    return ConflictOut(id=made.id or 0, work_id=made.work_id, kind=made.kind, created_at=made.created_at)


class SubmitOut(BaseModel):
    works: int = Field(description="How many works the judge's locked scores cover.")


@router.post("/submit", response_model=SubmitOut, responses=problem_responses(
    *BODY_ERRORS, *CHANGE_AUTH_ERRORS, *_ROLE, policy.Incomplete,
))
def submit(user: CurrentUser, session: SessionDep) -> SubmitOut:
    """Submits and locks all the judge's scores (judge); 409 ``incomplete`` with ``work_ids``."""
    return SubmitOut(works=judging.submit(session, user))


class UnlockIn(BaseModel):
    reason: _Reason = ""


class Done(BaseModel):
    ok: bool = True


@router.post("/judges/{username}/unlock", response_model=Done, responses=problem_responses(
    *_CHANGE_ERRORS, ReasonRequired, ReasonTooLong, policy.JudgeNotFound, policy.NotLocked,
))
def unlock(username: Username, body: UnlockIn, user: CurrentUser,
           session: SessionDep) -> Done:
    """Unlocks a judge's submitted scores, with a reason (national admin); 422 ``reason_required``."""
    judging.unlock(session, user, username, body.reason)
    return Done()


class JudgeProgressOut(BaseModel):
    username: str
    display_name: str
    assigned: int
    done: int
    abstained: int
    last_active_at: datetime | None
    submitted_at: datetime | None


class WorkProgressOut(BaseModel):
    work_id: int
    title: str
    judges: list[str]
    scores_in_hand: int
    needed: int


class ProgressOut(BaseModel):
    seed: int | None = Field(description="The applied round's seed (null: not applied yet).")
    judges: list[JudgeProgressOut]
    works: list[WorkProgressOut]


@router.get("/progress", response_model=ProgressOut, responses=problem_responses(*_READ_ERRORS))
def progress(user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """Per judge: assigned, done, abstained, last active; per work: complete scores in hand of N
    (national admin)."""
    found = judging.progress(session, user)
    return {
        "seed": found.applied.seed if found.applied else None,
        "judges": [vars(j) for j in found.judges],
        "works": [vars(w) for w in found.works],
    }
