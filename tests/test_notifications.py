"""Notification channels against real servers on loopback: an SMTP server (aiosmtpd) and an HTTP SMS
relay (http.server) in this process, reached by the rq job that review decisions defer."""

from __future__ import annotations

import email
import email.policy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope
from aiosmtpd.smtp import Session as SMTPSession
from pydantic import SecretStr
from rq.job import Job
from sqlmodel import col, select

from clipjury.accounts.models import User
from clipjury.db import session_scope
from clipjury.jobs import NOTIFY, enqueue_now, get_queue
from clipjury.notifications import tasks
from clipjury.notifications.models import Notification
from clipjury.notifications.tasks import notification_job, notification_job_id
from clipjury.settings import Environment, Settings, get_settings
from clipjury.timeutil import as_utc, utcnow
from tests.conftest import free_port, run_jobs
from tests.review_support import headers_for, submitted_works

SMS_TOKEN = "test-sms-token-0123456789"


# -- real servers ---------------------------------------------------------------------------------

@dataclass
class MailHandler:
    """Accepts mail unless told to answer the next RCPT or DATA with an error."""

    received: list[EmailMessage] = field(default_factory=list)
    rcpt_replies: list[str] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTPServer, session: SMTPSession, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(
        self, server: SMTPServer, session: SMTPSession, envelope: Envelope
    ) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        raw = envelope.original_content or b""
        assert isinstance(raw, bytes)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(message)
        return "250 OK"


@pytest.fixture()
def mail_server() -> Iterator[tuple[MailHandler, int]]:
    handler = MailHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@dataclass
class Gateway:
    received: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    replies: list[int] = field(default_factory=list)
    url: str = ""


@pytest.fixture()
def sms_gateway() -> Iterator[Gateway]:
    gateway = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = gateway.replies.pop(0) if gateway.replies else 200
            if status == 200:
                gateway.received.append((dict(self.headers.items()), json.loads(body)))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}' if status == 200 else b'{"error": "x"}')

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    gateway.url = f"http://127.0.0.1:{server.server_address[1]}/sms/send"
    yield gateway
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def use_channels(monkeypatch: pytest.MonkeyPatch, channels: str, *, smtp_port: int = 0, sms_url: str = "") -> None:
    settings = get_settings()
    for name, value in {
        "notify_channels": channels, "smtp_host": "127.0.0.1", "smtp_port": smtp_port, "smtp_security": "none",
        "smtp_from": "noreply@clipjury.test", "smtp_timeout_s": 5.0, "sms_webhook_url": sms_url,
        "sms_webhook_token": SecretStr(SMS_TOKEN),
    }.items():
        monkeypatch.setattr(settings, name, value)


def set_contact(username: str, *, email_address: str | None, phone: str | None = None) -> None:
    with session_scope() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        user.email, user.phone, user.display_name = email_address, phone, "张晓明"
        session.add(user)


def fail_verdict(client: Any, reason: str = "开头语不规范，未说明所在省份") -> int:
    [work_id] = submitted_works("demo-submitter", 1, title="保密在身边")
    response = client.post(f"/api/v1/works/{work_id}/verdict", json={"decision": "fail", "reason": reason},
                           headers=headers_for(client, "demo-reviewer"))
    assert response.status_code == 200, response.text
    return work_id


def only_notification_id() -> int:
    with session_scope() as session:
        [note_id] = session.exec(select(Notification.id)).all()
    return int(note_id or 0)


def run_notify_jobs() -> None:
    """Only the notification queue: the works made by ``submitted_works`` have no real video for the
    media jobs they queued."""
    from clipjury.jobs import get_redis
    from tests.conftest import InProcessWorker

    InProcessWorker([get_queue(NOTIFY)], connection=get_redis()).work(burst=True)


def enqueue_now_and_fetch(note_id: int) -> Job:
    enqueue_now(notification_job(note_id))
    job = get_queue(NOTIFY).fetch_job(notification_job_id(note_id))
    assert job is not None
    return job


