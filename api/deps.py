"""Typed dependencies: the database session (the request's unit of work) and the current user."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from sqlmodel import Session

from clipjury.accounts.models import User
from clipjury.accounts.scopes import ensure_account_complete
from clipjury.accounts.security import decode_access_token
from clipjury.db import DB_ID_MAX, session_scope
from clipjury.errors import Forbidden, Unauthorized

SESSION_USER_KEY = "uid"
# The web session's CSRF token (see review_ui/web.py): page forms send it as a field, scripts (htmx,
# Uppy's tus requests) as this header.
CSRF_SESSION_KEY = "csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfFailed(Forbidden):
    code = "csrf_failed"
    message = "页面已过期或来源不明，请刷新页面后重试。"


def csrf_header_matches(request: Request) -> bool:
    expected = request.session.get(CSRF_SESSION_KEY)
    sent = request.headers.get(CSRF_HEADER, "")
    return isinstance(expected, str) and bool(expected) and hmac.compare_digest(expected, sent)


def get_session() -> Iterator[Session]:
    """One unit of work per request: services flush, this boundary commits (or rolls back)."""
    with session_scope() as session:
        yield session


# scope="function": commit before the response is sent, so a client never reads state older than
# what it was just told, and a failed commit is an error response rather than a silent loss.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def user_from_request(request: Request, session: Session) -> User | None:
    """A bearer token (API clients) or the web session cookie (the browser, e.g. Uppy's tus requests).

    A state change under /api authenticated by the cookie alone must carry the session's CSRF token in
    ``X-CSRF-Token`` (another site's page can make the browser send the cookie, not the header); page
    routes check their own token (review_ui/web.py)."""
    auth = request.headers.get("authorization", "")
    user_id: int | None = None
    if auth.lower().startswith("bearer "):
        user_id = decode_access_token(auth[7:].strip())
        if user_id is None:
            raise Unauthorized("登录凭证无效或已过期，请重新登录。", code="invalid_token")
    elif "session" in request.scope:
        raw = request.session.get(SESSION_USER_KEY)
        user_id = int(raw) if isinstance(raw, int) else None
        if (
            user_id is not None
            and request.method not in SAFE_METHODS
            and request.url.path.startswith("/api/")
            and not csrf_header_matches(request)
        ):
            raise CsrfFailed()
    if user_id is None:
        return None
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    return user


def current_user(request: Request, session: SessionDep) -> User:
    user = user_from_request(request, session)
    if user is None:
        raise Unauthorized()
    # Every API and page route reads the user through here: an account without its role's scope is
    # refused before any query could filter on its NULL province or unit.
    ensure_account_complete(user)
    return user


CurrentUser = Annotated[User, Depends(current_user, scope="function")]

# Ids in URLs are bounded by what the database holds (clipjury.db.DB_ID_MAX).
WorkId = Annotated[int, Path(ge=1, le=DB_ID_MAX)]
OptionalDbId = Annotated[int | None, Query(ge=1, le=DB_ID_MAX)]
