"""The one module that builds the rq queues. Jobs are buffered on the session and sent only after
the commit, dropped on rollback; job IDs are deterministic so a repeat overwrites instead of doubling.

Only the machinery lives here: each domain's ``tasks.py`` owns its job ids and the helpers that defer
them (``clipjury.works.tasks``, ``clipjury.notifications.tasks``); the sweeps a worker runs are listed
in ``workers.sweeps``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from redis import Redis
from rq import Queue, Retry
from sqlalchemy import event
from sqlmodel import Session

from clipjury.settings import get_settings

log = logging.getLogger(__name__)

# Queue names (prefixed per deployment): validation first, so a verdict never waits behind a transcode;
# notifications next, since a message sent half an hour late (behind a transcode) is worth less.
VALIDATE = "validate"
NOTIFY = "notify"
MEDIA = "media"
MAINTENANCE = "maintenance"
# Integrity aids (fingerprints, OCR screening): hints for reviewers, last so they never delay a verdict,
# a message or a playable rendition.
INTEGRITY = "integrity"
QUEUE_ORDER = (VALIDATE, NOTIFY, MEDIA, MAINTENANCE, INTEGRITY)
DEFAULT_RETRY_INTERVALS = (5, 30, 120)


@lru_cache(maxsize=4)
def _redis_for(url: str) -> Redis:
    return Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30, health_check_interval=30)


def get_redis() -> Redis:
    url = get_settings().redis_url
    if not url:
        raise RuntimeError("CLIPJURY_REDIS_URL is not set (`clipjury run-local` sets it for you)")
    return _redis_for(url)


def queue_name(name: str) -> str:
    return f"{get_settings().queue_prefix}-{name}"


def get_queue(name: str) -> Queue:
    return Queue(queue_name(name), connection=get_redis(), default_timeout=get_settings().job_timeout)


def all_queues() -> list[Queue]:
    return [get_queue(name) for name in QUEUE_ORDER]


@dataclass(frozen=True)
class PendingJob:
    queue: str
    func: str
    job_id: str
    args: tuple[Any, ...]
    retry: int
    intervals: tuple[int, ...] = DEFAULT_RETRY_INTERVALS


def defer(
    session: Session,
    queue: str,
    func: str,
    job_id: str,
    *args: Any,
    retry: int = 2,
    intervals: tuple[int, ...] = DEFAULT_RETRY_INTERVALS,
) -> None:
    """Send ``func(*args)`` to ``queue`` once the session commits; nothing is sent on rollback."""
    pending: list[PendingJob] = session.info.setdefault("pending_jobs", [])
    if all(job.job_id != job_id for job in pending):
        pending.append(PendingJob(queue, func, job_id, args, retry, intervals))


def enqueue_now(job: PendingJob) -> None:
    q = get_queue(job.queue)
    retry = Retry(max=job.retry, interval=list(job.intervals[: job.retry])) if job.retry else None
    q.enqueue(job.func, *job.args, job_id=job.job_id, retry=retry, result_ttl=3600, failure_ttl=7 * 86400)


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    pending: list[PendingJob] = session.info.pop("pending_jobs", [])
    for job in pending:
        try:
            enqueue_now(job)
        except Exception:
            # The sweep finds work whose job never reached Redis and sends it again.
            log.exception("could not enqueue %s; the sweep will retry it", job.job_id)


@event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    session.info.pop("pending_jobs", None)

