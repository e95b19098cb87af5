"""Like counts: from the database, the source of truth (what awards and snapshots read), and a Redis
display cache for the gallery and the like button.

The cache is one hash (field: work id, value: counted likes). A like bumps it after its commit, only when
the work's field is there (a missing field is filled from the database instead of starting at 1); a
voiding sets the affected works' fields from the database after its commit; the reconciler (a worker
sweep) rewrites every published work's field from the database, so a Redis restart or a lost bump is
repaired within one sweep. Awards never read it. Every Redis error falls back to the database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import func
from sqlmodel import Session, col, select

from clipjury.jobs import get_redis
from clipjury.settings import get_settings
from clipjury.showcase.models import Like, ShowcaseEntry

log = logging.getLogger(__name__)

# KEYS: the hash. ARGV: the work id. The new count, or nil when the field is missing (then the caller
# fills it from the database).
_BUMP = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
end
return false
"""


def cache_key() -> str:
    return f"{get_settings().queue_prefix}-likes:counts"


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


def cached_like_counts(session: Session, work_ids: Iterable[int]) -> dict[int, int]:
    """The display counts (the gallery, the work page): from Redis, the works it does not hold (or all,
    when Redis is down) from the database, which also fills the cache for the next reader."""
    ids = list(dict.fromkeys(work_ids))
    if not ids:
        return {}
    try:
        cached = get_redis().hmget(cache_key(), [str(i) for i in ids])
    except RedisError as exc:
        log.warning("like count cache unavailable, reading the database: %s", exc)
        return like_counts(session, ids)
    counts = {work_id: int(value) for work_id, value in zip(ids, cached, strict=True) if value is not None}
    missing = [work_id for work_id in ids if work_id not in counts]
    if missing:
        fresh = like_counts(session, missing)
        counts.update(fresh)
        _fill(fresh, overwrite=False)
    return counts


def bump_after_commit(session: Session, work_id: int) -> int:
    """A counted like was committed: the new display count (the database's when the cache lacks it)."""
    try:
        value = get_redis().eval(_BUMP, 1, cache_key(), str(work_id))
    except RedisError as exc:
        log.warning("like count cache not bumped for work %s (the reconciler repairs it): %s", work_id, exc)
        return like_counts(session, [work_id])[work_id]
    if value is not None:
        return int(value)
    count = like_counts(session, [work_id])[work_id]
    _fill({work_id: count}, overwrite=False)
    return count


def bump_many_after_commit(session: Session, work_ids: Sequence[int]) -> list[int]:
    """``bump_after_commit`` for a batch of committed likes (a work may come more than once): one Redis round
    trip, the works the cache lacks read from the database in one query; each like gets its own count."""
    if not work_ids:
        return []
    try:
        pipe = get_redis().pipeline(transaction=False)
        for work_id in work_ids:
            pipe.eval(_BUMP, 1, cache_key(), str(work_id))
        values: list[Any] = pipe.execute()
    except RedisError as exc:
        log.warning("like count cache not bumped for %d likes (the reconciler repairs it): %s", len(work_ids), exc)
        truth = like_counts(session, work_ids)
        return [truth[w] for w in work_ids]
    missing = sorted({w for w, v in zip(work_ids, values, strict=True) if v is None})
    truth = like_counts(session, missing) if missing else {}
    if truth:
        _fill(truth, overwrite=False)
    return [int(v) if v is not None else truth[w] for w, v in zip(work_ids, values, strict=True)]


def refresh_after_commit(session: Session, work_ids: Iterable[int]) -> dict[int, int]:
    """Set the works' display counts from the database (after a voiding was committed)."""
    counts = like_counts(session, work_ids)
    _fill(counts, overwrite=True)
    return counts


def _fill(counts: dict[int, int], *, overwrite: bool) -> None:
    if not counts:
        return
    try:
        pipe = get_redis().pipeline(transaction=False)
        for work_id, count in counts.items():
            if overwrite:
                pipe.hset(cache_key(), str(work_id), count)
            else:
                pipe.hsetnx(cache_key(), str(work_id), count)
        pipe.execute()
    except RedisError as exc:
        log.warning("like count cache not filled: %s", exc)


def reconcile(session: Session) -> int:
    """Rewrite the display count of every work with a showcase entry from the database; returns how many.
    A like committed between the read and the write is repaired by the next run (a display may lag, the
    database never does)."""
    ids = [int(i) for i in session.exec(select(ShowcaseEntry.work_id)).all()]
    counts = like_counts(session, ids)
    if counts:
        try:
            get_redis().hset(cache_key(), mapping={str(k): v for k, v in counts.items()})
        except RedisError as exc:
            log.warning("like count cache not reconciled: %s", exc)
            return 0
    return len(counts)
