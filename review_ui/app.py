"""Mounts the web UI on the main application: cookie sessions, static files, pages."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware

from clipjury.settings import get_settings


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
