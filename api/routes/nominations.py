"""附件2 nominations of grassroots secrecy offices (基层保密办) for the 下基层 activity: a city's coordinator writes
them, provinces and the national office read them. Thin: parse, call clipjury.awards.nominations, render."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from api.deps import CurrentUser, SessionDep
from api.params import NO_NUL
from api.problems import BODY_ERRORS, CHANGE_AUTH_ERRORS, VALIDATION_ERRORS, ErrorDoc, problem_responses
from clipjury.awards import nominations
from clipjury.campaigns.service import NoActiveCampaign, active_campaign

router = APIRouter(prefix="/api/v1/nominations", tags=["awards"])

_ROLE: tuple[ErrorDoc, ...] = ((403, "forbidden_role"), NoActiveCampaign)
_READ_ERRORS: tuple[ErrorDoc, ...] = (*CHANGE_AUTH_ERRORS, *_ROLE)
_CHANGE_ERRORS: tuple[ErrorDoc, ...] = (
    *BODY_ERRORS, *CHANGE_AUTH_ERRORS, *VALIDATION_ERRORS, *_ROLE, nominations.NominationClosed,
    (422, "office_required"), (422, "write_up_required"), (422, "too_long"),
)
NominationId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class NominationIn(BaseModel):
    office: str = Field(max_length=2000, pattern=NO_NUL, description="The grassroots secrecy office's name (≤ 100).")
    write_up: str = Field(max_length=20000, pattern=NO_NUL, description="推荐材料, at most 1,500 characters.")


class NominationOut(BaseModel):
    id: int
    province: str
    unit: str = Field(description="The nominating city.")
    unit_id: int
    office: str
    write_up: str
    created_at: datetime
    updated_at: datetime
    mine: bool = Field(description="The caller's city made it (may edit or withdraw it while open).")


class ListingOut(BaseModel):
    nominations: list[NominationOut]
    missing_cities: list[str] = Field(description="Cities of the caller's scope without a nomination yet.")
    open_until: str = Field(description="The activity report's due time (Beijing): edits close then.")
    is_open: bool


def _one(session: SessionDep, user: CurrentUser, made_id: int) -> NominationOut:
    listing = nominations.listing(session, user, active_campaign(session))
    return NominationOut(**vars(next(n for n in listing.nominations if n.id == made_id)))


@router.get("", response_model=ListingOut, responses=problem_responses(*_READ_ERRORS, *VALIDATION_ERRORS))
def list_nominations(user: CurrentUser, session: SessionDep,
                     province: Annotated[str | None, Query(max_length=32, pattern=NO_NUL)] = None) -> ListingOut:
    """The nominations the caller may read (a city coordinator: their city's; a provincial admin: the
    province's; the national admin: all, or `province=CODE`), with the cities that have none yet."""
    found = nominations.listing(session, user, active_campaign(session), province)
    return ListingOut(nominations=[NominationOut(**vars(n)) for n in found.nominations],
                      missing_cities=found.missing_cities, open_until=found.open_until, is_open=found.is_open)


@router.post("", status_code=201, response_model=NominationOut, responses=problem_responses(*_CHANGE_ERRORS))
def create_nomination(body: NominationIn, user: CurrentUser, session: SessionDep) -> NominationOut:
    """A city's coordinator nominates a grassroots secrecy office (403 for anyone else, 409
    `nominations_closed` after the report's due time, 422 `too_long` beyond 1,500 characters)."""
    made = nominations.create(session, user, active_campaign(session), body.office, body.write_up)
    return _one(session, user, made.id or 0)


@router.put("/{nomination_id}", response_model=NominationOut, responses=problem_responses(
    *_CHANGE_ERRORS, nominations.NominationNotFound,
))
def update_nomination(nomination_id: NominationId, body: NominationIn, user: CurrentUser,
                      session: SessionDep) -> NominationOut:
    """Edit one of the caller's city's nominations while open."""
    found = nominations.update(session, user, active_campaign(session), nomination_id, body.office, body.write_up)
    return _one(session, user, found.id or 0)


@router.delete("/{nomination_id}", status_code=204, response_class=Response, responses=problem_responses(
    *CHANGE_AUTH_ERRORS, *_ROLE, nominations.NominationClosed, nominations.NominationNotFound, *VALIDATION_ERRORS,
))
def delete_nomination(nomination_id: NominationId, user: CurrentUser, session: SessionDep) -> Response:
    """Withdraw one of the caller's city's nominations while open."""
    nominations.delete(session, user, active_campaign(session), nomination_id)
    return Response(status_code=204)
