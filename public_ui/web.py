"""The public site's plumbing: its templates, the route class that renders every failure as the public
Chinese error page (never a login redirect), and responses that shared caches may keep.

An anonymous visitor's page must be the same bytes for everyone: no session is written (so no
Set-Cookie), and the page carries an ETag so a cache or browser revalidates with a 304. A visitor who
signed in may see something personal (issue 15's likes), so their pages are ``private, no-store``."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from clipjury.accounts.sessions import SESSION_USER_KEY
from clipjury.errors import DomainError
from clipjury.settings import get_settings
from clipjury.showcase.voters import privacy_notice
from review_ui.core.render import security_headers

PUBLIC_DIR = Path(__file__).resolve().parent
STATIC_DIR = PUBLIC_DIR / "static"
# Where the sub-app is mounted; templates and redirects build their links on it.
PREFIX = "/public"
SITE_NAME = "人人话保密 · 微视频征集"
log = logging.getLogger(__name__)

# The shared and a personal answer must never be confused by a cache between us and the visitor.
VARY = "Cookie, Authorization"


def public_asset_url(path: str) -> str:
    """A static URL with the file's modification time, so a changed stylesheet is never served stale."""
    file = STATIC_DIR / path
    version = int(file.stat().st_mtime) if file.exists() else 0
    return f"{PREFIX}/static/{path}?v={version}"


templates = Jinja2Templates(directory=str(PUBLIC_DIR / "templates"))
templates.env.globals["asset_url"] = public_asset_url
templates.env.globals["prefix"] = PREFIX
# The like button's sign-in shows the notice whose digest a voter's consent records (clipjury.showcase.voters).
templates.env.globals["voter_privacy_notice"] = privacy_notice


def _bearer(request: Request) -> bool:
    return request.headers.get("authorization", "").lower().startswith("bearer ")


def signed_in(request: Request) -> bool:
    """Whether the visitor presents a login (the staff cookie's session, or a bearer token such as issue
    15's voter token). Only what the request claims, on purpose: checking it against the database could
    end a stale session and so write a Set-Cookie, and a claim alone already makes the page personal."""
    if _bearer(request):
        return True
    return "session" in request.scope and isinstance(request.session.get(SESSION_USER_KEY), int)


def shareable(request: Request) -> bool:
    """Whether the answer may go to a shared cache: only when the visitor has no session at all. The
    session middleware re-sends the cookie of any non-empty session (a CSRF token from the login form is
    enough), and a cached Set-Cookie would hand that session to the next visitor."""
    if _bearer(request):
        return False
    return "session" not in request.scope or not request.session


def _headers(*, cacheable: bool) -> dict[str, str]:
    headers = security_headers()
    if cacheable:
        headers["Cache-Control"] = f"public, max-age={get_settings().public_cache_max_age_s}"
    else:
        headers["Cache-Control"] = "private, no-store"
    headers["Vary"] = VARY
    return headers


def _render_body(request: Request, template: str, context: dict[str, Any]) -> str:
    full: dict[str, Any] = {"request": request, "site_name": SITE_NAME, "signed_in": signed_in(request)}
    full.update(context)
    return templates.get_template(template).render(full)


def render_public(request: Request, template: str, context: dict[str, Any] | None = None) -> Response:
    """A public page: cacheable with an ETag for a visitor without a session (a 304 when theirs
    matches), ``private, no-store`` for one with a session or a token."""
    body = _render_body(request, template, context or {}).encode()
    if not shareable(request):
        return HTMLResponse(body, headers=_headers(cacheable=False))
    return _shared_answer(request, body)


# Rendered anonymous pages kept by this process (``render_public_cached``): path and query -> (expiry, body,
# ETag).
# Bounded: a flood of distinct query strings empties it rather than growing it.
_PAGE_CACHE: dict[str, tuple[float, bytes, str]] = {}
PAGE_CACHE_MAX_ENTRIES = 256


def render_public_cached(request: Request, template: str, build: Callable[[], dict[str, Any]],
                         ttl_s: float) -> Response:
    """``render_public`` for a hot page that is the same for every anonymous visitor (the showcase gallery):
    its body is rendered at most once per ``ttl_s`` per address and process, and ``build`` (the database
    and Redis reads) is not even called in between. Signed-in visitors always get a fresh page."""
    if ttl_s <= 0 or not shareable(request):
        return render_public(request, template, build())
    key = f"{request.url.path}?{request.url.query}"
    now = time.monotonic()
    hit = _PAGE_CACHE.get(key)
    if hit is not None:
        if hit[0] > now:
            return _shared_answer(request, hit[1], hit[2])
        # Expired: this request renders it again while every other one keeps getting the old page for a
        # moment more (without this, all the requests in flight at the expiry rendered it at once).
        _PAGE_CACHE[key] = (now + ttl_s, hit[1], hit[2])
    body = _render_body(request, template, build()).encode()
    if len(_PAGE_CACHE) >= PAGE_CACHE_MAX_ENTRIES:
        _PAGE_CACHE.clear()
    etag = _etag(body)
    _PAGE_CACHE[key] = (now + ttl_s, body, etag)
    return _shared_answer(request, body, etag)


def clear_page_cache() -> None:
    """Forget every rendered page (tests, or after a change that must show at once)."""
    _PAGE_CACHE.clear()


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _shared_answer(request: Request, body: bytes, etag: str | None = None) -> Response:
    headers = _headers(cacheable=True)
    headers["ETag"] = etag or _etag(body)
    sent = request.headers.get("if-none-match", "")
    if headers["ETag"] in {tag.strip().removeprefix("W/") for tag in sent.split(",")} or sent.strip() == "*":
        return Response(status_code=304, headers=headers)
    return HTMLResponse(body, headers=headers)


def public_error(request: Request, status: int, code: str, message: str) -> HTMLResponse:
    """The public error page. Never cached: a passing failure must not stick in a shared cache."""
    context = {"status": status, "code": code, "message": message}
    body = _render_body(request, "error.html", context)
    return HTMLResponse(body, status_code=status, headers=_headers(cacheable=False))


def not_found(request: Request) -> HTMLResponse:
    return public_error(request, 404, "page_not_found", "找不到该页面，请检查网址，或返回首页查看参赛说明。")


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors inside the sub-app (an unknown address, a wrong method) as the public page."""
    status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
    if status == 404:
        return not_found(request)
    if status == 405:
        return public_error(request, 405, "method_not_allowed", "该页面不支持这种访问方式，请返回首页。")
    return public_error(request, status, "http_error", "请求未能完成，请稍后再试。")


class PublicRoute(APIRoute):
    """Every public page route: no login redirect; any failure rendered as the public error page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except DomainError as exc:
                return public_error(request, exc.status_code, exc.code, exc.message)
            except (RequestValidationError, DataError, OverflowError):
                # A malformed or out-of-range path parameter names no page.
                return not_found(request)
            except StarletteHTTPException as exc:
                return await http_error(request, exc)
            except Exception:
                # Answered here rather than by Starlette's server-error middleware, which would re-raise
                # into the staff app around us after sending its plain-text page.
                log.exception("unhandled error on public page %s", request.url.path)
                return public_error(request, 500, "internal_error", "服务暂时出现问题，请稍后刷新重试。")

        return route_handler
