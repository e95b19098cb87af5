"""The public pages. Thin: each asks a domain module for what the public may see and renders it."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.deps import SessionDep
from clipjury.campaigns.public import public_campaign
from public_ui.web import PublicRoute, render_public

router = APIRouter(route_class=PublicRoute, include_in_schema=False)


# HEAD too: link checkers and monitors ask with it, and FastAPI's GET routes do not answer it.
@router.api_route("/", methods=["GET", "HEAD"])
def landing(request: Request, session: SessionDep) -> Response:
    """The campaign's landing page: what it is, its rules and dates, and how to take part."""
    return render_public(request, "landing.html", {"campaign": public_campaign(session)})
