"""Blind scoring in real Chromium: a judge opens a work (the player beside the rubric), types the scores,
which the page saves through the API as it goes with the rev, reloads to see them kept, and submits.
Screenshots: test-artifacts/screenshots/judging-score.png and judging-submitted.png."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests import media
from tests.conftest import LiveServer
from tests.judging_support import freeze_likes, published_works
from tests.review_support import headers_for
from tests.test_browser import DESKTOP, new_page, shot
from tests.test_org_browser import log_in

pytestmark = pytest.mark.browser


def settled(page: Any) -> None:
    """Waits until the page's saves are done: the same 已保存 state read twice, 0.5 s apart (the page's
    script allows no eval, so no wait_for_function)."""
    last = ""
    for _ in range(40):
        now = page.text_content("#save-state") or ""
        if now == last and now.startswith("已保存"):
            return
        last = now
        page.wait_for_timeout(500)
    raise AssertionError(f"the scores were not saved: {last}")


def test_a_judge_scores_blind_with_autosave_and_submits(
    live_server: LiveServer, browser: Any, demo: dict[str, int],
) -> None:
    from storage import get_store

    made = published_works(1, 1)
    store = get_store()
    for work_id in made["hebei"] + made["shanxi"]:
        store.upload_file(f"public/{work_id}.mp4", media.valid_mp4(1), content_type="video/mp4")
    freeze_likes()
    with TestClient(create_app()) as client:
        applied = client.post("/api/v1/judging/assignments/apply", json={"seed": 5},
                              headers=headers_for(client, "demo-admin"))
        assert applied.status_code == 200, applied.text
        loads = client.get("/api/v1/judging/progress", headers=headers_for(client, "demo-admin")).json()["judges"]
        judge = next(j["username"] for j in loads if j["assigned"] == 2)
    errors: list[str] = []
    page = new_page(browser, DESKTOP, errors)
    base = live_server.url
    log_in(page, base, judge, "/judging")
    rows = page.locator("#judge-works tbody tr")
    assert rows.count() == 2
    page.locator("#judge-works tbody tr").first.locator("a").click()
    page.wait_for_selector("#judge-player")
    for key, value in (("thought", "8"), ("art", "7.5"), ("technique", "9"), ("conformity", "10")):
        page.fill(f"#score-{key}", value)
        page.locator(f"#score-{key}").dispatch_event("change")
    settled(page)
    shot(page, "judging-score")
    page.reload()
    assert page.input_value("#score-art") == "7.5" and page.input_value("#score-conformity") == "10"
    assert "石家庄" not in page.content()
    # The second work through the form's save button (the script saves it through the API as well).
    page.goto(f"{base}/judging")
    page.locator("#judge-works tbody tr").nth(1).locator("a").click()
    page.wait_for_selector("#judge-player")
    for key in ("thought", "art", "technique", "conformity"):
        page.fill(f"#score-{key}", "6")
    page.click("#save-scores")
    settled(page)
    page.goto(f"{base}/judging")
    page.click("#submit-all")
    page.wait_for_selector("#locked-badge")
    shot(page, "judging-submitted")
    assert [e for e in errors if "favicon" not in e] == [], errors
