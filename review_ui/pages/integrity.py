"""相似作品 (national office): every similar pair across provinces, "not a duplicate" with a reason, and
the campaign's switches for the fingerprint and screening jobs. Thin: clipjury.integrity.service decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from api.deps import CurrentUser, SessionDep
from clipjury.accounts.models import Role
from clipjury.accounts.policy import require_role
from clipjury.campaigns.service import active_campaign
from clipjury.integrity import service
from clipjury.timeutil import fmt_local
from review_ui.context import user_context
from review_ui.core.forms import ReasonField, form_action, see_other
from review_ui.core.pager import page_number, pager
from review_ui.core.render import render
from review_ui.core.routing import PageRoute
from review_ui.presenters.format import format_duration

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE = "/review/integrity"
NATIONAL = (Role.national_admin,)
PAGE_SIZE = 50


@router.get(PAGE)
def integrity_page(
    request: Request, user: CurrentUser, session: SessionDep, status: str = "open", page: str = "1",
) -> Response:
    require_role(user, NATIONAL, "查看相似作品")
    params = {"status": status if status != "open" else ""}
    paging = pager(service.pairs_count(session, user, status=status), page_number(page), PAGE_SIZE, PAGE, params)
    rows = service.pairs_list(session, user, status=status, offset=paging.offset, limit=PAGE_SIZE)
    campaign = active_campaign(session)
    return render(request, "national/integrity.html", {
        **user_context(user, session),
        "rows": rows,
        "pager": paging,
        "status": status,
        "campaign_name": campaign.name,
        "switches": service.switches_of(session, campaign.id or 0),
        "fmt": fmt_local,
        "duration": lambda s: format_duration(s, 1.0),
    })


@router.post(PAGE + "/{pair_id}/dismiss")
def dismiss(
    request: Request, pair_id: int, user: CurrentUser, session: SessionDep, reason: ReasonField = "",
) -> Response:
    require_role(user, NATIONAL, "处理相似作品")
    form_action(request, session, lambda: service.dismiss_pair(session, user, pair_id, reason),
                "已标记为“不是重复”，这组作品不会再被提示。", not_found_is_page=False)
    return see_other(PAGE)


@router.post(PAGE + "/switches")
def switches(
    request: Request, user: CurrentUser, session: SessionDep,
    fingerprints: Annotated[str, Form(max_length=8)] = "",
    screening: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    require_role(user, NATIONAL, "设置核查开关")
    campaign = active_campaign(session)
    form_action(request, session, lambda: service.set_switches(
        session, user, campaign.id or 0, fingerprints=fingerprints == "on", screening=screening == "on",
    ), "已保存核查开关：新上传的作品按新设置处理（已有作品可用 clipjury integrity-backfill 补算）。")
    return see_other(PAGE)
