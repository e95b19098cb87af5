"""The public site (issue 13 §3): the campaign's landing page for anyone without an account, cacheable and
without a session cookie, its own Chinese error pages, and the staff pages unchanged beside it."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.test_ui import login

LANDING = "/public/"


def update_campaign(**fields: Any) -> None:
    from clipjury.campaigns.service import active_campaign
    from clipjury.db import session_scope

    with session_scope() as session:
        campaign = active_campaign(session)
        for name, value in fields.items():
            setattr(campaign, name, value)
        session.add(campaign)


def text_of(response: Any) -> str:
    return html.unescape(response.text)


def test_landing_page_answers_anyone_with_the_campaign_from_the_database(
    client: Any, demo: dict[str, int]
) -> None:
    response = client.get(LANDING)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    page = text_of(response)
    assert "“人人话保密”微视频征集评选活动（河北省 2023 演示）" in page
    assert "2023 年" in page
    assert "MP4" in page and "300 MB" in page and "2 分钟" in page
    assert "我在××话保密，今天我要讲的是……" in page
    assert "不涉及国家秘密、工作秘密和内部敏感信息" in page
    assert "活动主办方对征集作品拥有发表权和出版权" in page
    assert 'href="/login"' in page and "参赛说明" in page and "登录" in page


def test_landing_page_follows_the_campaign_settings(client: Any, demo: dict[str, int]) -> None:
    before = client.get(LANDING)
    update_campaign(
        name="第二届保密微视频大赛",
        year=2024,
        max_size_bytes=150 * 1024 * 1024,
        max_duration_s=90.0,
        # 2024-04-13 16:00 UTC is 2024-04-14 00:00 in Beijing: the page shows Beijing time.
        submission_deadline=datetime(2024, 4, 13, 16, 0, tzinfo=UTC),
        showcase_starts_at=datetime(2024, 4, 23, 16, 0, tzinfo=UTC),
        showcase_ends_at=datetime(2024, 5, 2, 15, 59, tzinfo=UTC),
        opening_line_template="大家好，我在{province}话保密",
        rights_notice="作品版权归作者所有，主办方可用于公益展示。",
    )
    after = client.get(LANDING)
    page = text_of(after)
    assert "第二届保密微视频大赛" in page and "2024 年" in page
    assert "150 MB" in page and "90 秒" in page
    assert "300 MB" not in page
    assert '<dd data-field="submission_deadline">2024-04-14 00:00</dd>' in page
    assert '<dd data-field="showcase">2024-04-24 00:00 至 2024-05-02 23:59</dd>' in page
    assert "大家好，我在××话保密" in page
    assert "作品版权归作者所有，主办方可用于公益展示。" in page
    # A cache holding the old page learns it is stale: the validator changed with the content.
    assert after.headers["etag"] != before.headers["etag"]


def test_anonymous_visitor_gets_no_cookie_and_a_cacheable_page(client: Any, demo: dict[str, int]) -> None:
    response = client.get(LANDING)
    assert "set-cookie" not in response.headers
    assert not client.cookies
    assert response.headers["cache-control"] == "public, max-age=60"
    assert "Cookie" in response.headers["vary"]
    etag = response.headers["etag"]
    again = client.get(LANDING)
    assert again.content == response.content and again.headers["etag"] == etag

    revalidated = client.get(LANDING, headers={"If-None-Match": etag})
    assert revalidated.status_code == 304
    assert revalidated.content == b""
    assert "set-cookie" not in revalidated.headers


@pytest.fixture()
def short_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from clipjury.settings import get_settings

    monkeypatch.setenv("CLIPJURY_PUBLIC_CACHE_MAX_AGE_S", "15")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_cache_lifetime_is_a_setting(short_cache: None, client: Any, demo: dict[str, int]) -> None:
    assert client.get(LANDING).headers["cache-control"] == "public, max-age=15"


def test_signed_in_visitor_gets_a_private_page(client: Any, demo: dict[str, int]) -> None:
    assert login(client).status_code == 303
    response = client.get(LANDING)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, no-store"
    assert "etag" not in response.headers
    assert "我的工作台" in response.text and 'href="/login"' not in response.text.split("</header>")[0]


def test_a_visitor_with_any_session_is_not_shared(client: Any, demo: dict[str, int]) -> None:
    # The login form put a CSRF token in a session: the middleware re-sends that cookie with every answer,
    # so the answer must not be stored where the next visitor would get the cookie.
    client.get("/login")
    assert client.cookies
    response = client.get(LANDING)
    assert response.headers["cache-control"] == "private, no-store"
    assert "etag" not in response.headers
    assert 'href="/login"' in response.text  # still not signed in


def test_a_bearer_token_makes_the_page_private(client: Any, demo: dict[str, int]) -> None:
    response = client.get(LANDING, headers={"Authorization": "Bearer something"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, no-store"


def test_unknown_public_address_is_the_public_404_page(client: Any, demo: dict[str, int]) -> None:
    response = client.get("/public/no-such-page", follow_redirects=False)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "location" not in response.headers
    page = text_of(response)
    assert "找不到页面" in page and "page_not_found" in page
    assert "pub-top" in page and "参赛说明" in page  # the public frame, not the staff one
    assert "返回我的作品" not in page
    assert response.headers["cache-control"] == "private, no-store"
    assert "set-cookie" not in response.headers


def test_wrong_method_on_a_public_page_is_a_public_error_page(client: Any, demo: dict[str, int]) -> None:
    response = client.post(LANDING, follow_redirects=False)
    assert response.status_code == 405
    assert "pub-top" in response.text and "method_not_allowed" in response.text


def test_without_an_active_campaign_the_landing_says_so(client: Any, demo: dict[str, int]) -> None:
    update_campaign(is_active=False)
    response = client.get(LANDING, follow_redirects=False)
    assert response.status_code == 404
    page = text_of(response)
    assert "当前没有进行中的征集活动。" in page and "no_active_campaign" in page and "pub-top" in page


def test_public_stylesheet_is_served(client: Any) -> None:
    response = client.get("/public/static/public.css")
    assert response.status_code == 200 and ".pub-top" in response.text


def test_staff_pages_still_send_anonymous_visitors_to_login(client: Any, demo: dict[str, int]) -> None:
    for path in ("/", "/works", "/review"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login"), path
    # The staff's unknown addresses keep the staff error page.
    staff_404 = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert staff_404.status_code == 404 and "pub-top" not in staff_404.text


@pytest.mark.browser
def test_landing_page_on_a_phone(live_server: Any, demo: dict[str, int]) -> None:
    """The landing page in Chromium at 390×844: no cookie, no sideways scrolling, no console error; the
    screenshot (test-artifacts/screenshots/public-landing-phone.png) is for a person to look at."""
    from playwright.sync_api import ViewportSize, sync_playwright

    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, PHONE, SHOTS

    SHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            phone = ViewportSize(width=PHONE["width"], height=PHONE["height"])
            context = chromium.new_context(viewport=phone, locale="zh-CN", timezone_id="Asia/Shanghai")
            page = context.new_page()
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(f"{live_server.url}{LANDING}")
            assert page.locator("h1").inner_text() == "“人人话保密”微视频征集评选活动（河北省 2023 演示）"
            assert page.locator('[data-field="max_size"]').inner_text() == "300 MB"
            # Readable on a phone: nothing wider than the screen.
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            assert context.cookies() == []
            page.screenshot(path=str(SHOTS / "public-landing-phone.png"), full_page=True)

            page.get_by_role("link", name="登录", exact=True).click()
            page.wait_for_url("**/login")
            assert errors == [], errors

            # The browser logs the intended 404 as a console error: checked above, before it.
            missing = page.goto(f"{live_server.url}/public/nothing-here")
            assert missing is not None and missing.status == 404
            assert "找不到页面" in page.locator("h1").inner_text()
            page.screenshot(path=str(SHOTS / "public-404-phone.png"), full_page=True)
        finally:
            chromium.close()


@pytest.fixture()
def database_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The settings pointed at a PostgreSQL port nothing listens on, for one test."""
    from clipjury.settings import get_settings
    from tests.conftest import free_port

    monkeypatch.setenv("CLIPJURY_DATABASE_URL", f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_a_failure_is_the_public_500_page(demo: dict[str, int], database_down: None, client: Any) -> None:
    response = client.get(LANDING, follow_redirects=False)
    assert response.status_code == 500
    page = text_of(response)
    assert "服务暂时不可用" in page and "internal_error" in page and "pub-top" in page
    assert response.headers["cache-control"] == "private, no-store"
    assert "set-cookie" not in response.headers


def test_the_bare_prefix_leads_to_the_landing_page(client: Any, demo: dict[str, int]) -> None:
    response = client.get("/public", follow_redirects=False)
    assert response.status_code in (301, 307, 308), response.status_code
    assert response.headers["location"].endswith("/public/")
    head = client.head(LANDING)
    assert head.status_code == 200 and head.headers["cache-control"] == "public, max-age=60"
