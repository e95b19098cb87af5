"""The notification job: send one in-app notification through every other configured channel.

Delivery is recorded per (notification, channel) in Redis rather than in a column: a retry after a
gateway outage then re-sends only the channels that failed, and no migration is needed. The record is
written after the hand-over, so delivery is at-least-once (a crash between the two sends again); the
e-mail's Message-ID and the SMS relay's Idempotency-Key are deterministic for receivers to deduplicate.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from rq.job import Job
from sqlmodel import Session, col, select

from clipjury.accounts.contact import phone_of
from clipjury.accounts.models import User
from clipjury.db import session_scope
from clipjury.jobs import NOTIFY, PendingJob, defer, enqueue_now, get_redis
from clipjury.notifications.channels import (
    CHANNELS,
    DeliveryFailed,
    Message,
    Undeliverable,
    external_channel_names,
)
from clipjury.notifications.models import Notification
from clipjury.settings import get_settings
from clipjury.timeutil import utcnow

log = logging.getLogger(__name__)

# Outlives the whole retry schedule, so a late retry still knows what was already sent.
OUTCOME_TTL_S = 14 * 86400
SENT = "sent"
# The sweep looks this far back for notifications whose job never reached Redis. It must stay below
# the rq result_ttl (one hour): an older finished job has expired and would look lost.
SWEEP_WINDOW = timedelta(minutes=50)
# Younger notifications may be between their commit and their enqueue.
SWEEP_GRACE = timedelta(minutes=2)
# A mail server or SMS gateway can be down for a while: back off up to hours before giving up.
NOTIFY_RETRY_INTERVALS = (10, 60, 300, 1800, 7200)


def notification_job_id(notification_id: int) -> str:
    return f"notify-{notification_id}"


def notification_job(notification_id: int) -> PendingJob:
    # The job raises only on transient failures (a permanent one is logged and dropped), so every rq
    # retry is worth making.
    return PendingJob(
        NOTIFY, "clipjury.notifications.tasks.deliver", notification_job_id(notification_id),
        (notification_id,), len(NOTIFY_RETRY_INTERVALS), NOTIFY_RETRY_INTERVALS,
    )


def defer_notification(session: Session, notification_id: int) -> None:
    job = notification_job(notification_id)
    defer(session, job.queue, job.func, job.job_id, *job.args, retry=job.retry, intervals=job.intervals)


def outcome_key(notification_id: int, channel: str) -> str:
    return f"{get_settings().queue_prefix}:notify:{notification_id}:{channel}"


def outcome(notification_id: int, channel: str) -> str | None:
    value = get_redis().get(outcome_key(notification_id, channel))
    return value.decode() if isinstance(value, bytes) else None


def _message(notification_id: int) -> Message | None:
    with session_scope() as session:
        note = session.get(Notification, notification_id)
        if note is None:
            return None
        user = session.get(User, note.user_id)
        if user is None or not user.is_active:
            return None
        return Message(
            notification_id=notification_id, kind=note.kind, title=note.title, body=note.body,
            work_id=note.work_id, username=user.username, display_name=user.display_name,
            email=user.email, phone=phone_of(user),
        )


def deliver(notification_id: int) -> dict[str, str]:
    """Send the notification through each configured channel not yet done; returns each outcome.

    Raises ``DeliveryFailed`` when a channel failed transiently, so rq retries the job with backoff;
    permanent failures are logged and recorded, and end the job.
    """
    settings = get_settings()
    names = external_channel_names(settings)
    # The database is read in a short transaction of its own: no connection is held during SMTP.
    message = _message(notification_id) if names else None
    if message is None:
        return {}
    redis = get_redis()
    outcomes: dict[str, str] = {}
    failed: list[str] = []
    for name in names:
        key = outcome_key(notification_id, name)
        done = redis.get(key)
        if done is not None:
            outcomes[name] = done.decode() if isinstance(done, bytes) else str(done)
            continue
        try:
            CHANNELS[name](settings).send(message)
        except Undeliverable as exc:
            level = logging.INFO if exc.reason == "no_address" else logging.WARNING
            log.log(level, "notification %s not sent by %s: %s", notification_id, name, exc)
            result = f"skipped:{exc.reason}"
        except DeliveryFailed as exc:
            log.warning("notification %s: %s failed, will retry: %s", notification_id, name, exc)
            outcomes[name] = "retry"
            failed.append(f"{name}: {exc}")
            continue
        else:
            result = SENT
        redis.set(key, result, ex=OUTCOME_TTL_S)
        outcomes[name] = result
    if failed:
        raise DeliveryFailed(f"notification {notification_id}: " + "; ".join(failed))
    return outcomes


def sweep_lost_notifications() -> int:
    """Enqueue again the recent notifications whose job never reached Redis (it was down at the
    commit); returns how many. Cheap enough for every maintenance round: one indexed query, one
    pipelined EXISTS per notification."""
    settings = get_settings()
    if not external_channel_names(settings):
        return 0
    now = utcnow()
    with session_scope() as session:
        ids = [
            int(i)
            for i in session.exec(
                select(Notification.id).where(
                    col(Notification.created_at) >= now - SWEEP_WINDOW,
                    col(Notification.created_at) <= now - SWEEP_GRACE,
                )
            )
            if i is not None
        ]
    if not ids:
        return 0
    redis = get_redis()
    with redis.pipeline(transaction=False) as pipe:
        for notification_id in ids:
            pipe.exists(Job.key_for(notification_job_id(notification_id)))
        exists = pipe.execute()
    lost = [notification_id for notification_id, found in zip(ids, exists, strict=True) if not found]
    for notification_id in lost:
        enqueue_now(notification_job(notification_id))
    if lost:
        log.warning("re-enqueued %s notification job(s) that never reached Redis", len(lost))
    return len(lost)

