"""Sending an invitation link by SMS or e-mail, as well as showing it once on screen (the admin's choice).

The link is a secret, so it never appears in a job's arguments (rq stores and shows them) or in a log:
the message waits in Redis under a random id, expiring with the invitation, and the job's only argument
is that id. The job is sent after the account's commit (``clipjury.jobs.defer``): a creation that is
refused or rolled back sends nothing. SMS goes through the configured sender like the one-time codes
(``dev`` keeps it in the dev outbox, ``webhook`` posts it to the relay); e-mail through the SMTP server of
the notification e-mail channel, which must be configured (``CLIPJURY_SMTP_HOST``, ``CLIPJURY_SMTP_FROM``).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from dataclasses import asdict, dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from redis.exceptions import RedisError
from sqlmodel import Session

from clipjury.accounts.models import ROLE_LABELS, Role, User
from clipjury.errors import Invalid, Unavailable
from clipjury.jobs import NOTIFY, defer, get_redis
from clipjury.notifications.channels import EmailChannel, Undeliverable, post_to_sms_relay
from clipjury.phones.numbers import mask, normalise_mobile
from clipjury.phones.senders import CodeSms, hand_over, keep_in_outbox
from clipjury.settings import get_settings
from clipjury.timeutil import utcnow

log = logging.getLogger(__name__)

DELIVER_TASK = "clipjury.accounts.tasks.deliver_invitation"
RETRY_INTERVALS = (10, 60, 300)
EMAIL_MAX = 254
# Deliberately plain: one @, no spaces, a dot in the domain. The SMTP server has the last word.
EMAIL_RE = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+$")
SMS_PURPOSE = "invite"


class BadEmail(Invalid):
    code = "bad_email"
    message = "电子邮箱地址格式不正确，请检查后重新填写，例如 name@example.gov.cn。"


class EmailUnavailable(Invalid):
    code = "email_unavailable"
    message = "本平台未配置邮件服务器，无法通过邮件发送邀请链接；请改用短信，或复制链接自行发送。"


class DeliveryUnavailable(Unavailable):
    code = "delivery_unavailable"
    message = "邀请链接暂时无法发送（消息队列不可用），账号未创建，请稍后重试。"


@dataclass(frozen=True)
class Targets:
    phone: str | None = None
    email: str | None = None

    def __bool__(self) -> bool:
        return bool(self.phone or self.email)


@dataclass(frozen=True)
class InviteMessage:
    channel: str  # "sms" or "email"
    to: str
    text: str
    subject: str
    name: str


def targets(phone: str | None, email: str | None) -> Targets:
    """The checked addresses (blank: not sent that way); refused before anything is created."""
    number = normalise_mobile(phone) if phone and phone.strip() else None
    address = (email or "").strip()
    if address:
        if len(address) > EMAIL_MAX or not EMAIL_RE.match(address):
            raise BadEmail()
        settings = get_settings()
        if not settings.smtp_host or not settings.smtp_from:
            raise EmailUnavailable()
    return Targets(number, address or None)


def _texts(user: User, url: str) -> tuple[str, str]:
    hours = get_settings().invite_ttl_hours
    role = ROLE_LABELS.get(Role(user.role), user.role)
    name = user.display_name or user.username
    sms = (f"{name}，您好：您已被邀请担任“人人话保密”微视频征集平台的{role}（用户名 {user.username}）。"
           f"请在 {hours} 小时内打开链接设置密码：{url} 链接只能使用一次，请勿转发。")
    body = "\n".join([
        f"{name}，您好：", "",
        f"您已被邀请担任“人人话保密”微视频征集平台的{role}，用户名为 {user.username}。",
        f"请在 {hours} 小时内打开下面的链接设置密码（只能使用一次，请勿转发）：", "", url, "",
        "如果您不知道这次邀请，请忽略本邮件。此邮件由系统自动发送，请勿直接回复。",
    ])
    return sms, body


def _key(message_id: str) -> str:
    return f"{get_settings().queue_prefix}-invite-message:{message_id}"


def queue(session: Session, user: User, url: str, to: Targets) -> list[str]:
    """Queue the link to each given address; the jobs leave when ``session`` commits. Returns the channels."""
    if not to:
        return []
    sms_text, body = _texts(user, url)
    subject = "【人人话保密】平台账号邀请"
    messages = []
    if to.phone:
        messages.append(InviteMessage("sms", to.phone, sms_text, subject, user.display_name or user.username))
    if to.email:
        messages.append(InviteMessage("email", to.email, body, subject, user.display_name or user.username))
    ttl = get_settings().invite_ttl_hours * 3600
    try:
        redis = get_redis()
        for message in messages:
            message_id = secrets.token_hex(16)
            redis.set(_key(message_id), json.dumps(asdict(message), ensure_ascii=False), ex=ttl)
            defer(session, NOTIFY, DELIVER_TASK, f"invite-{message_id}", message_id,
                  retry=len(RETRY_INTERVALS), intervals=RETRY_INTERVALS)
    except RedisError as exc:
        log.warning("invitation for user %s not queued, redis unavailable: %s", user.id, exc)
        raise DeliveryUnavailable() from exc
    log.info("invitation for user %s queued by %s", user.id, ", ".join(m.channel for m in messages))
    return [m.channel for m in messages]


def _shown(message: InviteMessage) -> str:
    return mask(message.to) if message.channel == "sms" else message.to.split("@")[-1]


def _email(message: InviteMessage, message_id: str) -> EmailMessage:
    settings = get_settings()
    try:
        to = Address(display_name=message.name, addr_spec=message.to)
        sender = Address(display_name=settings.smtp_from_name, addr_spec=settings.smtp_from)
    except (ValueError, IndexError) as exc:
        raise Undeliverable("bad_address", str(exc)) from exc
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = sender
    mail["To"] = to
    mail["Date"] = format_datetime(utcnow())
    mail["Message-ID"] = f"<clipjury-invite-{message_id}@{sender.domain or 'localhost'}>"
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message.text, charset="utf-8")
    return mail


def deliver(message_id: str) -> bool:
    """The job: send one waiting message. False when there is nothing to send (expired, already sent, or
    refused for good); ``DeliveryFailed`` for rq to retry."""
    settings = get_settings()
    raw = get_redis().get(_key(message_id))
    if raw is None:
        log.info("invitation message %s: nothing to send (expired or already sent)", message_id)
        return False
    message = InviteMessage(**json.loads(raw))

    def send() -> None:
        if message.channel == "sms" and settings.sms_sender == "dev":
            keep_in_outbox(CodeSms(phone=message.to, text=message.text, code="", purpose=SMS_PURPOSE))
        elif message.channel == "sms":
            post_to_sms_relay(settings, {"phone": message.to, "text": message.text, "kind": "invitation"},
                              f"clipjury-invite-{message_id}")
        else:
            EmailChannel(settings).transmit(_email(message, message_id))

    return hand_over(_key(message_id), send, f"invitation {message.channel} to {_shown(message)}")
