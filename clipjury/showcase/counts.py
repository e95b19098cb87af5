"""Like counts from the database, the source of truth (what awards and snapshots read)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func
from sqlmodel import Session, col, select

from clipjury.showcase.models import Like


def like_counts(session: Session, work_ids: Iterable[int]) -> dict[int, int]:
    """The counted (not voided) likes of each work; works without likes are 0."""
    ids = list(work_ids)
    if not ids:
        return {}
    rows = session.exec(
        select(Like.work_id, func.count())
        .where(col(Like.work_id).in_(ids), col(Like.voided_at).is_(None))
        .group_by(col(Like.work_id))
    ).all()
    counts = dict.fromkeys(ids, 0)
    counts.update({work_id: int(n) for work_id, n in rows})
    return counts
