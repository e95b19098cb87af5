"""The organisers' pages in real Chromium (Playwright): the provincial admin reads the quota dashboard
(ECharts on a canvas), forwards passed works (a ranked selection, then 全部报送); the national admin reads
the national dashboard, recommends one work, turns down another and publishes the results.

Screenshots go to test-artifacts/screenshots/ (dashboard-province.png, dashboard-national.png,
forward.png, national.png and a phone view of the dashboard).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ROOT, LiveServer
from tests.review_support import submitted_works
from tests.test_browser import DESKTOP, PHONE, SHOTS, new_page, shot
from tests.test_org_ui import passed_works, work_state

pytestmark = pytest.mark.browser

# Extra submitters, so the dashboard shows units on both sides of their quota.
UNIT_WORKS = {"唐山市": 11, "保定市": 5, "定州市": 2, "省委宣传部": 1}


def unit_submitters(demo_hash: str) -> None:
    from sqlmodel import select

    from clipjury.accounts.models import Role, Unit, User
    from clipjury.db import session_scope

    with session_scope() as session:
        for i, name in enumerate(UNIT_WORKS):
            unit = session.exec(select(Unit).where(Unit.name == name)).one()
            session.add(User(username=f"unit-submitter-{i}", password_hash=demo_hash, role=Role.submitter.value,
                             province_id=unit.province_id, unit_id=unit.id))
    for i, count in enumerate(UNIT_WORKS.values()):
        submitted_works(f"unit-submitter-{i}", count, title=f"单位{i}作品")


def log_in(page: Any, base: str, username: str, landing: str) -> None:
    page.goto(f"{base}/login?next={landing}")
    page.fill("#username", username)
    page.fill("#password", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{landing}")


def wait_for_charts(page: Any) -> None:
    for chart in ("#chart-quota", "#chart-progress"):
        page.wait_for_selector(f"{chart}[data-rendered=true] canvas")
        box = page.locator(f"{chart} canvas").first.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 150, (chart, box)


def no_sideways_scroll(page: Any, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page scrolls sideways ({scroll}px > {width}px)"


def test_forward_recommend_publish(live_server: LiveServer, browser: Any, demo: dict[str, int], demo_hash: str) -> None:
    assert (ROOT / "review_ui/static/build/charts.js").is_file(), "run `sh scripts/build_assets.sh` first"
    first, second = passed_works("demo-submitter", 2, title="我在河北省话保密")
    submitted_works("demo-submitter", 1, title="待初评")
    submitted_works("demo2-submitter", 3, title="太原作品")
    unit_submitters(demo_hash)
    base = live_server.url
    errors: list[str] = []

    # -- the provincial admin: dashboard, then forwarding
    page = new_page(browser, DESKTOP, errors)
    log_in(page, base, "demo-province-admin", "/dashboard")
    wait_for_charts(page)
    assert "河北省配额看板" in page.inner_text("h1")
    first_row = page.locator("#quota-table tbody tr").first
    assert first_row.get_attribute("data-label") == "秦皇岛市"  # none submitted: the furthest behind first
    tangshan = page.locator('#quota-table tr[data-label="唐山市"]')
    assert "已达标" in tangshan.inner_text() and "11" in tangshan.inner_text()
    no_sideways_scroll(page, DESKTOP["width"])
    shot(page, "dashboard-province")

    phone = new_page(browser, PHONE, errors)
    log_in(phone, base, "demo-province-admin", "/dashboard")
    wait_for_charts(phone)
    no_sideways_scroll(phone, PHONE["width"])
    # The table's every column fits a phone's width (no scrolling inside it either).
    assert phone.evaluate("(() => { const w = document.querySelector('.table-wrap:has(#quota-table)');"
                          " return w.scrollWidth <= w.clientWidth })()"), "the quota table scrolls on a phone"
    phone.screenshot(path=str(SHOTS / "dashboard-province-phone.png"))  # the first screen, as a phone shows it
    phone.locator("#chart-quota").screenshot(path=str(SHOTS / "dashboard-province-phone-chart.png"))
    phone.locator(".table-wrap:has(#quota-table)").screenshot(path=str(SHOTS / "dashboard-province-phone-table.png"))

    page.goto(f"{base}/review/forward")
    assert "石家庄市" in page.inner_text("#under-quota") and "差 7 件" in page.inner_text("#under-quota")
    page.check(f"#pick-{first}")
    page.fill(f"input[name=rank_{first}]", "1")
    with page.expect_navigation():
        page.click("#forward-selected")
    page.wait_for_selector("text=已将 1 件作品报送全国复评。")
    assert work_state(first) == ("forwarded", 1)
    assert page.locator("#forwarded-table").inner_text().count("我在河北省话保密 1") == 1
    no_sideways_scroll(page, DESKTOP["width"])
    shot(page, "forward")

    dialogs: list[str] = []

    def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    # 全部报送 posts the same form to ?scope=all (the button's formaction), after the button's own question.
    page.once("dialog", accept)
    with page.expect_navigation():
        page.click("#forward-all")
    assert len(dialogs) == 1 and "全部" in dialogs[0]
    dialogs.clear()
    page.wait_for_selector("text=已将 1 件作品报送全国复评。")
    assert work_state(second) == ("forwarded", None)
    assert page.locator("input[name=work_id]").count() == 0

    # -- the national admin: national dashboard, re-review, publish
    admin = new_page(browser, DESKTOP, errors)
    log_in(admin, base, "demo-admin", "/dashboard")
    wait_for_charts(admin)
    assert admin.locator('#quota-table tr[data-label="河北省"]').count() == 1
    assert admin.locator('#quota-table tr[data-label="山西省"] [data-col=submitted]').inner_text() == "3"
    no_sideways_scroll(admin, DESKTOP["width"])
    shot(admin, "dashboard-national")
    admin.click('#quota-table a:text("山西省")')
    admin.wait_for_url(f"{base}/dashboard?province=shanxi")
    wait_for_charts(admin)
    assert admin.locator("#quota-table tbody tr").count() == 1

    admin.goto(f"{base}/review/national")
    row = admin.locator(f"#work-{first}")
    with admin.expect_navigation():
        row.locator("button:text('推荐展播')").click()
    admin.wait_for_selector("text=推荐展播（结果发布前仅全国管理员可见）")
    assert work_state(first)[0] == "recommended"
    other = admin.locator(f"#work-{second}")
    other.locator("input[name=reason]").fill("与已推荐作品题材重复")
    with admin.expect_navigation():
        other.locator("button:text('不推荐')").click()
    admin.wait_for_selector("text=理由：与已推荐作品题材重复")
    assert work_state(second)[0] == "not_recommended"

    admin.once("dialog", accept)
    with admin.expect_navigation():
        admin.click("#publish")
    admin.wait_for_selector("text=全国复评结果已发布，已通知 2 件作品的投稿人。")
    assert len(dialogs) == 1 and "确认发布" in dialogs[0]
    assert "复评结果已于" in admin.inner_text("#publish-state")
    no_sideways_scroll(admin, DESKTOP["width"])
    shot(admin, "national")

    # A copyright complaint arrives after publication: the national admin disqualifies the recommended
    # work on its review page, with the complaint attached; it leaves the list, the submitter sees why.
    complaint = SHOTS.parent / "complaint.pdf"
    complaint.write_bytes(b"%PDF-1.4\n% copyright complaint\n%%EOF\n")
    admin.goto(f"{base}/review/works/{first}")
    admin.fill("#disqualify-reason", "收到版权投诉，画面素材未获授权")
    admin.set_input_files("#disqualify-document", str(complaint))
    admin.once("dialog", accept)
    with admin.expect_navigation():
        admin.click("#disqualify-work")
    assert work_state(first)[0] == "disqualified"
    assert admin.locator("text=complaint.pdf").count() >= 1
    shot(admin, "disqualified")
    admin.goto(f"{base}/review/national")
    assert admin.locator(f"#work-{first}").count() == 0

    assert not [e for e in errors if "Content Security Policy" in e or "pageerror" in e], errors
