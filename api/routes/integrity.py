"""Integrity aids for staff: works similar to one (``/similar``) and what OCR read in it (``/screening``).
Hints with evidence, never verdicts; the rules are in ``clipjury.integrity.service``."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import CurrentUser, SessionDep, WorkId
from api.problems import AUTH_ERRORS, VALIDATION_ERRORS, problem_responses
from clipjury.integrity import service
from clipjury.works.policy import WorkNotFound

router = APIRouter(prefix="/api/v1/works", tags=["integrity"])

_ERRORS = problem_responses(*AUTH_ERRORS, *VALIDATION_ERRORS, (403, "forbidden"), WorkNotFound)


class SimilarOut(BaseModel):
    work_id: int | None = Field(description="null when the other work is outside the caller's scope")
    province: str = Field(description="the other work's province or central department")
    score: float = Field(ge=0, le=1)
    kind: Literal["video", "audio", "both"]
    matched_seconds: float = Field(ge=0, description="how many seconds of the two works match")
    first: bool = Field(description="whether the other work was submitted earlier")


class Pending(BaseModel):
    status: Literal["pending"] = "pending"


class OpeningLineOut(BaseModel):
    found: bool
    text: str = Field(description="what was read (the closest reading when not found)")
    at_s: float | None


class MarkingOut(BaseModel):
    text: str
    at_s: float


class ScreeningOut(BaseModel):
    status: Literal["pending", "done", "off", "failed"]
    opening_line: OpeningLineOut
    markings: list[MarkingOut]


@router.get(
    "/{work_id}/similar", response_model=list[SimilarOut],
    responses={**_ERRORS, 202: {"model": Pending, "description": "the work's fingerprint is not made yet"}},
)
def similar_works(work_id: WorkId, user: CurrentUser, session: SessionDep) -> list[SimilarOut] | JSONResponse:
    """Works similar to this one (picture, sound or both), best first; empty when none is (or the checks
    are off for the campaign); 202 while the fingerprint is pending."""
    answer = service.similar_for(session, user, work_id)
    if answer.status == "pending":
        return JSONResponse(Pending().model_dump(), status_code=202)
    return [
        SimilarOut(work_id=item.work_id, province=item.province, score=item.score, kind=item.kind,  # type: ignore[arg-type]  # the service only makes these three kinds
                   matched_seconds=item.matched_seconds, first=item.first)
        for item in answer.items
    ]


@router.get("/{work_id}/screening", response_model=ScreeningOut, responses=_ERRORS)
def screening(work_id: WorkId, user: CurrentUser, session: SessionDep) -> ScreeningOut:
    """What OCR read: the opening line (found or not, at which second) and classification markings."""
    answer = service.screening_for(session, user, work_id)
    return ScreeningOut(
        status=answer.status,  # type: ignore[arg-type]  # one of the four states
        opening_line=OpeningLineOut(found=answer.opening_found, text=answer.opening_text, at_s=answer.opening_at_s),
        markings=[MarkingOut(text=m.text, at_s=m.at_s) for m in answer.markings],
    )
