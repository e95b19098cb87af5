"""Validation verdicts on real files made by ffmpeg, the work lifecycle around them, playback, revalidate."""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col, select

from tests import media
from tests.conftest import run_jobs

CJK = re.compile(r"[\u4e00-\u9fff]")


# -- helpers --------------------------------------------------------------------------------------

def new_work(client: Any, auth: dict[str, str], title: str = "我在河北省话保密") -> int:
    response = client.post("/api/v1/works", json={"title": title}, headers=auth)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def add_file(work_id: int, data: bytes | Path, *, filename: str = "clip.mp4", started_ago_s: float = 0) -> int:
    """Store bytes as the tus code would, then make them a version (which enqueues validation)."""
    from clipjury.db import session_scope
    from clipjury.timeutil import utcnow
    from clipjury.works.models import Work
    from clipjury.works.service import add_version
    from storage import get_store

    key = f"originals/{work_id}/{uuid.uuid4().hex}.mp4"
    if isinstance(data, Path):
        get_store().upload_file(key, data, content_type="video/mp4")
        size = data.stat().st_size
    else:
        get_store().put_bytes(key, data, content_type="video/mp4")
        size = len(data)
    with session_scope() as session:
        work = session.get(Work, work_id)
        assert work is not None
        version = add_version(
            session, work, actor=None, object_key=key, size_bytes=size, filename=filename, upload_id=None,
            upload_started_at=utcnow() - timedelta(seconds=started_ago_s),
        )
        return version.id or 0


def version_row(version_id: int) -> Any:
    from clipjury.db import session_scope
    from clipjury.works.models import WorkVersion

    with session_scope() as session:
        version = session.get(WorkVersion, version_id)
        assert version is not None
        return version


def set_campaign(**values: Any) -> None:
    from clipjury.campaigns.models import Campaign
    from clipjury.db import session_scope

    with session_scope() as session:
        session.execute(update(Campaign).values(**values))


def ftyp_box(brand: bytes = b"isom") -> bytes:
    return (24).to_bytes(4, "big") + b"ftyp" + brand + b"\0\0\2\0" + b"isomiso2"


class Trap:
    """A loopback HTTP server and a FIFO that record whether anything tried to read them."""

    def __init__(self, tmp: Path) -> None:
        self.requests: list[str] = []
        trap = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                trap.requests.append(self.path)
                self.send_response(404)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/segment.ts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        # Opening a FIFO for writing blocks until a reader opens it: a reader is exactly what we detect.
        self.fifo = tmp / "local-secret.ts"
        os.mkfifo(self.fifo)
        self.opened = threading.Event()
        self._done = False
        threading.Thread(target=self._wait_for_reader, daemon=True).start()

    def _wait_for_reader(self) -> None:
        with open(self.fifo, "wb"):
            if not self._done:
                self.opened.set()

    def close(self) -> None:
        self._done = True
        fd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)  # release the waiting writer
        time.sleep(0.05)
        os.close(fd)
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def trap(tmp_path: Path) -> Iterator[Trap]:
    t = Trap(tmp_path)
    yield t
    t.close()


# -- verdicts -------------------------------------------------------------------------------------

