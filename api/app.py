"""The ASGI application: the JSON API, the health check, and the web UI mounted as a sub-app."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import problems
from api.body_limits import FormBodyLimit
from api.loopback_guard import LoopbackOnly
from api.routes import accounts, auth, campaigns, health, integrity, notifications, review, units, uploads, works
from api.routes import awards as awards_routes
from api.routes import judging as judging_routes
from api.routes import likes as likes_routes
from api.routes import nominations as nominations_routes
from api.routes import public as public_routes
from api.routes import reports as reports_routes
from api.routes import showcase as showcase_routes
from clipjury.phones import logmask
from clipjury.settings import get_settings


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    # Once started, a process holds ~230k long-lived objects (modules, routes, metadata, templates); a full
    # garbage collection walking them inside a request cost up to 200 ms (bench/bench_review.py). Frozen,
    # the collector no longer walks them.
    gc.collect()
    gc.freeze()
    yield


def create_app() -> FastAPI:
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logmask.install()  # no phone number in any log line (the access log prints queries)
    app = FastAPI(
        title="clipjury", version="0.1.0", docs_url="/api/docs", openapi_url="/api/openapi.json",
        redoc_url=None, swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect", lifespan=_lifespan,
    )
    problems.install(app)
    # Added before the UI's session middleware, so that one wraps it: a refusal renders the HTML error
    # page with the visitor's session.
    app.add_middleware(FormBodyLimit, fastapi_app=app)
    if settings.uses_dev_secret:
        app.add_middleware(LoopbackOnly)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(works.router)
    app.include_router(uploads.router)
    app.include_router(review.router)
    app.include_router(integrity.router)
    app.include_router(notifications.router)
    app.include_router(reports_routes.router)
    app.include_router(accounts.router)
    app.include_router(campaigns.router)
    app.include_router(public_routes.provinces_router)
    app.include_router(public_routes.router)
    app.include_router(likes_routes.public_router)
    app.include_router(likes_routes.router)
    app.include_router(judging_routes.router)
    app.include_router(awards_routes.router)
    app.include_router(awards_routes.public_router)
    app.include_router(nominations_routes.router)
    app.include_router(showcase_routes.router)
    if settings.sms_sender == "dev":
        # Not merely refused elsewhere: absent, so no production configuration can expose codes.
        from api.routes import dev

        app.include_router(dev.router)
    app.include_router(units.router)

    from review_ui.app import create_ui

    create_ui(app)
    from public_ui.app import mount_public

    mount_public(app)
    return app
