"""The session's CSRF token: created on first use, checked on every page form's state change."""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request

from api.deps import csrf_header_matches
from clipjury.accounts.sessions import CSRF_SESSION_KEY, CsrfFailed

CSRF_FIELD = "csrf_token"


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
