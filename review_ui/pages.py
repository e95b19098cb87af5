"""The pages of the ingest slice: log in, 我的作品, a new work, a work's page (upload, verdict, 在线试看,
submit, withdraw). Thin: every decision is a call into the domain services."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import object_session
from sqlmodel import Session

from api.deps import CurrentUser, SessionDep, cookie_user, user_from_request
from clipjury.accounts.models import Province, User
from clipjury.accounts.service import BadCredentials, authenticate, home_province_id, list_provinces
from clipjury.accounts.sessions import SESSION_TOKEN_KEY, SESSION_USER_KEY, end_all_sessions, end_session, start_session
from clipjury.accounts.throttle import ThrottleUnavailable, TooManyAttempts
from clipjury.campaigns.models import Campaign
from clipjury.campaigns.service import active_campaign
from clipjury.errors import DomainError, Invalid
from clipjury.notifications.service import unread_count
from clipjury.reviews.service import decisions_of
from clipjury.settings import get_settings
from clipjury.timeutil import fmt_local
from clipjury.works import service as works
from clipjury.works.policy import may_submit
from review_ui import presenters
from review_ui.web import (
    PageRoute,
    csrf_token,
    flash,
    render,
    safe_next,
    security_headers,
    templates,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

FIELD_OF_CODE = {
    "title_required": "title",
    "title_too_long": "title",
    "description_too_long": "description",
    "unknown_province": "province",
    "province_required": "province",
    "province_mismatch": "province",
}


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def user_context(user: User, session: Session | None = None) -> dict[str, object]:
    """What base.html needs about the signed-in user: name, role, navigation with the unread count.

    Without ``session`` the one the user was loaded in (the request's) is used, so ``user_context(user)``
    shows the badge too."""
    db = session if session is not None else object_session(user)
    unread = unread_count(db, user.id) if isinstance(db, Session) and user.id is not None else 0
    return {
        "current_user": user,
        "role_label": presenters.role_label(user),
        "nav": presenters.nav_with_unread(user, unread),
        "unread_count": unread,
    }


@router.get("/")
def home(request: Request, session: SessionDep) -> Response:
    user = user_from_request(request, session)
    return _see_other(presenters.home_for(user) if user else "/login")


# -- log in / out ----------------------------------------------------------------------------------

@router.get("/login")
def login_form(request: Request, session: SessionDep, next: str = "") -> Response:
    if user_from_request(request, session) is not None:
        return _see_other(safe_next(next))
    return render(request, "login.html", {"next": safe_next(next, ""), "username": "", "error": ""})


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    try:
        if not username.strip() or not password:
            raise BadCredentials("请输入用户名和密码。", code="credentials_required")
        user = authenticate(session, username, password, address=request.client.host if request.client else "")
    except (BadCredentials, TooManyAttempts, ThrottleUnavailable) as exc:
        return render(
            request, "login.html",
            {"next": safe_next(next, ""), "username": username[:64], "error": exc.message},
            status_code=exc.status_code,
        )
    # A fresh session on login: nothing set before authentication (a planted token) carries over.
    request.session.clear()
    request.session[SESSION_USER_KEY] = user.id
    request.session[SESSION_TOKEN_KEY] = start_session(session, user)
    csrf_token(request)
    return _see_other(safe_next(next))


@router.post("/logout")
def logout(request: Request, session: SessionDep) -> Response:
    """Ends this browser's session on the server too: a copy of the cookie taken before no longer works."""
    token = request.session.get(SESSION_TOKEN_KEY)
    if isinstance(token, str):
        end_session(session, token)
    request.session.clear()
    flash(request, "您已安全退出。", "info")
    return _see_other("/login")


@router.post("/logout/all")
def logout_everywhere(request: Request, session: SessionDep) -> Response:
    """Sign out everywhere: every browser and every API token of the account (e.g. after using a shared
    computer, or when a device was lost)."""
    user = cookie_user(request, session)
    if user is not None:
        end_all_sessions(session, user)
    request.session.clear()
    flash(request, "您已在所有设备上退出，其他浏览器和接口令牌需重新登录。", "info")
    return _see_other("/login")


# -- my works --------------------------------------------------------------------------------------

@router.get("/works")
def my_works(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    if not may_submit(user):
        return _see_other(presenters.home_for(user))
    rows = presenters.work_rows(session, user, works.list_own_works(session, user))
    return render(request, "works.html", {**user_context(user, session), "rows": rows})


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
        "rules": presenters.campaign_rules(campaign),
        "closed_reason": presenters.upload_closed_reason(campaign),
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
    return render(request, "work_new.html", {**context, "form": form, "errors": {}})


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
        return render(request, "work_new.html", {**context, "form": form, "errors": errors}, status_code=422)
    flash(request, "作品已创建，请上传视频文件。")
    return _see_other(f"/works/{work.id}")


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
    live = presenters.live_state(session, user, work, campaign)
    # A new file only while the submitter's part of the lifecycle lasts (before submitting, or after a return).
    editable = live.can_edit
    closed = live.upload_refusal or None
    # Past the deadline, an upload that was under way may still be finished within the grace period.
    resume_note = presenters.grace_resume_note(session, work, campaign) if editable and closed else None
    progress = presenters.review_progress(work, user, campaign, decisions_of(session, [work_id])[work_id])
    return render(
        request,
        "work_detail.html",
        {
            **user_context(user, session),
            "work": work,
            "created": fmt_local(work.created_at),
            "rules": presenters.campaign_rules(campaign),
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
    live = presenters.live_state(session, user, work, campaign)
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
    try:
        action()
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        session.rollback()
        flash(request, exc.message, "error")
    else:
        flash(request, done)
    return _see_other(f"/works/{work_id}")


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

