"""Errors rendered once, as ``application/problem+json`` (RFC 9457) with a stable ``code`` member."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import RedisError
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from clipjury.errors import DomainError

log = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"
REDIS_UNAVAILABLE = "service_unavailable"

_HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "请求有误。"),
    401: ("unauthorized", "请先登录。"),
    403: ("forbidden", "您没有权限执行此操作。"),
    404: ("not_found", "找不到该地址或对象。"),
    405: ("method_not_allowed", "不支持该请求方法。"),
    409: ("conflict", "操作与当前状态冲突。"),
    413: ("too_large", "请求内容过大。"),
    415: ("unsupported_media_type", "不支持的内容类型。"),
    422: ("invalid", "提交的内容不符合要求。"),
    500: ("internal_error", "服务器内部错误，请稍后重试。"),
}


class Problem(BaseModel):
    """The body of every error answer (RFC 9457); clients branch on ``code``, people read ``detail``."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(description="Always `about:blank`: `code` says what went wrong.")
    title: str = Field(description="The same as `code`.")
    status: int = Field(ge=400, le=599)
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Stable English error code.")
    detail: str = Field(description="What happened and what to do, in Chinese.")


# An error an operation may answer: a domain error class, or (status, code) for one raised with its own code.
ErrorDoc = type[DomainError] | tuple[int, str]

# What the request boundary itself can answer: a failed validation and a number the database cannot hold.
VALIDATION_ERRORS: tuple[ErrorDoc, ...] = ((422, "invalid"), (422, "out_of_range"))
# A body FastAPI could not even decode (e.g. JSON that is not UTF-8) is a plain 400 before validation.
BODY_ERRORS: tuple[ErrorDoc, ...] = ((400, "bad_request"),)
REDIS_ERRORS: tuple[ErrorDoc, ...] = ((503, REDIS_UNAVAILABLE),)
# api.deps.current_user: no or a bad credential; a cookie-authenticated change without its CSRF header.
# A staff account without the province or unit its role needs is refused on every route.
AUTH_ERRORS: tuple[ErrorDoc, ...] = ((401, "unauthorized"), (401, "invalid_token"), (403, "account_incomplete"))
CHANGE_AUTH_ERRORS: tuple[ErrorDoc, ...] = (*AUTH_ERRORS, (403, "csrf_failed"))
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def problem_responses(*errors: ErrorDoc) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route: every error status it answers, each an ``application/problem+json`` body
    whose description lists the ``code`` values it carries, so the document tells what the code does."""
    codes: dict[int, set[str]] = {}
    for error in errors:
        status, code = (error.status_code, error.code) if isinstance(error, type) else error
        codes.setdefault(status, set()).add(code)
    return {
        status: {
            "description": "Problem; `code` is one of: " + ", ".join(f"`{code}`" for code in sorted(found)),
            "content": {PROBLEM_TYPE: {"schema": _PROBLEM_REF}},
        }
        for status, found in sorted(codes.items())
    }


def problem(
    status: int, code: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": code, "status": status, "code": code, "detail": detail}
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)


def domain_problem(exc: DomainError, headers: dict[str, str] | None = None) -> JSONResponse:
    return problem(exc.status_code, exc.code, exc.message, headers=headers, **exc.extra)


def redis_problem(exc: RedisError, headers: dict[str, str] | None = None) -> JSONResponse:
    """Redis (upload locks, the job queue) down or refusing: a 503 to retry, like the store being down."""
    log.warning("redis unavailable: %s", exc)
    return problem(
        503, REDIS_UNAVAILABLE, "服务暂时不可用，请稍后重试；已上传的部分不会丢失。", headers=headers
    )


# Set by the web UI (review_ui/app.py): renders an error as a Chinese HTML page.
HtmlErrorRenderer = Callable[[Request, int, str, str], Response]
API_PREFIXES = ("/api/", "/healthz", "/static/")


def wants_html(request: Request) -> bool:
    """A browser asking for a page (not the API, the health check or a static file)."""
    return (
        not request.url.path.startswith(API_PREFIXES)
        and "text/html" in request.headers.get("accept", "")
        and "session" in request.scope  # the page renderer needs the session (the CSRF token, flashes)
    )


def _with_problem_schema(app: FastAPI) -> None:
    """The document names ``Problem`` in every error answer (``problem_responses``); FastAPI adds only the
    schemas of models it sees, so this one is added once, when the document is first built. FastAPI's
    default validation answer goes: ours is a Problem."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas["Problem"] = Problem.model_json_schema()
            # FastAPI adds its own 422 (``HTTPValidationError`` as JSON) to an operation that declares none;
            # this API never answers that shape: a route that can fail validation declares its problem+json
            # 422, the tus routes answer 400 instead (api.routes.uploads.TusRoute).
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    answer = operation.get("responses", {}).get("422", {})
                    if "application/json" in answer.get("content", {}):
                        del operation["responses"]["422"]
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to replace the schema generator


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """Every method some route answers at this path. Starlette's 405 names only the first route whose path
    matched (``Allow: POST`` for a path that also has a GET), which tells a client less than the truth."""
    routes = request.app.router.routes
    allowed = [
        method for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]
    return ", ".join(allowed)


def install(app: FastAPI, *, extra_headers: dict[str, str] | None = None) -> None:
    _with_problem_schema(app)

    @app.exception_handler(DomainError)
    async def _domain(_request: Request, exc: DomainError) -> JSONResponse:
        # An error may name headers of its own answer (e.g. Retry-After on a 429).
        own: dict[str, str] = getattr(exc, "problem_headers", {})
        return domain_problem(exc, {**(extra_headers or {}), **own} or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(part) for part in err.get("loc", ())], "msg": err.get("msg", ""), "type": err.get("type", "")}
            for err in exc.errors()
        ]
        return problem(422, "invalid", "提交的内容格式不正确，请检查各字段。", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        # An HTTP-level refusal raised where a DomainError cannot travel (inside body parsing) names its own.
        code, detail = getattr(exc, "problem", None) or _HTTP_CODES.get(exc.status_code, ("http_error", "请求失败。"))
        renderer: HtmlErrorRenderer | None = getattr(request.app.state, "html_error_renderer", None)
        if renderer is not None and wants_html(request):
            # A mistyped or stale page address (or a GET of a form's POST route) in a browser.
            if exc.status_code == 404:
                detail = "找不到该页面，地址可能有误或已失效。"
            elif exc.status_code == 405:
                detail = "该地址不能直接打开，请从页面上的按钮或链接进入。"
            return renderer(request, exc.status_code, code, detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 405 and "Allow" in headers:
            headers["Allow"] = allowed_methods(request)
        return problem(exc.status_code, code, detail, headers=headers)

    @app.exception_handler(RedisError)
    async def _redis(_request: Request, exc: RedisError) -> JSONResponse:
        return redis_problem(exc, extra_headers)

    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    async def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
        # The last line of defence for a number the database cannot hold (ids are bounded in the routes).
        log.info("out-of-range value on %s %s: %s", request.method, request.url.path, exc)
        return problem(422, "out_of_range", "请求中的编号或数值超出范围。")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal_error", "服务器内部错误，请稍后重试。")
