"""SMS senders for one-time codes, chosen by ``CLIPJURY_SMS_SENDER``.

``dev`` sends nothing: it keeps each message in a bounded Redis list (``sms_outbox_max`` entries,
``sms_outbox_ttl_s``) that the dev outbox route reads, so a rehearsal needs no SMS provider. It writes
inline, in the request: a Redis write cannot be slow, and the code is readable the moment the request
is answered.

``webhook`` posts to the notification relay (``post_to_sms_relay``) from an rq job on the notify queue:
a slow or failing gateway then holds no API thread, and transient failures are retried for as long as
the code lives. The number must not appear in job arguments (rq stores and shows them), so the message
waits in Redis under a random id that is the job's only argument, and expires with the code. There is
no database write to commit first, so the job is sent at once (``enqueue_now``), not deferred.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from redis.exceptions import RedisError

from clipjury.jobs import NOTIFY, PendingJob, enqueue_now, get_redis
from clipjury.notifications.channels import DeliveryFailed, Undeliverable, post_to_sms_relay
from clipjury.phones.codes import PURPOSE_LABELS, CodesUnavailable, Issued, Purpose
from clipjury.phones.numbers import mask, normalise_mobile
from clipjury.settings import get_settings
from clipjury.timeutil import utcnow

log = logging.getLogger(__name__)

# Retries of a code's SMS: all within the code's five minutes.
RETRY_INTERVALS = (5, 20, 60)
SEND_TASK = "clipjury.phones.tasks.send_code_sms"


@dataclass(frozen=True)
class CodeSms:
    phone: str
    text: str
    code: str
    purpose: str


def text_of(issued: Issued) -> str:
    minutes = max(1, get_settings().otp_ttl_s // 60)
    label = PURPOSE_LABELS[issued.purpose]
    return f"您的验证码为 {issued.code}，用于{label}，{minutes} 分钟内有效。请勿将验证码告诉他人。"


def outbox_key() -> str:
    return f"{get_settings().queue_prefix}-sms-outbox"


def _pending_key(message_id: str) -> str:
    return f"{get_settings().queue_prefix}-otp:sms:{message_id}"


def send(issued: Issued) -> None:
    """Hand the code over to the configured sender; ``CodesUnavailable`` if Redis cannot take it."""
    settings = get_settings()
    sms = CodeSms(phone=issued.phone, text=text_of(issued), code=issued.code, purpose=issued.purpose.value)
    try:
        if settings.sms_sender == "dev":
            keep_in_outbox(sms)
        else:
            _queue_for_relay(sms)
    except RedisError as exc:
        log.warning("code SMS not sent, redis unavailable: %s", exc)
        raise CodesUnavailable() from exc


def keep_in_outbox(sms: CodeSms) -> None:
    settings = get_settings()
    entry = json.dumps({**asdict(sms), "sent_at": utcnow().isoformat()}, ensure_ascii=False)
    pipe = get_redis().pipeline()
    pipe.lpush(outbox_key(), entry)
    pipe.ltrim(outbox_key(), 0, settings.sms_outbox_max - 1)
    pipe.expire(outbox_key(), settings.sms_outbox_ttl_s)
    pipe.execute()
    log.info("dev SMS sender: code for %s kept in the outbox", mask(sms.phone))


def outbox(phone: str | None = None) -> list[dict[str, object]]:
    """What the dev sender kept, newest first; only one number's messages when ``phone`` is given."""
    wanted = normalise_mobile(phone) if phone is not None else None
    try:
        raw = get_redis().lrange(outbox_key(), 0, -1)
    except RedisError as exc:
        raise CodesUnavailable() from exc
    entries = []
    for item in raw:
        entry = json.loads(item)
        if wanted is None or entry.get("phone") == wanted:
            entry["sent_at"] = datetime.fromisoformat(entry["sent_at"])
            entries.append(entry)
    return entries


def _queue_for_relay(sms: CodeSms) -> None:
    message_id = secrets.token_hex(16)
    get_redis().set(_pending_key(message_id), json.dumps(asdict(sms), ensure_ascii=False),
                    ex=get_settings().otp_ttl_s)
    enqueue_now(PendingJob(NOTIFY, SEND_TASK, f"otp-sms-{message_id}", (message_id,), len(RETRY_INTERVALS),
                           RETRY_INTERVALS))
    log.info("code SMS for %s queued for the relay (%s)", mask(sms.phone), message_id)


def deliver_queued(message_id: str) -> bool:
    """The job's work: post the waiting message to the relay once. False when there is nothing to send
    (the code expired, or an earlier run sent it); ``DeliveryFailed`` for rq to retry."""
    settings = get_settings()
    redis = get_redis()
    raw = redis.get(_pending_key(message_id))
    if raw is None:
        log.info("code SMS %s: nothing to send (expired or already sent)", message_id)
        return False
    sms = CodeSms(**json.loads(raw))
    payload: dict[str, object] = {
        "phone": sms.phone, "text": sms.text, "kind": "verification_code", "purpose": Purpose(sms.purpose).value,
        # Providers in China send codes through a registered template: the relay fills it with this.
        "code": sms.code,
    }
    return hand_over(
        _pending_key(message_id), lambda: post_to_sms_relay(settings, payload, f"clipjury-otp-{message_id}"),
        f"code SMS for {mask(sms.phone)}",
    )


def hand_over(pending_key: str, send: Callable[[], None], what: str) -> bool:
    """Send a message waiting in Redis under ``pending_key`` once, and forget it unless trying again can
    help: False when it was refused for good, ``DeliveryFailed`` (for rq to retry) when it may pass later.
    ``what`` names it in the log, never with a full number or a secret."""
    redis = get_redis()
    try:
        send()
    except Undeliverable as exc:
        log.warning("%s refused (%s): dropped", what, exc.reason)
        redis.delete(pending_key)
        return False
    except DeliveryFailed:
        log.warning("%s not delivered yet; rq retries", what)
        raise
    redis.delete(pending_key)
    log.info("%s handed over", what)
    return True
