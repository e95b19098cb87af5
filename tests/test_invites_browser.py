"""Invitations in real Chromium (Playwright): the national admin creates a provincial admin of 山西省 on the
accounts page and copies the link shown once; the invitee opens it in a fresh browser (a phone), sets a
password and is signed in; the national admin deactivates the account and the invitee's next page is the
login page.

Screenshots go to test-artifacts/screenshots/ (accounts-link.png, invite-phone.png, invite-done.png).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.test_browser import DESKTOP, PHONE, new_page, shot

pytestmark = pytest.mark.browser

PASSWORD = "Shanxi-baomi-2026"


def test_create_invite_accept_and_deactivate(live_server: LiveServer, browser: Any, demo: dict[str, int]) -> None:
    base = live_server.url
    errors: list[str] = []
    admin = new_page(browser, DESKTOP, errors)
    admin.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    admin.goto(f"{base}/login?next=/accounts")
    admin.fill("#username", "demo-admin")
    admin.fill("#password", "demo")
    admin.click("button[type=submit]")
    admin.wait_for_url(f"{base}/accounts")
    assert admin.locator("nav.mainnav a[href='/accounts']").count() == 1

    admin.fill("#username", "shanxi-admin")
    admin.fill("#display_name", "山西省管理员")
    admin.select_option("#role", "provincial_admin")
    admin.select_option("#province", "shanxi")
    admin.click("#create-account button[type=submit]")
    admin.wait_for_selector("#invite-url")
    link = admin.input_value("#invite-url")
    assert link.startswith(f"{base}/invite/"), link
    admin.click("[data-copy=invite-url]")
    admin.wait_for_selector("[data-copy=invite-url]:has-text('已复制')")
    assert admin.evaluate("navigator.clipboard.readText()") == link
    row = admin.locator("tr[data-username='shanxi-admin']")
    assert "待接受邀请" in row.inner_text()
    shot(admin, "accounts-link")
    # Shown once: reloading the list does not show it again.
    admin.goto(f"{base}/accounts")
    assert admin.locator("#invite-url").count() == 0

    # A fresh browser context: no cookie of anyone.
    invitee = new_page(browser, PHONE, errors)
    invitee.goto(link)
    assert invitee.locator("#invite-username").inner_text() == "shanxi-admin"
    assert "省级管理员" in invitee.content()
    invitee.fill("#password", "short")
    invitee.fill("#password_again", "short")
    # The browser's own minlength check stops it first; the server says the same when it is bypassed.
    invitee.evaluate("document.querySelector('form.form').noValidate = true")
    invitee.click("button[type=submit]")
    invitee.wait_for_selector(".notice-error")
    assert "至少需要" in invitee.inner_text(".notice-error")
    shot(invitee, "invite-phone")
    invitee.fill("#password", PASSWORD)
    invitee.fill("#password_again", PASSWORD)
    invitee.click("button[type=submit]")
    invitee.wait_for_url(f"{base}/review")
    assert "山西省管理员" in invitee.inner_text(".who")
    assert "密码已设置" in invitee.content()
    shot(invitee, "invite-done")
    scroll = invitee.evaluate("document.documentElement.scrollWidth")
    assert scroll <= PHONE["width"], scroll

    # The link is spent.
    again = new_page(browser, DESKTOP, errors)
    again.goto(link)
    assert "已经使用过" in again.content()

    # Deactivated: the invitee's very next page is the login page.
    admin.goto(f"{base}/accounts")
    assert "已启用" in admin.locator("tr[data-username='shanxi-admin']").inner_text()
    admin.locator("tr[data-username='shanxi-admin'] form[action$='/deactivate'] button").click()
    admin.wait_for_selector(".notice-success")
    assert "已停用" in admin.locator("tr[data-username='shanxi-admin']").inner_text()
    invitee.goto(f"{base}/review")
    assert invitee.url.startswith(f"{base}/login"), invitee.url
    # The refused short password (422) and the spent link (410) are the expected console errors.
    assert [e for e in errors if "422" not in e and "410" not in e] == [], errors
