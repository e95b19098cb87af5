"""The public API, for people without an account yet: the provinces to choose from, one-time codes,
registration with a verified phone and password reset by SMS.

No session or token is read here, so no CSRF token is asked for either (the API's CSRF check belongs to
cookie-authenticated changes, api.deps.user_from_request). A cross-site page cannot send these JSON bodies:
a form's ``text/plain`` or urlencoded body is not JSON (422), and ``application/json`` needs a CORS
preflight this server never grants. Bodies are bounded before they are read (``SmallBodyRoute``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from api.deps import SessionDep
from api.params import NO_NUL
from api.problems import BODY_ERRORS, VALIDATION_ERRORS, problem, problem_responses
from clipjury.accounts.nicknames import NICKNAME_MAX, NicknameInvalid
from clipjury.accounts.passwords import WeakPassword
from clipjury.accounts.privacy import consent_text
from clipjury.accounts.provinces import list_provinces
from clipjury.accounts.registration import (
    ConsentRequired,
    PhoneTaken,
    UnknownProvince,
    register,
    reset_password,
)
from clipjury.accounts.security import create_access_token
from clipjury.campaigns.service import active_campaign
from clipjury.phones import service as phones
from clipjury.phones.codes import BadCode, CodesUnavailable, Purpose, TooMany
from clipjury.phones.numbers import MAX_INPUT_CHARS, BadPhone
from clipjury.settings import get_settings
from clipjury.units.membership import BadJoinCode

# A code request is two short strings; registration's body (later) is a few more.
PUBLIC_BODY_MAX_BYTES = 4096
BODY_TOO_LARGE = (413, "body_too_large")


class SmallBodyRoute(APIRoute):
    """Refuses a body over ``PUBLIC_BODY_MAX_BYTES`` (declared or streamed) before FastAPI reads it whole:
    these routes take requests from anyone."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            length = request.headers.get("content-length", "").strip()
            if length.isdigit() and int(length) > PUBLIC_BODY_MAX_BYTES:
                return _too_large()
            if request.method not in ("GET", "HEAD", "OPTIONS"):
                body = bytearray()
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > PUBLIC_BODY_MAX_BYTES:
                        return _too_large()
                request._body = bytes(body)  # what FastAPI's request.body() reads instead of the spent stream
            return await handler(request)

        return bounded


def _too_large() -> Response:
    response = problem(*BODY_TOO_LARGE, f"请求内容过大（上限 {PUBLIC_BODY_MAX_BYTES} 字节）。")
    response.headers["Connection"] = "close"  # the rest of the body is not read
    return response


provinces_router = APIRouter(prefix="/api/v1", tags=["public"])
router = APIRouter(prefix="/api/v1/public", tags=["public"], route_class=SmallBodyRoute)


class ProvincePublic(BaseModel):
    code: str
    name: str


@provinces_router.get("/provinces", response_model=list[ProvincePublic])
def provinces(session: SessionDep) -> list[ProvincePublic]:
    return [ProvincePublic(code=p.code, name=p.name) for p in list_provinces(session)]


class CodeRequest(BaseModel):
    phone: str = Field(min_length=1, max_length=MAX_INPUT_CHARS, pattern=NO_NUL,
                       description="A mainland mobile number in any usual form: `13800138000`, `+86 138 0013 8000`, "
                                   "`0086-138…`, full-width digits.")
    purpose: Purpose


class CodeSent(BaseModel):
    model_config = ConfigDict(title="CodeSent")

    expires_in_s: int = Field(description="How long the code is good for.")
    resend_after_s: int = Field(description="When another code for this number and purpose may be asked for.")