def release_retries() -> list[datetime]:
    """Move the scheduled retries onto the queue now (the worker's scheduler would, later); returns
    when each one was scheduled for."""
    registry = get_queue(NOTIFY).scheduled_job_registry
    when = []
    for job_id in registry.get_job_ids():
        when.append(as_utc(registry.get_scheduled_time(job_id)))
        registry.requeue(job_id)
    return when


def retry_delay_s(started: datetime) -> tuple[float, float]:
    """The one scheduled retry's delay, as bounds: from the failing run's start (at least the back-off)
    and from now (at most the back-off). Measured from now alone, a slow run on a loaded machine
    eats into the delay it is checking."""
    ended = utcnow()
    [when] = release_retries()
    return (when - started).total_seconds(), (when - ended).total_seconds()


def failed_notification_jobs() -> list[str]:
    return list(get_queue(NOTIFY).failed_job_registry.get_job_ids())


# -- tests ----------------------------------------------------------------------------------------

def test_in_app_only_by_default_enqueues_no_job(client: Any, demo: dict[str, int]) -> None:
    assert get_settings().notify_channel_names == ("in_app",)
    set_contact("demo-submitter", email_address="zhang@example.test", phone="13800138000")
    fail_verdict(client)
    assert get_queue(NOTIFY).count == 0
    notes = client.get("/api/v1/notifications", headers=headers_for(client, "demo-submitter")).json()
    assert [(n["kind"], n["title"]) for n in notes] == [("fail", "初评未通过")]


