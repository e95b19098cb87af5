"""The units page in real Chromium: the provincial admin uploads a sheet with bad cells, reads each one
reported by row and column (nothing imported), then uploads the corrected sheet and sees the units.
Screenshots: test-artifacts/screenshots/units-import-errors.png and units-imported.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.test_browser import DESKTOP, new_page, shot
from tests.test_org_browser import log_in
from tests.test_units import unit_count, xlsx

pytestmark = pytest.mark.browser


def test_import_shows_cell_errors_then_imports(
    live_server: LiveServer, browser: Any, demo: dict[str, int], tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(xlsx([["晋中市", "设区市", "十件", 1], ["晋中市", "街道", 2, 2]]))
    good = tmp_path / "good.xlsx"
    good.write_bytes(xlsx([["晋中市", "设区市", 10, 1], ["山西省广播电视局", "省直单位", 1, 2]]))
    errors: list[str] = []
    page = new_page(browser, DESKTOP, errors)
    base = live_server.url
    log_in(page, base, "demo2-province-admin", "/units")
    before = unit_count()

    page.set_input_files("#import-form input[type=file]", str(bad))
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#sheet-errors")
    messages = page.locator("#sheet-errors li.sheet-error").all_inner_texts()
    assert "第2行C列：最低作品数必须是非负整数（留空表示按类型默认）" in messages, messages
    assert "第3行A列：单位“晋中市”与第2行重复" in messages, messages
    assert any(m.startswith("第3行B列：单位类型“街道”不存在") for m in messages), messages
    assert unit_count() == before
    shot(page, "units-import-errors")

    page.set_input_files("#import-form input[type=file]", str(good))
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("text=已导入 2 个单位。")
    assert page.locator("#sheet-errors").count() == 0
    assert page.locator('#units-table tr[data-unit="晋中市"]').count() == 1
    assert page.locator('#units-table tr[data-unit="山西省广播电视局"]').count() == 1
    assert unit_count() == before + 2
    shot(page, "units-imported")
    # The refused upload answers 422 on purpose (Chromium logs that status); nothing else may fail.
    assert [e for e in errors if "status of 422" not in e] == [], errors
