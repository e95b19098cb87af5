"""评奖结果, the national office's page (issue 16): compute, every version with its breakdown and what moved
since the one it was made from, adjust a level with a reason, publish, download the certificates and the
exports. Thin: every decision is a call into clipjury.awards.service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response

from api.deps import CurrentUser, SessionDep
from clipjury.accounts.provinces import list_provinces
from clipjury.awards import organising
from clipjury.awards import service as awards
from clipjury.campaigns.service import active_campaign
from clipjury.timeutil import fmt_local
from review_ui.context import user_context
from review_ui.core.forms import ReasonField, form_action, see_other
from review_ui.core.render import render
from review_ui.core.routing import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE = "/awards"
VERSION_MAX = 2**31 - 1
CAUSES = {"computed": "计算", "adjusted": "调整等级", "disqualified": "取消资格后重排",
          "reinstated": "撤销取消资格后重排"}
USES = {"kept": "计入", "clamped": "截尾计入", "dropped_high": "去掉最高分", "dropped_low": "去掉最低分"}


@router.get(PAGE)
def awards_page(request: Request, user: CurrentUser, session: SessionDep,
                version: Annotated[int | None, Query(ge=1, le=VERSION_MAX)] = None) -> Response:
    campaign = active_campaign(session)
    now = awards.state(session, user, campaign)
    view = moves = None
    if now.latest is not None:
        view = awards.version_view(session, user, campaign, version)
        if view["based_on"]:
            moves = awards.diff_view(session, user, campaign, view["version"], view["based_on"])["moves"]
    ids = sorted({r["work_id"] for r in view["rows"]} | {r["work_id"] for r in view["removed"]}) if view else []
    return render(request, "awards/index.html", {
        **user_context(user), "campaign_name": campaign.name, "state": now, "view": view, "moves": moves,
        "labels": awards.work_labels(session, ids), "versions": awards.versions_list(session, user, campaign),
        "breakdown": {b["work_id"]: b for b in view["breakdown"]} if view else {},
        "levels": [lv["name"] for lv in view["award_levels"]] if view else [], "causes": CAUSES, "uses": USES,
        "fmt": fmt_local, "is_latest": view is not None and view["version"] == now.latest,
        # Stored as UTC ISO strings in the version's body; shown in Beijing time.
        "local_times": {a["when"]: fmt_local(datetime.fromisoformat(a["when"]))
                        for a in (view["adjustments"] if view else [])},
    })


@router.post(PAGE + "/compute")
def compute_form(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    awards.require_national(user, "计算奖项")
    def run() -> str:
        stored = awards.compute_and_store(session, user, active_campaign(session))
        return f"已计算奖项：第 {stored.number} 版，共 {len(stored.body['rows'])} 件作品。"

    form_action(request, session, run, not_found_is_page=False)
    return see_other(PAGE)


@router.post(PAGE + "/adjust")
def adjust_form(request: Request, user: CurrentUser, session: SessionDep,
                work_id: Annotated[int, Form(ge=1, le=VERSION_MAX)] = 1,
                level: Annotated[str, Form(max_length=64)] = "",
                expected_version: Annotated[int, Form(ge=1, le=VERSION_MAX)] = 1,
                reason: ReasonField = "") -> Response:
    awards.require_national(user, "调整获奖等级")

    def run() -> str:
        stored = awards.adjust(session, user, active_campaign(session), work_id, level or None, reason,
                               expected_version=expected_version)
        return f"已调整作品 {work_id} 的获奖等级（第 {stored.number} 版）。"

    form_action(request, session, run, not_found_is_page=False)
    return see_other(PAGE)


@router.post(PAGE + "/publish")
def publish_form(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    awards.require_national(user, "发布评奖结果")
    def run() -> str:
        made, count = awards.publish(session, user, active_campaign(session))
        return f"已发布第 {made.version_number} 版评奖结果，{count} 件获奖作品已生成获奖证书。"

    form_action(request, session, run, not_found_is_page=False)
    return see_other(PAGE)


# -- 优秀组织奖 ------------------------------------------------------------------------------------------

ORGANISING = PAGE + "/organising"


@router.get(ORGANISING)
def organising_page(request: Request, user: CurrentUser, session: SessionDep,
                    province: Annotated[str, Query(max_length=32)] = "") -> Response:
    campaign = active_campaign(session)
    scope: organising.Scope = "province" if province else "national"
    found = organising.group(session, user, campaign, scope, province or None)
    return render(request, "awards/organising.html", {
        **user_context(user), "campaign_name": campaign.name, "group": found, "fmt": fmt_local,
        "provinces": list_provinces(session), "province": province,
    })


@router.post(ORGANISING + "/decide")
def organising_decide(request: Request, user: CurrentUser, session: SessionDep,
                      organisation_id: Annotated[int, Form(ge=1, le=VERSION_MAX)] = 1,
                      province: Annotated[str, Form(max_length=32)] = "",
                      awarded: Annotated[str, Form(max_length=8)] = "",
                      reason: ReasonField = "") -> Response:
    awards.require_national(user, "决定优秀组织奖")
    scope: organising.Scope = "province" if province else "national"

    def run() -> str:
        organising.decide(session, user, active_campaign(session), scope, organisation_id, awarded == "yes", reason,
                          province or None)
        return "已记录优秀组织奖决定。"

    form_action(request, session, run, not_found_is_page=False)
    return see_other(ORGANISING + (f"?province={province}" if province else ""))
