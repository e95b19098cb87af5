"""Integrity aids (issue 17): near-duplicates across provinces, the opening line and classification
markings read off the picture, the national office's list, the switches and the backfill. Generated
media (tests/integrity_support.py); the OCR test reads a handful of frames."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlmodel import select

from clipjury.integrity import matching, reading
from tests import integrity_support as media
from tests.conftest import run_jobs
from tests.review_support import headers_for


def upload(client: Any, headers: dict[str, str], path: Path, title: str) -> int:
    """A work through the real path: create, PUT the file, validate (the integrity queue waits)."""
    work = client.post("/api/v1/works", json={"title": title}, headers=headers)
    assert work.status_code == 201, work.text
    work_id = int(work.json()["id"])
    put = client.put(
        f"/api/v1/works/{work_id}/video", content=path.read_bytes(),
        headers={**headers, "Content-Type": "video/mp4", "Content-Disposition": "attachment; filename=a.mp4"},
    )
    assert put.status_code in (200, 201, 202), put.text
    run_jobs()
    return work_id


def submit(client: Any, headers: dict[str, str], work_id: int) -> None:
    response = client.post(f"/api/v1/works/{work_id}/submit", headers=headers)
    assert response.status_code == 200, response.text


def switch(*, fingerprints: bool, screening: bool) -> None:
    from clipjury.accounts.models import User
    from clipjury.campaigns.service import active_campaign
    from clipjury.db import session_scope
    from clipjury.integrity.service import set_switches

    with session_scope() as session:
        admin = session.exec(select(User).where(User.username == "demo-admin")).one()
        set_switches(session, admin, active_campaign(session).id or 0, fingerprints=fingerprints,
                     screening=screening)


def by_title(items: list[dict[str, Any]], ids: dict[str, int]) -> dict[str | None, dict[str, Any]]:
    names = {v: k for k, v in ids.items()}
    return {names.get(item["work_id"]) if item["work_id"] else f"hidden:{item['province']}:{i}": item
            for i, item in enumerate(items)}


# -- pure matching ------------------------------------------------------------------------------------

def test_short_clips_never_match_and_common_frames_weigh_less() -> None:
    rng = np.random.default_rng(7)
    hashes = rng.integers(0, 2**63, size=30, dtype=np.uint64)
    times = np.arange(30, dtype=np.uint16)
    full = matching.Print(times, hashes, hashes ^ np.uint64(0xFFFF), np.zeros(0, np.uint32))
    short = matching.Print(times[:4], hashes[:4], hashes[:4], np.zeros(0, np.uint32))
    assert matching.compare_video(short, full, max_distance=10, min_frames=5).score == 0.0
    excerpt = matching.Print(times[:12], hashes[10:22], hashes[10:22], np.zeros(0, np.uint32))
    found = matching.compare_video(excerpt, full, max_distance=10, min_frames=5)
    assert found.score == 1.0 and found.moments[0] == [0.0, 10.0]
    # Half the excerpt's frames are an opening card every work has: they count for a third each.
    weights = matching.frame_weights(np.array([9] * 6 + [1] * 6, dtype=np.int32), common_works=3)
    assert weights.tolist() == [1 / 3] * 6 + [1.0] * 6


def test_opening_line_and_markings_are_read_as_patterns() -> None:
    frames = [reading.FrameText(0.0, ["我在河北省话保密，"]), reading.FrameText(0.5, ["今天我要讲的是"])]
    found = reading.find_opening(frames, "我在河北省话保密，今天我要讲的是……", 0.8)
    assert found.found and found.at_s == 0.0
    assert not reading.find_opening(frames, "我在山西省话保密，今天我要讲的是……", 0.99).found
    # Contest content is not a marking; the marking's shape is, however OCR reads the star.
    assert reading.markings_in(reading.FrameText(1, ["国家秘密 人人守护"])) == []
    assert reading.markings_in(reading.FrameText(1, ["机密*5年"])) == ["机密*5年"]
    assert reading.markings_in(reading.FrameText(1, ["内部资料"])) == []
    page = reading.FrameText(1, ["关于工作的通知", "内部资料", "各单位：", "现将有关事项通知如下"])
    assert reading.markings_in(page) == ["内部资料"]


# -- the jobs and the API -----------------------------------------------------------------------------

def test_similar_works_across_provinces(client: Any, demo: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    switch(fingerprints=True, screening=False)  # OCR has its own test
    hebei = headers_for(client, "demo-submitter")
    shanxi = headers_for(client, "demo2-submitter")
    ids: dict[str, int] = {}
    ids["original"] = upload(client, hebei, media.original(), "原作")
    submit(client, hebei, ids["original"])
    ids["reencoded"] = upload(client, shanxi, media.reencoded(), "重新编码")
    ids["mirrored"] = upload(client, shanxi, media.mirrored(), "镜像")
    ids["trimmed"] = upload(client, hebei, media.trimmed(), "剪掉开头")
    ids["unrelated"] = upload(client, shanxi, media.unrelated(), "无关作品")
    for name in ("reencoded", "mirrored", "unrelated"):
        submit(client, shanxi, ids[name])
    submit(client, hebei, ids["trimmed"])

    admin = headers_for(client, "demo-admin")
    pending = client.get(f"/api/v1/works/{ids['original']}/similar", headers=admin)
    assert pending.status_code == 202 and pending.json() == {"status": "pending"}
    run_jobs(integrity=True)

    # The national office sees every similar work, and which came first.
    seen = client.get(f"/api/v1/works/{ids['original']}/similar", headers=admin)
    assert seen.status_code == 200, seen.text
    found = by_title(seen.json(), ids)
    assert set(found) == {"reencoded", "mirrored", "trimmed"}
    assert found["reencoded"]["kind"] == "both" and found["reencoded"]["score"] >= 0.9
    assert found["mirrored"]["kind"] in ("video", "both")
    assert found["reencoded"]["province"] == "山西省" and found["trimmed"]["province"] == "河北省"
    assert all(not item["first"] for item in seen.json())
    assert all(item["matched_seconds"] >= 5 for item in seen.json())
    assert client.get(f"/api/v1/works/{ids['unrelated']}/similar", headers=admin).json() == []

    # Hebei's reviewer sees its own province's copy, and only that a Shanxi copy exists.
    reviewer = headers_for(client, "demo-reviewer")
    mine = client.get(f"/api/v1/works/{ids['original']}/similar", headers=reviewer).json()
    assert sorted((i["work_id"] is None, i["province"]) for i in mine) == [
        (False, "河北省"), (True, "山西省"), (True, "山西省"),
    ]
    assert {i["work_id"] for i in mine} == {ids["trimmed"], None}
    # Shanxi's reviewer learns that a Hebei work came first.
    theirs = client.get(f"/api/v1/works/{ids['reencoded']}/similar", headers=headers_for(client, "demo2-reviewer"))
    hidden = [i for i in theirs.json() if i["province"] == "河北省"]
    assert hidden and all(i["work_id"] is None for i in hidden)
    assert any(i["first"] for i in hidden)
    screening = client.get(f"/api/v1/works/{ids['original']}/screening", headers=reviewer).json()
    assert screening["status"] == "off" and screening["markings"] == []

    # The review page shows the panel; a provincial reviewer gets no title or player for Shanxi's copy.
    from tests.test_review_ui import as_user
    as_user(client, "demo-reviewer")
    page = client.get(f"/review/works/{ids['original']}").text
    assert 'id="integrity-similar"' in page and "剪掉开头" in page and "重新编码" not in page
    assert "山西省" in page
    as_user(client, "demo-admin")
    page = client.get(f"/review/works/{ids['original']}").text
    assert "重新编码" in page and "镜像" in page and 'class="similar-player"' in page

    # The national list; "not a duplicate" is recorded and the pair is not raised again.
    listing = client.get("/review/integrity").text
    assert "重新编码" in listing and "无关作品" not in listing
    # The list pages like the other long lists (the four similar works make six open pairs): two a page.
    import re

    from review_ui.pages import integrity as integrity_page
    monkeypatch.setattr(integrity_page, "PAGE_SIZE", 2)
    first, second = client.get("/review/integrity").text, client.get("/review/integrity?page=2").text
    on_first, on_second = (set(re.findall(r'<tr id="pair-(\d+)"', text)) for text in (first, second))
    assert len(on_first) == 2 and len(on_second) == 2 and not on_first & on_second
    assert 'aria-label="分页"' in first and 'href="/review/integrity?page=2"' in first
    monkeypatch.undo()
    from clipjury.db import session_scope
    from clipjury.integrity.models import SimilarPair
    with session_scope() as session:
        pair = session.exec(select(SimilarPair).where(
            SimilarPair.work_a_id == ids["original"], SimilarPair.work_b_id == ids["trimmed"])).one()
        pair_id = pair.id
    from tests.test_review_ui import post
    refused = post(client, f"/review/integrity/{pair_id}/dismiss", {"reason": " "}, page="/review/integrity")
    assert refused.status_code == 303
    done = post(client, f"/review/integrity/{pair_id}/dismiss", {"reason": "同一作者的两个版本，已核实"},
                page="/review/integrity")
    assert done.status_code == 303
    after = by_title(client.get(f"/api/v1/works/{ids['original']}/similar", headers=admin).json(), ids)
    assert set(after) == {"reencoded", "mirrored"}
    # The backfill runs the fingerprints again: the dismissed pair stays dismissed.
    from clipjury.integrity.commands import backfill
    assert backfill(campaign_slug=None, force=True) >= 5
    run_jobs(integrity=True)
    again = by_title(client.get(f"/api/v1/works/{ids['original']}/similar", headers=admin).json(), ids)
    assert set(again) == {"reencoded", "mirrored"}
    assert "同一作者的两个版本" in client.get("/review/integrity?status=dismissed").text


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Every connection off this machine is refused (and recorded): the services the test needs are on
    loopback, the OCR models must come from the wheel."""
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and host not in ("127.0.0.1", "::1", "localhost"):
            attempts.append(address)
            raise OSError("network blocked by the test")
        return real_connect(self, address)

    from workers.integrity import ocr_engine

    ocr_engine.cache_clear()  # the models are loaded under the guard, not by an earlier test
    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield attempts


