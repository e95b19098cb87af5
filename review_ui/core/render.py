"""Rendering a page: the templates, static asset URLs, local times and the security headers."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from clipjury.timeutil import fmt_local
from review_ui.core.csrf import csrf_token
from review_ui.core.flash import pop_flashes
from storage import get_store

UI_DIR = Path(__file__).resolve().parent.parent
STATIC_DIR = UI_DIR / "static"


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


@lru_cache(maxsize=1)
def _store_origin() -> str:
    """Where presigned playback URLs point (the browser streams from the store, not through us)."""
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