def test_each_bad_file_gets_its_code(client: Any, auth: Any, trap: Trap) -> None:
    cases: dict[str, tuple[bytes | Path, str]] = {
        "empty": (b"", "empty"),
        "random": (media.random_bytes(), "not_mp4"),
        "quicktime": (media.quicktime_mov(), "not_mp4"),
        "matroska": (media.matroska(), "not_mp4"),
        "webm": (media.webm(), "not_mp4"),
        "avi": (media.avi(), "not_mp4"),
        "mpegts": (media.mpegts(), "not_mp4"),
        "3gp": (media.threegp(), "not_mp4"),
        "hls": (media.hls_playlist(trap.fifo, trap.url), "not_mp4"),
        "ffconcat": (media.ffconcat_playlist(trap.fifo, trap.url), "not_mp4"),
        # Past the ftyp sniff, the forced MP4 demuxer still must not follow a playlist.
        "hls_behind_ftyp": (ftyp_box() + media.hls_playlist(trap.fifo, trap.url), "corrupt"),
        "audio_only": (media.audio_only_mp4(), "no_video_stream"),
        "m4a": (media.m4a(), "no_video_stream"),
        "121s": (media.long_mp4(121), "too_long"),
        "truncated": (media.truncated_mp4(0.6), "corrupt"),
        "truncated_faststart": (media.truncated_mp4(0.6, faststart=True), "corrupt"),
        "damaged_middle": (media.damaged_middle_mp4(), "corrupt"),
    }
    works = {name: new_work(client, auth, name) for name in cases}
    versions = {name: add_file(works[name], data) for name, (data, _code) in cases.items()}
    run_jobs()

    got = {}
    for name, work_id in works.items():
        body = client.get(f"/api/v1/works/{work_id}", headers=auth).json()
        assert body["status"] == "rejected", (name, body)
        got[name] = body["rejection"]["code"]
        assert CJK.search(body["rejection"]["message"]), (name, body["rejection"])
        assert version_row(versions[name]).rules_version
    assert got == {name: code for name, (_data, code) in cases.items()}
    assert trap.requests == [], "ffmpeg fetched a URL from a playlist"
    assert not trap.opened.is_set(), "ffmpeg opened a local file named in a playlist"
    assert "MP4" in client.get(f"/api/v1/works/{works['quicktime']}", headers=auth).json()["rejection"]["message"]


def test_playlists_are_not_followed_even_when_forced_into_ffmpeg(tmp_path: Path, trap: Trap) -> None:
    """The hardening itself, with the ftyp sniff bypassed: no URL fetched, no local file opened."""
    from workers.media import measure

    for name, data in {
        "hls.mp4": media.hls_playlist(trap.fifo, trap.url),
        "concat.mp4": media.ffconcat_playlist(trap.fifo, trap.url),
        "ftyp-hls.mp4": ftyp_box() + media.hls_playlist(trap.fifo, trap.url),
    }.items():
        path = tmp_path / name
        path.write_bytes(data)
        report = measure(path, major_brand="isom")
        assert not report.probe_ok and not report.decode_ok, name
    assert trap.requests == []
    assert not trap.opened.is_set()


def test_too_large_by_campaign_limit(client: Any, auth: Any) -> None:
    data = media.valid_mp4().read_bytes()
    set_campaign(max_size_bytes=len(data) - 1)
    work_id = new_work(client, auth)
    version_id = add_file(work_id, data)
    run_jobs()
    body = client.get(f"/api/v1/works/{work_id}", headers=auth).json()
    assert body["rejection"]["code"] == "too_large" and CJK.search(body["rejection"]["message"])
    row = version_row(version_id)
    assert row.sha256 == hashlib.sha256(data).hexdigest()
    assert row.ffmpeg_version is None  # decided without running ffmpeg


@pytest.mark.parametrize("maker", [media.valid_mp4, media.fragmented_mp4], ids=["moov-at-end", "fragmented"])
def test_valid_files_are_ready_with_measurements(client: Any, auth: Any, maker: Any) -> None:
    path: Path = maker()
    work_id = new_work(client, auth)
    version_id = add_file(work_id, path)
    run_jobs()
    body = client.get(f"/api/v1/works/{work_id}", headers=auth).json()
    assert body["status"] == "ready" and body["rejection"] is None, body
    m = body["media"]
    assert m["width"] == 160 and m["height"] == 120
    assert m["video_codec"] == "h264" and m["audio_codec"] == "aac"
    assert m["major_brand"] in ("isom", "iso5", "iso6")
    assert 1.9 <= m["duration_s"] <= 2.2
    assert m["size_bytes"] == path.stat().st_size
    row = version_row(version_id)
    assert row.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert row.ffmpeg_version and row.ffmpeg_version[0].isdigit()
    assert row.rules_version and row.rules_version.startswith("r")
    assert row.playback == "original" and row.attempts == 1 and row.validated_at is not None