def test_verdict_reaches_the_submitter_by_mail_once(
    client: Any, demo: dict[str, int], mail_server: tuple[MailHandler, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, port = mail_server
    use_channels(monkeypatch, "in_app,email", smtp_port=port)
    set_contact("demo-submitter", email_address="zhang@example.test")
    fail_verdict(client, reason="开头语不规范，未说明所在省份")
    # The request only queued the job: nothing was sent while it ran.
    assert handler.received == [] and get_queue(NOTIFY).count == 1
    run_jobs()

    [mail] = handler.received
    note_id = only_notification_id()
    assert mail["Subject"] == "【保密微视频征集】初评未通过"
    assert mail["To"].addresses[0].addr_spec == "zhang@example.test"
    assert mail["To"].addresses[0].display_name == "张晓明"
    assert mail["From"].addresses[0].addr_spec == "noreply@clipjury.test"
    assert mail["Message-ID"] == f"<clipjury-notify-{note_id}@clipjury.test>"
    assert mail.get_content_charset() == "utf-8"
    text = mail.get_content()
    assert "张晓明，您好" in text and "《保密在身边 1》未通过初评" in text
    assert "理由：开头语不规范，未说明所在省份" in text
    assert tasks.outcome(note_id, "email") == tasks.SENT

    # The same job again (a manual requeue, a duplicate after a crash) sends nothing more.
    job = enqueue_now_and_fetch(note_id)
    run_notify_jobs()
    assert job.get_status(refresh=True) == "finished" and job.return_value() == {"email": tasks.SENT}
    assert len(handler.received) == 1


def test_rolled_back_decision_sends_nothing(
    client: Any, demo: dict[str, int], mail_server: tuple[MailHandler, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from clipjury.reviews import service

    handler, port = mail_server
    use_channels(monkeypatch, "in_app,email", smtp_port=port)
    set_contact("demo-submitter", email_address="zhang@example.test")
    [work_id] = submitted_works("demo-submitter", 1)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), session_scope() as session:
        reviewer = session.get(User, demo["demo-reviewer"])
        assert reviewer is not None
        service.verdict(session, reviewer, work_id, "fail", "理由")
        assert session.info["pending_jobs"], "the decision deferred a notification job"
        raise Abort

    assert get_queue(NOTIFY).count == 0
    run_notify_jobs()
    assert handler.received == []
    with session_scope() as session:
        assert session.exec(select(Notification)).all() == []


def test_transient_smtp_failures_are_retried_with_backoff(
    client: Any, demo: dict[str, int], mail_server: tuple[MailHandler, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, port = mail_server
    closed_port = free_port()  # nothing listens: connection refused, as when the mail server is down
    use_channels(monkeypatch, "in_app,email", smtp_port=closed_port)
    set_contact("demo-submitter", email_address="zhang@example.test")
    fail_verdict(client)
    note_id = only_notification_id()

    started = utcnow()
    run_notify_jobs()
    at_least, at_most = retry_delay_s(started)
    assert at_least > 5 and at_most <= 10, "first retry after about ten seconds"
    assert tasks.outcome(note_id, "email") is None

    monkeypatch.setattr(get_settings(), "smtp_port", port)
    handler.data_replies.append("451 4.3.0 Temporary local problem, try later")
    started = utcnow()
    run_notify_jobs()
    at_least, at_most = retry_delay_s(started)
    assert at_least > 50 and at_most <= 60, "the second retry waits longer"
    assert handler.received == []

    run_notify_jobs()
    assert len(handler.received) == 1
    assert "理由：" in handler.received[0].get_content()
    assert release_retries() == [] and failed_notification_jobs() == []


def test_permanent_smtp_refusal_is_not_retried(
    client: Any, demo: dict[str, int], mail_server: tuple[MailHandler, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, port = mail_server
    use_channels(monkeypatch, "in_app,email", smtp_port=port)
    set_contact("demo-submitter", email_address="nobody@example.test")
    handler.rcpt_replies.append("550 5.1.1 No such user")
    fail_verdict(client)
    note_id = only_notification_id()

    run_notify_jobs()
    assert release_retries() == [] and failed_notification_jobs() == []
    assert tasks.outcome(note_id, "email") == "skipped:rejected"
    assert handler.received == []
    # A later run (e.g. someone requeues it) does not knock on the server again.
    enqueue_now(notification_job(note_id))
    run_notify_jobs()
    assert handler.rcpt_replies == [] and handler.received == []


def test_user_without_email_is_skipped_but_gets_the_sms(
    client: Any,
    demo: dict[str, int],
    mail_server: tuple[MailHandler, int],
    sms_gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler, port = mail_server
    use_channels(monkeypatch, "in_app,email,sms", smtp_port=port, sms_url=sms_gateway.url)
    set_contact("demo-submitter", email_address=None, phone="138 0013 8000")
    fail_verdict(client, reason="画面不清晰")
    note_id = only_notification_id()

    run_notify_jobs()
    assert release_retries() == []
    assert handler.received == []
    assert tasks.outcome(note_id, "email") == "skipped:no_address"
    [(headers, payload)] = sms_gateway.received
    assert headers["Authorization"] == f"Bearer {SMS_TOKEN}"
    assert headers["Idempotency-Key"] == f"clipjury-notify-{note_id}-sms"
    assert payload["phone"] == "13800138000"
    assert payload["text"] == "初评未通过：您的作品《保密在身边 1》未通过初评。理由：画面不清晰"
    assert (payload["kind"], payload["notification_id"]) == ("fail", note_id)


def test_sms_gateway_outage_is_retried_without_mailing_twice(
    client: Any,
    demo: dict[str, int],
    mail_server: tuple[MailHandler, int],
    sms_gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler, port = mail_server
    use_channels(monkeypatch, "in_app,email,sms", smtp_port=port, sms_url=sms_gateway.url)
    set_contact("demo-submitter", email_address="zhang@example.test", phone="13800138000")
    sms_gateway.replies.append(503)
    fail_verdict(client)
    note_id = only_notification_id()

    run_notify_jobs()
    assert len(handler.received) == 1 and sms_gateway.received == []
    assert tasks.outcome(note_id, "sms") is None
    assert len(release_retries()) == 1
    run_notify_jobs()
    assert len(sms_gateway.received) == 1
    assert len(handler.received) == 1, "the retry re-sends only the channel that failed"
    assert tasks.outcome(note_id, "sms") == tasks.SENT


def test_sms_gateway_client_error_is_not_retried(
    client: Any, demo: dict[str, int], sms_gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_channels(monkeypatch, "in_app,sms", sms_url=sms_gateway.url)
    set_contact("demo-submitter", email_address=None, phone="not-a-number")
    sms_gateway.replies.append(400)
    fail_verdict(client)

    run_notify_jobs()
    assert release_retries() == [] and failed_notification_jobs() == []
    assert tasks.outcome(only_notification_id(), "sms") == "skipped:rejected"
    assert sms_gateway.replies == [] and sms_gateway.received == []


def test_sweep_enqueues_a_notification_whose_job_never_reached_redis(
    demo: dict[str, int], mail_server: tuple[MailHandler, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, port = mail_server
    use_channels(monkeypatch, "in_app,email", smtp_port=port)
    set_contact("demo-submitter", email_address="zhang@example.test")
    with session_scope() as session:
        # Written as notify() would, but its job lost (Redis was down at the commit).
        for minutes_ago in (5, 3 * 60):
            session.add(Notification(user_id=demo["demo-submitter"], kind="fail", title="初评未通过",
                                     created_at=utcnow() - timedelta(minutes=minutes_ago)))
    assert get_queue(NOTIFY).count == 0

    assert tasks.sweep_lost_notifications() == 1, "only the recent one: older ones are not resent"
    assert tasks.sweep_lost_notifications() == 0, "its job exists now"
    run_notify_jobs()
    assert [m["Subject"] for m in handler.received] == ["【保密微视频征集】初评未通过"]
    # Once done, the finished job still answers for it until the window has passed.
    assert tasks.sweep_lost_notifications() == 0
    with session_scope() as session:
        recent = session.exec(select(Notification.id).order_by(col(Notification.created_at).desc())).first()
    assert recent is not None and get_queue(NOTIFY).fetch_job(notification_job_id(recent)) is not None


def test_settings_refuse_unknown_channels_and_weak_production_config() -> None:
    base: dict[str, Any] = {"redis_url": "redis://127.0.0.1:6379/15", "database_url": "sqlite://"}
    with pytest.raises(ValueError, match="unknown channel"):
        Settings(**base, notify_channels="in_app,pigeon")
    with pytest.raises(ValueError, match="SMTP_HOST"):
        Settings(**base, notify_channels="email")
    with pytest.raises(ValueError, match="http"):
        Settings(**base, notify_channels="sms", sms_webhook_url="file:///etc/passwd")
    with pytest.raises(ValueError, match="SMS_TEMPLATE"):
        Settings(**base, notify_channels="sms", sms_webhook_url="http://127.0.0.1/", sms_template="{phone}")
    production: dict[str, Any] = {
        **base, "env": Environment.production, "secret_key": "x" * 40, "s3_secret_access_key": "real-secret",
        "s3_access_key_id": "real-key", "s3_endpoint_url": "https://s3.internal", "cookie_secure": True,
        # Production sends verification codes through the relay whatever the notification channels.
        "sms_sender": "webhook", "phone_key": "k" * 40, "phone_hmac_key": "h" * 40,
    }
    relay: dict[str, Any] = {"sms_webhook_url": "https://sms.internal/send", "sms_webhook_token": SecretStr("t" * 32)}
    assert Settings(**production, **relay).notify_channel_names == ("in_app",)
    with pytest.raises(ValueError, match="SMS_WEBHOOK_TOKEN"):
        Settings(**production, notify_channels="in_app,sms", sms_webhook_url="https://sms.internal/send")
    with pytest.raises(ValueError, match="https"):
        Settings(**production, notify_channels="sms", sms_webhook_url="http://sms.internal/send",
                 sms_webhook_token=SecretStr("t" * 32))
    with pytest.raises(ValueError, match="SMTP_PASSWORD"):
        Settings(**production, **relay, notify_channels="email", smtp_host="smtp.internal", smtp_from="a@b.cn",
                 smtp_username="clipjury")
    ok = Settings(**production, notify_channels="in_app, email ,sms", smtp_host="smtp.internal", smtp_from="a@b.cn",
                  sms_webhook_url="https://sms.internal/send", sms_webhook_token=SecretStr("t" * 32))
    assert ok.notify_channel_names == ("in_app", "email", "sms")
