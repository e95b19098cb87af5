"""Issue 15 part A against the real databases, Redis, object store and ffmpeg: publish and withdraw with the
contract's refusals, the public copy (every tag of a phone's file gone, ffprobed), and the public gallery
(报送 order, province filter, X-Total-Count, cacheable, no cookie, URLs reused)."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import col, select

from api.app import create_app
from clipjury.accounts.models import User
from clipjury.audit.models import AuditEvent
from clipjury.db import session_scope
from clipjury.jobs import get_queue, get_redis, queue_name
from clipjury.reviews import service as reviews
from clipjury.showcase import counts
from clipjury.showcase.models import Like, ShowcaseEntry
from clipjury.showcase.tasks import public_copy_job_id
from clipjury.timeutil import utcnow
from clipjury.works.models import Work, WorkVersion
from storage import get_store
from tests import media
from tests.conftest import run_jobs, token_for
from tests.likes_support import bearer, make_voters, open_window, set_window, showcase_works
from tests.review_support import ALL_ITEMS, submitted_works


@pytest.fixture()
def api(demo: dict[str, int]) -> Any:
    with TestClient(create_app()) as client:
        yield client


def _users() -> dict[str, User]:
    with session_scope() as session:
        users = {u.username: u for u in session.exec(select(User))}
        for u in users.values():
            session.expunge(u)
        return users


def _to_forwarded(username: str, reviewer: str, province_admin: str, count: int = 1) -> list[int]:
    ids = submitted_works(username, count, title="公开作品")
    with session_scope() as session:
        user = {u.username: u for u in session.exec(select(User))}
        for work_id in ids:
            reviews.verdict(session, user[reviewer], work_id, "pass", "", checklist=ALL_ITEMS)
            reviews.forward(session, user[province_admin], work_id)
    return ids


def _probe_tags(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any], list[Any]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format_tags:stream_tags:stream=codec_type,codec_name",
         "-show_chapters", "-of", "json", str(path)], capture_output=True, text=True, check=True,
    ).stdout
    data = json.loads(out)
    return data.get("streams", []), data.get("format", {}).get("tags", {}), data.get("chapters", [])


def test_publish_refusals_the_public_copy_and_withdraw(api: TestClient, tmp_path: Path) -> None:
    admin = {"Authorization": f"Bearer {token_for(api, 'demo-admin')}"}
    [work_id, forwarded_id] = _to_forwarded("demo-submitter", "demo-reviewer", "demo-province-admin", 2)
    # The original, as a phone and an editor left it, where the submitted version says it is.
    with session_scope() as session:
        work = session.get(Work, work_id)
        assert work is not None
        version = session.get(WorkVersion, work.submitted_version_id)
        assert version is not None
        original_key = version.object_key
    get_store().upload_file(original_key, media.tagged_mp4(), content_type="video/mp4")
    users = _users()
    with session_scope() as session:
        reviews.recommend(session, users["demo-admin"], work_id, True, "")

    def publish(wid: int) -> Any:
        return api.post(f"/api/v1/showcase/works/{wid}/publish", headers=admin)

    refused = publish(work_id)
    assert (refused.status_code, refused.json()["code"]) == (409, "results_not_published")
    with session_scope() as session:
        reviews.publish_national_results(session, users["demo-admin"])
    refused = publish(forwarded_id)
    assert (refused.status_code, refused.json()["code"]) == (409, "not_recommended")
    assert api.post("/api/v1/showcase/works/999999/publish", headers=admin).status_code == 404
    province = {"Authorization": f"Bearer {token_for(api, 'demo-province-admin')}"}
    assert api.post(f"/api/v1/showcase/works/{work_id}/publish", headers=province).status_code == 403

    # No copy yet: refused, and the copy is asked for (committed with its job, whatever the answer).
    refused = publish(work_id)
    assert (refused.status_code, refused.json()["code"]) == (409, "not_playable")
    assert public_copy_job_id(work_id) in get_queue("media").job_ids, queue_name("media")
    assert api.get("/api/v1/showcase/works").json() == []
    assert run_jobs() >= 1

    with session_scope() as session:
        entry = session.get(ShowcaseEntry, work_id)
        assert entry is not None and entry.copy_status == "ready", entry
        assert entry.copy_attempts == 1 and entry.public_key and entry.public_poster_key
        assert entry.public_key.startswith("showcase/works/")
        copy_key, poster_key = entry.public_key, entry.public_poster_key
    copy = tmp_path / "public.mp4"
    get_store().download_file(copy_key, copy)
    streams, tags, chapters = _probe_tags(copy)
    # Only the first video and the first audio stream, remuxed (h264/aac), with no tag of the original's.
    assert [(s["codec_type"], s["codec_name"]) for s in streams] == [("video", "h264"), ("audio", "aac")]
    everything = json.dumps([streams, tags, chapters], ensure_ascii=False)
    for secret in ("location", "116.4074", "secret-phone-comment", "SecretPhoneMaker", "SecretCamHandler",
                   "SecretMicHandler", "Lavf", "Lavc", "encoder", "comment", "make"):
        assert secret not in everything, (secret, everything)
    assert chapters == []
    # +faststart: the index comes before the media data.
    head = copy.read_bytes()
    assert 0 <= head.find(b"moov") < head.find(b"mdat")
    assert get_store().head(poster_key) is not None

    published = publish(work_id)
    assert published.status_code == 200, published.text
    assert published.json()["published"] is True and published.json()["copy_status"] == "ready"
    assert publish(work_id).status_code == 200  # again: nothing changes, audited once
    listed = api.get("/api/v1/showcase/works")
    assert listed.status_code == 200
    [item] = listed.json()
    assert item["id"] == work_id and item["province"] == "河北省" and item["likes"] == 0
    assert item["unit"] == "石家庄市"
    assert "showcase/works/" in item["video_url"] and "poster.jpg" in item["poster_url"]

    withdrawn = api.post(f"/api/v1/showcase/works/{work_id}/withdraw", headers=admin)
    assert withdrawn.status_code == 200 and withdrawn.json()["published"] is False
    assert api.get("/api/v1/showcase/works").json() == []
    with session_scope() as session:
        actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.work_id == work_id))]
    assert actions.count("showcase_publish") == 1 and actions.count("showcase_withdraw") == 1

    # Published again, then disqualified: off the showcase whatever the flag says.
    assert publish(work_id).status_code == 200
    with session_scope() as session:
        reviews.disqualify(session, users["demo-admin"], work_id, "侵权")
    assert api.get("/api/v1/showcase/works").json() == []
    refused = publish(work_id)
    assert (refused.status_code, refused.json()["code"]) == (409, "not_recommended")


def test_the_gallery_in_forwarding_order_filtered_cacheable_without_a_cookie(api: TestClient) -> None:
    hebei = showcase_works(3)
    # A Shanxi work, recommended after the results were published is impossible: make its entry directly.
    [shanxi] = _to_forwarded("demo2-submitter", "demo2-reviewer", "demo2-province-admin")
    users = _users()
    now = utcnow()
    with session_scope() as session:
        session.execute(update(Work).where(col(Work.id) == shanxi).values(status="recommended"))
        campaign_id = session.get(Work, shanxi).campaign_id  # type: ignore[union-attr]  # the work exists
        session.add(ShowcaseEntry(work_id=shanxi, campaign_id=campaign_id, published_at=now, copy_status="ready",
                                  public_key=f"showcase/works/{shanxi}/v1/public.mp4",
                                  public_poster_key=f"showcase/works/{shanxi}/v1/poster.jpg"))
        # 报送 order is not id order: the last Hebei work was forwarded first.
        for work_id, minutes in zip([*hebei, shanxi], [30, 20, 50, 40], strict=True):
            session.execute(update(Work).where(col(Work.id) == work_id)
                            .values(forwarded_at=now - timedelta(minutes=minutes)))
    assert users
    first = api.get("/api/v1/showcase/works")
    assert first.status_code == 200, first.text
    assert [w["id"] for w in first.json()] == [hebei[2], shanxi, hebei[0], hebei[1]]
    assert first.headers["x-total-count"] == "4"
    assert first.headers["cache-control"].startswith("public, max-age=")
    assert "set-cookie" not in first.headers
    # The same presigned URLs on the next request (reused, not signed per request).
    assert api.get("/api/v1/showcase/works").json() == first.json()
    page = api.get("/api/v1/showcase/works", params={"limit": 2, "offset": 1})
    assert [w["id"] for w in page.json()] == [shanxi, hebei[0]] and page.headers["x-total-count"] == "4"
    only = api.get("/api/v1/showcase/works", params={"province": "shanxi"})
    assert [w["id"] for w in only.json()] == [shanxi] and only.headers["x-total-count"] == "1"
    assert only.json()[0]["province"] == "山西省"
    assert api.get("/api/v1/showcase/works", params={"province": "nowhere"}).json() == []
    assert api.get("/api/v1/showcase/works", params={"limit": 0}).status_code == 422


def test_the_public_pages_before_during_and_after_the_window(api: TestClient,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from clipjury.settings import get_settings

    monkeypatch.setattr(get_settings(), "showcase_page_cache_s", 0)
    [first, second] = showcase_works(2)
    with session_scope() as session:
        session.execute(update(ShowcaseEntry).values(public_poster_key=f"showcase/works/{first}/v1/poster.jpg"))
    now = utcnow()
    set_window(now + timedelta(days=1), now + timedelta(days=2))
    gallery = api.get("/public/showcase")
    assert gallery.status_code == 200, gallery.text
    assert gallery.headers["cache-control"].startswith("public") and "set-cookie" not in gallery.headers
    html = gallery.text
    assert "<title>作品展播" in html and 'property="og:title"' in html
    assert 'data-window="before"' in html and "展播点赞将于" in html
    assert html.index(f'data-work="{first}"') < html.index(f'data-work="{second}"')
    assert api.get("/public/showcase", headers={"If-None-Match": gallery.headers["etag"]}).status_code == 304

    page = api.get(f"/public/showcase/works/{first}")
    assert page.status_code == 200 and "set-cookie" not in page.headers
    assert "<title>《展播作品 1》" in page.text and 'property="og:image"' in page.text
    assert "<video" in page.text and "poster.jpg" in page.text and "data-like-button" in page.text
    assert "河北省 · 石家庄市" in page.text
    # Before the window the button says so and cannot be pressed, on the work page and the vote page.
    for html in (page.text, api.get(f"/public/vote/{first}").text):
        assert "data-like-closed" in html and "点赞未开始" in html and 'data-window="before"' in html

    open_window()
    assert 'data-window="open"' in api.get("/public/showcase").text
    opened = api.get(f"/public/showcase/works/{first}").text
    assert "data-like-button" in opened and "data-like-closed" not in opened
    set_window(now - timedelta(days=2), now - timedelta(days=1))
    closed = api.get(f"/public/showcase/works/{first}").text
    assert "以下为最终点赞数" in closed and "data-like-closed" in closed and "点赞已截止" in closed

    with session_scope() as session:
        session.execute(update(ShowcaseEntry).where(col(ShowcaseEntry.work_id) == second)
                        .values(published_at=None))
    assert api.get(f"/public/showcase/works/{second}").status_code == 404
    assert f'data-work="{second}"' not in api.get("/public/showcase").text


def test_the_national_page_publishes_and_withdraws_beside_the_status(api: TestClient) -> None:
    from tests.test_review_ui import as_user, flash_of, post

    [on_show, not_copied] = showcase_works(2)
    with session_scope() as session:
        session.execute(update(ShowcaseEntry).where(col(ShowcaseEntry.work_id) == not_copied)
                        .values(published_at=None, copy_status="pending", public_key=None))
    as_user(api, "demo-admin")
    page = api.get("/review/national?status=recommended")
    assert page.status_code == 200 and "公开展示" in page.text
    assert f'action="/review/national/{on_show}/showcase/withdraw"' in page.text
    assert f'action="/review/national/{not_copied}/showcase/publish"' in page.text
    # Not copied yet: refused with the reason, the copy asked for (its job queued).
    done = post(api, f"/review/national/{not_copied}/showcase/publish", page="/review/national")
    assert done.status_code == 303
    assert "公开播放版本尚未生成" in flash_of(api, "/review/national")
    assert public_copy_job_id(not_copied) in get_queue("media").job_ids
    done = post(api, f"/review/national/{on_show}/showcase/withdraw", page="/review/national")
    assert done.status_code == 303 and "已撤下" in flash_of(api, "/review/national")
    assert api.get("/api/v1/showcase/works").json() == []


# -- one look in Chromium at a phone's 390x844 ---------------------------------------------------------------

def _published_with_copy() -> int:
    """A recommended work whose original is a real (tagged) MP4, its copy made by the job, published."""
    from clipjury.showcase import publishing
    from workers.tasks import make_public_copy

    [work_id] = _to_forwarded("demo-submitter", "demo-reviewer", "demo-province-admin")
    with session_scope() as session:
        work = session.get(Work, work_id)
        version = session.get(WorkVersion, work.submitted_version_id)  # type: ignore[union-attr]  # the work exists
        assert version is not None
        key = version.object_key
    get_store().upload_file(key, media.tagged_mp4(), content_type="video/mp4")
    users = _users()
    with session_scope() as session:
        reviews.recommend(session, users["demo-admin"], work_id, True, "")
        reviews.publish_national_results(session, users["demo-admin"])
        publishing.ensure_entry(session, session.get(Work, work_id))  # type: ignore[arg-type]  # the work exists
    assert make_public_copy(work_id) == "remuxed"
    with session_scope() as session:
        assert publishing.publish(session, users["demo-admin"], work_id).refusal is None
    return work_id


@pytest.fixture()
def server(demo: dict[str, int]) -> Any:
    from clipjury import devservices
    from tests.conftest import start_server

    live = start_server()
    yield live
    devservices.stop(live.proc)


@pytest.mark.browser
def test_the_gallery_and_a_work_on_a_phone(server: Any, browser: Any) -> None:
    from playwright.sync_api import expect

    from tests.test_browser import PHONE, SHOTS, new_page, shot

    work_id = _published_with_copy()
    open_window()
    SHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    page: Any = new_page(browser, PHONE, errors)
    page.goto(f"{server.url}/public/showcase")
    card = page.locator(f'[data-work="{work_id}"]')
    expect(card).to_be_visible()
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    # Nothing wider than the phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "showcase-phone-gallery")
    card.locator("a").click()
    page.wait_for_url(f"{server.url}/public/showcase/works/{work_id}")
    assert page.title().startswith("《公开作品 1》")
    # The player loads the public copy (the store's presigned URL) far enough to know its length.
    page.wait_for_function("() => document.querySelector('video.sc-player').readyState >= 1")
    assert page.evaluate("document.querySelector('video.sc-player').duration") > 1
    expect(page.locator("[data-like-button]")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "showcase-phone-work")
    assert errors == [], errors


def test_the_gallery_page_is_rendered_once_per_interval_for_anonymous_visitors(api: TestClient) -> None:
    from public_ui.web import clear_page_cache
    from tests.test_review_ui import as_user

    clear_page_cache()  # the cache is the process's, and an earlier test may have filled it
    [work_id] = showcase_works(1)
    first = api.get("/public/showcase?province=hebei")
    assert 'data-likes>0<' in first.text
    get_redis().hset(counts.cache_key(), str(work_id), 5)
    # Within showcase_page_cache_s: the same bytes, without reading the database or Redis.
    assert api.get("/public/showcase?province=hebei").text == first.text
    # A signed-in visitor's page is never the shared one.
    as_user(api, "demo-submitter")
    assert 'data-likes>5<' in api.get("/public/showcase?province=hebei").text


def test_backfill_asks_for_the_copies_of_recommended_works_without_one(api: TestClient,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from clipjury_cli.main import main

    [ready, *missing] = showcase_works(3)
    with session_scope() as session:
        session.execute(update(ShowcaseEntry).where(col(ShowcaseEntry.work_id) == missing[0])
                        .values(copy_status="failed", copy_error="x"))
        session.execute(update(ShowcaseEntry).where(col(ShowcaseEntry.work_id) == missing[1])
                        .values(copy_status="pending", public_key=None))
    assert main(["showcase-backfill"]) == 0
    assert f"[{missing[1]}]" in capsys.readouterr().out
    queued = get_queue("media").job_ids
    assert public_copy_job_id(missing[1]) in queued and public_copy_job_id(ready) not in queued
    assert public_copy_job_id(missing[0]) not in queued
    assert main(["showcase-backfill", "--retry-failed"]) == 0
    assert public_copy_job_id(missing[0]) in get_queue("media").job_ids
    with session_scope() as session:
        entry = session.get(ShowcaseEntry, missing[0])
        assert entry is not None and (entry.copy_status, entry.copy_attempts, entry.copy_error) == ("pending", 0, None)


def test_the_sweep_resends_a_lost_public_copy_job(demo: dict[str, int]) -> None:
    from workers.tasks import sweep_public_copies

    [lost, fresh] = showcase_works(2)
    long_ago = utcnow() - timedelta(hours=2)
    with session_scope() as session:
        session.execute(update(ShowcaseEntry).values(copy_status="pending", public_key=None))
        session.execute(update(ShowcaseEntry).where(col(ShowcaseEntry.work_id) == lost).values(updated_at=long_ago))
    # The fresh one may still be on its way to Redis; the lost one has been quiet for two hours.
    assert sweep_public_copies() == [lost]
    assert public_copy_job_id(lost) in get_queue("media").job_ids
    assert sweep_public_copies() == []  # queued now: left alone
    assert fresh


def test_a_copy_of_a_file_browsers_cannot_play_is_transcoded_and_stripped(tmp_path: Path) -> None:
    from workers import media as worker_media

    source = media.mpeg4_mp4()
    report = worker_media.probe_header(source)
    assert report.probe_ok and not worker_media.remuxable(report)
    out = tmp_path / "public.mp4"
    assert worker_media.make_public_copy(source, out, report=report) is False
    streams, tags, _chapters = _probe_tags(out)
    assert [(s["codec_type"], s["codec_name"]) for s in streams] == [("video", "h264"), ("audio", "aac")]
    everything = json.dumps([streams, tags], ensure_ascii=False)
    assert "secret" not in everything and "Lav" not in everything and "encoder" not in everything, everything
    head = out.read_bytes()
    assert 0 <= head.find(b"moov") < head.find(b"mdat")


def test_after_the_close_the_pages_show_the_snapshots_final_counts(api: TestClient,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The display cache counts every like it was told of; once the window is closed and frozen, what the
    public reads is the snapshot (what the awards use): here a like committed after the moved close."""
    from clipjury.settings import get_settings

    monkeypatch.setattr(get_settings(), "showcase_page_cache_s", 0)
    monkeypatch.setattr(get_settings(), "likes_settle_s", 0)
    [work_id] = showcase_works(1)
    with session_scope() as session:
        session.execute(update(ShowcaseEntry).values(published_at=utcnow() - timedelta(hours=3)))
    open_window()
    [(_, token)] = make_voters(1)
    liked = api.put(f"/api/v1/showcase/works/{work_id}/like", headers=bearer(token))
    assert liked.status_code == 201 and liked.json()["likes"] == 1
    # The national office moves the close to just before that like: it does not count.
    with session_scope() as session:
        like_at = session.exec(select(Like.created_at).where(col(Like.work_id) == work_id)).one()
    set_window(utcnow() - timedelta(hours=2), like_at - timedelta(seconds=1))
    assert api.get("/api/v1/showcase/works").json()[0]["likes"] == 1  # not frozen yet: the display cache
    admin = {"Authorization": f"Bearer {token_for(api, 'demo-admin')}"}
    frozen = api.get("/api/v1/campaigns/current/likes-snapshot", headers=admin).json()
    assert frozen["works"] == [{"id": work_id, "likes": 0, "voided": 0}]
    assert api.get("/api/v1/showcase/works").json()[0]["likes"] == 0
    page = api.get(f"/public/showcase/works/{work_id}").text
    assert "以下为最终点赞数" in page and re.search(r'data-like-count[^>]*>0<', page)