def test_header_understating_the_duration_is_too_long(client: Any, auth: Any) -> None:
    work_id = new_work(client, auth)
    version_id = add_file(work_id, media.understated_mp4(130, 60))
    run_jobs()
    body = client.get(f"/api/v1/works/{work_id}", headers=auth).json()
    assert body["rejection"]["code"] == "too_long"
    assert "130" in body["rejection"]["message"]
    row = version_row(version_id)
    assert row.header_duration_s == pytest.approx(60, abs=0.5)
    assert row.duration_s == pytest.approx(130, abs=1)
    assert any(w.startswith("header_duration_mismatch") for w in row.warnings), row.warnings


# The campaign's default allow-list, as the requirement states it (not read from the code under test).
ALLOWED_BRANDS = ["isom", "iso2", "iso4", "iso5", "iso6", "mp41", "mp42", "avc1", "M4V ", "MSNV", "dash"]


def verdict_of(client: Any, auth: dict[str, str], path: Path, title: str = "品牌") -> dict[str, Any]:
    """Upload ``path`` as a new work's file, run the workers, and return the work as the API shows it."""
    work_id = new_work(client, auth, title)
    add_file(work_id, path)
    run_jobs()
    return dict(client.get(f"/api/v1/works/{work_id}", headers=auth).json())


def test_the_default_allow_list_is_the_required_one(demo: Any) -> None:
    """The seeded campaign carries exactly the required brands, so the tests below test the real setting."""
    from clipjury.campaigns.models import Campaign
    from clipjury.db import session_scope

    with session_scope() as session:
        campaign = session.exec(select(Campaign)).one()
        assert sorted(campaign.allowed_brands) == sorted(ALLOWED_BRANDS)


@pytest.mark.parametrize("brand", ALLOWED_BRANDS, ids=[b.strip() for b in ALLOWED_BRANDS])
def test_every_allowed_major_brand_is_ready(client: Any, auth: Any, brand: str) -> None:
    body = verdict_of(client, auth, media.branded_mp4(brand))
    assert body["status"] == "ready" and body["rejection"] is None, body
    assert body["media"]["major_brand"] == brand
    assert body["media"]["video_codec"] == "h264" and body["media"]["width"] == 64


# M4A (and M4B/M4P) are refused with the clearer "no video" reason (clipjury/media/rules.py AUDIO_ONLY_BRANDS).
REFUSED_BRANDS = {"qt  ": "not_mp4", "3gp4": "not_mp4", "heic": "not_mp4", "crx ": "not_mp4", "f4v ": "not_mp4",
                  "M4A ": "no_video_stream"}


@pytest.mark.parametrize("brand", list(REFUSED_BRANDS), ids=[b.strip() for b in REFUSED_BRANDS])
def test_a_brand_outside_the_list_is_refused(client: Any, auth: Any, brand: str) -> None:
    """The same valid H.264 file, only its major brand changed: refused at the ftyp sniff, before ffmpeg."""
    path = media.branded_mp4(brand)
    work_id = new_work(client, auth, "品牌")
    version_id = add_file(work_id, path)
    run_jobs()
    body = client.get(f"/api/v1/works/{work_id}", headers=auth).json()
    assert body["status"] == "rejected", body
    assert body["rejection"]["code"] == REFUSED_BRANDS[brand]
    assert CJK.search(body["rejection"]["message"])
    if brand == "qt  ":
        assert "QuickTime" in body["rejection"]["message"]
    elif REFUSED_BRANDS[brand] == "not_mp4":
        assert brand.strip() in body["rejection"]["message"]
    row = version_row(version_id)
    assert row.major_brand == brand and row.ffmpeg_version is None  # decided without running ffmpeg


def test_the_allow_list_is_a_campaign_setting(client: Any, auth: Any) -> None:
    set_campaign(allowed_brands=["isom"])
    refused = verdict_of(client, auth, media.branded_mp4("mp42"), "mp42")
    assert refused["status"] == "rejected" and refused["rejection"]["code"] == "not_mp4", refused
    assert "mp42" in refused["rejection"]["message"]
    accepted = verdict_of(client, auth, media.branded_mp4("isom"), "isom")
    assert accepted["status"] == "ready" and accepted["media"]["major_brand"] == "isom", accepted
    # Widened again, the same mp42 file passes.
    set_campaign(allowed_brands=["isom", "mp42"])
    again = verdict_of(client, auth, media.branded_mp4("mp42"), "mp42 again")
    assert again["status"] == "ready" and again["media"]["major_brand"] == "mp42", again


