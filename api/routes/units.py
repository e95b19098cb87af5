"""Units (provincial admins), organisations (the national office) and unit membership (coordinators).
Thin: every rule is in clipjury.units."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from api.deps import CurrentUser, SessionDep
from api.problems import AUTH_ERRORS, BODY_ERRORS, CHANGE_AUTH_ERRORS, VALIDATION_ERRORS, problem_responses
from clipjury.db import DB_ID_MAX
from clipjury.units import membership, service

router = APIRouter(prefix="/api/v1", tags=["units"])
UnitId = Annotated[int, Path(ge=1, le=DB_ID_MAX)]
UNIT_WRITE_ERRORS = (
    *BODY_ERRORS, *CHANGE_AUTH_ERRORS, *VALIDATION_ERRORS, (403, "forbidden_role"), (409, "unit_exists"),
    (422, "unit_name_required"), (422, "unit_name_too_long"), (422, "unknown_unit_kind"), (422, "bad_quota"),
    (422, "bad_sort_order"), (422, "no_active_campaign"),
)


class UnitOut(BaseModel):
    id: int
    province: str = Field(description="The organisation's code.")
    name: str
    kind: str
    quota: int = Field(description="The effective minimum number of works for the current campaign.")


class UnitCreate(BaseModel):
    name: str = Field(max_length=1000)
    kind: str = Field(max_length=64)
    quota: int | None = Field(default=None, description="None: the kind's minimum from the campaign's settings.")
    sort_order: int | None = None


class UnitPatch(BaseModel):
    name: str | None = Field(default=None, max_length=1000)
    kind: str | None = Field(default=None, max_length=64)
    quota: int | None = Field(default=None, description="Send null to return to the kind's minimum.")
    sort_order: int | None = None
    archived: bool | None = Field(default=None, description="true retires the unit (it keeps its works).")


def _out(v: service.UnitView) -> UnitOut:
    return UnitOut(id=v.id, province=v.province, name=v.name, kind=v.kind, quota=v.quota)


@router.get("/units", response_model=list[UnitOut], responses=problem_responses(*AUTH_ERRORS, (403, "forbidden_role")))
def list_units(user: CurrentUser, session: SessionDep) -> list[UnitOut]:
    return [_out(v) for v in service.list_units(session, user)]


@router.post("/units", status_code=201, response_model=UnitOut, responses=problem_responses(*UNIT_WRITE_ERRORS))
def create_unit(body: UnitCreate, user: CurrentUser, session: SessionDep) -> UnitOut:
    unit = service.create_unit(session, user, name=body.name, kind=body.kind, quota=body.quota,
                               sort_order=body.sort_order)
    return _out(service.view_of(session, user, unit))


@router.patch("/units/{unit_id}", response_model=UnitOut, responses=problem_responses(
    *UNIT_WRITE_ERRORS, (404, "unit_not_found"),
))
def update_unit(unit_id: UnitId, body: UnitPatch, user: CurrentUser, session: SessionDep) -> UnitOut:
    changes = body.model_dump(exclude_unset=True)
    unit = service.update_unit(session, user, unit_id, **changes)
    return _out(service.view_of(session, user, unit))


@router.delete("/units/{unit_id}", status_code=204, responses=problem_responses(
    *CHANGE_AUTH_ERRORS, *VALIDATION_ERRORS, (403, "forbidden_role"), (404, "unit_not_found"), (409, "unit_has_works"),
))
def delete_unit(unit_id: UnitId, user: CurrentUser, session: SessionDep) -> Response:
    service.delete_unit(session, user, unit_id)
    return Response(status_code=204)


# -- membership ---------------------------------------------------------------------------------------

class MemberOut(BaseModel):
    user_id: int
    username: str
    display_name: str
    phone: str = Field(default="", description="The registered number, masked (`138****8000`); empty if none.")
    status: str = Field(description="pending, approved or rejected")


class MembersOut(BaseModel):
    unit_id: int
    join_code: str | None
    members: list[MemberOut]


class MemberDecision(BaseModel):
    user_id: int = Field(ge=1, le=DB_ID_MAX)


class JoinCodeOut(BaseModel):
    join_code: str


MEMBER_ERRORS = (*AUTH_ERRORS, (403, "forbidden_role"), (404, "unit_not_found"))


@router.get("/units/{unit_id}/members", response_model=MembersOut, responses=problem_responses(
    *MEMBER_ERRORS, *VALIDATION_ERRORS,
))
def list_members(unit_id: UnitId, user: CurrentUser, session: SessionDep) -> MembersOut:
    unit, views = membership.members(session, user, unit_id)
    return MembersOut(unit_id=unit.id or 0, join_code=unit.join_code, members=[
        MemberOut(user_id=v.user_id, username=v.username, display_name=v.display_name, status=v.status,
                  phone=v.phone)
        for v in views
    ])


@router.post("/units/{unit_id}/members/approve", response_model=MemberOut, responses=problem_responses(
    *MEMBER_ERRORS, *BODY_ERRORS, *CHANGE_AUTH_ERRORS, *VALIDATION_ERRORS, (409, "not_pending"),
    (409, "already_member"),
))
def approve_member(unit_id: UnitId, body: MemberDecision, user: CurrentUser, session: SessionDep) -> MemberOut:
    return _member(session, user, unit_id, membership.approve(session, user, unit_id, body.user_id).user_id)


@router.post("/units/{unit_id}/members/reject", response_model=MemberOut, responses=problem_responses(
    *MEMBER_ERRORS, *BODY_ERRORS, *CHANGE_AUTH_ERRORS, *VALIDATION_ERRORS, (409, "not_pending"),
))
def reject_member(unit_id: UnitId, body: MemberDecision, user: CurrentUser, session: SessionDep) -> MemberOut:
    return _member(session, user, unit_id, membership.reject(session, user, unit_id, body.user_id).user_id)


def _member(session: SessionDep, user: CurrentUser, unit_id: int, member_id: int) -> MemberOut:
    _, views = membership.members(session, user, unit_id)
    v = next(v for v in views if v.user_id == member_id)
    return MemberOut(user_id=v.user_id, username=v.username, display_name=v.display_name, status=v.status,
                  phone=v.phone)


@router.post("/units/{unit_id}/join-code", response_model=JoinCodeOut, responses=problem_responses(
    *MEMBER_ERRORS, *CHANGE_AUTH_ERRORS, *VALIDATION_ERRORS, (409, "unit_archived"),
))
def rotate_join_code(unit_id: UnitId, user: CurrentUser, session: SessionDep) -> JoinCodeOut:
    return JoinCodeOut(join_code=membership.rotate_code(session, user, unit_id))


# -- organisations ------------------------------------------------------------------------------------

class OrgOut(BaseModel):
    code: str
    name: str
    kind: str = Field(description="province or department")
    sort_order: int
    minimum: int | None = Field(description="The minimum number of works for the current campaign (null: not set).")


class OrgCreate(BaseModel):
    code: str = Field(max_length=64)
    name: str = Field(max_length=1000)
    kind: str = Field(default="province", max_length=32)
    sort_order: int | None = None
    minimum: int | None = None


class OrgPatch(BaseModel):
    code: str = Field(max_length=64, description="Which organisation to change.")
    name: str | None = Field(default=None, max_length=1000)
    sort_order: int | None = None
    minimum: int | None = Field(default=None, description="Send null to clear it.")


ORG_ERRORS = (
    *BODY_ERRORS, *CHANGE_AUTH_ERRORS, *VALIDATION_ERRORS, (403, "forbidden_role"), (409, "org_exists"),
    (422, "bad_org_code"),
    (422, "org_name_required"), (422, "org_name_too_long"), (422, "unknown_org_kind"), (422, "bad_quota"),
    (422, "bad_sort_order"), (422, "no_active_campaign"),
)


def _orgs(session: SessionDep, user: CurrentUser) -> list[OrgOut]:
    return [OrgOut(code=o.code, name=o.name, kind=o.kind, sort_order=o.sort_order, minimum=o.minimum)
            for o in service.list_orgs(session, user)]


@router.get("/organisations", response_model=list[OrgOut], responses=problem_responses(
    *AUTH_ERRORS, (403, "forbidden_role"),
))
def list_orgs(user: CurrentUser, session: SessionDep) -> list[OrgOut]:
    return _orgs(session, user)


@router.post("/organisations", status_code=201, response_model=OrgOut, responses=problem_responses(*ORG_ERRORS))
def create_org(body: OrgCreate, user: CurrentUser, session: SessionDep) -> OrgOut:
    org = service.create_org(session, user, code=body.code, name=body.name, kind=body.kind,
                             sort_order=body.sort_order, minimum=body.minimum)
    return next(o for o in _orgs(session, user) if o.code == org.code)


@router.patch("/organisations", response_model=OrgOut, responses=problem_responses(
    *ORG_ERRORS, (422, "unknown_organisation"),
))
def update_org(body: OrgPatch, user: CurrentUser, session: SessionDep) -> OrgOut:
    changes = body.model_dump(exclude_unset=True, exclude={"code"})
    org = service.update_org(session, user, body.code, **changes)
    return next(o for o in _orgs(session, user) if o.code == org.code)
