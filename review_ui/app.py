"""Mounts the web UI on the main application: cookie sessions, static files, vendor files, pages."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from clipjury.settings import PROJECT_ROOT, get_settings
from review_ui.core.render import STATIC_DIR
from review_ui.core.routing import html_error
from review_ui.pages import (
    account,
    accounts,
    audit,
    awards,
    campaign,
    dashboard,
    integrity,
    judging,
    national,
    nominations,
    notifications,
    reports,
    review,
    showcase_likes,
    units,
    works,
)

NODE_MODULES = PROJECT_ROOT / "node_modules"

# The only files served out of node_modules (installed from package-lock.json, never committed).
# An explicit allow-list: nothing else in node_modules is reachable, and there is no listing.
VENDOR_FILES: dict[str, tuple[str, str]] = {
    "htmx.min.js": ("htmx.org/dist/htmx.min.js", "text/javascript"),
    "uppy.min.css": ("uppy/dist/uppy.min.css", "text/css"),
}


def vendor_file(name: str) -> Response:
    entry = VENDOR_FILES.get(name)
    path = NODE_MODULES / entry[0] if entry else None
    if entry is None or path is None or not path.is_file():
        return Response("Not Found", status_code=404, media_type="text/plain")
    headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    return FileResponse(path, media_type=entry[1], headers=headers)


def create_ui(app: FastAPI) -> None:
    settings = get_settings()
    # A signed, HttpOnly cookie; SameSite=Lax keeps other sites from sending it with their POSTs.
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key.get_secret_value(),
        session_cookie="clipjury_session",
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    # Registered before the /static mount, which would otherwise answer for /static/vendor/ too.
    app.add_api_route("/static/vendor/{name}", vendor_file, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    app.state.html_error_renderer = html_error
    # The order only matters where two paths could both match; none do today.
    for page in (account, works, review, integrity, national, dashboard, reports, notifications, audit, accounts,
                 units, showcase_likes, campaign, judging, awards, nominations):
        app.include_router(page.router)
