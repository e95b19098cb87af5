"""Hostile or odd input that once made a 500: every one is now a problem+json 4xx/503 with a stable code.

Header bytes are decoded as latin-1 by Starlette, so ``0xB2`` arrives as '²', which ``str.isdigit``
accepts and ``int`` refuses; base64 metadata may carry any Unicode digit. Real services throughout:
each test also checks that nothing was stored, or that what was stored is still reachable.
"""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlmodel import select

from api.routes.uploads import filename_from
from clipjury.db import session_scope
from clipjury.media.rules import Limits, Measurements, RejectionCode, decide, needs_probe, sniff_major_brand
from clipjury.uploads import locks as upload_locks
from clipjury.uploads.models import Upload, UploadStatus
from tests.conftest import LiveServer, free_port, run_jobs
from tests.test_uploads import (
    OCTET,
    TUS,
    assert_completed_once,
    create,
    head,
    meta,
    new_work,
    patch,
    payload,
    stored_under,
)
from tests.test_validation import add_file, ftyp_box, version_row

ENDPOINT = "/api/v1/uploads"
HUGE_NUMBER = "9" * 5000  # int() refuses more than 4300 digits


def uploads() -> list[Upload]:
    with session_scope() as session:
        return list(session.exec(select(Upload)))


def assert_problem(response: Any, status: int, code: str, *, tus: bool = True) -> None:
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"]
    if tus:
        assert response.headers["tus-resumable"] == "1.0.0"


# -- numbers in headers and metadata ---------------------------------------------------------------

def raw_headers(headers: dict[str, str], name: bytes, value: bytes) -> dict[bytes, bytes]:
    return {**{k.encode(): v.encode() for k, v in headers.items()}, name: value}


def test_upload_length_and_offset_take_ascii_digits_only(
    client: Any, auth: dict[str, str], live_server: LiveServer
) -> None:
    """Through a real server: the TestClient would re-encode the header bytes as UTF-8."""
    work_id = new_work(client, auth)
    upload_id = create(client, auth, work_id, 10)
    with httpx.Client(base_url=live_server.url, timeout=30) as live:
        for raw in (b"\xb2", b"1\xb9", b"\xb3\xb3"):  # '²', '1¹', '³³'
            created = live.post(ENDPOINT, headers=raw_headers(
                {**auth, **TUS, "Upload-Metadata": meta(work_id=str(work_id))}, b"Upload-Length", raw))
            assert_problem(created, 400, "invalid_upload_length")
            patched = live.patch(f"{ENDPOINT}/{upload_id}", content=b"0123456789", headers=raw_headers(
                {**auth, **TUS, "Content-Type": OCTET}, b"Upload-Offset", raw))
            assert_problem(patched, 400, "invalid_upload_offset")
    assert [u.id for u in uploads()] == [upload_id]
    assert head(client, auth, upload_id).headers["upload-offset"] == "0"  # nothing was written


