"""The pages everyone signs in through: the home redirect, log in, log out (here or everywhere),
accepting an invitation (setting the password of a new staff account), and a person's own account
(their details with the phone masked, joining a unit with its code, deleting the account)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Path, Request, Response

from api.deps import CurrentUser, SessionDep, cookie_user, user_from_request
from api.params import NO_NUL
from clipjury.accounts import invitations
from clipjury.accounts.contact import masked_phone
from clipjury.accounts.deletion import delete_own_account, purge_files
from clipjury.accounts.models import Province, Role, Unit
from clipjury.accounts.passwords import PASSWORD_MIN_CHARS, WeakPassword
from clipjury.accounts.service import BadCredentials, authenticate
from clipjury.accounts.sessions import SESSION_TOKEN_KEY, SESSION_USER_KEY, end_all_sessions, end_session, start_session
from clipjury.accounts.throttle import ThrottleUnavailable, TooManyAttempts
from clipjury.errors import DomainError
from clipjury.units.membership import join_with_code, own_memberships
from review_ui.context import home_for, user_context
from review_ui.core.csrf import csrf_token
from review_ui.core.flash import flash
from review_ui.core.forms import form_action, see_other
from review_ui.core.render import render
from review_ui.core.routing import PageRoute, safe_next
from review_ui.presenters.labels import role_label
from storage.s3 import get_store

router = APIRouter(route_class=PageRoute, include_in_schema=False)



InviteToken = Annotated[str, Path(min_length=1, max_length=128, pattern=NO_NUL)]
FIELD_MAX = 64


@router.get("/")
def home(request: Request, session: SessionDep) -> Response:
    user = user_from_request(request, session)
    return see_other(home_for(user) if user else "/login")


# -- log in / out ----------------------------------------------------------------------------------

@router.get("/login")
def login_form(request: Request, session: SessionDep, next: str = "") -> Response:
    if user_from_request(request, session) is not None:
        return see_other(safe_next(next))
    return render(request, "account/login.html", {"next": safe_next(next, ""), "username": "", "error": ""})


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
            request, "account/login.html",
            {"next": safe_next(next, ""), "username": username[:64], "error": exc.message},
            status_code=exc.status_code,
        )
    # A fresh session on login: nothing set before authentication (a planted token) carries over.
    request.session.clear()
    request.session[SESSION_USER_KEY] = user.id
    request.session[SESSION_TOKEN_KEY] = start_session(session, user)
    csrf_token(request)
    return see_other(safe_next(next))


@router.post("/logout")
def logout(request: Request, session: SessionDep) -> Response:
    """Ends this browser's session on the server too: a copy of the cookie taken before no longer works."""
    token = request.session.get(SESSION_TOKEN_KEY)
    if isinstance(token, str):
        end_session(session, token)
    request.session.clear()
    flash(request, "您已安全退出。", "info")
    return see_other("/login")


@router.post("/logout/all")
def logout_everywhere(request: Request, session: SessionDep) -> Response:
    """Sign out everywhere: every browser and every API token of the account (e.g. after using a shared
    computer, or when a device was lost)."""
    user = cookie_user(request, session)
    if user is not None:
        end_all_sessions(session, user)
    request.session.clear()
    flash(request, "您已在所有设备上退出，其他浏览器和接口令牌需重新登录。", "info")
    return see_other("/login")



# -- the invitee ------------------------------------------------------------------------------------

@router.get("/invite/{token}")
def invite_page(token: InviteToken, request: Request, session: SessionDep) -> Response:
    _invitation, invitee = invitations.invitation_for(session, token)
    return render(request, "account/invite.html", {
        "token": token, "invitee": invitee, "invitee_role": role_label(invitee), "error": "",
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
        return render(request, "account/invite.html", {
            "token": token, "invitee": invitee, "invitee_role": role_label(invitee), "error": error,
            "min_chars": PASSWORD_MIN_CHARS,
        }, status_code=422)
    # Signed in as the invitee, in a fresh session: whoever was signed in in this browser is not any more.
    request.session.clear()
    request.session[SESSION_USER_KEY] = invitee.id
    request.session[SESSION_TOKEN_KEY] = start_session(session, invitee)
    csrf_token(request)
    flash(request, "密码已设置，欢迎使用。")
    return see_other(home_for(invitee))



# -- one's own account ------------------------------------------------------------------------------

@router.get("/account")
def own_account(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    province = session.get(Province, user.province_id) if user.province_id else None
    unit = session.get(Unit, user.unit_id) if user.unit_id else None
    return render(request, "account/own.html", {
        **user_context(user, session),
        "account": user, "phone": masked_phone(user), "province": province.name if province else "",
        "unit": unit.name if unit else "", "memberships": own_memberships(session, user),
        "submitter": Role(user.role) == Role.submitter,
    })


@router.post("/account/join")
def own_account_join(
    request: Request, user: CurrentUser, session: SessionDep,
    join_code: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    form_action(request, session, lambda: join_with_code(session, user, join_code),
                "已提交加入单位的申请，待本单位联络员审核通过后生效。")
    return see_other("/account")


@router.post("/account/delete")
def own_account_delete(
    request: Request, user: CurrentUser, session: SessionDep, background: BackgroundTasks,
    password: Annotated[str, Form(max_length=1024)] = "",
    confirm: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    if confirm != "yes":
        flash(request, "请勾选确认注销后再提交。", "error")
        return see_other("/account")
    try:
        left = delete_own_account(session, user, password)
    except DomainError as exc:
        session.rollback()
        flash(request, exc.message, "error")
        return see_other("/account")
    background.add_task(lambda: purge_files(get_store(), left))
    request.session.clear()
    flash(request, "账号已注销，您的个人信息已删除。", "info")
    return see_other("/login")
