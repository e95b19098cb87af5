"""The page route class (CSRF on each state change, domain errors as Chinese HTML pages, a 401 as a
redirect to the login page), the error pages and safe redirects."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError

from api.deps import cookie_user
from clipjury.accounts.sessions import SAFE_METHODS, SESSION_USER_KEY, CsrfFailed
from clipjury.db import session_scope
from clipjury.errors import DomainError, Invalid, NotFound, Unauthorized
from review_ui.context import user_context
from review_ui.core.csrf import check_csrf
from review_ui.core.flash import flash
from review_ui.core.render import render

log = logging.getLogger(__name__)


def _viewer(request: Request) -> dict[str, object]:
    """The signed-in user's header (name, navigation) for an error page; nothing when signed out or when
    even that cannot be read (an error page must not fail in turn)."""
    uid = request.session.get(SESSION_USER_KEY) if "session" in request.scope else None
    if not isinstance(uid, int):
        return {}
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
