"""The like counts the awards use: frozen once the window has closed, append-only.

Version 1 is made by the first of the workers' sweep or a read of the snapshot after the close (no sooner
than ``likes_settle_s`` after it, see ``clipjury.showcase.likes``); it lists every work published at the
close (also one disqualified or withdrawn since) and any work liked in the window. A voiding after that
makes the next version over the same works, never an edit. Each version's SHA-256 is the digest of its
canonical JSON (``canonical``: exactly the ``version``, ``frozen_at`` and ``works`` the API answers, keys
sorted, no spaces), so anyone holding the answer can check it, and it is written to the audit log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from clipjury.accounts.models import User
from clipjury.audit.service import record
from clipjury.campaigns.models import Campaign
from clipjury.settings import get_settings
from clipjury.showcase.models import Like, LikesSnapshot, LikesSnapshotWork, ShowcaseEntry
from clipjury.showcase.policy import NotFrozen, may_move_window, window_of
from clipjury.timeutil import utcnow

log = logging.getLogger(__name__)

CLOSED = "closed"
VOIDED = "voided"


@dataclass(frozen=True)
class WorkCount:
    id: int
    likes: int
    voided: int


@dataclass(frozen=True)
class Snapshot:
    version: int
    frozen_at: datetime
    sha256: str
    works: list[WorkCount]
    total_likes: int
    total_voided: int
    reason: str


def frozen_at_text(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical(version: int, frozen_at: datetime, works: list[WorkCount]) -> str:
    body = {
        "version": version,
        "frozen_at": frozen_at_text(frozen_at),
        "works": [{"id": w.id, "likes": w.likes, "voided": w.voided} for w in sorted(works, key=lambda w: w.id)],
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def latest_row(session: Session, campaign_id: int) -> LikesSnapshot | None:
    return session.exec(
        select(LikesSnapshot).where(col(LikesSnapshot.campaign_id) == campaign_id)
        .order_by(col(LikesSnapshot.version).desc())
    ).first()


def is_frozen(session: Session, campaign_id: int) -> bool:
    return latest_row(session, campaign_id) is not None


def frozen_counts(session: Session, campaign_id: int) -> dict[int, int] | None:
    """The final like counts once the window has closed (the latest snapshot's, after voiding), which the
    public pages show from then on; None before the freeze."""
    row = latest_row(session, campaign_id)
    if row is None:
        return None
    works = session.exec(select(LikesSnapshotWork).where(col(LikesSnapshotWork.snapshot_id) == row.id)).all()
    return {w.work_id: w.likes for w in works}


def ensure_window_may_move(session: Session, campaign: Campaign) -> None:
    """What ``PATCH /api/v1/campaigns/current`` asks before moving the showcase window."""
    may_move_window(is_frozen(session, campaign.id or 0)).ensure()


def _load(session: Session, row: LikesSnapshot) -> Snapshot:
    works = session.exec(
        select(LikesSnapshotWork).where(col(LikesSnapshotWork.snapshot_id) == row.id)
        .order_by(col(LikesSnapshotWork.work_id))
    ).all()
    return Snapshot(
        version=row.version, frozen_at=row.frozen_at, sha256=row.sha256,
        works=[WorkCount(w.work_id, w.likes, w.voided) for w in works],
        total_likes=row.total_likes, total_voided=row.total_voided, reason=row.reason,
    )


def _listed_at_close(session: Session, campaign_id: int, starts: datetime, ends: datetime) -> set[int]:
    published = session.exec(
        select(ShowcaseEntry.work_id).where(
            col(ShowcaseEntry.campaign_id) == campaign_id,
            or_(
                and_(col(ShowcaseEntry.published_at).is_not(None), col(ShowcaseEntry.published_at) < ends),
                # Withdrawn after the close: it was on the showcase when the window closed.
                and_(col(ShowcaseEntry.withdrawn_at).is_not(None), col(ShowcaseEntry.withdrawn_at) >= ends,
                     col(ShowcaseEntry.published_at).is_(None)),
            ),
        )
    ).all()
    liked = session.exec(
        select(Like.work_id).distinct().where(
            col(Like.campaign_id) == campaign_id, col(Like.created_at) >= starts, col(Like.created_at) < ends,
        )
    ).all()
    return {int(i) for i in published} | {int(i) for i in liked}


def _count(session: Session, campaign_id: int, work_ids: set[int], starts: datetime,
           ends: datetime) -> list[WorkCount]:
    counted = func.sum(case((col(Like.voided_at).is_(None), 1), else_=0))
    voided = func.sum(case((col(Like.voided_at).is_not(None), 1), else_=0))
    rows = session.exec(
        select(Like.work_id, counted, voided)
        .where(col(Like.campaign_id) == campaign_id, col(Like.created_at) >= starts, col(Like.created_at) < ends)
        .group_by(col(Like.work_id))
    ).all()
    found = {int(work_id): (int(n or 0), int(v or 0)) for work_id, n, v in rows}
    return [WorkCount(i, *found.get(i, (0, 0))) for i in sorted(work_ids)]


def _new_version(session: Session, campaign: Campaign, *, reason: str, actor: User | None,
                 now: datetime) -> Snapshot | None:
    """Append the next version; None when another process appended that version first."""
    window = window_of(campaign)
    assert window is not None
    starts, ends = window
    campaign_id = campaign.id or 0
    previous = latest_row(session, campaign_id)
    if previous is None:
        work_ids = _listed_at_close(session, campaign_id, starts, ends)
    else:
        work_ids = {int(i) for i in session.exec(
            select(LikesSnapshotWork.work_id).where(col(LikesSnapshotWork.snapshot_id) == previous.id)
        ).all()}
    version = previous.version + 1 if previous else 1
    frozen_at = now.replace(microsecond=0)
    works = _count(session, campaign_id, work_ids, starts, ends)
    digest = hashlib.sha256(canonical(version, frozen_at, works).encode("utf-8")).hexdigest()
    total_likes, total_voided = sum(w.likes for w in works), sum(w.voided for w in works)
    # Two freezers at once (two workers' sweeps, a read): the unique (campaign, version) lets one win.
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    snapshot_id = session.execute(
        insert(LikesSnapshot).values(
            campaign_id=campaign_id, version=version, frozen_at=frozen_at, window_starts_at=starts,
            window_ends_at=ends, sha256=digest, total_likes=total_likes, total_voided=total_voided, reason=reason,
            created_by_id=actor.id if actor else None,
        ).on_conflict_do_nothing(index_elements=["campaign_id", "version"]).returning(col(LikesSnapshot.id))
    ).scalar_one_or_none()
    if snapshot_id is None:
        return None
    for w in works:
        session.add(LikesSnapshotWork(snapshot_id=snapshot_id, work_id=w.id, likes=w.likes, voided=w.voided))
    session.flush()
    record(
        session, actor=actor, action="likes_snapshot", reason=reason,
        data={"campaign_id": campaign_id, "version": version, "sha256": digest, "frozen_at": frozen_at_text(frozen_at),
              "works": len(works), "likes": total_likes, "voided": total_voided},
    )
    log.info("likes snapshot v%d of campaign %d: %d works, %d likes, %d voided, sha256 %s", version, campaign_id,
             len(works), total_likes, total_voided, digest)
    return Snapshot(version, frozen_at, digest, works, total_likes, total_voided, reason)


def freeze_if_due(session: Session, campaign: Campaign, *, now: datetime | None = None,
                  wait: bool = False) -> Snapshot | None:
    """The latest snapshot, made now if the window has closed and none exists yet. Within ``likes_settle_s``
    after the close: None, or with ``wait`` (a reader asking right at the close) the short wait first."""
    now = now or utcnow()
    window = window_of(campaign)
    if window is None or now < window[1]:
        return None
    existing = latest_row(session, campaign.id or 0)
    if existing is not None:
        return _load(session, existing)
    due = window[1] + timedelta(seconds=get_settings().likes_settle_s)
    if now < due:
        if not wait:
            return None
        time.sleep((due - now).total_seconds())
        now = utcnow()
    made = _new_version(session, campaign, reason=CLOSED, actor=None, now=now)
    if made is not None:
        return made
    winner = latest_row(session, campaign.id or 0)
    return _load(session, winner) if winner is not None else None


def current(session: Session, campaign: Campaign) -> Snapshot:
    """What ``GET /api/v1/campaigns/current/likes-snapshot`` answers: ``NotFrozen`` (409) before the close."""
    snapshot = freeze_if_due(session, campaign, wait=True)
    if snapshot is None:
        raise NotFrozen()
    return snapshot


def after_voiding(session: Session, campaign: Campaign, actor: User) -> Snapshot | None:
    """A voiding after the freeze makes the next version (none before: the freeze will count it)."""
    if not is_frozen(session, campaign.id or 0):
        return None
    return _new_version(session, campaign, reason=VOIDED, actor=actor, now=utcnow())