@pytest.mark.parametrize(
    ("seconds", "status"), [(120, "ready"), (120.1, "too_long"), (120.5, "too_long")],
    ids=["120.0s", "120.1s", "120.5s"],
)
def test_duration_limit_boundary(client: Any, auth: Any, seconds: float, status: str) -> None:
    """120.0 s is within "不超过2分钟"; one frame more is not (the measured duration is the packets')."""
    body = verdict_of(client, auth, media.timed_mp4(seconds), f"{seconds}s")
    assert body["status"] == ("ready" if status == "ready" else "rejected"), body
    assert body["media"]["duration_s"] == pytest.approx(seconds, abs=1e-6)  # the boundary is really hit
    if status == "ready":
        assert body["rejection"] is None
    else:
        assert body["rejection"]["code"] == "too_long" and f"{seconds:.1f}" in body["rejection"]["message"]


# -- lifecycle ------------------------------------------------------------------------------------

def test_reupload_keeps_the_good_file_until_a_new_one_is_ready(client: Any, auth: Any) -> None:
    from clipjury.db import session_scope
    from clipjury.works.models import Work

    work_id = new_work(client, auth)
    first = add_file(work_id, media.valid_mp4())
    run_jobs()
    bad = add_file(work_id, media.truncated_mp4(0.6))
    assert client.get(f"/api/v1/works/{work_id}", headers=auth).json()["status"] == "processing"
    run_jobs()
    body = client.get(f"/api/v1/works/{work_id}", headers=auth).json()
    assert body["status"] == "ready", body
    assert body["rejection"]["code"] == "corrupt"
    assert body["media"]["width"] == 160  # the earlier good file still shows and is submittable
    with session_scope() as session:
        work = session.get(Work, work_id)
        assert work is not None and work.current_version_id == first and work.latest_version_id == bad

    better = add_file(work_id, media.fragmented_mp4())
    run_jobs()
    body = client.get(f"/api/v1/works/{work_id}", headers=auth).json()
    assert body["status"] == "ready" and body["rejection"] is None
    assert body["media"]["major_brand"] == "iso5"
    with session_scope() as session:
        work = session.get(Work, work_id)
        assert work is not None and work.current_version_id == better
    submitted = client.post(f"/api/v1/works/{work_id}/submit", headers=auth)
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"


def test_submit_twice_at_once_one_wins(client: Any, auth: Any) -> None:
    work_id = new_work(client, auth)
    add_file(work_id, media.valid_mp4())
    run_jobs()
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def submit() -> None:
        barrier.wait()
        results.append(client.post(f"/api/v1/works/{work_id}/submit", headers=auth))

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 409], [r.text for r in results]
    loser = next(r for r in results if r.status_code == 409)
    assert loser.json()["code"] == "already_submitted"
    assert loser.headers["content-type"].startswith("application/problem+json")
    body = client.get(f"/api/v1/works/{work_id}", headers=auth).json()
    assert body["status"] == "submitted" and body["submitted_at"]

    from clipjury.audit.models import AuditEvent
    from clipjury.db import session_scope

    with session_scope() as session:
        submits = session.exec(
            select(AuditEvent).where(AuditEvent.work_id == work_id, AuditEvent.action == "submit")
        ).all()
        assert len(submits) == 1

    withdrawn = client.post(f"/api/v1/works/{work_id}/withdraw", headers=auth, json={"reason": "换一个版本"})
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "ready" and withdrawn.json()["submitted_at"] is None
    again = client.post(f"/api/v1/works/{work_id}/withdraw", headers=auth)
    assert again.status_code == 409 and again.json()["code"] == "not_submitted"


