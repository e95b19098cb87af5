"""全国复评: the national re-review (national admin): the forwarded works of every province, a
recommendation or not for each, undo, and publishing the results. Thin: every decision is a call into
clipjury.reviews."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response

from api.deps import CurrentUser, SessionDep
from clipjury import decisions
from clipjury.accounts.models import Role
from clipjury.accounts.policy import require_role
from clipjury.campaigns.service import active_campaign
from clipjury.errors import Conflict, Invalid
from clipjury.reviews import service
from clipjury.showcase import publishing
from clipjury.timeutil import fmt_local
from clipjury.works.models import (
    NATIONAL_DECISION_STATUSES,
    WORK_STATUS_LABELS,
)
from review_ui.context import user_context
from review_ui.core.forms import ExpectedRevField, ReasonField, form_action, see_other
from review_ui.core.pager import pager
from review_ui.core.render import render
from review_ui.core.routing import PageRoute, safe_next
from review_ui.presenters.reviews import work_lines

router = APIRouter(route_class=PageRoute, include_in_schema=False)

NATIONAL_PAGE_SIZE = 50
# The national page's status filter: the forwarded works and what became of them.
NATIONAL_STATUSES = ["forwarded", "recommended", "not_recommended", "disqualified"]


# -- national re-review (national admin) -------------------------------------------------------------

@router.get("/review/national")
def national_page(
    request: Request, user: CurrentUser, session: SessionDep,
    province: Annotated[str, Query(max_length=32)] = "",
    status: Annotated[str, Query(max_length=32)] = "",
    q: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> Response:
    require_role(user, (Role.national_admin,), "进行全国复评")
    campaign = active_campaign(session)
    if status and status not in NATIONAL_STATUSES:
        status = ""
    flt = service.QueueFilter(status=status or None, province_code=province or None, q=q.strip() or None)
    query = service.review_queue_query(session, user, campaign, flt)
    query = query.where(service.forwarded_scope())
    filters = {"province": province, "status": status, "q": q.strip()}
    paging = pager(service.count_rows(session, query), page, NATIONAL_PAGE_SIZE, "/review/national", filters)
    works = service.page_of(session, service.ranked(query), offset=paging.offset, limit=NATIONAL_PAGE_SIZE)
    counts = service.national_counts(session, campaign)
    return render(request, "national/index.html", {
        **user_context(user),
        "works": work_lines(session, works, user, campaign, reasons=True),
        # The 公开展示 column: the showcase entry of each work listed (clipjury.showcase.publishing).
        "showcase": publishing.states(session, [w.id or 0 for w in works]),
        "counts": counts,
        "totals": service.ProvinceCount("合计", "", *(sum(getattr(c, f) for c in counts) for f in (
            "total", "forwarded", "recommended", "not_recommended", "disqualified"))),
        "provinces": service.all_provinces(session),
        "statuses": [(s, WORK_STATUS_LABELS[s]) for s in NATIONAL_STATUSES],
        "filters": filters,
        "total": paging.total,
        "pager": paging,
        "here": paging.here,
        "published_at": fmt_local(campaign.national_results_published_at),
        "published": campaign.national_results_published_at is not None,
    })


@router.post("/review/national/{work_id}/recommendation")
def national_recommendation(
    request: Request, work_id: int, user: CurrentUser, session: SessionDep,
    recommended: Annotated[str, Form(max_length=8)] = "",
    reason: ReasonField = "",
    expected_rev: ExpectedRevField = None,
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    require_role(user, (Role.national_admin,), "作出全国复评决定")

    def run() -> str:
        if recommended not in ("1", "0"):
            raise Invalid("请选择“推荐展播”或“不推荐”。", code="invalid_decision")
        yes = recommended == "1"
        work = service.recommend(session, user, work_id, yes, reason, expected_rev=expected_rev)
        return f"《{work.title}》：{'推荐展播' if yes else '不推荐'}（结果发布前仅全国管理员可见）。"

    form_action(request, session, run, not_found_is_page=False)
    return see_other(safe_next(next, "/review/national"))


@router.post("/review/national/{work_id}/undo")
def national_undo(
    request: Request, work_id: int, user: CurrentUser, session: SessionDep,
    reason: ReasonField = "",
    expected_rev: ExpectedRevField = None,
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    require_role(user, (Role.national_admin,), "撤销复评决定")

    def run() -> str:
        # This page undoes national decisions only (a forward is the province's to undo).
        if service.get_work_in_scope(session, user, work_id).status not in NATIONAL_DECISION_STATUSES:
            raise Conflict("该作品还没有复评决定，无需撤销。", code="nothing_to_undo")
        work = decisions.undo(session, user, work_id, reason, expected_rev=expected_rev)
        return f"已撤销《{work.title}》的决定，当前状态：{WORK_STATUS_LABELS[work.status]}。"

    form_action(request, session, run, not_found_is_page=False)
    return see_other(safe_next(next, "/review/national"))


@router.post("/review/national/publish")
def national_publish(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    require_role(user, (Role.national_admin,), "发布全国复评结果")
    form_action(request, session, lambda: (
        f"全国复评结果已发布，已通知 {service.publish_national_results(session, user)} 件作品的投稿人。"
    ), not_found_is_page=False)
    return see_other("/review/national")


# -- 公开展示: publishing recommended works on the public showcase (national admin) ---------------------

@router.post("/review/national/{work_id}/showcase/publish")
def national_showcase_publish(
    request: Request, work_id: int, user: CurrentUser, session: SessionDep,
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    require_role(user, (Role.national_admin,), "公开展示作品")

    def run() -> str:
        outcome = publishing.publish(session, user, work_id)
        if outcome.refusal is not None:
            session.commit()  # the public copy is asked for whatever the answer
            raise outcome.refusal
        return "作品已公开展示，公众可在“作品展播”页面观看。"

    form_action(request, session, run, not_found_is_page=False)
    return see_other(safe_next(next, "/review/national"))


@router.post("/review/national/{work_id}/showcase/withdraw")
def national_showcase_withdraw(
    request: Request, work_id: int, user: CurrentUser, session: SessionDep,
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    require_role(user, (Role.national_admin,), "撤下公开展示的作品")

    def run() -> str:
        publishing.withdraw(session, user, work_id)
        return "作品已撤下公开展示，点赞记录保留。"

    form_action(request, session, run, not_found_is_page=False)
    return see_other(safe_next(next, "/review/national"))
