"""Self-registration with a verified phone (issue 14), against the real Redis, database and store: the
fixed contract's codes, sign-in by phone, a unit join code that counts only once approved, password
reset by SMS, deleting one's account (works in review kept anonymised, drafts and their files gone,
tokens dead), the inactive-account sweep, and staff seeing the number masked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from clipjury.accounts.models import User
from clipjury.accounts.privacy import consent_text
from clipjury.accounts.tasks import sweep_inactive_accounts
from clipjury.audit.models import AuditEvent
from clipjury.campaigns.models import DEFAULT_RIGHTS_NOTICE
from clipjury.db import session_scope
from clipjury.timeutil import utcnow
from clipjury.works.models import Work
from storage.s3 import get_store
from tests import media
from tests.conftest import token_for
from tests.review_support import headers_for, uploaded_and_submitted

PHONE = "13800138000"
STRONG = "Secret-pass-2026"


@pytest.fixture(autouse=True)
def codes_on_demand(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests ask one number for several codes in a row; the limits have tests of their own."""
    from clipjury.settings import get_settings

    monkeypatch.setattr(get_settings(), "otp_resend_cooldown_s", 0)
    monkeypatch.setattr(get_settings(), "otp_limits_per_number", "1000/minute")


def code_for(client: Any, phone: str = PHONE, purpose: str = "register") -> str:
    sent = client.post("/api/v1/public/codes", json={"phone": phone, "purpose": purpose})
    assert sent.status_code == 202, sent.text
    outbox = client.get("/api/v1/dev/sms-outbox", params={"phone": phone}).json()
    return str(next(m["code"] for m in outbox if m["purpose"] == purpose))


def registration(client: Any, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"phone": PHONE, "nickname": "小张", "password": STRONG, "province": "hebei",
                            "consent": True}
    body.update(overrides)
    if "code" not in body:
        body["code"] = code_for(client, body["phone"])
    return body


def register(client: Any, **overrides: Any) -> Any:
    return client.post("/api/v1/public/register", json=registration(client, **overrides))


def refused(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text
    assert response.json()["detail"], response.text


def user_with_phone(phone_hmac_of: str) -> User | None:
    from clipjury.phones.crypto import lookup_hmac
    from clipjury.phones.numbers import normalise_mobile

    with session_scope() as session:
        return session.exec(select(User).where(User.phone_hmac == lookup_hmac(normalise_mobile(phone_hmac_of)))).first()


def test_register_then_submit_with_the_token_and_sign_in_by_any_spelling(client: Any, demo: dict[str, int]) -> None:
    done = register(client, phone="+86 138 0013 8000")
    assert done.status_code == 201, done.text
    assert done.json()["token_type"] == "bearer"
    headers = {"Authorization": f"Bearer {done.json()['access_token']}"}
    me = client.get("/api/v1/auth/me", headers=headers).json()
    assert me["role"] == "submitter" and me["display_name"] == "小张" and me["unit_id"] is None
    assert PHONE not in me["username"] and "小张" not in me["username"]
    # The token works on the works API: a whole submission.
    work_id = uploaded_and_submitted(client, headers, title="我在河北省话保密：注册投稿")
    with session_scope() as session:
        work = session.get(Work, work_id)
        assert work is not None and work.status == "submitted" and work.unit_id is None
        user = session.get(User, me["id"])
        assert user is not None
        # Stored encrypted and as an HMAC; the consent's digest is that of the text shown.
        assert user.phone is None and user.phone_enc and PHONE not in user.phone_enc
        assert user.phone_hmac and len(user.phone_hmac) == 64
        assert user.consent_digest == consent_text(DEFAULT_RIGHTS_NOTICE).digest == client.get(
            "/api/v1/public/consent").json()["digest"]
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "account_registered")).all()
        assert len(events) == 1 and PHONE not in str(events[0].data)
    for spelling in (PHONE, "+8613800138000", "0086 138-0013-8000", "１３８００１３８０００", me["username"]):
        assert token_for(client, spelling, STRONG)
    assert client.post("/api/v1/auth/token", data={"username": PHONE, "password": "wrong-pass-2026"}).status_code == 401
    # The same phone again: the code is checked first, then 409.
    refused(register(client, nickname="另一个人"), 409, "phone_taken")