def test_deadline_and_grace(client: Any, auth: Any) -> None:
    from clipjury.timeutil import utcnow

    early = new_work(client, auth, "截止前开始上传")
    late = new_work(client, auth, "截止后开始上传")
    add_file(early, media.valid_mp4(), started_ago_s=600)  # started 10 minutes ago
    add_file(late, media.valid_mp4(), started_ago_s=60)  # started 1 minute ago
    run_jobs()
    # The deadline passed 5 minutes ago; the grace period (30 min) still runs.
    set_campaign(submission_deadline=utcnow() - timedelta(minutes=5), upload_grace_minutes=30)
    refused = client.post(f"/api/v1/works/{late}/submit", headers=auth)
    assert refused.status_code == 409 and refused.json()["code"] == "deadline_passed"
    assert CJK.search(refused.json()["detail"])
    accepted = client.post(f"/api/v1/works/{early}/submit", headers=auth)
    assert accepted.status_code == 200, accepted.text
    # Past the grace too: even an early upload is refused, and withdrawing is closed.
    set_campaign(submission_deadline=utcnow() - timedelta(minutes=40))
    assert client.post(f"/api/v1/works/{early}/withdraw", headers=auth).json()["code"] == "deadline_passed"


# -- playback -------------------------------------------------------------------------------------

