"""The showcase (issue 15 part A): publishing and withdrawing works (national admin) and the public gallery.
Thin: parse, call clipjury.showcase, render.

The gallery reads no login and writes no session: its answer is the same bytes for everyone for a while
(the presigned URLs in it are reused, ``clipjury.showcase.gallery``), so shared caches may keep it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api.deps import CurrentUser, SessionDep, WorkId
from api.params import ProvinceQuery
from api.problems import CHANGE_AUTH_ERRORS, VALIDATION_ERRORS, problem_responses
from clipjury.campaigns.service import NoActiveCampaign, active_campaign
from clipjury.settings import get_settings
from clipjury.showcase import gallery, publishing
from clipjury.showcase.models import ShowcaseEntry
from clipjury.works.policy import WorkNotFound

router = APIRouter(tags=["showcase"])


class ShowcaseEntryOut(BaseModel):
    id: int = Field(description="The work's id.")
    published: bool
    published_at: datetime | None
    withdrawn_at: datetime | None
    copy_status: str = Field(description="The public copy: `pending`, `ready` or `failed`.")


def _entry_out(work_id: int, entry: ShowcaseEntry | None) -> ShowcaseEntryOut:
    if entry is None:
        return ShowcaseEntryOut(id=work_id, published=False, published_at=None, withdrawn_at=None,
                                copy_status="none")
    return ShowcaseEntryOut(id=work_id, published=entry.published_at is not None, published_at=entry.published_at,
                            withdrawn_at=entry.withdrawn_at, copy_status=entry.copy_status)


_ADMIN_ERRORS = (*CHANGE_AUTH_ERRORS, *VALIDATION_ERRORS, (403, "forbidden_role"), WorkNotFound)


@router.post("/api/v1/showcase/works/{work_id}/publish", response_model=ShowcaseEntryOut,
             responses=problem_responses(*_ADMIN_ERRORS, publishing.NotRecommended, publishing.ResultsNotPublished,
                                         publishing.NotPlayable))
def publish(work_id: WorkId, user: CurrentUser, session: SessionDep) -> ShowcaseEntryOut:
    """Put a recommended work on the public showcase (national admin). 409 `not_recommended` for any other
    status, `results_not_published` before `POST /api/v1/review/publish`, `not_playable` while its public
    copy is not ready (the copy is asked for then: publish again once it is made)."""
    outcome = publishing.publish(session, user, work_id)
    session.commit()  # the copy request stands whatever the answer
    outcome.raise_refusal()
    return _entry_out(work_id, outcome.entry)


@router.post("/api/v1/showcase/works/{work_id}/withdraw", response_model=ShowcaseEntryOut,
             responses=problem_responses(*_ADMIN_ERRORS))
def withdraw(work_id: WorkId, user: CurrentUser, session: SessionDep) -> ShowcaseEntryOut:
    """Take a work off the public showcase (national admin); its likes are kept. Idempotent."""
    return _entry_out(work_id, publishing.withdraw(session, user, work_id))


class GalleryItem(BaseModel):
    id: int
    title: str
    province: str = Field(description="The province's (or department's) name.")
    unit: str | None = Field(description="The unit's name; null for a work entered by an individual.")
    submitted_at: datetime | None
    forwarded_at: datetime | None = Field(description="When the province forwarded it (报送): the list's order.")
    likes: int = Field(description="The displayed like count (may lag the database by a sweep).")
    poster_url: str | None = Field(description="A presigned GET URL of the public copy's poster (reused while valid).")
    video_url: str | None = Field(description="A presigned GET URL of the public copy (metadata stripped).")


@router.get("/api/v1/showcase/works", response_model=list[GalleryItem], responses=problem_responses(
    *VALIDATION_ERRORS, NoActiveCampaign,
))
def showcase_works(
    response: Response, session: SessionDep,
    province: ProvinceQuery = None,
    limit: Annotated[int, Query(ge=1, le=gallery.PAGE_MAX)] = 24,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[GalleryItem]:
    """The works on the public showcase in 报送 order (`forwarded_at`, then `id`), optionally of one province
    (its code); `X-Total-Count` gives the full count. Public: no login, no cookie; cacheable."""
    page = gallery.gallery(session, active_campaign(session), province_code=province or None, limit=limit,
                           offset=offset)
    response.headers["X-Total-Count"] = str(page.total)
    response.headers["Cache-Control"] = f"public, max-age={get_settings().public_cache_max_age_s}"
    return [
        GalleryItem(id=w.id, title=w.title, province=w.province, unit=w.unit, submitted_at=w.submitted_at,
                    forwarded_at=w.forwarded_at, likes=w.likes, poster_url=w.poster_url, video_url=w.video_url)
        for w in page.works
    ]
