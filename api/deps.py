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
from clipjury.accounts.sessions import (
    CSRF_HEADER,
    CSRF_SESSION_KEY,
    SAFE_METHODS,
    SESSION_TOKEN_KEY,
    SESSION_USER_KEY,
    CsrfFailed,
    session_user,
    token_user,
)
from clipjury.db import DB_ID_MAX, session_scope
from clipjury.errors import Unauthorized
from clipjury.showcase.policy import VoterTokenInvalid
from clipjury.showcase.voters import voter_id_of


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


def route_checks_own_csrf(request: Request) -> bool:
    """Whether the matched route checks the session's CSRF token itself (the page routes' class says
    so, review_ui/core/routing.py). Decided from the route, not the path, so it holds behind a ``root_path``; a
    route that does not say so (any API route, or none matched) gets the header check."""
    return bool(getattr(request.scope.get("route"), "checks_own_csrf", False))


def cookie_user(request: Request, session: Session) -> User | None:
    """The user of the web session cookie, if its server-side session is still live. A cookie whose
    session ended (logout, sign out everywhere, a new password, deactivation, expiry) is forgotten."""
    if "session" not in request.scope:
        return None
    user_id = request.session.get(SESSION_USER_KEY)
    token = request.session.get(SESSION_TOKEN_KEY)
    if not isinstance(user_id, int):
        return None
    user = session_user(session, token, user_id) if isinstance(token, str) else None
    if user is None:
        request.session.pop(SESSION_USER_KEY, None)
        request.session.pop(SESSION_TOKEN_KEY, None)
    return user


def user_from_request(request: Request, session: Session) -> User | None:
    """A bearer token (API clients) or the web session cookie (the browser, e.g. Uppy's tus requests).

    A state change authenticated by the cookie alone must carry the session's CSRF token in
    ``X-CSRF-Token`` (another site's page can make the browser send the cookie, not the header), unless
    its route checks the form's token itself (the page routes)."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        claims = decode_access_token(auth[7:].strip())
        user = token_user(session, claims.user_id, claims.generation) if claims is not None else None
        if user is None:
            raise Unauthorized("登录凭证无效、已过期或已被注销，请重新登录。", code="invalid_token")
        return user
    if (
        "session" in request.scope
        and isinstance(request.session.get(SESSION_USER_KEY), int)
        and request.method not in SAFE_METHODS
        and not route_checks_own_csrf(request)
        and not csrf_header_matches(request)
    ):
        raise CsrfFailed()
    return cookie_user(request, session)


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


async def current_voter(request: Request) -> int:
    """The voter of a voter token (``typ: voter``), the only credential the like routes take: a staff or
    submitter token, or the staff cookie, is refused with 401 (likes are the public's)."""
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        raise VoterTokenInvalid("请先验证手机号码后再点赞。", code="unauthorized")
    return voter_id_of(auth[7:].strip())


CurrentVoter = Annotated[int, Depends(current_voter)]
