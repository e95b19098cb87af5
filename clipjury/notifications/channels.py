"""The ways a notification reaches a user: one small class per channel, chosen by ``notify_channels``.

A channel's ``send`` returns when the message was handed over, raises ``Undeliverable`` when trying
again cannot help (no address, the server refused the recipient: never retried) and ``DeliveryFailed``
when it may (connection errors, SMTP 4xx, gateway 5xx: the job retries with backoff). A new channel is
one class here, one entry in ``CHANNELS`` and its name in ``clipjury.settings.NOTIFY_CHANNELS`` (the settings
check ``notify_channels`` against that list at start-up, before any channel is loaded).
"""

from __future__ import annotations

import http.client
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol

from clipjury.settings import NOTIFY_CHANNELS, Settings
from clipjury.timeutil import utcnow

IN_APP = "in_app"


@dataclass(frozen=True)
class Message:
    """What a channel needs, read from the notification and its user before any network call."""

    notification_id: int
    kind: str
    title: str
    body: str
    work_id: int | None
    username: str
    display_name: str
    email: str | None
    phone: str | None

    @property
    def greeting_name(self) -> str:
        return self.display_name or self.username


class Undeliverable(Exception):
    """Permanent: sending again would fail the same way. ``reason`` is a stable code for logs."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class DeliveryFailed(Exception):
    """Transient: the server or the network may accept the same message later."""


class Channel(Protocol):
    name: str

    def send(self, message: Message) -> None: ...


class InAppChannel:
    """The Notification row written by ``notify`` is the delivery; nothing is left to send."""

    name = IN_APP

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: Message) -> None:
        return None


class EmailChannel:
    """Plain-text UTF-8 mail through the configured SMTP server (stdlib smtplib)."""

    name = "email"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def build(self, message: Message) -> EmailMessage:
        if not message.email or not message.email.strip():
            raise Undeliverable("no_address", f"user {message.username} has no e-mail address")
        s = self.settings
        try:
            to = Address(display_name=message.greeting_name, addr_spec=message.email.strip())
            sender = Address(display_name=s.smtp_from_name, addr_spec=s.smtp_from)
        except (ValueError, IndexError) as exc:  # the header parser's errors for a malformed address
            raise Undeliverable("bad_address", str(exc)) from exc
        mail = EmailMessage()
        mail["Subject"] = f"【{s.smtp_from_name}】{message.title}" if s.smtp_from_name else message.title
        mail["From"] = sender
        mail["To"] = to
        mail["Date"] = format_datetime(utcnow())
        # Deterministic, so a mail sent twice after a crash between "sent" and "recorded" is one
        # message to clients that deduplicate by Message-ID.
        mail["Message-ID"] = f"<clipjury-notify-{message.notification_id}@{sender.domain or 'localhost'}>"
        mail["Auto-Submitted"] = "auto-generated"
        lines = [f"{message.greeting_name}，您好：", "", message.title]
        if message.body:
            lines += ["", message.body]
        lines += ["", "请登录平台查看详情。此邮件由系统自动发送，请勿直接回复。"]
        mail.set_content("\n".join(lines), charset="utf-8")
        return mail

    def send(self, message: Message) -> None:
        self.transmit(self.build(message))

    def transmit(self, mail: EmailMessage) -> None:
        """Hand one built message to the SMTP server (also used for invitation links: accounts.invite_delivery)."""
        s = self.settings
        try:
            smtp: smtplib.SMTP
            if s.smtp_security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s)
            with smtp:
                if s.smtp_security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_username:
                    smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _text in exc.recipients.values()]
            if codes and all(400 <= code < 500 for code in codes):
                raise DeliveryFailed(f"recipient deferred: {exc.recipients}") from exc
            raise Undeliverable("rejected", f"recipient refused: {exc.recipients}") from exc
        except smtplib.SMTPResponseException as exc:
            # 4xx is SMTP's "try again later" (greylisting, a full queue); 5xx is final.
            if 400 <= exc.smtp_code < 500:
                raise DeliveryFailed(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
            raise Undeliverable("rejected", f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except (smtplib.SMTPException, OSError) as exc:  # refused or dropped connections, timeouts, TLS
            raise DeliveryFailed(f"SMTP {type(exc).__name__}: {exc}") from exc


class SmsWebhookChannel:
    """SMS through an HTTP relay: Chinese providers differ in API and signing, so the relay (a small
    service or the provider's own HTTP gateway) gets one JSON shape and maps it to the provider."""

    name = "sms"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def text_of(self, message: Message) -> str:
        s = self.settings
        text = s.sms_template.format(title=message.title, body=message.body).strip().rstrip("：:")
        return text if len(text) <= s.sms_max_chars else text[: s.sms_max_chars - 1] + "…"

    def send(self, message: Message) -> None:
        phone = "".join((message.phone or "").split())
        if not phone:
            raise Undeliverable("no_address", f"user {message.username} has no phone number")
        payload = {
            "phone": phone,
            "text": self.text_of(message),
            "kind": message.kind,
            "notification_id": message.notification_id,
        }
        # The idempotency key lets the relay drop a repeat after a crash between its answer and our record of it.
        post_to_sms_relay(self.settings, payload, f"clipjury-notify-{message.notification_id}-sms")


def post_to_sms_relay(settings: Settings, payload: dict[str, object], idempotency_key: str) -> None:
    """POST one message to the SMS relay (``sms_webhook_url``, bearer ``sms_webhook_token``): the transport
    of the SMS channel and of the one-time codes (clipjury.phones.senders)."""
    headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": idempotency_key}
    token = settings.sms_webhook_token.get_secret_value()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    # The scheme is checked in settings: http(s) only.
    request = urllib.request.Request(  # noqa: S310
        settings.sms_webhook_url, data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        headers=headers, method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.sms_timeout_s) as response:  # noqa: S310
            response.read(65536)
    except urllib.error.HTTPError as exc:
        status = exc.code
        exc.close()
        # 408/429 and 5xx: the gateway is busy or down; any other 4xx says this request is wrong.
        if status >= 500 or status in (408, 429):
            raise DeliveryFailed(f"SMS gateway answered {status}") from exc
        raise Undeliverable("rejected", f"SMS gateway answered {status}") from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise DeliveryFailed(f"SMS gateway unreachable: {exc}") from exc


CHANNELS: dict[str, Callable[[Settings], Channel]] = {
    IN_APP: InAppChannel,
    EmailChannel.name: EmailChannel,
    SmsWebhookChannel.name: SmsWebhookChannel,
}
if tuple(CHANNELS) != NOTIFY_CHANNELS:  # the settings' list and the implementations must not drift apart
    raise RuntimeError(f"clipjury.settings.NOTIFY_CHANNELS {NOTIFY_CHANNELS} != channels {tuple(CHANNELS)}")


def external_channel_names(settings: Settings) -> tuple[str, ...]:
    """The configured channels that need a job: every one but the in-app record."""
    return tuple(name for name in settings.notify_channel_names if name != IN_APP)
