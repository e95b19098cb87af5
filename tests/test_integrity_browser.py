"""The integrity panel in real Chromium against a live server: a Hebei work with the opening line as a
subtitle and a filmed "机密★1年" page, and a mirrored copy of it from Shanxi. The national admin sees both
works side by side at the matching moment; Hebei's reviewer sees only that a Shanxi work is similar and
came later; both see the opening line found and the marking with its second and thumbnail. Screenshots
go to test-artifacts/screenshots/ (integrity-national, integrity-province, integrity-list)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests import integrity_support as media
from tests.conftest import LiveServer, run_jobs, start_server
from tests.review_support import headers_for
from tests.test_browser import DESKTOP, new_page, shot
from tests.test_integrity import submit, upload
from tests.test_review_browser import log_in

pytestmark = pytest.mark.browser


@pytest.fixture()
def server(demo: dict[str, int]) -> Iterator[LiveServer]:
    live = start_server()
    try:
        yield live
    finally:
        from clipjury import devservices

        devservices.stop(live.proc)


@pytest.fixture()
def short_opening(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The opening line looked for in the first 2 s (4 frames to read, not 20): the jobs run in this process."""
    from clipjury.settings import get_settings

    monkeypatch.setenv("CLIPJURY_INTEGRITY_OPENING_WINDOW_S", "2")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_review_page_shows_similar_works_and_markings(
    server: LiveServer, browser: Any, short_opening: None,
) -> None:
    base = server.url
    with httpx.Client(base_url=base, timeout=60) as api:
        hebei, shanxi = headers_for(api, "demo-submitter"), headers_for(api, "demo2-submitter")
        first = upload(api, hebei, media.screened("河北省"), "开头语与密级标志")
        submit(api, hebei, first)
        copy = upload(api, shanxi, media.screened_mirrored(), "镜像翻拍")
        submit(api, shanxi, copy)
    run_jobs(integrity=True)

    errors: list[str] = []
    page = new_page(browser, DESKTOP, errors)
    log_in(page, base, "demo-admin", "/review/national")
    page.goto(f"{base}/review/works/{first}")
    similar = page.inner_text("#integrity-similar")
    assert "镜像翻拍" in similar and "本作品提交在先" in similar
    assert page.locator("#integrity-similar video.similar-player").count() == 2
    screening = page.inner_text("#integrity-screening")
    assert "画面中已找到" in screening and "机密★1年" in screening
    page.wait_for_function("() => { const i = document.querySelector('img.marking-thumb'); "
                           "return i && i.complete && i.naturalWidth > 0 }")
    shot(page, "integrity-national")
    page.goto(f"{base}/review/integrity")
    assert "镜像翻拍" in page.inner_text("#integrity-pairs")
    shot(page, "integrity-list")

    page.context.clear_cookies()
    log_in(page, base, "demo-reviewer", "/review")
    page.goto(f"{base}/review/works/{first}")
    similar = page.inner_text("#integrity-similar")
    assert "山西省的一件作品" in similar and "镜像翻拍" not in similar
    assert page.locator("#integrity-similar video").count() == 0
    shot(page, "integrity-province")
    assert errors == []
