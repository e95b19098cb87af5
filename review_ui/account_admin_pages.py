"""Account administration pages: the admins' accounts page (list in scope, create with an invitation
link shown once, deactivate, reactivate, a new link) and the invitee's page at ``/invite/{token}``,
where a password is set without signing in. Thin: every decision is a call into clipjury.accounts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request, Response
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from api.deps import CurrentUser, SessionDep
from api.params import NO_NUL
from clipjury.accounts import admin, invitations
from clipjury.accounts.models import ROLE_LABELS, Role, User
from clipjury.accounts.passwords import PASSWORD_MIN_CHARS, WeakPassword
from clipjury.accounts.service import list_provinces, units_by_id
from clipjury.accounts.sessions import SESSION_TOKEN_KEY, SESSION_USER_KEY, start_session
from clipjury.db import DB_ID_MAX
from clipjury.errors import DomainError, Invalid
from clipjury.numbers import db_id
from review_ui import presenters
from review_ui.pages import user_context
from review_ui.web import PageRoute, csrf_token, flash, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

AccountId = Annotated[int, Path(ge=1, le=DB_ID_MAX)]
InviteToken = Annotated[str, Path(min_length=1, max_length=128, pattern=NO_NUL)]
FIELD_MAX = 64


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _choices(session: Session, user: User) -> dict[str, Any]:
    """The create form's choices: the roles the admin may create, and the provinces and units in its scope."""
    provinces, units = invitations.scope_choices(session, user)
    names = {p.id: p.name for p in provinces}
    return {
        "roles": [(r.value, ROLE_LABELS[r]) for r in invitations.creatable_roles(user)],
        "provinces": provinces,
        "units": [(u.id, f"{names.get(u.province_id, '')} · {u.name}") for u in units],
        "national": Role(user.role) == Role.national_admin,
    }


def _page(
    request: Request, session: Session, user: User, *, status_code: int = 200, **extra: Any
) -> Response:
    rows = admin.list_accounts(session, user)
    provinces = {p.id: p.name for p in list_provinces(session)}
    unit_ids = {r.user.unit_id for r in rows if r.user.unit_id is not None}
    units = {uid: u.name for uid, u in units_by_id(session, unit_ids).items()} if unit_ids else {}
    accounts = [
        {
            "id": r.user.id, "username": r.user.username, "display_name": r.user.display_name,
            "role": presenters.role_label(r.user), "province": provinces.get(r.user.province_id, ""),
            "unit": units.get(r.user.unit_id or 0, ""), "state": r.state, "state_label": admin.STATE_LABELS[r.state],
            "invite_expires_at": r.invite_expires_at, "self": r.user.id == user.id,
        }
        for r in rows
    ]
    context: dict[str, Any] = {
        **user_context(user), **_choices(session, user), "accounts": accounts,
        "form": {"username": "", "display_name": "", "role": "", "province": "", "unit_id": ""},
        "error": "", "link": None,
    }
    context.update(extra)
    return render(request, "accounts/accounts.html", context, status_code=status_code)


@router.get("/accounts")
def accounts_page(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    admin.require_admin(user)
    return _page(request, session, user)


@router.post("/accounts")
def create_account(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    username: Annotated[str, Form(max_length=FIELD_MAX)] = "",
    display_name: Annotated[str, Form(max_length=FIELD_MAX)] = "",
    role: Annotated[str, Form(max_length=32)] = "",
    province: Annotated[str, Form(max_length=32)] = "",
    unit_id: Annotated[str, Form(max_length=24)] = "",
) -> Response:
    admin.require_admin(user)
    form = {"username": username, "display_name": display_name, "role": role, "province": province,
            "unit_id": unit_id}
    try:
        unit = db_id(unit_id.strip()) if unit_id.strip() else None
        if unit_id.strip() and unit is None:
            raise Invalid("没有这个单位。", code="unknown_unit")
        created, token = invitations.create_account(
            session, user, username=username, display_name=display_name, role=role,
            province_code=province or None, unit_id=unit,
        )
    except DomainError as exc:
        session.rollback()
        return _page(request, session, user, status_code=exc.status_code, form=form, error=exc.message)
    link = {"username": created.username, "url": invitations.invite_url(token, str(request.base_url)),
            "created": True}
    # The link is in this answer only: the page is not cached (no-store) and nothing keeps the token.
    return _page(request, session, user, link=link)


@router.post("/accounts/{account_id}/invite")
def new_link(account_id: AccountId, request: Request, user: CurrentUser, session: SessionDep) -> Response:
    target = admin.managed_account(session, user, account_id)
    try:
        token = invitations.reissue(session, user, target)
    except DomainError as exc:
        session.rollback()
        flash(request, exc.message, "error")
        return _see_other("/accounts")
    link = {"username": target.username, "url": invitations.invite_url(token, str(request.base_url)),
            "created": False}
    return _page(request, session, user, link=link)


@router.post("/accounts/{account_id}/deactivate")
def deactivate(account_id: AccountId, request: Request, user: CurrentUser, session: SessionDep) -> Response:
    target = admin.managed_account(session, user, account_id)
    try:
        admin.deactivate(session, user, target)
    except DomainError as exc:
        session.rollback()
        flash(request, exc.message, "error")
    else:
        flash(request, f"账号 {target.username} 已停用，其所有登录已立即失效。")
    return _see_other("/accounts")


@router.post("/accounts/{account_id}/reactivate")
def reactivate(account_id: AccountId, request: Request, user: CurrentUser, session: SessionDep) -> Response:
    target = admin.managed_account(session, user, account_id)
    admin.reactivate(session, user, target)
    flash(request, f"账号 {target.username} 已重新启用。")
    return _see_other("/accounts")


# -- the invitee ------------------------------------------------------------------------------------

@router.get("/invite/{token}")
def invite_page(token: InviteToken, request: Request, session: SessionDep) -> Response:
    _invitation, invitee = invitations.invitation_for(session, token)
    return render(request, "accounts/invite.html", {
        "token": token, "invitee": invitee, "invitee_role": presenters.role_label(invitee), "error": "",
        "min_chars": PASSWORD_MIN_CHARS,
    })


@router.post("/invite/{token}")
def accept_invite(
    token: InviteToken,
    request: Request,
    session: SessionDep,
    password: Annotated[str, Form(max_length=1024)] = "",
    password_again: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    _invitation, invitee = invitations.invitation_for(session, token)
    error = ""
    if password != password_again:
        error = "两次输入的密码不一致。"
    else:
        try:
            invitee = invitations.accept(session, token, password)
        except WeakPassword as exc:
            error = exc.message
    if error:
        return render(request, "accounts/invite.html", {
            "token": token, "invitee": invitee, "invitee_role": presenters.role_label(invitee), "error": error,
            "min_chars": PASSWORD_MIN_CHARS,
        }, status_code=422)
    # Signed in as the invitee, in a fresh session: whoever was signed in in this browser is not any more.
    request.session.clear()
    request.session[SESSION_USER_KEY] = invitee.id
    request.session[SESSION_TOKEN_KEY] = start_session(session, invitee)
    csrf_token(request)
    flash(request, "密码已设置，欢迎使用。")
    return _see_other(presenters.home_for(invitee))
