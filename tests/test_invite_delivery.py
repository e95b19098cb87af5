"""Invitation links sent by SMS (the dev outbox, the relay) and e-mail (a real SMTP server on loopback):
checked before anything is created, sent only after the commit, never in a job's arguments."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import select

from clipjury.accounts.models import User
from clipjury.db import session_scope
from clipjury.jobs import NOTIFY, get_queue
from clipjury.settings import get_settings
from tests.conftest import run_jobs, token_for
from tests.test_notifications import Gateway, MailHandler, mail_server, sms_gateway  # noqa: F401  (fixtures)
from tests.test_ui import csrf_of, login

PHONE, E164 = "138 0013 8000", "+8613800138000"


def _headers(client: Any, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(client, username)}"}


def _smtp(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    settings = get_settings()
    for name, value in {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none",
                        "smtp_from": "noreply@clipjury.test", "smtp_timeout_s": 5.0}.items():
        monkeypatch.setattr(settings, name, value)


def _create(client: Any, username: str, **send: str) -> Any:
    body = {"username": username, "display_name": "李评审", "role": "reviewer", "province": "hebei", **send}
    return client.post("/api/v1/accounts", json=body, headers=_headers(client, "demo-province-admin"))


def _exists(username: str) -> bool:
    with session_scope() as session:
        return session.exec(select(User).where(User.username == username)).first() is not None


def _outbox(client: Any) -> list[dict[str, Any]]:
    return list(client.get("/api/v1/dev/sms-outbox", params={"phone": PHONE}).json())


def test_the_link_goes_by_sms_and_email_after_the_commit(
    client: Any, demo: dict[str, int], monkeypatch: pytest.MonkeyPatch, mail_server: tuple[MailHandler, int],  # noqa: F811
) -> None:
    handler, port = mail_server
    _smtp(monkeypatch, port)
    answer = _create(client, "sent-reviewer", send_to_phone=PHONE, send_to_email="li@example.gov.cn")
    assert answer.status_code == 201, answer.text
    url = answer.json()["invite_url"]
    assert set(answer.json()) == {"id", "username", "invite_url"}  # the contract's answer, unchanged
    # Queued with an opaque id only: neither the link nor the number is in any job's arguments.
    jobs = get_queue(NOTIFY).get_jobs()
    assert jobs
    for job in jobs:
        assert all(url not in str(arg) and "13800138000" not in str(arg) for arg in job.args)
    assert run_jobs() >= 2
    [sms] = [m for m in _outbox(client) if m["purpose"] == "invite"]
    assert url in sms["text"] and "sent-reviewer" in sms["text"] and "评审员" in sms["text"]
    [mail] = handler.received
    assert mail["To"].addresses[0].addr_spec == "li@example.gov.cn"
    assert url in mail.get_content()
    with session_scope() as session:
        user = session.exec(select(User).where(User.username == "sent-reviewer")).one()
        assert user.email == "li@example.gov.cn"
    # The link sent is the link that works.
    token = url.rsplit("/", 1)[-1]
    assert client.post(f"/api/v1/invites/{token}", json={"password": "评审员的长密码-2026"}).status_code == 200
    assert run_jobs() == 0  # sent once


def test_the_relay_gets_the_sms_when_configured(
    client: Any, demo: dict[str, int], monkeypatch: pytest.MonkeyPatch, sms_gateway: Gateway,  # noqa: F811
) -> None:
    settings = get_settings()
    monkeypatch.setattr(settings, "sms_sender", "webhook")
    monkeypatch.setattr(settings, "sms_webhook_url", sms_gateway.url)
    sms_gateway.replies = [503]  # the gateway is busy once: rq retries
    answer = _create(client, "relay-reviewer", send_to_phone=PHONE)
    assert answer.status_code == 201, answer.text
    run_jobs()
    assert not sms_gateway.received
    queue = get_queue(NOTIFY)
    [job_id] = queue.scheduled_job_registry.get_job_ids()  # the retry, scheduled: run it now
    job = queue.fetch_job(job_id)
    assert job is not None
    queue.scheduled_job_registry.remove(job_id)
    queue.enqueue_job(job)
    run_jobs()
    [(headers, payload)] = sms_gateway.received
    assert payload["phone"] == E164 and payload["kind"] == "invitation"
    assert answer.json()["invite_url"] in payload["text"]
    assert headers["Idempotency-Key"].startswith("clipjury-invite-")


@pytest.mark.parametrize(("send", "code"), [
    ({"send_to_phone": "010 6512 3456"}, "bad_phone"),
    ({"send_to_phone": "12345"}, "bad_phone"),
    ({"send_to_email": "not an address"}, "bad_email"),
    ({"send_to_email": "li@example.gov.cn"}, "email_unavailable"),  # no SMTP server configured
])
def test_a_bad_address_creates_nothing(client: Any, demo: dict[str, int], send: dict[str, str], code: str) -> None:
    assert not get_settings().smtp_host
    answer = _create(client, "unsent-reviewer", **send)
    assert answer.status_code == 422 and answer.json()["code"] == code, answer.text
    assert not _exists("unsent-reviewer")
    assert run_jobs() == 0


def test_the_accounts_page_sends_the_link(client: Any, demo: dict[str, int]) -> None:
    assert login(client, "demo-province-admin").status_code == 303
    token = csrf_of(client.get("/accounts").text)
    form = {"csrf_token": token, "username": "page-reviewer", "display_name": "王评审", "role": "reviewer",
            "province": "hebei", "send_to_phone": "0086 138-0013-8000"}
    page = client.post("/accounts", data=form)
    assert page.status_code == 200
    assert re.search(r'id="invite-sent"[^>]*>[^<]*短信', page.text)
    run_jobs()
    assert any("page-reviewer" in m["text"] for m in _outbox(client))
    refused = client.post("/accounts", data={**form, "username": "page-reviewer2", "send_to_phone": "010 6512 3456"})
    assert refused.status_code == 422 and "固定电话" in refused.text
    assert 'value="010 6512 3456"' in refused.text  # kept for correction
    assert not _exists("page-reviewer2")