def test_contract_refusals_create_nothing(client: Any, demo: dict[str, int]) -> None:
    before = len(demo)
    refused(register(client, consent=False), 422, "consent_required")
    refused(client.post("/api/v1/public/register", json=registration(client, code="000000") | {"phone": "13900139000"}),
            401, "bad_code")
    good = code_for(client, "13700137000")
    refused(register(client, phone="13700137000", code="12345"), 401, "bad_code")  # malformed: no try spent
    refused(register(client, phone="010-12345678", code="123456"), 422, "bad_phone")
    refused(register(client, phone="13700137000", code=good, password="short"), 422, "password_too_short")
    refused(register(client, phone="13700137000", code=good, nickname="   "), 422, "nickname_required")
    refused(register(client, phone="13700137000", code=good, province="atlantis"), 422, "unknown_province")
    refused(register(client, phone="13700137000", code=good, unit_join_code="ZZZZ9999"), 422, "bad_join_code")
    refused(client.post("/api/v1/public/register", json={"phone": PHONE}), 422, "invalid")
    # None of those used the code up: it still registers.
    assert register(client, phone="13700137000", code=good).status_code == 201
    # And a code is single use.
    refused(register(client, phone="13700137000", code=good, nickname="再来"), 401, "bad_code")
    with session_scope() as session:
        assert len(session.exec(select(User)).all()) == before + 1


def test_join_code_membership_is_pending_until_approved(client: Any, demo: dict[str, int]) -> None:
    coordinator = headers_for(client, "demo-coordinator")
    unit_id = next(u["id"] for u in client.get("/api/v1/units", headers=coordinator).json() if u["name"] == "石家庄市")
    code = client.post(f"/api/v1/units/{unit_id}/join-code", headers=coordinator).json()["join_code"]
    # Another province's unit: refused, nothing created.
    refused(register(client, province="shanxi", unit_join_code=code), 422, "province_mismatch")
    done = register(client, unit_join_code=code.lower())
    assert done.status_code == 201, done.text
    headers = {"Authorization": f"Bearer {done.json()['access_token']}"}
    me = client.get("/api/v1/auth/me", headers=headers).json()
    assert me["unit_id"] is None  # pending: submits as an individual
    members = client.get(f"/api/v1/units/{unit_id}/members", headers=coordinator).json()
    mine = next(m for m in members["members"] if m["username"] == me["username"])
    assert mine["status"] == "pending" and mine["phone"] == "138****8000"
    approved = client.post(f"/api/v1/units/{unit_id}/members/approve", json={"user_id": me["id"]},
                           headers=coordinator)
    assert approved.status_code == 200, approved.text
    assert client.get("/api/v1/auth/me", headers=headers).json()["unit_id"] == unit_id
    work = client.post("/api/v1/works", json={"title": "单位作品"}, headers=headers).json()
    with session_scope() as session:
        stored = session.get(Work, work["id"])
        assert stored is not None and stored.unit_id == unit_id
    # The coordinator's page shows the number masked, never whole.
    page = client.get(f"/units/{unit_id}/members", headers=coordinator)
    assert "138****8000" in page.text and PHONE not in page.text


def test_password_reset_by_sms_ends_other_sessions(client: Any, demo: dict[str, int]) -> None:
    old = register(client).json()["access_token"]
    refused(client.post("/api/v1/public/password-reset",
                        json={"phone": "13900139000", "code": code_for(client, "13900139000", "reset"),
                              "password": "Another-pass-2026"}), 401, "bad_code")  # not registered: like a wrong code
    code = code_for(client, PHONE, "reset")
    refused(client.post("/api/v1/public/password-reset", json={"phone": PHONE, "code": code, "password": "weak"}),
            422, "password_too_short")
    reset = client.post("/api/v1/public/password-reset",
                        json={"phone": PHONE, "code": code, "password": "Another-pass-2026"})
    assert reset.status_code == 200, reset.text
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert token_for(client, PHONE, "Another-pass-2026")
    assert client.post("/api/v1/auth/token", data={"username": PHONE, "password": STRONG}).status_code == 401


