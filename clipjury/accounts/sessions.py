"""Server-side web sessions and the per-account session generation: what makes a cookie or an API token
revocable before it runs out.

A web session is a row (``AuthSession``) named by the SHA-256 of a random token that only the browser's
signed cookie holds; logging out ends that row. Every session and every API token also carries the
account's ``session_generation`` from when it was made; raising the generation (sign out everywhere, a
new password, deactivation) ends all of them in one write, including a login that was still checking
its password while the generation moved.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, col, delete, select

from clipjury.accounts.models import AuthSession, User
from clipjury.errors import Forbidden
from clipjury.settings import get_settings
from clipjury.timeutil import utcnow

# The web session cookie's keys, shared by the API (which accepts the cookie on its routes, e.g. Uppy's tus
# requests) and the pages (which sign in and out): the signed-in user's id, and the server-side session's
# token, without a live row for which the signed cookie alone signs nobody in.
SESSION_USER_KEY = "uid"
SESSION_TOKEN_KEY = "sid"
# The web session's CSRF token: page forms send it as a field (review_ui), scripts (htmx, Uppy's tus
# requests) as this header (api.deps).
CSRF_SESSION_KEY = "csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfFailed(Forbidden):
    code = "csrf_failed"
    message = "页面已过期或来源不明，请刷新页面后重试。"


def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: User) -> str:
    """A new web session of ``user``; returns the token for the cookie (never stored as such)."""
    assert user.id is not None
    now = utcnow()
    # The account's own ended sessions are swept here, so the table stays as small as who is signed in.
    session.exec(
        delete(AuthSession).where(col(AuthSession.user_id) == user.id, col(AuthSession.expires_at) <= now)
    )
    token = secrets.token_urlsafe(32)
    session.add(
        AuthSession(
            id=_session_id(token), user_id=user.id, generation=user.session_generation, created_at=now,
            expires_at=now + timedelta(seconds=get_settings().session_max_age_s),
        )
    )
    session.flush()
    return token


def session_user(session: Session, token: str, user_id: int) -> User | None:
    """The active user of a live web session (one query, which also loads the user), else None."""
    row = session.exec(
        select(AuthSession, User)
        .join(User, col(User.id) == col(AuthSession.user_id))
        .where(col(AuthSession.id) == _session_id(token))
    ).first()
    if row is None:
        return None
    auth, user = row
    live = (
        auth.user_id == user_id
        and auth.revoked_at is None
        and auth.expires_at > utcnow()
        and auth.generation == user.session_generation
        and user.is_active
    )
    return user if live else None


def token_user(session: Session, user_id: int, generation: int) -> User | None:
    """The active user an API token of this generation still speaks for, else None."""
    user = session.get(User, user_id)
    if user is None or not user.is_active or user.session_generation != generation:
        return None
    return user


def end_session(session: Session, token: str) -> None:
    """Log out one browser: its cookie no longer signs anyone in, even if it was copied."""
    session.execute(
        update(AuthSession)
        .where(col(AuthSession.id) == _session_id(token), col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


def end_all_sessions(session: Session, user: User) -> None:
    """Sign ``user`` out everywhere: every web session and every API token issued so far stops working.

    The generation is raised in the database (not from the loaded value), so two of these at once both
    count and neither undoes the other."""
    assert user.id is not None
    session.execute(
        update(User).where(col(User.id) == user.id).values(session_generation=col(User.session_generation) + 1)
    )
    session.execute(
        update(AuthSession)
        .where(col(AuthSession.user_id) == user.id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    session.refresh(user)
