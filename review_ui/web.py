"""The web UI's plumbing: templates, CSRF tokens, flash messages, and the route class that renders
domain errors as Chinese HTML pages (a 401 becomes a redirect to the login page)."""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable, Coroutine
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import DataError

from api.deps import cookie_user, csrf_header_matches
from clipjury.accounts.sessions import CSRF_SESSION_KEY, SAFE_METHODS, SESSION_USER_KEY, CsrfFailed
from clipjury.errors import DomainError, Invalid, NotFound, Unauthorized
from clipjury.timeutil import fmt_local

UI_DIR = Path(__file__).resolve().parent
STATIC_DIR = UI_DIR / "static"
log = logging.getLogger(__name__)

CSRF_FIELD = "csrf_token"
FLASH_SESSION_KEY = "flash"


def asset_url(path: str) -> str:
    """A /static URL with the file's modification time, so a rebuilt bundle is never served stale."""
    file = STATIC_DIR / path
    version = int(file.stat().st_mtime) if file.exists() else 0
    return f"/static/{path}?v={version}"


def _local_time(value: datetime | None) -> str:
    return fmt_local(value)


templates = Jinja2Templates(directory=str(UI_DIR / "templates"))
templates.env.globals["asset_url"] = asset_url
templates.env.filters["local_time"] = _local_time


# -- CSRF ------------------------------------------------------------------------------------------

def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (the login form is protected too)."""
    token = request.session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_SESSION_KEY] = token
    return token


async def check_csrf(request: Request) -> None:
    """The session's token, from the X-CSRF-Token header (htmx) or the form's field."""
    if csrf_header_matches(request):
        return
    expected = request.session.get(CSRF_SESSION_KEY)
    if not isinstance(expected, str) or not expected:
        raise CsrfFailed()  # no session token: nothing sent can match, so no need to read the body
    sent = ""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else ""
    if not hmac.compare_digest(expected, sent):
        raise CsrfFailed()


# -- flash messages --------------------------------------------------------------------------------

def flash(request: Request, text: str, kind: str = "success") -> None:
    messages = list(request.session.get(FLASH_SESSION_KEY) or [])
    messages.append({"kind": kind, "text": text})
    request.session[FLASH_SESSION_KEY] = messages[-5:]


def pop_flashes(request: Request) -> list[dict[str, str]]:
    messages = request.session.pop(FLASH_SESSION_KEY, None) or []
    return [m for m in messages if isinstance(m, dict)]


# -- rendering -------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _store_origin() -> str:
    """Where presigned playback URLs point (the browser streams from the store, not through us)."""
    from storage import get_store

    try:
        parts = urlsplit(get_store().presigned_get("csp-origin-probe"))
    except Exception:  # a store that cannot even sign must not take every page down
        return ""
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""


def security_headers() -> dict[str, str]:
    store = _store_origin()
    csp = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            # Uppy's Dashboard and htmx set inline style attributes.
            "style-src 'self' 'unsafe-inline'",
            f"img-src 'self' data: blob: {store}".strip(),
            # blob: is the in-browser duration check, the store serves the preview player.
            f"media-src 'self' blob: {store}".strip(),
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    full: dict[str, Any] = {
        "csrf_token": csrf_token(request),
        "flashes": pop_flashes(request),
        "current_user": None,
        "role_label": "",
    }
    full.update(context or {})
    return templates.TemplateResponse(
        request, template, full, status_code=status_code, headers=security_headers()
    )


def _viewer(request: Request) -> dict[str, object]:
    """The signed-in user's header (name, navigation) for an error page; nothing when signed out or when
    even that cannot be read (an error page must not fail in turn)."""
    uid = request.session.get(SESSION_USER_KEY) if "session" in request.scope else None
    if not isinstance(uid, int):
        return {}
    from clipjury.db import session_scope
    from review_ui.pages import user_context  # pages imports this module

    try:
        with session_scope() as session:
            user = cookie_user(request, session)
            return user_context(user, session) if user is not None else {}
    except Exception:
        log.warning("error page without the user's header", exc_info=True)
        return {}


def error_page(request: Request, exc: DomainError) -> HTMLResponse:
    return html_error(request, exc.status_code, exc.code, exc.message)


def html_error(request: Request, status: int, code: str, message: str) -> HTMLResponse:
    """An error outside any page route (an unknown address, a wrong method) as the same HTML page."""
    context = {**_viewer(request), "status": status, "code": code, "message": message}
    return render(request, "error.html", context, status_code=status)


def safe_next(target: str | None, default: str = "/works") -> str:
    """Only a path on this site: never an open redirect to another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def login_redirect(request: Request) -> Response:
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    target = "/login"
    if request.method == "GET" and path not in ("/", "/login") and not request.headers.get("hx-request"):
        target += "?next=" + quote(path, safe="/")
    if request.headers.get("hx-request"):
        # htmx (the status polling) follows this header with a full page load.
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


class PageRoute(APIRoute):
    """Every page route: CSRF checked on each state change, domain errors rendered as HTML pages."""

    # Read by api.deps: a page route checks the form's (or htmx's header) CSRF token itself.
    checks_own_csrf = True

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                if request.method not in SAFE_METHODS:
                    await check_csrf(request)
                return await handler(request)
            except Unauthorized:
                return login_redirect(request)
            except CsrfFailed as exc:
                if request.session.get(SESSION_USER_KEY) is None:
                    # The session ran out (and its token with it): log in again rather than a dead end.
                    flash(request, "页面已过期或登录已失效，请重新登录后再操作。", "error")
                    return login_redirect(request)
                return error_page(request, exc)
            except RequestValidationError:
                if request.method == "GET":
                    # A malformed path such as /works/abc is a page that does not exist.
                    return error_page(request, NotFound("找不到该页面。", code="page_not_found"))
                return error_page(request, Invalid("提交的内容过长或格式不正确，请返回修改。", code="invalid_form"))
            except DomainError as exc:
                return error_page(request, exc)
            except (DataError, OverflowError):
                # An id beyond what the database can hold (e.g. /works/99999999999) names nothing.
                return error_page(request, NotFound("找不到该页面。", code="page_not_found"))

        return route_handler
