"""The preliminary review in real Chromium (Playwright) against a live server: the demo reviewer claims a
work from the queue, plays it, ticks the checklist and passes it; returns another, whose reason the
checklist script starts from the unticked items; the demo submitter then sees the reason on 我的作品 and on
the work's page. Screenshots go to test-artifacts/screenshots/ (review-queue, review-work, submitter-returned).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, LiveServer, start_server
from tests.review_support import headers_for, submitted_works, uploaded_and_submitted
from tests.test_browser import DESKTOP, PHONE, new_page, shot

pytestmark = pytest.mark.browser


@pytest.fixture()
def server(demo: dict[str, int]) -> Iterator[LiveServer]:
    live = start_server()
    try:
        yield live
    finally:
        from clipjury import devservices

        devservices.stop(live.proc)


def log_in(page: Any, base: str, username: str, lands_on: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{lands_on}")


def test_claim_check_pass_and_return(server: LiveServer, browser: Any) -> None:
    base = server.url
    assert (ROOT / "review_ui/static/js/review.js").is_file()
    with httpx.Client(base_url=base, timeout=30) as api:
        # The real path for the work that is played; the returned one needs no playable file.
        played = uploaded_and_submitted(api, headers_for(api, "demo-submitter"), title="我在河北省话保密：浏览器评审")
    [returned] = submitted_works("demo-submitter", 1, title="需要修改的作品")

    errors: list[str] = []
    page = new_page(browser, DESKTOP, errors)
    log_in(page, base, "demo-reviewer", "/review")
    assert page.locator("#review-queue tbody tr").count() == 2
    assert page.inner_text("#queue-total") == "共 2 件"
    shot(page, "review-queue")

    # 认领并评审 from the queue opens the work, claimed.
    page.click(f'tr[data-work-id="{played}"] button.claim')
    page.wait_for_url(f"{base}/review/works/{played}")
    assert "已认领该作品" in page.inner_text(".notice-success")
    page.wait_for_function(
        "() => { const v = document.getElementById('review-player'); return v && v.readyState >= 1 }"
    )
    assert 1.5 > page.evaluate("document.getElementById('review-player').duration") > 0.5
    assert "160 × 120" in page.inner_text("#review-facts")
    boxes = page.locator("#verdict-form input[name=checked]")
    assert boxes.count() == 7
    assert "我在河北省话保密，今天我要讲的是……" in page.inner_text(".checklist")
    page.check("input[name=decision][value=pass]")
    assert "还有 7 项未勾选" in page.inner_text("#verdict-hint")
    for i in range(boxes.count()):
        boxes.nth(i).check()
    assert page.inner_text("#checklist-count") == "（已核对 7/7）"
    assert page.locator("#verdict-hint").is_hidden()
    shot(page, "review-work")
    page.click("#submit-verdict")
    page.wait_for_selector("#review-status:text('初评通过')")
    assert "已作出结论：初评通过" in page.inner_text(".notice-success")
    assert page.locator("#verdict-form").count() == 0

    # The other work is returned; the reason starts from the unticked checklist items.
    page.goto(f"{base}/review?reviewer=none")
    assert page.locator("#review-queue tbody tr").count() == 1
    page.click(f'tr[data-work-id="{returned}"] button.claim')
    page.wait_for_url(f"{base}/review/works/{returned}")
    page.locator("#verdict-form input[name=checked]").nth(1).check()
    page.check("input[name=decision][value=return]")
    prefilled = page.input_value("#verdict-reason")
    assert prefilled.startswith("不符合以下要求：") and "我在河北省话保密" in prefilled
    assert "时长不超过 2 分钟" not in prefilled  # the ticked item is not a reason
    page.fill("#verdict-reason", "开头语不规范，请改为“我在河北省话保密，今天我要讲的是……”。")
    page.click("#submit-verdict")
    page.wait_for_selector("#review-status:text('退回修改')")

    phone = new_page(browser, PHONE, errors)
    log_in(phone, base, "demo-reviewer", "/review")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(phone, "review-queue-phone")

    # The submitter sees where each work stands and why the second came back.
    submitter = new_page(browser, DESKTOP, errors)
    log_in(submitter, base, "demo-submitter", "/works")
    assert "2" in submitter.inner_text(".nav-badge")
    listing = submitter.inner_text(".work-list")
    assert "已通过初评" in listing and "退回修改的理由：开头语不规范" in listing
    shot(submitter, "submitter-works")
    submitter.click(f'a.next[href="/works/{returned}"]')
    submitter.wait_for_url(f"{base}/works/{returned}")
    assert "开头语不规范" in submitter.inner_text("#review-reason")
    assert "北京时间）前修改" in submitter.inner_text("#review-progress")
    submitter.wait_for_selector("#uploader .uppy-Dashboard")
    assert submitter.locator("#submit-work").count() == 1
    shot(submitter, "submitter-returned")
    submitter.goto(f"{base}/notifications")
    assert submitter.locator(".note.unread").count() == 2
    shot(submitter, "notifications")

    assert not [e for e in errors if "pageerror" in e or "Content Security Policy" in e], errors
