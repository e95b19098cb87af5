"""The public API, for people without an account yet: the provinces to choose from and one-time codes.

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
from clipjury.accounts.provinces import list_provinces
from clipjury.phones import service as phones
from clipjury.phones.codes import CodesUnavailable, Purpose, TooMany
from clipjury.phones.numbers import MAX_INPUT_CHARS, BadPhone
from clipjury.settings import get_settings

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