@pytest.fixture()
def short_opening(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from clipjury.settings import get_settings

    monkeypatch.setenv("CLIPJURY_INTEGRITY_OPENING_WINDOW_S", "2")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_screening_reads_the_opening_line_and_a_marking(
    client: Any, demo: dict[str, int], short_opening: None, no_network: list[object],
) -> None:
    switch(fingerprints=False, screening=True)
    hebei = headers_for(client, "demo-submitter")
    work_id = upload(client, hebei, media.screened("河北省"), "机密文件特写")
    submit(client, hebei, work_id)
    reviewer = headers_for(client, "demo-reviewer")
    assert client.get(f"/api/v1/works/{work_id}/screening", headers=reviewer).json()["status"] == "pending"
    run_jobs(integrity=True)
    assert no_network == []
    body = client.get(f"/api/v1/works/{work_id}/screening", headers=reviewer).json()
    assert body["status"] == "done", body
    assert body["opening_line"]["found"] is True and body["opening_line"]["at_s"] == 0.0
    assert "河北省话保密" in body["opening_line"]["text"]
    assert [m["text"] for m in body["markings"]] == ["机密★1年"]
    assert 3.0 <= body["markings"][0]["at_s"] <= 5.0
    # Fingerprints are off for the campaign: nothing is similar, and nothing is pending.
    assert client.get(f"/api/v1/works/{work_id}/similar", headers=reviewer).json() == []
    from tests.test_review_ui import as_user
    as_user(client, "demo-reviewer")
    page = client.get(f"/review/works/{work_id}").text
    assert 'id="integrity-screening"' in page and "机密★1年" in page and "marking-thumb" in page
