"""Signing in and the account itself: OAuth2's password flow (``POST /api/v1/auth/token``, username or
registered phone number), who am I, turning a token into a browser session (the registration page's last
step), and deleting one's own account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field, WithJsonSchema

from api.deps import CurrentUser, SessionDep
from api.params import NO_NUL
from api.problems import AUTH_ERRORS, BODY_ERRORS, VALIDATION_ERRORS, problem_responses
from clipjury.accounts.deletion import delete_own_account, purge_files
from clipjury.accounts.models import ROLE_LABELS, Role
from clipjury.accounts.security import create_access_token
from clipjury.accounts.service import authenticate
from clipjury.accounts.sessions import SESSION_TOKEN_KEY, SESSION_USER_KEY, start_session
from clipjury.errors import Unauthorized
from storage.s3 import get_store

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class PasswordForm(OAuth2PasswordRequestForm):
    """OAuth2's password form as this server reads it: an empty field counts as missing, so the document
    says at least one character; optional fields are not nullable (a form cannot send null)."""

    def __init__(
        self,
        username: Annotated[str, Form(min_length=1, pattern=NO_NUL)],
        password: Annotated[str, Form(min_length=1, json_schema_extra={"format": "password"})],
        # A form has no null: an optional field is one left out.
        grant_type: Annotated[
            str | None, Form(pattern="^password$"), WithJsonSchema({"type": "string", "pattern": "^password$"})
        ] = None,
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form(), WithJsonSchema({"type": "string"})] = None,
        client_secret: Annotated[
            str | None, Form(), WithJsonSchema({"type": "string", "format": "password"})
        ] = None,
    ) -> None:
        super().__init__(
            grant_type=grant_type, username=username, password=password, scope=scope,
            client_id=client_id, client_secret=client_secret,
        )


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


class Me(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    role_label: str
    province_id: int | None
    unit_id: int | None


@router.post("/token", response_model=Token, responses=problem_responses(
    *BODY_ERRORS, *VALIDATION_ERRORS, (401, "bad_credentials"), (429, "too_many_login_attempts"),
    # The login throttle fails closed without Redis; form bodies are bounded before the route (api.body_limits).
    (503, "service_unavailable"), (413, "form_too_large"), (415, "file_not_accepted"),
))
def issue_token(
    request: Request, form: Annotated[PasswordForm, Depends()], session: SessionDep
) -> Token:
    address = request.client.host if request.client else ""
    user = authenticate(session, form.username, form.password, address=address)
    return Token(access_token=create_access_token(user.id or 0, user.session_generation))


@router.get("/me", response_model=Me, responses=problem_responses(*AUTH_ERRORS))
def me(user: CurrentUser) -> Me:
    return Me(
        id=user.id or 0, username=user.username, display_name=user.display_name, role=user.role,
        role_label=ROLE_LABELS[Role(user.role)], province_id=user.province_id, unit_id=user.unit_id,
    )


class WebSession(BaseModel):
    home: str = Field(description="Where the browser goes next.")


@router.post("/web-session", response_model=WebSession, responses=problem_responses(*AUTH_ERRORS))
def web_session(request: Request, user: CurrentUser, session: SessionDep) -> WebSession:
    """Start a browser session for the holder of a bearer token (the registration page signs the new
    account in with it). Only a bearer token is taken: another site cannot send one, so it cannot sign a
    visitor's browser into someone else's account."""
    if not request.headers.get("authorization", "").lower().startswith("bearer "):
        raise Unauthorized("请使用登录凭证（Bearer 令牌）调用。", code="bearer_required")
    request.session.clear()
    request.session[SESSION_USER_KEY] = user.id
    request.session[SESSION_TOKEN_KEY] = start_session(session, user)
    return WebSession(home="/works" if Role(user.role) == Role.submitter else "/")


class DeleteAccount(BaseModel):
    password: str = Field(min_length=1, max_length=1024, pattern=NO_NUL)


class AccountDeleted(BaseModel):
    deleted: bool
    works_deleted: int = Field(description="Works that never entered the review, deleted with their files.")
    works_kept: int = Field(description="Works in the review, kept under an anonymous owner.")


@router.post("/delete-account", response_model=AccountDeleted, responses=problem_responses(
    *AUTH_ERRORS, *BODY_ERRORS, *VALIDATION_ERRORS, (401, "bad_credentials"), (403, "forbidden_role"),
))
def delete_account(
    body: DeleteAccount, user: CurrentUser, session: SessionDep, background: BackgroundTasks
) -> AccountDeleted:
    """A submitter deletes their own account (PIPL), confirming with the password: every token and session
    ends at once; see the README's "Registration and privacy" for what is kept."""
    left = delete_own_account(session, user, body.password)
    # After the response, so after the commit: files are never deleted for a change that rolled back.
    background.add_task(lambda: purge_files(get_store(), left))
    return AccountDeleted(deleted=True, works_deleted=left.works_deleted, works_kept=left.works_kept)
