"""The public pages. Thin: each asks a domain module for what the public may see and renders it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from api.deps import SessionDep
from clipjury.accounts.nicknames import NICKNAME_MAX
from clipjury.accounts.passwords import PASSWORD_MIN_CHARS
from clipjury.accounts.privacy import consent_text
from clipjury.accounts.provinces import list_provinces
from clipjury.awards import service as awards
from clipjury.campaigns.public import public_campaign
from clipjury.campaigns.service import active_campaign
from clipjury.db import DB_ID_MAX, session_scope
from clipjury.settings import get_settings
from clipjury.showcase import gallery
from clipjury.showcase.likes import public_like_view
from clipjury.showcase.policy import NotOnShowcase
from clipjury.timeutil import fmt_local, utcnow
from public_ui.web import PublicRoute, render_public, render_public_cached

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
    return render_public(request, "showcase/vote.html", {
        "work": shown.work, "likes": shown.likes, "window": gallery.window_view(active_campaign(session), utcnow()),
    })


GALLERY_PAGE_SIZE = 24


@router.api_route("/showcase", methods=["GET", "HEAD"])
def showcase_gallery(
    request: Request,
    province: Annotated[str, Query(max_length=32)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """展播: the published works in 报送 order, filterable by province, with their like counts; before the
    window it says when liking opens, after it that the counts are final."""

    def build() -> dict[str, object]:
        # Its own unit of work (read only), opened only when the page is rendered: a request answered from
        # the page cache takes no session at all.
        with session_scope() as session:
            campaign = active_campaign(session)
            found = gallery.gallery(session, campaign, province_code=province or None, limit=GALLERY_PAGE_SIZE,
                                    offset=(page - 1) * GALLERY_PAGE_SIZE)
            return {
                "campaign_name": campaign.name, "works": found.works, "total": found.total, "page": page,
                "pages": max(1, -(-found.total // GALLERY_PAGE_SIZE)), "province": province,
                "provinces": gallery.provinces_on_show(session, campaign),
                "window": gallery.window_view(campaign, utcnow()),
                "og_image": next((w.poster_url for w in found.works if w.poster_url), None),
            }

    # The hottest public page: rendered once per showcase_page_cache_s for every anonymous visitor.
    return render_public_cached(request, "showcase/gallery.html", build, get_settings().showcase_page_cache_s)


@router.api_route("/showcase/works/{work_id}", methods=["GET", "HEAD"])
def showcase_work(request: Request, work_id: Annotated[int, Path(ge=1, le=DB_ID_MAX)],
                  session: SessionDep) -> Response:
    """A work on the showcase: the player with its public copy and poster, title, province, unit, the like
    count and the like button. A shareable URL (title and preview image for chat apps)."""
    work = gallery.gallery_work(session, work_id)
    if work is None:
        raise NotOnShowcase()
    return render_public(request, "showcase/work.html", {
        "work": work, "likes": work.likes, "window": gallery.window_view(active_campaign(session), utcnow()),
    })


@router.api_route("/results", methods=["GET", "HEAD"])
def results(request: Request, session: SessionDep) -> Response:
    """评奖结果: the published awards by level (title, province, unit), and where to check a certificate; before
    publication it says the results are not out yet."""
    campaign = active_campaign(session)
    found = awards.public_results(session, campaign)
    by_level: dict[str, list[dict[str, object]]] = {}
    for row in found:
        by_level.setdefault(str(row["level"]), []).append(row)
    public = awards.published(session, campaign)
    return render_public(request, "results/index.html", {
        "campaign_name": campaign.name, "by_level": by_level, "published": public, "total": len(found),
        "published_at": fmt_local(public.published_at) if public else "",
    })


@router.api_route("/certificates", methods=["GET", "HEAD"])
def certificate_check(request: Request, session: SessionDep,
                      code: Annotated[str, Query(max_length=32)] = "") -> Response:
    """获奖证书查验: the code printed on a certificate gives its serial, the work and its current level, or says
    that no such certificate is valid."""
    found = awards.verify_certificate(session, code) if code.strip() else None
    return render_public(request, "results/certificate.html", {"code": code.strip(), "found": found})
