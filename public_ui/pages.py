"""The public pages. Thin: each asks a domain module for what the public may see and renders it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from api.deps import SessionDep
from clipjury.accounts.nicknames import NICKNAME_MAX
from clipjury.accounts.passwords import PASSWORD_MIN_CHARS
from clipjury.accounts.privacy import consent_text
from clipjury.accounts.provinces import list_provinces
from clipjury.campaigns.public import public_campaign
from clipjury.campaigns.service import active_campaign
from clipjury.db import DB_ID_MAX
from clipjury.showcase.likes import public_like_view
from clipjury.showcase.policy import NotOnShowcase
from public_ui.web import PublicRoute, render_public

router = APIRouter(route_class=PublicRoute, include_in_schema=False)


# HEAD too: link checkers and monitors ask with it, and FastAPI's GET routes do not answer it.
@router.api_route("/", methods=["GET", "HEAD"])
def landing(request: Request, session: SessionDep) -> Response:
    """The campaign's landing page: what it is, its rules and dates, and how to take part."""
    return render_public(request, "landing.html", {"campaign": public_campaign(session)})


@router.api_route("/register", methods=["GET", "HEAD"])
def register_page(request: Request, session: SessionDep) -> Response:
    """Self-registration for submitters with a phone code (the form posts to the public API)."""
    text = consent_text(active_campaign(session).rights_notice)
    return render_public(request, "register.html", {
        "provinces": list_provinces(session), "consent": text, "min_chars": PASSWORD_MIN_CHARS,
        "nickname_max": NICKNAME_MAX,
    })


@router.api_route("/password-reset", methods=["GET", "HEAD"])
def password_reset_page(request: Request) -> Response:
    """A new password with a code sent to the registered phone."""
    return render_public(request, "password_reset.html", {"min_chars": PASSWORD_MIN_CHARS})
@router.api_route("/vote/{work_id}", methods=["GET", "HEAD"])
def vote(request: Request, work_id: Annotated[int, Path(ge=1, le=DB_ID_MAX)], session: SessionDep) -> Response:
    """A work's like button on a page of its own (a link to share for voting): the title, the count and the
    phone sign-in. The same bytes for everyone; the voter's token stays in the browser."""
    shown = public_like_view(session, work_id)
    if shown is None:
        raise NotOnShowcase()
    return render_public(request, "showcase/vote.html", {"work": shown.work, "likes": shown.likes})
