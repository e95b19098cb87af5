"""基层推荐 (附件2): a city's coordinator nominates grassroots secrecy offices for the 下基层 activity; provincial
admins and the national office read them, with the cities that have not nominated yet. Thin: every rule is
clipjury.awards.nominations'."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response

from api.deps import CurrentUser, SessionDep
from clipjury.accounts.models import Role
from clipjury.accounts.policy import require_role
from clipjury.accounts.provinces import list_provinces
from clipjury.awards import nominations
from clipjury.campaigns.service import active_campaign
from clipjury.timeutil import fmt_local
from review_ui.context import user_context
from review_ui.core.forms import form_action, see_other
from review_ui.core.render import render
from review_ui.core.routing import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE = "/nominations"
ID_MAX = 2**31 - 1
_Office = Annotated[str, Form(max_length=2000)]
_WriteUp = Annotated[str, Form(max_length=20000)]


def _writer(user: CurrentUser) -> None:
    require_role(user, (Role.unit_coordinator,), "推荐基层保密办")


@router.get(PAGE)
def nominations_page(request: Request, user: CurrentUser, session: SessionDep,
                     province: Annotated[str, Query(max_length=32)] = "",
                     edit: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None) -> Response:
    campaign = active_campaign(session)
    found = nominations.listing(session, user, campaign, province or None)
    editing = next((n for n in found.nominations if n.id == edit and n.mine), None)
    return render(request, "nominations/index.html", {
        **user_context(user), "campaign_name": campaign.name, "listing": found, "fmt": fmt_local,
        "writes": Role(user.role) == Role.unit_coordinator, "editing": editing,
        "provinces": list_provinces(session) if Role(user.role) == Role.national_admin else [],
        "province": province, "office_max": nominations.OFFICE_MAX, "write_up_max": nominations.WRITE_UP_MAX,
    })


@router.post(PAGE)
def create_form(request: Request, user: CurrentUser, session: SessionDep, office: _Office = "",
                write_up: _WriteUp = "") -> Response:
    _writer(user)
    form_action(request, session, lambda: nominations.create(session, user, active_campaign(session), office,
                                                             write_up), "已提交推荐。", not_found_is_page=False)
    return see_other(PAGE)


@router.post(PAGE + "/{nomination_id}")
def update_form(request: Request, nomination_id: int, user: CurrentUser, session: SessionDep,
                office: _Office = "", write_up: _WriteUp = "") -> Response:
    _writer(user)
    form_action(request, session, lambda: nominations.update(session, user, active_campaign(session),
                                                             nomination_id, office, write_up),
                "已保存修改。", not_found_is_page=False)
    return see_other(PAGE)


@router.post(PAGE + "/{nomination_id}/delete")
def delete_form(request: Request, nomination_id: int, user: CurrentUser, session: SessionDep) -> Response:
    _writer(user)
    form_action(request, session, lambda: nominations.delete(session, user, active_campaign(session), nomination_id),
                "已撤回推荐。", not_found_is_page=False)
    return see_other(PAGE)
