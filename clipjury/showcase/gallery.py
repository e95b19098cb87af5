"""What the public sees of the showcase: the published works in 报送 order (``forwarded_at``, then ``id``),
with their display like counts and presigned URLs of their public copies.

The URLs are signed once and reused (Redis, for half their validity): a page or an API answer a cache
keeps is the same bytes for every visitor for a while, and signing per request would make each one
different. Redis down: URLs are signed per request (still valid, only less cacheable).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from redis.exceptions import RedisError
from sqlalchemy import func
from sqlmodel import Session, col

from clipjury.accounts.models import Province, Unit
from clipjury.campaigns.models import Campaign
from clipjury.jobs import get_redis
from clipjury.settings import get_settings
from clipjury.showcase import catalog, counts, snapshots
from clipjury.showcase.models import ShowcaseEntry
from clipjury.showcase.policy import window_of
from clipjury.timeutil import fmt_local
from clipjury.works.models import Work
from storage import get_store

log = logging.getLogger(__name__)

PAGE_MAX = 100


@dataclass(frozen=True)
class GalleryWork:
    id: int
    title: str
    description: str
    province: str
    province_code: str
    unit: str | None
    submitted_at: datetime | None
    forwarded_at: datetime | None
    likes: int
    poster_url: str | None
    video_url: str | None


@dataclass(frozen=True)
class GalleryPage:
    total: int
    works: list[GalleryWork]


def _url_key(object_key: str) -> str:
    return f"{get_settings().queue_prefix}-showcase:url:{object_key}"


def public_urls(keys: list[str]) -> dict[str, str]:
    """A presigned GET URL per object key, reused while it has at least half its validity left."""
    keys = list(dict.fromkeys(k for k in keys if k))
    if not keys:
        return {}
    settings = get_settings()
    urls: dict[str, str] = {}
    try:
        cached = get_redis().mget([_url_key(k) for k in keys])
    except RedisError as exc:
        log.warning("presigned URL cache unavailable, signing per request: %s", exc)
        cached = [None] * len(keys)
    fresh: dict[str, str] = {}
    for key, value in zip(keys, cached, strict=True):
        if value is not None:
            urls[key] = value.decode() if isinstance(value, bytes) else str(value)
            continue
        content_type = "image/jpeg" if key.endswith(".jpg") else "video/mp4"
        fresh[key] = get_store().presigned_get(key, content_type=content_type,
                                               expires_s=settings.showcase_url_expiry_s)
    urls.update(fresh)
    if fresh:
        try:
            pipe = get_redis().pipeline(transaction=False)
            for key, url in fresh.items():
                # set-if-absent: two requests signing at once keep the first URL for both.
                pipe.set(_url_key(key), url, ex=settings.showcase_url_expiry_s // 2, nx=True)
            pipe.execute()
        except RedisError as exc:
            log.warning("presigned URLs not cached: %s", exc)
    return urls


def _rows_query(campaign: Campaign, province_code: str | None):  # type: ignore[no-untyped-def]  # a SQLAlchemy select of tuples
    query = (
        catalog.public_works_query(campaign.id or 0)
        .join(Province, col(Province.id) == col(Work.province_id))
        .outerjoin(Unit, col(Unit.id) == col(Work.unit_id))
    )
    if province_code:
        query = query.where(col(Province.code) == province_code)
    return query


def gallery(session: Session, campaign: Campaign, *, province_code: str | None = None, limit: int = 24,
            offset: int = 0) -> GalleryPage:
    """One page of the showcase, in 报送 order, and how many works it holds in all."""
    base = _rows_query(campaign, province_code)
    total = session.exec(base.with_only_columns(func.count()).order_by(None)).one()
    rows = session.execute(
        base.add_columns(ShowcaseEntry, Province.name, Province.code, Unit.name)
        .order_by(col(Work.forwarded_at), col(Work.id))
        .limit(min(limit, PAGE_MAX)).offset(offset)
    ).all()
    return GalleryPage(total=int(total), works=_present(session, [tuple(r) for r in rows]))


def gallery_work(session: Session, work_id: int) -> GalleryWork | None:
    """One work on the showcase (its page), or None when it is not on it now."""
    found = catalog.public_work(session, work_id)
    if found is None:
        return None
    work, entry = found
    province = session.get(Province, work.province_id)
    unit = session.get(Unit, work.unit_id) if work.unit_id else None
    return _present(session, [(work, entry, province.name if province else "", province.code if province else "",
                               unit.name if unit else None)])[0]


def _present(session: Session, rows: list[tuple[object, ...]]) -> list[GalleryWork]:
    pairs = [(r[0], r[1]) for r in rows]
    likes = counts.cached_like_counts(session, [w.id or 0 for w, _ in pairs])  # type: ignore[attr-defined]  # Work rows
    # Once frozen, the final counts are the snapshot's (what the awards use), not the display cache's.
    for campaign_id in {w.campaign_id for w, _ in pairs}:  # type: ignore[attr-defined]  # Work rows
        final = snapshots.frozen_counts(session, campaign_id)
        if final is not None:
            likes.update({w.id: final[w.id] for w, _ in pairs if w.id in final})  # type: ignore[attr-defined]
    urls = public_urls([k for _, e in pairs for k in (e.public_key, e.public_poster_key) if k])  # type: ignore[attr-defined]  # ShowcaseEntry rows
    out: list[GalleryWork] = []
    for work, entry, province, code, unit in rows:
        assert isinstance(work, Work) and isinstance(entry, ShowcaseEntry)
        out.append(GalleryWork(
            id=work.id or 0, title=work.title, description=work.description, province=str(province),
            province_code=str(code), unit=str(unit) if unit is not None else None, submitted_at=work.submitted_at,
            forwarded_at=work.forwarded_at, likes=likes.get(work.id or 0, 0),
            poster_url=urls.get(entry.public_poster_key or ""), video_url=urls.get(entry.public_key or ""),
        ))
    return out


def provinces_on_show(session: Session, campaign: Campaign) -> list[tuple[str, str]]:
    """(code, name) of the provinces with works on the showcase, in the organisations' order (the filter)."""
    rows = session.execute(
        catalog.public_works_query(campaign.id or 0)
        .join(Province, col(Province.id) == col(Work.province_id))
        .with_only_columns(col(Province.code), col(Province.name), col(Province.sort_order))
        .distinct()
        .order_by(col(Province.sort_order), col(Province.code))
    ).all()
    return [(str(code), str(name)) for code, name, _ in rows]


@dataclass(frozen=True)
class WindowView:
    """Where the showcase's like window stands, for the public pages (times in Beijing time)."""

    state: str  # "unset", "before", "open" or "closed"
    starts: str
    ends: str


def window_view(campaign: Campaign, now: datetime) -> WindowView:
    window = window_of(campaign)
    if window is None:
        return WindowView("unset", "", "")
    starts, ends = window
    state = "before" if now < starts else "open" if now < ends else "closed"
    return WindowView(state, fmt_local(starts), fmt_local(ends))
