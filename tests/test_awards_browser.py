"""Awards in real Chromium (issue 16's Done-when): the national admin computes, opens a work's breakdown, adjusts
one result with a reason, publishes, downloads the XLSX export and a certificate; a visitor on a phone reads
the public results and checks the certificate's code. Screenshots: test-artifacts/screenshots/awards-*.png."""

from __future__ import annotations

import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from python_calamine import CalamineWorkbook
from sqlmodel import col, select

from api.app import create_app
from clipjury.awards.models import AwardCertificate
from clipjury.db import session_scope
from tests.conftest import LiveServer
from tests.judging_support import add_likes, freeze_likes, published_works, score_and_submit
from tests.likes_support import open_window
from tests.review_support import headers_for
from tests.test_browser import DESKTOP, PHONE, new_page, shot
from tests.test_org_browser import log_in

pytestmark = pytest.mark.browser


def test_the_national_office_computes_adjusts_publishes_and_the_public_checks_a_certificate(
    live_server: LiveServer, browser: Any, demo: dict[str, int],
) -> None:
    made = published_works(2, 2)
    works = made["hebei"] + made["shanxi"]
    open_window()
    add_likes({w: 2 + 3 * i for i, w in enumerate(works)})
    freeze_likes()
    with TestClient(create_app()) as client:
        assert client.post("/api/v1/judging/assignments/apply", json={"seed": 8},
                           headers=headers_for(client, "demo-admin")).status_code == 200
        score_and_submit(client)
    errors: list[str] = []
    page = new_page(browser, DESKTOP, errors)
    base = live_server.url
    log_in(page, base, "demo-admin", "/awards")
    page.click("#compute")
    page.wait_for_selector("#ranking")
    assert page.locator("#ranking > tbody > tr").count() == len(works)
    first = page.locator("#ranking > tbody > tr").first
    first.locator("details.breakdown summary").click()
    assert first.locator("details.breakdown table tbody tr").count() >= 1  # each judge's total, z, use
    shot(page, "awards-computed")
    # Adjust the last-ranked work to the first level, with a reason.
    options = page.locator("#adjust-work option")
    last = options.nth(options.count() - 1).get_attribute("value")
    level = page.locator("#adjust-level option").first.get_attribute("value")
    page.select_option("#adjust-work", last)
    page.select_option("#adjust-level", level)
    page.fill("#adjust-reason", "评委会复议：选题贴近基层")
    page.click("#adjust-submit")
    page.wait_for_selector("#adjustments")
    assert "评委会复议：选题贴近基层" in page.text_content("#adjustments")
    assert page.locator(f'#moves tr:has-text("{level}")').count() == 1
    page.check("#publish-confirm")
    page.click("#publish-submit")
    page.wait_for_selector("#certificates")
    shot(page, "awards-published")
    with page.expect_download() as download:
        page.click("#export-xlsx")
    book = CalamineWorkbook.from_filelike(io.BytesIO(download.value.path().read_bytes()))
    assert book.sheet_names[:2] == ["说明", "逐项评分"]
    href = page.locator("#certificates a").first.get_attribute("href")
    pdf = page.request.get(f"{base}{href}")
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")
    work_id = int(str(href).rsplit("/", 1)[1].removesuffix(".pdf"))
    with session_scope() as session:
        code = session.exec(select(AwardCertificate.code).where(col(AwardCertificate.work_id) == work_id)).one()
    # The public, on a phone: the results by level, then the code typed as people type it.
    visitor = new_page(browser, PHONE, errors)
    visitor.goto(f"{base}/public/results")
    assert visitor.locator("[data-results=published]").count() == 1
    assert visitor.locator(f'li[data-work="{work_id}"]').count() == 1
    visitor.fill("#cert-code", code.lower().replace("-", " "))
    visitor.click("button.sc-filter-go")
    visitor.wait_for_selector("#cert-valid")
    assert visitor.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(visitor, "awards-certificate-check")
    visitor.fill("#cert-code", "ABCDE-12345")
    visitor.click("button.sc-filter-go")
    visitor.wait_for_selector("#cert-invalid")
    assert errors == [], errors


def test_a_city_writes_a_nomination_with_a_live_character_count(
    live_server: LiveServer, browser: Any, demo: dict[str, int],
) -> None:
    """附件2 on the page: the count under the write-up follows the typing (characters as the server counts
    them, an emoji is one), and the saved nomination is listed."""
    base = live_server.url
    errors: list[str] = []
    page = new_page(browser, DESKTOP, errors)
    log_in(page, base, "demo-coordinator", "/works")
    page.goto(f"{base}/nominations")
    counter = page.locator("#nom-write-up-count")
    assert counter.inner_text() == "已输入 0 / 1500 字"
    page.fill("#nom-office", "长安区保密办")
    page.fill("#nom-write-up", "长安区保密办组织全区机关单位参与微视频征集🙂")
    assert counter.inner_text() == "已输入 22 / 1500 字"
    shot(page, "nomination-count")
    page.click("#nom-submit")
    page.wait_for_selector("text=长安区保密办组织全区机关单位参与微视频征集")
    assert errors == [], errors
