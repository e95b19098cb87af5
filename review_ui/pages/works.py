"""The submitter's pages: 我的作品, a new work, a work's page (upload, verdict, 在线试看, submit,
withdraw). Thin: every decision is a call into the domain services."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from sqlmodel import Session

from api.deps import CurrentUser, SessionDep
from clipjury.accounts.models import Province, User
from clipjury.accounts.service import home_province_id, list_provinces
from clipjury.awards import service as awards
from clipjury.campaigns.models import Campaign
from clipjury.campaigns.service import active_campaign
from clipjury.errors import DomainError, Invalid
from clipjury.reviews.service import decisions_of
from clipjury.settings import get_settings
from clipjury.timeutil import fmt_local
from clipjury.works import service as works
from clipjury.works.policy import may_submit
from review_ui.context import home_for, user_context
from review_ui.core.csrf import csrf_token
from review_ui.core.flash import flash
from review_ui.core.forms import form_action, see_other
from review_ui.core.render import render, security_headers, templates
from review_ui.core.routing import PageRoute
from review_ui.presenters.reviews import review_progress
from review_ui.presenters.works import campaign_rules, grace_resume_note, live_state, upload_closed_reason, work_rows

router = APIRouter(route_class=PageRoute, include_in_schema=False)

FIELD_OF_CODE = {
    "title_required": "title",
    "title_too_long": "title",
    "description_too_long": "description",
    "unknown_province": "province",
    "province_required": "province",
    "province_mismatch": "province",
}


# -- my works --------------------------------------------------------------------------------------

@router.get("/works")
def my_works(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    if not may_submit(user):
        return see_other(home_for(user))
    rows = work_rows(session, user, works.list_own_works(session, user))
    campaign = active_campaign(session)
    return render(request, "works/index.html", {
        **user_context(user, session), "rows": rows, "rules": campaign_rules(campaign),
        "awarded": awards.awarded_levels(session, campaign, [row.id for row in rows]),
    })


def _new_work_context(session: Session, user: User, campaign: Campaign, chosen: str = "") -> dict[str, object]:
    """The rules and the opening line (of the ``chosen`` province's code, when the form has one); a province
    choice only for a submitter outside any unit."""
    home_id = home_province_id(session, user)
    choose_province = user.unit_id is None
    provinces = list_provinces(session) if choose_province else []
    home = session.get(Province, home_id) if home_id is not None else None
    lines = {p.code: campaign.opening_line(p.name) for p in provinces}
    if chosen in lines:
        opening_line = lines[chosen]
    elif home is not None:
        opening_line = campaign.opening_line(home.name)
    elif provinces:
        opening_line = campaign.opening_line("××省")  # until a province is chosen (app.js fills it in)
    else:
        opening_line = campaign.opening_line("本省")
    return {
        **user_context(user),
        "rules": campaign_rules(campaign),
        "closed_reason": upload_closed_reason(campaign),
        "choose_province": choose_province,
        "provinces": provinces,
        "home_province": home,
        "opening_line": opening_line,
        "opening_lines_json": json.dumps(lines, ensure_ascii=False),
    }


@router.get("/works/new")
def new_work_form(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    works.ensure_may_submit(user, works.CREATE_REFUSED)
    campaign = active_campaign(session)
    context = _new_work_context(session, user, campaign)
    home = context["home_province"]
    form = {"title": "", "description": "", "province": home.code if isinstance(home, Province) else "", "agree": False}
    return render(request, "works/new.html", {**context, "form": form, "errors": {}})


@router.post("/works/new")
def create_work(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    title: Annotated[str, Form(max_length=10000)] = "",
    description: Annotated[str, Form(max_length=10000)] = "",
    province: Annotated[str, Form(max_length=64)] = "",
    agree: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    works.ensure_may_submit(user, works.CREATE_REFUSED)
    campaign = active_campaign(session)
    errors: dict[str, str] = {}
    work = None
    if not agree:
        errors["agree"] = "请阅读作品权利说明，并勾选“我已阅读并同意”。"
    else:
        try:
            work = works.create_work(
                session, user, title=title, description=description,
                province_code=(province or None) if user.unit_id is None else None,
                agreed_to_rights_notice=True,
            )
        except DomainError as exc:
            session.rollback()
            errors[FIELD_OF_CODE.get(exc.code, "form")] = exc.message
    if work is None:
        form = {"title": title, "description": description, "province": province, "agree": bool(agree)}
        context = _new_work_context(session, user, campaign, chosen=province)
        return render(request, "works/new.html", {**context, "form": form, "errors": errors}, status_code=422)
    flash(request, "作品已创建，请上传视频文件。")
    return see_other(f"/works/{work.id}")


# -- one work --------------------------------------------------------------------------------------

def _campaign_of(session: Session, work_campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, work_campaign_id)
    if campaign is None:
        raise Invalid("作品所属的征集活动不存在。", code="campaign_missing")
    return campaign


@router.get("/works/{work_id}")
def work_page(request: Request, work_id: int, user: CurrentUser, session: SessionDep) -> Response:
    work = works.get_visible_work(session, user, work_id)
    campaign = _campaign_of(session, work.campaign_id)
    live = live_state(session, user, work, campaign)
    # A new file only while the submitter's part of the lifecycle lasts (before submitting, or after a return).
    editable = live.can_edit
    closed = live.upload_refusal or None
    # Past the deadline, an upload that was under way may still be finished within the grace period.
    resume_note = grace_resume_note(session, work, campaign) if editable and closed else None
    progress = review_progress(work, user, campaign, decisions_of(session, [work_id])[work_id])
    return render(
        request,
        "works/detail.html",
        {
            **user_context(user, session),
            "work": work,
            "created": fmt_local(work.created_at),
            "rules": campaign_rules(campaign),
            "live": live,
            "progress": progress,
            "can_upload": editable and (closed is None or resume_note is not None),
            "resume_note": resume_note,
            "upload_closed_reason": closed if editable else None,
            # The uploader's chunks and pieces are whole S3 parts (see clipjury/uploads/concat.py).
            "part_size": get_settings().s3_part_size,
        },
    )


@router.get("/works/{work_id}/status")
def work_status(request: Request, work_id: int, user: CurrentUser, session: SessionDep, known: str = "") -> Response:
    """The live part of a work page, for htmx. 204 while nothing changed, so a playing video is left alone."""
    work = works.get_visible_work(session, user, work_id)
    campaign = _campaign_of(session, work.campaign_id)
    live = live_state(session, user, work, campaign)
    if known and known == live.state_key:
        return Response(status_code=204, headers={"Cache-Control": "no-store"})
    return templates.TemplateResponse(
        request,
        "partials/work_live.html",
        {"live": live, "csrf_token": csrf_token(request)},
        headers=security_headers(),
    )


def _work_action(
    request: Request, session: SessionDep, work_id: int, action: Callable[[], object], done: str
) -> Response:
    """Run a state change from a form and come back to the work with its outcome as a flash message.
    Someone else's work stays a 404 page; any other refusal is shown on the work page."""
    form_action(request, session, action, done)
    return see_other(f"/works/{work_id}")


@router.post("/works/{work_id}/submit")
def submit_work(request: Request, work_id: int, user: CurrentUser, session: SessionDep) -> Response:
    return _work_action(
        request, session, work_id, lambda: works.submit(session, user, work_id),
        "作品已提交。截止前如需更换文件，可先撤回。",
    )


@router.post("/works/{work_id}/withdraw")
def withdraw_work(request: Request, work_id: int, user: CurrentUser, session: SessionDep) -> Response:
    return _work_action(
        request, session, work_id, lambda: works.withdraw(session, user, work_id, reason="投稿人在网页上撤回"),
        "作品已撤回，可以重新上传文件后再次提交。",
    )

