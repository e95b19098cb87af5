"""账号管理: the admins' accounts page (list in scope, create with an invitation link shown once,
deactivate, reactivate, a new link). The invitee's own page is in ``pages/account.py``. Thin: every
decision is a call into clipjury.accounts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request, Response
from sqlmodel import Session

from api.deps import CurrentUser, SessionDep
from api.params import NO_NUL
from clipjury.accounts import admin, invitations
from clipjury.accounts.models import ROLE_LABELS, Role, User
from clipjury.accounts.service import list_provinces, units_by_id
from clipjury.db import DB_ID_MAX
from clipjury.errors import DomainError, Invalid
from clipjury.numbers import db_id
from review_ui.context import user_context
from review_ui.core.flash import flash
from review_ui.core.forms import form_action, see_other
from review_ui.core.render import render
from review_ui.core.routing import PageRoute
from review_ui.presenters.labels import role_label

router = APIRouter(route_class=PageRoute, include_in_schema=False)

AccountId = Annotated[int, Path(ge=1, le=DB_ID_MAX)]
InviteToken = Annotated[str, Path(min_length=1, max_length=128, pattern=NO_NUL)]
FIELD_MAX = 64
SENT_LABELS = {"sms": "短信", "email": "电子邮件"}


def _choices(session: Session, user: User) -> dict[str, Any]:
    """The create form's choices: the roles the admin may create, and the provinces and units in its scope."""
    provinces, units = admin.placement_choices(session, user)
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
    units: dict[int | None, str] = {i: u.name for i, u in units_by_id(session, unit_ids).items()} if unit_ids else {}
    accounts = [
        {
            "id": r.user.id, "username": r.user.username, "display_name": r.user.display_name,
            "role": role_label(r.user), "province": provinces.get(r.user.province_id, ""),
            "unit": units.get(r.user.unit_id, ""), "state": r.state, "state_label": admin.STATE_LABELS[r.state],
            "invite_expires_at": r.invite_expires_at, "self": r.user.id == user.id,
        }
        for r in rows
    ]
    context: dict[str, Any] = {
        **user_context(user), **_choices(session, user), "accounts": accounts,
        "form": {"username": "", "display_name": "", "role": "", "province": "", "unit_id": "", "send_to_phone": "",
                 "send_to_email": ""},
        "error": "", "link": None,
    }
    context.update(extra)
    return render(request, "accounts/index.html", context, status_code=status_code)


def _link_page(
    request: Request, session: Session, user: User, account: User, token: str, *, created: bool,
    sent: list[str] | None = None,
) -> Response:
    # The link is in this answer only: the page is not cached (no-store) and nothing keeps the token.
    link = {"username": account.username, "url": invitations.invite_url(token, str(request.base_url)),
            "created": created, "sent": [SENT_LABELS[c] for c in sent or []]}
    return _page(request, session, user, link=link)


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
    send_to_phone: Annotated[str, Form(max_length=40)] = "",
    send_to_email: Annotated[str, Form(max_length=254)] = "",
) -> Response:
    admin.require_admin(user)
    form = {"username": username, "display_name": display_name, "role": role, "province": province,
            "unit_id": unit_id, "send_to_phone": send_to_phone, "send_to_email": send_to_email}
    try:
        unit = db_id(unit_id.strip()) if unit_id.strip() else None
        if unit_id.strip() and unit is None:
            raise Invalid("没有这个单位。", code="unknown_unit")
        created, token, channels = invitations.create_and_send(
            session, user, base_url=str(request.base_url), send_to_phone=send_to_phone or None,
            send_to_email=send_to_email or None, username=username, display_name=display_name, role=role,
            province_code=province or None, unit_id=unit,
        )
    except DomainError as exc:
        session.rollback()
        return _page(request, session, user, status_code=exc.status_code, form=form, error=exc.message)
    return _link_page(request, session, user, created, token, created=True, sent=channels)


@router.post("/accounts/{account_id}/invite")
def new_link(account_id: AccountId, request: Request, user: CurrentUser, session: SessionDep) -> Response:
    target = admin.managed_account(session, user, account_id)
    try:
        token = invitations.reissue(session, user, target)
    except DomainError as exc:
        session.rollback()
        flash(request, exc.message, "error")
        return see_other("/accounts")
    return _link_page(request, session, user, target, token, created=False)


@router.post("/accounts/{account_id}/deactivate")
def deactivate(account_id: AccountId, request: Request, user: CurrentUser, session: SessionDep) -> Response:
    target = admin.managed_account(session, user, account_id)
    form_action(
        request, session, lambda: admin.deactivate(session, user, target),
        f"账号 {target.username} 已停用，其所有登录已立即失效。", not_found_is_page=False,
    )
    return see_other("/accounts")


@router.post("/accounts/{account_id}/reactivate")
def reactivate(account_id: AccountId, request: Request, user: CurrentUser, session: SessionDep) -> Response:
    target = admin.managed_account(session, user, account_id)
    admin.reactivate(session, user, target)
    flash(request, f"账号 {target.username} 已重新启用。")
    return see_other("/accounts")
