"""Staff accounts: create with an invitation link, list in scope, deactivate, reactivate, new link; and
the invitee's side, setting a password through the link."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from api.deps import CurrentUser, SessionDep
from api.params import NO_NUL
from api.problems import AUTH_ERRORS, BODY_ERRORS, CHANGE_AUTH_ERRORS, VALIDATION_ERRORS, problem_responses
from clipjury.accounts import admin, invitations, invite_delivery
from clipjury.accounts.models import Role, User
from clipjury.accounts.security import create_access_token
from clipjury.accounts.service import list_provinces
from clipjury.accounts.usernames import UsernameTaken
from clipjury.db import DB_ID_MAX

router = APIRouter(prefix="/api/v1", tags=["accounts"])

AccountId = Annotated[int, Path(ge=1, le=DB_ID_MAX)]
# Longer than any token we issue (43 characters): anything else is answered like an unknown token.
InviteToken = Annotated[str, Path(min_length=1, max_length=128, pattern=NO_NUL)]

PASSWORD_ERRORS = (
    (422, "password_too_short"), (422, "password_too_long"), (422, "password_blank"),
    (422, "password_too_simple"), (422, "password_too_common"), (422, "password_contains_username"),
)


class AccountCreate(BaseModel):
    # Stored in lower case; two names that differ only in case are one name.
    username: str = Field(pattern=r"^\s*[A-Za-z0-9][A-Za-z0-9._-]{2,63}\s*$", max_length=80)
    display_name: str = Field(default="", max_length=64, pattern=NO_NUL)
    role: Role
    province: str | None = Field(default=None, max_length=32, pattern=NO_NUL, description="Province code.")
    unit_id: int | None = Field(default=None, ge=1, le=DB_ID_MAX)
    send_to_phone: str | None = Field(
        default=None, max_length=40, pattern=NO_NUL, description="Also send the link by SMS to this mobile number."
    )
    send_to_email: str | None = Field(
        default=None, max_length=254, pattern=NO_NUL,
        description="Also send the link to this e-mail address (kept as the account's address).",
    )


class AccountCreated(BaseModel):
    id: int
    username: str
    invite_url: str


class InviteLink(BaseModel):
    id: int
    username: str
    invite_url: str


class AccountOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    province: str | None
    unit_id: int | None
    state: str = Field(description="`active`, `invited` (no password set yet) or `inactive`.")
    invite_expires_at: datetime | None
    created_at: datetime


class AccountState(BaseModel):
    id: int
    username: str
    state: str
    changed: bool


class InviteAccept(BaseModel):
    password: str = Field(min_length=1, max_length=1024, json_schema_extra={"format": "password"})


class InviteAccepted(BaseModel):
    id: int
    username: str
    access_token: str
    token_type: str = "bearer"


def _base(request: Request) -> str:
    return str(request.base_url)


ACCOUNT_ERRORS = (*CHANGE_AUTH_ERRORS, *VALIDATION_ERRORS, (403, "forbidden"), (404, "account_not_found"))


@router.post("/accounts", status_code=201, response_model=AccountCreated, responses=problem_responses(
    *BODY_ERRORS, *CHANGE_AUTH_ERRORS, *VALIDATION_ERRORS, (403, "forbidden"), UsernameTaken,
    (422, "unknown_province"), (422, "unknown_unit"),
    (422, "unit_not_allowed"), (422, "unit_not_in_province"), (422, "province_required"), (422, "unit_required"),
    (422, "bad_phone"), invite_delivery.BadEmail, invite_delivery.EmailUnavailable, invite_delivery.DeliveryUnavailable,
))
def create_account(body: AccountCreate, request: Request, user: CurrentUser, session: SessionDep) -> AccountCreated:
    # A 201 with send_to_* means the link is queued for sending (the answer keeps the contract's shape).
    created, token, _channels = invitations.create_and_send(
        session, user, base_url=_base(request), send_to_phone=body.send_to_phone, send_to_email=body.send_to_email,
        username=body.username, display_name=body.display_name, role=body.role,
        province_code=body.province, unit_id=body.unit_id,
    )
    return AccountCreated(id=created.id or 0, username=created.username,
                          invite_url=invitations.invite_url(token, _base(request)))


@router.get("/accounts", response_model=list[AccountOut], responses=problem_responses(
    *AUTH_ERRORS, (403, "forbidden"),
))
def list_accounts(user: CurrentUser, session: SessionDep) -> list[AccountOut]:
    rows = admin.list_accounts(session, user)
    codes = {p.id: p.code for p in list_provinces(session)}
    return [
        AccountOut(
            id=r.user.id or 0, username=r.user.username, display_name=r.user.display_name, role=r.user.role,
            province=codes.get(r.user.province_id) if r.user.province_id else None, unit_id=r.user.unit_id,
            state=r.state, invite_expires_at=r.invite_expires_at,
            created_at=r.user.created_at,
        )
        for r in rows
    ]


@router.post("/accounts/{account_id}/invite", response_model=InviteLink, responses=problem_responses(
    *ACCOUNT_ERRORS, invitations.AccountInactive,
))
def reissue_invite(account_id: AccountId, request: Request, user: CurrentUser, session: SessionDep) -> InviteLink:
    target = admin.managed_account(session, user, account_id)
    token = invitations.reissue(session, user, target)
    return InviteLink(id=target.id or 0, username=target.username,
                      invite_url=invitations.invite_url(token, _base(request)))


def _state(target: User, changed: bool) -> AccountState:
    return AccountState(id=target.id or 0, username=target.username, state=admin.account_state(target),
                        changed=changed)


@router.post("/accounts/{account_id}/deactivate", response_model=AccountState, responses=problem_responses(
    *ACCOUNT_ERRORS, admin.LastNationalAdmin, admin.CannotDeactivateSelf,
))
def deactivate_account(account_id: AccountId, user: CurrentUser, session: SessionDep) -> AccountState:
    target = admin.managed_account(session, user, account_id)
    changed = admin.deactivate(session, user, target)
    return _state(target, changed)


@router.post("/accounts/{account_id}/reactivate", response_model=AccountState, responses=problem_responses(
    *ACCOUNT_ERRORS,
))
def reactivate_account(account_id: AccountId, user: CurrentUser, session: SessionDep) -> AccountState:
    target = admin.managed_account(session, user, account_id)
    changed = admin.reactivate(session, user, target)
    return _state(target, changed)


@router.post("/invites/{token}", response_model=InviteAccepted, responses=problem_responses(
    *BODY_ERRORS, *VALIDATION_ERRORS, invitations.InviteNotFound, invitations.InviteUsed,
    invitations.InviteExpired, invitations.InviteReplaced, *PASSWORD_ERRORS,
))
def accept_invite(token: InviteToken, body: InviteAccept, session: SessionDep) -> InviteAccepted:
    """Set the password of an invited account through its link (no sign-in needed: the link is the
    credential). Answers an API token for the account."""
    user = invitations.accept(session, token, body.password)
    return InviteAccepted(id=user.id or 0, username=user.username,
                          access_token=create_access_token(user.id or 0, user.session_generation))