@router.post("/codes", status_code=202, response_model=CodeSent, responses=problem_responses(
    *BODY_ERRORS, *VALIDATION_ERRORS, BadPhone, TooMany, CodesUnavailable, BODY_TOO_LARGE,
))
def request_code(body: CodeRequest, request: Request) -> CodeSent:
    """Send a one-time code to a mainland mobile number. 429 `too_many` carries `retry_after_s` (and
    `Retry-After`); 503 when the limits cannot be checked (nothing is sent then)."""
    # The connection's address, or the forwarded one when a trusted proxy sent it (`clipjury serve`
    # believes X-Forwarded-For only from CLIPJURY_TRUSTED_PROXIES).
    address = request.client.host if request.client else ""
    phones.request_code(body.phone, body.purpose, address=address)
    settings = get_settings()
    return CodeSent(expires_in_s=settings.otp_ttl_s, resend_after_s=settings.otp_resend_cooldown_s)


class Consent(BaseModel):
    rights: str = Field(description="The campaign's rights notice (附件3).")
    privacy: str = Field(description="The privacy notice: what is processed, why, how long, whom to ask.")
    digest: str = Field(description="SHA-256 of the two, recorded with the account on registration.")


@router.get("/consent", response_model=Consent)
def consent(session: SessionDep) -> Consent:
    """The text a registrant consents to; registration records its digest."""
    text = consent_text(active_campaign(session).rights_notice)
    return Consent(rights=text.rights, privacy=text.privacy, digest=text.digest)


class Registration(BaseModel):
    phone: str = Field(min_length=1, max_length=MAX_INPUT_CHARS, pattern=NO_NUL)
    code: str = Field(min_length=1, max_length=16, pattern=NO_NUL)
    nickname: str = Field(min_length=1, max_length=64, pattern=NO_NUL,
                          description=f"Shown to staff; 1–{NICKNAME_MAX} characters.")
    password: str = Field(min_length=1, max_length=1024, pattern=NO_NUL)
    province: str = Field(min_length=1, max_length=32, pattern=NO_NUL, description="A province code (`/provinces`).")
    consent: bool = Field(description="The rights and privacy notices (`/public/consent`) were read and agreed to.")
    unit_join_code: str | None = Field(default=None, max_length=32, pattern=NO_NUL,
                                       description="A unit's join code: membership pending its coordinator.")


class Registered(BaseModel):
    access_token: str
    token_type: str = "bearer"


@router.post("/register", status_code=201, response_model=Registered, responses=problem_responses(
    *BODY_ERRORS, *VALIDATION_ERRORS, BadPhone, BadCode, PhoneTaken, ConsentRequired, NicknameInvalid,
    (422, "nickname_required"), (422, "nickname_too_long"), UnknownProvince,
    BadJoinCode, WeakPassword, CodesUnavailable, BODY_TOO_LARGE, (422, "province_mismatch"),
))
def register_account(body: Registration, session: SessionDep) -> Registered:
    """Register as a submitter with the `register` code sent to the phone. The token works on every
    submitter route of the works API; sign in later with the phone number (or the generated username)."""
    user = register(
        session, phone=body.phone, code=body.code, nickname=body.nickname, password=body.password,
        province_code=body.province, consent=body.consent, unit_join_code=body.unit_join_code,
    )
    return Registered(access_token=create_access_token(user.id or 0, user.session_generation))


class PasswordReset(BaseModel):
    phone: str = Field(min_length=1, max_length=MAX_INPUT_CHARS, pattern=NO_NUL)
    code: str = Field(min_length=1, max_length=16, pattern=NO_NUL)
    password: str = Field(min_length=1, max_length=1024, pattern=NO_NUL)


class PasswordResetDone(BaseModel):
    reset: bool


@router.post("/password-reset", response_model=PasswordResetDone, responses=problem_responses(
    *BODY_ERRORS, *VALIDATION_ERRORS, BadPhone, BadCode, WeakPassword, CodesUnavailable, BODY_TOO_LARGE,
))
def password_reset(body: PasswordReset, session: SessionDep) -> PasswordResetDone:
    """Set a new password with a `reset` code sent to the registered phone; every other session and
    token of the account ends. An unregistered number answers 401 `bad_code`, like a wrong code."""
    reset_password(session, phone=body.phone, code=body.code, password=body.password)
    return PasswordResetDone(reset=True)