def test_deleting_the_account_keeps_reviewed_works_anonymised(client: Any, demo: dict[str, int]) -> None:
    token = register(client).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    kept = uploaded_and_submitted(client, headers, title="我在河北省话保密：保留")
    draft = client.post("/api/v1/works", json={"title": "草稿"}, headers=headers).json()["id"]
    body = media.valid_mp4(1).read_bytes()
    put = client.put(f"/api/v1/works/{draft}/video", content=body, headers={
        **headers, "Content-Type": "video/mp4", "Content-Disposition": "attachment; filename=d.mp4"})
    assert put.status_code in (200, 201, 202), put.text
    with session_scope() as session:
        from clipjury.works.models import WorkVersion
        draft_keys = [v.object_key for v in session.exec(select(WorkVersion).where(WorkVersion.work_id == draft))]
    store = get_store()
    assert draft_keys and all(store.head(k) is not None for k in draft_keys)
    refused(client.post("/api/v1/auth/delete-account", json={"password": "wrong-pass-2026"}, headers=headers),
            401, "bad_credentials")
    staff = headers_for(client, "demo-reviewer")
    refused(client.post("/api/v1/auth/delete-account", json={"password": "demo"}, headers=staff), 403, "forbidden_role")
    gone = client.post("/api/v1/auth/delete-account", json={"password": STRONG}, headers=headers)
    assert gone.status_code == 200, gone.text
    assert gone.json() == {"deleted": True, "works_deleted": 1, "works_kept": 1}
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    assert client.post("/api/v1/auth/token", data={"username": PHONE, "password": STRONG}).status_code == 401
    assert all(store.head(k) is None for k in draft_keys)
    with session_scope() as session:
        assert session.get(Work, draft) is None
        work = session.get(Work, kept)
        assert work is not None and work.status == "submitted"
        owner = session.get(User, work.owner_id)
        assert owner is not None and owner.display_name == "已注销用户" and not owner.is_active
        assert owner.phone_enc is None and owner.phone_hmac is None and owner.username.startswith("deleted-")
    # The reviewer still reviews it, under the anonymous owner.
    seen = client.get(f"/api/v1/works/{kept}", headers=staff)
    assert seen.status_code == 200 and "小张" not in seen.text
    # The number is free again.
    assert register(client).status_code == 201


def test_inactive_submitters_are_deleted_by_the_sweep(client: Any, demo: dict[str, int]) -> None:
    register(client)
    active = register(client, phone="13700137000").json()["access_token"]
    with session_scope() as session:
        old = user_with_phone(PHONE)
        assert old is not None
        stale = session.get(User, old.id)
        assert stale is not None
        stale.last_login_at = utcnow() - timedelta(days=3 * 365 + 1)
        session.add(stale)
    assert sweep_inactive_accounts() == 1
    assert sweep_inactive_accounts() == 0
    assert user_with_phone(PHONE) is None
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {active}"}).status_code == 200
    with session_scope() as session:  # the demo accounts signed in never but were created now: kept
        assert session.exec(select(User).where(User.username == "demo-submitter")).one().deleted_at is None


@pytest.mark.parametrize("path", ["/public/register", "/public/password-reset"])
def test_public_pages_are_cacheable_and_carry_the_consent(client: Any, demo: dict[str, int], path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    assert "set-cookie" not in page.headers and "public" in page.headers["cache-control"]
    if path.endswith("register"):
        assert "个人信息处理说明" in page.text and 'id="consent"' in page.text and "checked" not in page.text
        assert "河北省" in page.text