def test_work_id_in_metadata_must_be_ascii_digits_and_a_possible_id(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    before = stored_under(work_id)
    cases = [
        ("²", 400, "work_id_required"),
        ("1²", 400, "work_id_required"),
        ("٣", 400, "work_id_required"),  # an Arabic-Indic 3: int() would read it as work 3
        (HUGE_NUMBER, 404, "work_not_found"),
        ("12345678901", 404, "work_not_found"),  # more digits than any database id
        ("2147483648", 404, "work_not_found"),  # one over PostgreSQL's integer
    ]
    for raw, status, code in cases:
        response = client.post(ENDPOINT, headers={**auth, **TUS, "Upload-Length": "10",
                                                   "Upload-Metadata": meta(work_id=raw)})
        assert_problem(response, status, code)
    assert uploads() == []
    assert stored_under(work_id) == before


def test_work_id_of_a_final_must_be_ascii_digits_and_a_possible_id(client: Any, auth: dict[str, str]) -> None:
    new_work(client, auth)
    piece = client.post(ENDPOINT, headers={**auth, **TUS, "Upload-Length": "10", "Upload-Concat": "partial"})
    assert piece.status_code == 201, piece.text
    piece_id = piece.headers["location"].rsplit("/", 1)[-1]
    for raw, status, code in [("²", 400, "work_id_required"), (HUGE_NUMBER, 404, "work_not_found"),
                              ("2147483648", 404, "work_not_found")]:
        response = client.post(ENDPOINT, headers={**auth, **TUS, "Upload-Concat": f"final;{ENDPOINT}/{piece_id}",
                                                   "Upload-Metadata": meta(work_id=raw)})
        assert_problem(response, status, code)
    [row] = uploads()  # no final was made and the partial is untouched
    assert row.id == piece_id and row.final_id is None and row.status == UploadStatus.receiving
    assert patch(client, auth, piece_id, 0, b"0123456789").status_code == 204


def test_concat_layout_takes_ascii_digits_only(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    response = client.post(ENDPOINT, headers={
        **auth, **TUS, "Upload-Length": "10", "Upload-Concat": "partial",
        "Upload-Metadata": meta(work_id=str(work_id), concat_group="group-0001", concat_layout="5242880,1²"),
    })
    assert_problem(response, 400, "invalid_concat_layout")
    assert uploads() == []


def test_upload_concat_with_a_broken_url_is_invalid_upload_concat(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    for value in ("final;http://[x/api/v1/uploads/abc", "final;http://[::1/api/v1/uploads/abc"):
        response = client.post(ENDPOINT, headers={**auth, **TUS, "Upload-Concat": value,
                                                   "Upload-Metadata": meta(work_id=str(work_id))})
        assert_problem(response, 400, "invalid_upload_concat")
    assert uploads() == []


# -- the raw PUT ---------------------------------------------------------------------------------------

def test_unknown_charset_in_content_disposition_is_no_filename() -> None:
    assert filename_from("attachment; filename*=bogus''%41") is None
    assert filename_from("attachment; filename*=undefined''%41") is None
    assert filename_from("attachment; filename*=idna''%41; filename=\"clip.mp4\"") == "clip.mp4"
    assert filename_from("attachment; filename*=UTF-8''%E4%BD%9C%E5%93%81.mp4") == "作品.mp4"


def test_put_with_an_unknown_charset_stores_the_file_under_the_default_name(
    client: Any, auth: dict[str, str]
) -> None:
    data = payload(4096)
    for disposition, expected in [("attachment; filename*=bogus''%41", "video.mp4"),
                                  ("attachment; filename*=idna''%41; filename=\"clip.mp4\"", "clip.mp4")]:
        work_id = new_work(client, auth, expected)
        response = client.put(f"/api/v1/works/{work_id}/video", content=data,
                              headers={**auth, "Content-Disposition": disposition})
        assert response.status_code == 202, response.text
        [row] = [u for u in uploads() if u.work_id == work_id]
        assert row.filename == expected and row.status == UploadStatus.complete


@pytest.mark.parametrize("work_id", ["2147483648", "99999999999999999999999"])
def test_put_video_work_id_is_bounded(client: Any, auth: dict[str, str], work_id: str) -> None:
    response = client.put(f"/api/v1/works/{work_id}/video", content=payload(100), headers=auth)
    assert_problem(response, 422, "invalid", tus=False)
    assert uploads() == []


# -- Redis down ----------------------------------------------------------------------------------------

def dead_redis() -> redis.Redis:
    """A Redis nobody listens on, for the upload locks (no retries, so the test does not wait)."""
    return redis.Redis(host="127.0.0.1", port=free_port(), retry=Retry(NoBackoff(), 0))


def test_redis_down_is_503_with_tus_headers_and_loses_nothing(
    client: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    work_id = new_work(client, auth)
    data = payload(20_000, seed=3)
    upload_id = create(client, auth, work_id, len(data))
    assert patch(client, auth, upload_id, 0, data[:5000]).status_code == 204
    dead = dead_redis()
    with monkeypatch.context() as down:
        down.setattr(upload_locks, "get_redis", lambda: dead)
        response = patch(client, auth, upload_id, 5000, data[5000:])
        assert_problem(response, 503, "service_unavailable")
        assert "已上传的部分不会丢失" in response.json()["detail"]
        put = client.put(f"/api/v1/works/{work_id}/video", content=data, headers=auth)
        assert_problem(put, 503, "service_unavailable", tus=False)
    # Redis is back: the upload goes on from where it was.
    assert head(client, auth, upload_id).headers["upload-offset"] == "5000"
    assert patch(client, auth, upload_id, 5000, data[5000:]).status_code == 204
    assert_completed_once(upload_id, data)


# -- creation-with-upload that fails after the upload exists ----------------------------------------

def test_creation_with_upload_error_still_gives_the_location(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    data = payload(10, seed=4)
    response = client.post(ENDPOINT, content=data + b"too much", headers={
        **auth, **TUS, "Content-Type": OCTET, "Upload-Length": "10", "Upload-Metadata": meta(work_id=str(work_id)),
    })
    assert_problem(response, 413, "upload_length_exceeded")
    location = response.headers["location"]
    upload_id = location.rsplit("/", 1)[-1]
    assert location.startswith("http") and f"{ENDPOINT}/{upload_id}" in location
    # The client can reach the upload it created: ask where it stands, then finish it...
    state = client.head(location, headers={**auth, **TUS})
    assert state.status_code == 200 and state.headers["upload-offset"] == "0"
    assert patch(client, auth, upload_id, 0, data).status_code == 204
    assert_completed_once(upload_id, data)


def test_creation_with_upload_while_redis_is_down_can_be_ended(
    client: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    work_id = new_work(client, auth)
    before = stored_under(work_id)
    dead = dead_redis()
    with monkeypatch.context() as down:
        down.setattr(upload_locks, "get_redis", lambda: dead)
        response = client.post(ENDPOINT, content=b"0123456789", headers={
            **auth, **TUS, "Content-Type": OCTET, "Upload-Length": "10",
            "Upload-Metadata": meta(work_id=str(work_id)),
        })
    assert_problem(response, 503, "service_unavailable")
    location = response.headers["location"]
    # ...or end it: nothing is left behind.
    assert client.delete(location, headers={**auth, **TUS}).status_code == 204
    [row] = uploads()
    assert row.status == UploadStatus.terminated
    assert stored_under(work_id) == before


# -- the review pages ------------------------------------------------------------------------------------

def test_review_pages_take_ascii_digits_only(client: Any, demo: dict[str, int]) -> None:
    from tests.review_support import submitted_works
    from tests.test_review_ui import as_user, post, review_rev, work_status

    [work_id] = submitted_works("demo-submitter", 1)
    as_user(client, "demo-reviewer")
    for path in ("/review?page=²", "/review?unit=²", "/review?page=1²"):
        assert client.get(path).status_code == 200, path
    page = f"/review/works/{work_id}"
    assert post(client, f"{page}/claim", page=page).status_code == 303
    # Item keys, not numbers: '²', "0", "00"... name no item, so not every required item was ticked (the
    # missing items are reported before the unknown keys).
    for checked in (["²"] * 7, ["0", "00", "000", "0000", "00000", "000000", "0000000"]):
        response = post(client, f"{page}/verdict", {"decision": "pass", "reason": "", "checked": checked,
                                                    "expected_rev": review_rev(work_id)}, page=page)
        assert response.status_code == 303
        assert "请逐项核对并勾选全部 7 项审核要点" in client.get(page).text
        assert work_status(work_id) == "submitted"
    as_user(client, "demo-province-admin")
    audit = client.get("/audit?work=²")
    assert audit.status_code == 422 and "作品编号应为数字" in audit.text


# -- the major brand -------------------------------------------------------------------------------------

LIMITS = Limits(max_size_bytes=300 * 1024 * 1024, max_duration_s=300, allowed_brands=["isom", "mp42"])


@pytest.mark.parametrize("brand", [b"is\0m", b"\0\0\0\0", b"mp4\x01", b"\x7fp42", b"is\tm"])
def test_a_brand_with_control_bytes_is_not_mp4(brand: bytes) -> None:
    head_bytes = ftyp_box(brand) + bytes(64)
    assert sniff_major_brand(head_bytes) is None
    verdict = needs_probe(len(head_bytes), sniff_major_brand(head_bytes), LIMITS)
    assert verdict is not None and verdict.code == RejectionCode.not_mp4
    # Even a brand measured elsewhere never puts a control byte into the message.
    direct = decide(Measurements(size_bytes=1000, major_brand=brand.decode("latin-1")), LIMITS)
    assert direct.code == RejectionCode.not_mp4 and direct.message is not None
    assert all(ch >= " " for ch in direct.message)
    assert sniff_major_brand(ftyp_box(b"isom") + bytes(64)) == "isom"
    assert sniff_major_brand(ftyp_box(b"qt  ") + bytes(64)) == "qt  "


def test_a_file_whose_brand_has_a_nul_is_rejected_as_not_mp4(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth, "品牌")
    version_id = add_file(work_id, ftyp_box(b"is\0m") + random.Random(5).randbytes(4096))
    run_jobs()
    body = client.get(f"/api/v1/works/{work_id}", headers=auth).json()
    assert body["status"] == "rejected", body
    assert body["rejection"]["code"] == "not_mp4"
    assert "\0" not in body["rejection"]["message"]
    row = version_row(version_id)
    assert row.rejection_code == "not_mp4" and row.major_brand is None