def test_poster_and_presigned_playback(client: Any, auth: Any) -> None:
    from clipjury.settings import get_settings
    from storage import get_store

    work_id = new_work(client, auth)
    version_id = add_file(work_id, media.faststart_mp4())
    run_jobs()
    row = version_row(version_id)
    assert row.poster_key == f"works/{work_id}/v{version_id}/poster.jpg"
    poster = get_store().head(row.poster_key)
    assert poster is not None and poster.size > 500
    assert row.playback == "original" and row.rendition_key is None

    play = client.get(f"/api/v1/works/{work_id}/playback", headers=auth).json()
    assert play["source"] == "original" and not play["preparing"]
    assert f"X-Amz-Expires={get_settings().s3_presign_expiry_s}" in play["video_url"]
    ranged = httpx.get(play["video_url"], headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100
    assert ranged.content[4:8] == b"ftyp"
    image = httpx.get(play["poster_url"])
    assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"
    tampered = play["video_url"].replace(f"{work_id}/", f"{work_id + 1}/")
    assert httpx.get(tampered).status_code == 403

    # X-Amz-Date has whole seconds: a 1 s URL may already be stale when first used, so allow 3 s.
    short = get_store().presigned_get(row.object_key, expires_s=3)
    assert httpx.get(short, headers={"Range": "bytes=0-9"}).status_code == 206
    time.sleep(4.5)
    assert httpx.get(short, headers={"Range": "bytes=0-9"}).status_code == 403

    # Running the job again changes nothing.
    from workers.tasks import prepare_playback

    assert prepare_playback(version_id) == "noop"


def test_hevc_gets_an_h264_rendition(client: Any, auth: Any) -> None:
    path = media.hevc_mp4()
    if path is None:
        pytest.skip("this ffmpeg has no libx265")
    work_id = new_work(client, auth)
    version_id = add_file(work_id, path)
    run_jobs()
    row = version_row(version_id)
    assert row.status == "ready" and row.video_codec == "hevc"
    assert row.playback == "rendition" and row.rendition_status == "ready"
    assert row.rendition_key == f"works/{work_id}/v{version_id}/web.mp4"
    play = client.get(f"/api/v1/works/{work_id}/playback", headers=auth).json()
    assert play["source"] == "rendition"
    data = httpx.get(play["video_url"]).content
    rendition = Path(str(media.CACHE / f"rendition-{uuid.uuid4().hex}.mp4"))
    try:
        rendition.write_bytes(data)
        from workers.media import browser_playable, measure

        report = measure(rendition)
        assert report.decode_ok and browser_playable(report, ["isom"])
        assert report.video and report.video.codec_name == "h264" and report.video.pix_fmt == "yuv420p"
        assert report.audio and report.audio.codec_name == "aac"
        assert data.find(b"moov") < data.find(b"mdat")  # faststart
    finally:
        rendition.unlink(missing_ok=True)


# -- revalidate -----------------------------------------------------------------------------------

def test_revalidate_dry_run_then_apply(client: Any, auth: Any, capsys: Any) -> None:
    from clipjury.audit.models import AuditEvent
    from clipjury.db import session_scope
    from clipjury.works.models import WorkVersion
    from clipjury_cli.main import main

    work_id = new_work(client, auth)
    version_id = add_file(work_id, media.valid_mp4(4))
    other = new_work(client, auth, "另一个作品")
    add_file(other, media.valid_mp4())
    run_jobs()
    set_campaign(max_duration_s=3.0)

    def snapshot() -> list[tuple[Any, ...]]:
        with session_scope() as session:
            return [
                (v.id, v.status, v.rejection_code, v.rules_version, v.validated_at)
                for v in session.exec(select(WorkVersion).order_by(col(WorkVersion.id)))
            ]

    before = snapshot()
    assert main(["revalidate"]) == 0
    out = capsys.readouterr().out
    assert f"would move version {version_id} (work {work_id}): ready -> rejected/too_long" in out
    assert "2 version(s): 1 moved" in out
    assert snapshot() == before
    assert client.get(f"/api/v1/works/{work_id}", headers=auth).json()["status"] == "ready"

    assert main(["revalidate", "--work", str(work_id), "--apply"]) == 0
    assert "applied version" in capsys.readouterr().out
    body = client.get(f"/api/v1/works/{work_id}", headers=auth).json()
    assert body["status"] == "rejected" and body["rejection"]["code"] == "too_long"
    assert client.get(f"/api/v1/works/{other}", headers=auth).json()["status"] == "ready"
    with session_scope() as session:
        events = session.exec(
            select(AuditEvent).where(AuditEvent.work_id == work_id, AuditEvent.action == "revalidate")
        ).all()
        assert len(events) == 1 and events[0].to_status == "rejected"
    assert main(["revalidate"]) == 0
    assert "0 moved" in capsys.readouterr().out


# -- what a player presents, rounding, bounded measuring -----------------------------------------

def stated_seconds(message: str) -> float:
    """The measured value a too_long message states: "视频实际时长（120.5 秒）…" → 120.5."""
    found = re.search(r"时长（(?:至少 )?([0-9.]+) 秒）", message)
    assert found, message
    return float(found.group(1))


@pytest.mark.parametrize(
    ("seconds", "status"), [(120, "ready"), (120.5, "too_long"), (121, "too_long")], ids=["2:00", "2:00.5", "2:01"],
)
def test_an_editor_cut_of_two_minutes_is_ready(client: Any, auth: Any, seconds: float, status: str) -> None:
    """H.264 + AAC cut with -t: the AAC priming and padding (~46 ms) that no player shows is not duration."""
    body = verdict_of(client, auth, media.editor_cut_mp4(seconds), f"剪辑 {seconds}")
    assert body["media"]["duration_s"] == pytest.approx(seconds, abs=1e-3)
    if status == "ready":
        assert body["status"] == "ready" and body["rejection"] is None, body
    else:
        assert body["status"] == "rejected" and body["rejection"]["code"] == "too_long", body
        stated = stated_seconds(body["rejection"]["message"])
        assert stated > 120 and stated == pytest.approx(seconds)


def test_the_campaign_step_rounds_before_the_limit(client: Any, auth: Any) -> None:
    """120.04 s (3001 frames at 25 fps) is 120.0 at the default 0.1 s step; at a 0.01 s step it is over,
    and the message states 120.04, a value that really exceeds the limit."""
    path = media.timed_mp4(120.04, rate=25)
    ready = verdict_of(client, auth, path, "120.04 默认")
    assert ready["status"] == "ready" and ready["media"]["duration_s"] == pytest.approx(120.04, abs=1e-6), ready
    set_campaign(duration_step_s=0.01)
    refused = verdict_of(client, auth, path, "120.04 精确到 0.01")
    assert refused["rejection"]["code"] == "too_long", refused
    assert "120.04 秒" in refused["rejection"]["message"] and stated_seconds(refused["rejection"]["message"]) > 120


def test_samples_hidden_by_an_edit_list_are_a_warning_not_duration(client: Any, auth: Any) -> None:
    work_id = new_work(client, auth, "编辑列表")
    version_id = add_file(work_id, media.hidden_tail_mp4(130, 60))
    run_jobs()
    body = client.get(f"/api/v1/works/{work_id}", headers=auth).json()
    assert body["status"] == "ready", body
    assert body["media"]["duration_s"] == pytest.approx(60, abs=0.01)
    hidden = [w for w in version_row(version_id).warnings if w.startswith("hidden_samples: ")]
    assert len(hidden) == 1 and float(hidden[0].split()[1]) == pytest.approx(70, abs=0.2), hidden


def test_the_hidden_samples_warning_reads_in_chinese() -> None:
    from clipjury.campaigns.models import Campaign
    from clipjury.works.models import WorkVersion
    from review_ui.presenters.reviews import version_facts

    version = WorkVersion(
        work_id=1, object_key="k", size_bytes=1, duration_s=60.0, warnings=["hidden_samples: 70.078 s"]
    )
    _facts_list, warnings = version_facts(version, Campaign(slug="c", name="c", year=2026))  # type: ignore[call-arg]  # sqlmodel: the dates this helper does not read are left out on purpose
    assert any("编辑列表隐藏" in w and "1 分 10.1 秒" in w for w in warnings), warnings


def test_many_tiny_samples_are_decided_at_the_packet_cap(client: Any, auth: Any) -> None:
    """200,000 samples of 4 bytes in 20 s: more packets than 1000 a second of the 120 s limit (+10 s)
    allows. The probe stops reading at the cap, the decode is stopped, and the file is refused."""
    from workers.media import packet_cap

    work_id = new_work(client, auth, "样本表")
    version_id = add_file(work_id, media.many_samples_mp4(200_000))
    run_jobs()
    body = client.get(f"/api/v1/works/{work_id}", headers=auth).json()
    assert body["status"] == "rejected" and body["rejection"]["code"] == "corrupt", body
    probe = version_row(version_id).probe
    assert probe["packets_capped"] is True
    assert probe["packets"] == packet_cap(120.0) + 1 < 200_000
    # Whether the decode was still running to be stopped depends on the machine: 200,000 frames of 2x2
    # pixels decode in about a second when the cores are free. That a decode is stopped once the
    # verdict is known is shown by test_a_ten_minute_file_is_too_long_without_a_full_decode.
    assert probe["decode_stopped"] in ("packets_capped", ""), probe["decode_stopped"]


def test_a_ten_minute_file_is_too_long_without_a_full_decode(client: Any, auth: Any) -> None:
    work_id = new_work(client, auth, "十分钟")
    version_id = add_file(work_id, media.ten_minutes_mp4())
    run_jobs()
    body = client.get(f"/api/v1/works/{work_id}", headers=auth).json()
    assert body["rejection"]["code"] == "too_long" and stated_seconds(body["rejection"]["message"]) == 600.0
    probe = version_row(version_id).probe
    assert probe["decode_stopped"] == "too_long" and probe["decode_ok"] is False


def test_revalidate_reports_durations_that_move(client: Any, auth: Any, capsys: Any) -> None:
    """A verdict recorded by the rules before edit lists were applied (120.046 s, too_long) moves."""
    from clipjury.works.models import WorkVersion
    from clipjury_cli.main import main

    work_id = new_work(client, auth, "旧判定")
    version_id = add_file(work_id, media.editor_cut_mp4(120))
    run_jobs()
    from clipjury.db import session_scope

    with session_scope() as session:
        session.execute(
            update(WorkVersion).where(col(WorkVersion.id) == version_id).values(
                status="rejected", rejection_code="too_long", duration_s=120.046, rules_version="r2-old",
            )
        )
    assert main(["revalidate", "--work", str(work_id)]) == 0
    out = capsys.readouterr().out
    assert f"would move version {version_id} (work {work_id}): rejected/too_long -> ready" in out, out
    assert "duration 120.046s -> 120.000s" in out and "rules r2-old -> r3-" in out, out


def test_every_media_child_runs_under_the_address_space_limit() -> None:
    """The limit is set in the child before exec: ``ulimit -v`` there reports it, and a child asking for
    more than it (1.5 GiB at once, on a machine with far more) fails instead of getting it."""
    from clipjury.settings import get_settings
    from workers.media import _run

    limit_mib = get_settings().media_memory_limit_mib
    shown = _run(["sh", "-c", "ulimit -v"], 30)
    assert shown.stdout.decode().strip() == str(limit_mib * 1024)
    greedy = _run([sys.executable, "-c", f"bytearray({limit_mib + 512} * 1024 * 1024)"], 60)
    assert greedy.returncode != 0 and "MemoryError" in greedy.stderr
