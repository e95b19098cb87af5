"""专家评审 pages, by audience: the judge's list and blind scoring page (player beside the rubric, saved as it
goes with the rev, submit), and the national office's judging page (the proposal with each pair's why and
the unfilled works, apply, progress per judge and per work, unlock, recusal). Thin: every decision is a call
into clipjury.judging.service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response

from api.deps import CurrentUser, SessionDep
from clipjury.accounts.models import Role
from clipjury.accounts.policy import require_role
from clipjury.campaigns.service import active_campaign
from clipjury.errors import DomainError
from clipjury.judging import service as judging
from clipjury.timeutil import fmt_local
from review_ui.context import user_context
from review_ui.core.forms import FormDep, ReasonField, form_action, see_other
from review_ui.core.render import render
from review_ui.core.routing import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)

JUDGE_HOME = "/judging"
ADMIN_PAGE = "/judging/admin"
SEED_MAX = 2**31 - 1


def _judge(user: CurrentUser) -> None:
    require_role(user, (Role.judge,), "评审打分")


def _national(user: CurrentUser) -> None:
    require_role(user, (Role.national_admin,), "管理专家评审")


# -- the judge's pages -----------------------------------------------------------------------------------

@router.get(JUDGE_HOME)
def judge_list(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    _judge(user)
    campaign = active_campaign(session)
    works = judging.judge_works(session, user)
    keys = [c["key"] for c in judging.rubric_of(campaign)]
    done = sum(1 for w in works if all(k in w.scores for k in keys))
    return render(request, "judging/index.html", {
        **user_context(user), "works": works, "keys": keys, "done": done,
        "locked": judging.is_locked(session, campaign, user), "campaign_name": campaign.name,
    })


@router.get(JUDGE_HOME + "/works/{work_id}")
def judge_work_page(request: Request, work_id: int, user: CurrentUser, session: SessionDep) -> Response:
    _judge(user)
    campaign = active_campaign(session)
    work = judging.judge_work(session, user, work_id)
    works = judging.judge_works(session, user)
    ids = [w.id for w in works]
    at = ids.index(work.id)
    return render(request, "judging/work.html", {
        **user_context(user), "work": work, "rubric": judging.rubric_of(campaign),
        "position": at + 1, "total": len(ids),
        "previous": ids[at - 1] if at > 0 else None, "next": ids[at + 1] if at + 1 < len(ids) else None,
    })


@router.post(JUDGE_HOME + "/works/{work_id}/scores")
def save_scores_form(request: Request, work_id: int, user: CurrentUser, session: SessionDep,
                     form: FormDep) -> Response:
    """The scoring form without script (the page's script saves each change through the API)."""
    _judge(user)
    rubric = judging.rubric_of(active_campaign(session))
    scores: dict[str, object] = {}
    for criterion in rubric:
        raw = str(form.get(f"score_{criterion['key']}", "")).strip()
        if raw:
            try:
                scores[criterion["key"]] = float(raw)
            except ValueError:
                scores[criterion["key"]] = raw  # refused by the service as out of range, with the criterion
    try:
        rev = int(str(form.get("expected_rev", "")))
    except ValueError:
        rev = -1
    form_action(request, session, lambda: judging.save_scores(session, user, work_id, scores, rev), "评分已保存。")
    return see_other(f"{JUDGE_HOME}/works/{work_id}")


@router.post(JUDGE_HOME + "/works/{work_id}/abstain")
def abstain_form(request: Request, work_id: int, user: CurrentUser, session: SessionDep,
                 reason: ReasonField = "") -> Response:
    _judge(user)
    if form_action(request, session, lambda: judging.declare_conflict(session, user, work_id, reason),
                   "已声明回避，该作品将改由其他专家评审。"):
        return see_other(JUDGE_HOME)
    return see_other(f"{JUDGE_HOME}/works/{work_id}")


@router.post(JUDGE_HOME + "/submit")
def submit_form(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    _judge(user)
    form_action(request, session, lambda: judging.submit(session, user), "全部评分已提交并锁定。")
    return see_other(JUDGE_HOME)


# -- the national office's page --------------------------------------------------------------------------

@router.get(ADMIN_PAGE)
def admin_page(request: Request, user: CurrentUser, session: SessionDep,
               seed: Annotated[int | None, Query(ge=0, le=SEED_MAX)] = None) -> Response:
    _national(user)
    campaign = active_campaign(session)
    progress = judging.progress(session, user)
    proposal, refusal = None, ""
    if seed is not None:
        try:
            proposal = judging.propose(session, user, seed)
        except DomainError as exc:  # e.g. the likes are not frozen yet: said on the page
            refusal = exc.message
    titles = {w.work_id: w.title for w in progress.works}
    return render(request, "judging/admin.html", {
        **user_context(user), "campaign_name": campaign.name, "progress": progress, "proposal": proposal,
        "refusal": refusal, "seed": seed, "titles": titles, "fmt": fmt_local,
        "judges_per_work": judging.judges_per_work(campaign),
    })


@router.post(ADMIN_PAGE + "/apply")
def apply_form(request: Request, user: CurrentUser, session: SessionDep,
               seed: Annotated[int, Form(ge=0, le=SEED_MAX)] = 0) -> Response:
    _national(user)

    def run() -> str:
        applied = judging.apply(session, user, seed)
        short = len(applied.unfilled)
        return f"已按随机种子 {seed} 应用分配：{len(applied.pairs)} 个评审任务，{short} 件作品专家不足。"

    form_action(request, session, run, not_found_is_page=False)
    return see_other(ADMIN_PAGE)


@router.post(ADMIN_PAGE + "/judges/{username}/unlock")
def unlock_form(request: Request, username: str, user: CurrentUser, session: SessionDep,
                reason: ReasonField = "") -> Response:
    _national(user)
    form_action(request, session, lambda: judging.unlock(session, user, username[:64], reason),
                f"已解锁 {username[:64]} 的评分。", not_found_is_page=False)
    return see_other(ADMIN_PAGE)


@router.post(ADMIN_PAGE + "/recusals")
def recusal_form(request: Request, user: CurrentUser, session: SessionDep,
                 work_id: Annotated[int, Form(ge=1, le=2**31 - 1)] = 1,
                 username: Annotated[str, Form(max_length=64)] = "", reason: ReasonField = "") -> Response:
    _national(user)
    form_action(request, session, lambda: judging.recuse(session, user, work_id, username, reason),
                f"已让 {username} 回避作品 {work_id}，并补足评审专家。", not_found_is_page=False)
    return see_other(ADMIN_PAGE)
