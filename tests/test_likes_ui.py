"""The likes' pages: the national office's 展播点赞 page (figures, report, the void form) in-process, and one
journey in real Chromium at a phone's 390x844: a visitor opens a work's vote page, verifies a phone with the
dev outbox's code and likes; the count moves on the page and on the national office's chart. Screenshots go
to test-artifacts/screenshots/likes-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from api.app import create_app
from clipjury import devservices
from clipjury.db import session_scope
from clipjury.showcase.models import Like
from tests.conftest import ROOT, LiveServer, start_server
from tests.likes_support import bearer, make_voters, open_window, showcase_works
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, PHONE, SHOTS, new_page, shot
from tests.test_ui import csrf_of, login


@pytest.fixture()
def ui(demo: dict[str, int]) -> Iterator[TestClient]:
    with TestClient(create_app(), client=("198.51.100.7", 50000)) as client:
        yield client


def test_the_national_page_shows_the_figures_and_voids_with_a_reason(ui: TestClient) -> None:
    [work_id] = showcase_works(1)
    open_window()
    people = make_voters(3)
    for _voter, token in people:
        assert ui.put(f"/api/v1/showcase/works/{work_id}/like", headers=bearer(token)).status_code == 201
    assert login(ui, "demo-admin").status_code == 303
    page = ui.get("/showcase/likes")
    assert page.status_code == 200
    assert 'id="kpi-likes">3<' in page.text and "进行中" in page.text and "likes-data" in page.text
    # A form without a reason changes nothing and says why.
    token = csrf_of(page.text)
    refused = ui.post("/showcase/likes/void", data={"voter_ids": str(people[0][0]), "reason": " ",
                                                      "csrf_token": token}, follow_redirects=True)
    assert "请填写作废理由" in refused.text
    done = ui.post("/showcase/likes/void", data={"voter_ids": f"{people[0][0]}，{people[1][0]}", "reason": "刷票",
                                                   "csrf_token": token}, follow_redirects=True)
    assert "已作废 2 个投票人的 2 个点赞" in done.text
    assert 'id="kpi-likes">1<' in done.text and 'id="kpi-voided">2<' in done.text and "刷票" in done.text
    with session_scope() as session:
        reasons = sorted(r or "" for r in session.exec(select(Like.void_reason)).all())
    assert reasons == ["", "刷票", "刷票"]
    # Other roles are refused; the public vote page is one page for everyone.
    assert login(ui, "demo-province-admin").status_code == 303
    assert ui.get("/showcase/likes").status_code == 403
    ui.cookies.clear()
    vote = ui.get(f"/public/vote/{work_id}")
    assert vote.status_code == 200 and "set-cookie" not in vote.headers
    assert vote.headers["cache-control"].startswith("public")
    assert 'data-like-count aria-label="点赞数">1<' in vote.text and "个人信息处理说明" in vote.text


# -- the journey in Chromium ------------------------------------------------------------------------------

@pytest.fixture()
def server(demo: dict[str, int]) -> Iterator[LiveServer]:
    assert (ROOT / "review_ui/static/build/likes_chart.js").is_file(), "run `sh scripts/build_assets.sh` first"
    live = start_server()
    yield live
    devservices.stop(live.proc)


@pytest.mark.browser
def test_a_visitor_verifies_a_phone_and_likes_on_a_phone(server: LiveServer) -> None:
    from playwright.sync_api import expect, sync_playwright  # as tests/test_browser.py: only the browser tests need it

    [work_id] = showcase_works(1)
    open_window()
    SHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page: Any = new_page(browser, PHONE, errors)
        page.goto(f"{server.url}/public/vote/{work_id}")
        page.click("[data-like-button]")
        form = page.locator("[data-like-signin]")
        form.locator("input[name=phone]").fill("139 0013 9000")
        form.locator("[data-like-send]").click()
        expect(form.locator("[data-like-send]")).to_contain_text("秒后可重发")
        outbox = page.request.get(f"{server.url}/api/v1/dev/sms-outbox?phone=13900139000").json()
        form.locator("input[name=code]").fill(outbox[0]["code"])
        form.locator("input[name=nickname]").fill("手机观众")
        form.locator(".like-notice summary").click()
        shot(page, "likes-phone-signin")
        form.locator("[type=submit]").click()
        expect(page.locator("[data-like-error]")).to_contain_text("同意")  # the consent box was not ticked
        form.locator("input[name=consent]").check()
        form.locator("[type=submit]").click()
        page.wait_for_selector("[data-like-button][aria-pressed=true]")
        assert page.locator("[data-like-count]").inner_text() == "1"
        expect(page.locator("[data-like-msg]")).to_contain_text("点赞成功")
        shot(page, "likes-phone-liked")
        # Back later: the token is remembered, the button says so, a second like is not a second count.
        page.reload()
        page.wait_for_selector("[data-like-button][aria-pressed=true]")
        page.click("[data-like-button]")
        expect(page.locator("[data-like-msg]")).to_contain_text("已经")
        assert page.locator("[data-like-count]").inner_text() == "1"
        # The national office's page: the figures and the chart.
        admin: Any = new_page(browser, {"width": 1280, "height": 800}, errors)
        admin.goto(f"{server.url}/login")
        admin.fill("#username", "demo-admin")
        admin.fill("#password", "demo")
        admin.click("button[type=submit]")
        admin.wait_for_url(f"{server.url}/review/national")
        admin.goto(f"{server.url}/showcase/likes")
        assert admin.locator("#kpi-likes").inner_text() == "1"
        admin.wait_for_selector("#chart-likes[data-rendered=true]")
        admin.click("#chart-buckets [data-bucket=minute]")
        admin.wait_for_selector("#chart-likes[data-bucket=minute]")
        assert admin.locator("#chart-likes").get_attribute("data-points") == "1"
        shot(admin, "likes-national")
        browser.close()
    # The one refused request (the unticked consent, 422) is logged by Chromium; nothing else may be.
    assert [e for e in errors if "status of 422" not in e] == [], errors
