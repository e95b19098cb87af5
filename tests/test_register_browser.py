"""Registration in real Chromium at a phone's size (Playwright): the consent box and a weak password are
refused beside their fields with what was typed kept, the code comes from the dev outbox, the person lands
signed in on 我的作品 with the submission deadline the national admin just moved, and the account page
shows the number masked with the unit request pending; then a sign-in with the phone number.

Screenshots go to test-artifacts/screenshots/ (register-error.png, register-works.png, register-account.png).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from clipjury.timeutil import fmt_local
from tests.conftest import LiveServer
from tests.test_browser import PHONE, new_page, shot

pytestmark = pytest.mark.browser

PASSWORD = "Register-phone-2026"


def _bearer(base: str, username: str, password: str = "demo") -> dict[str, str]:
    token = httpx.post(f"{base}/api/v1/auth/token", data={"username": username, "password": password}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def test_register_on_a_phone_and_see_the_moved_deadline(
    live_server: LiveServer, browser: Any, demo: dict[str, int]
) -> None:
    base = live_server.url
    coordinator = _bearer(base, "demo-coordinator")
    unit = next(u for u in httpx.get(f"{base}/api/v1/units", headers=coordinator).json() if u["name"] == "石家庄市")
    join_code = httpx.post(f"{base}/api/v1/units/{unit['id']}/join-code", headers=coordinator).json()["join_code"]
    admin = _bearer(base, "demo-admin")
    current = httpx.get(f"{base}/api/v1/campaigns/current", headers=admin).json()
    moved = datetime.fromisoformat(current["submission_deadline"].replace("Z", "+00:00")) + timedelta(days=1)
    patched = httpx.patch(f"{base}/api/v1/campaigns/current", json={"submission_deadline": moved.isoformat()},
                          headers=admin)
    assert patched.status_code == 200, patched.text

    errors: list[str] = []
    page = new_page(browser, PHONE, errors)
    page.goto(f"{base}/public/")
    page.click("a.pub-button[href$='/register']")
    page.wait_for_url(f"{base}/public/register")
    page.fill("#phone", "138 0013 8000")
    page.click("#send-code")
    page.wait_for_selector("#send-code:has-text('秒')")
    outbox = httpx.get(f"{base}/api/v1/dev/sms-outbox", params={"phone": "13800138000"}).json()
    page.fill("#code", outbox[0]["code"])
    page.fill("#nickname", "手机小张")
    page.fill("#password", "short")
    page.select_option("#province", "hebei")
    page.fill("#unit_join_code", join_code)
    page.click("#register-submit")
    page.wait_for_selector(".pub-field-error[data-for=consent]:visible")
    page.check("#consent")
    page.click("#register-submit")
    page.wait_for_selector(".pub-field-error[data-for=password]:visible")
    assert "至少需要" in page.inner_text(".pub-field-error[data-for=password]")
    assert page.input_value("#nickname") == "手机小张" and page.input_value("#unit_join_code") == join_code
    shot(page, "register-error")
    page.fill("#password", PASSWORD)
    page.click("#register-submit")
    page.wait_for_url(f"{base}/works")
    assert fmt_local(moved) in page.inner_text("#submission-deadline")
    shot(page, "register-works")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.goto(f"{base}/account")
    facts = page.inner_text("#account-facts")
    assert "138****8000" in facts and "13800138000" not in page.content()
    assert "石家庄市：待审核" in page.inner_text("#memberships")
    shot(page, "register-account")

    # Signed out, then in again with the number as typed on a phone.
    other = new_page(browser, PHONE, errors)
    other.goto(f"{base}/login")
    other.fill("#username", "+86 138-0013-8000")
    other.fill("#password", PASSWORD)
    other.click("button[type=submit]")
    other.wait_for_url(f"{base}/works")
    # The two refusals were answers the page showed (422), not script errors.
    assert [e for e in errors if "422" not in e] == [], errors
