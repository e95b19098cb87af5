"""Uploads: tus 1.0.0 and the raw PUT against real SQLite/PostgreSQL, Redis and SeaweedFS.

The bytes sent are random (ingest does not look inside them); the validation job is only checked to
be enqueued exactly once, the workers' tests run it.
"""

from __future__ import annotations

import base64
import hashlib
import random
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text, update
from sqlmodel import col, select

from clipjury import devservices
from clipjury.campaigns.models import Campaign
from clipjury.db import get_engine, relaxed_commit, session_scope
from clipjury.jobs import VALIDATE, get_queue
from clipjury.timeutil import utcnow
from clipjury.uploads.buffer import PartBuffer
from clipjury.uploads.expiry import cleanup_expired_uploads
from clipjury.uploads.locks import UploadLock
from clipjury.uploads.models import Upload, UploadStatus
from clipjury.uploads.tus import sanitize_filename
from clipjury.works.models import WorkVersion
from storage import get_store
from tests.conftest import TEST_DB, LiveServer, start_server, token_for

MIB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
OCTET = "application/offset+octet-stream"


def tails(upload_id: str) -> list[str]:
    """The upload's tail objects in the store (one per start offset a request wrote)."""
    return get_store().list_keys(f"uploads/{upload_id}/tail")


def payload(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def new_work(client: Any, auth: dict[str, str], title: str = "上传测试") -> int:
    response = client.post("/api/v1/works", json={"title": title}, headers=auth)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def create(client: Any, auth: dict[str, str], work_id: int, length: int, filename: str = "作品.mp4") -> str:
    response = client.post(
        "/api/v1/uploads",
        headers={**auth, **TUS, "Upload-Length": str(length), "Upload-Metadata": meta(work_id=str(work_id),
                                                                                        filename=filename)},
    )
    assert response.status_code == 201, response.text
    location = response.headers["location"]
    assert location.startswith("http") and "/api/v1/uploads/" in location
    return str(location.rsplit("/", 1)[-1])


def patch(client: Any, auth: dict[str, str], upload_id: str, offset: int, data: Any, **headers: str) -> Any:
    return client.patch(
        f"/api/v1/uploads/{upload_id}", content=data,
        headers={**auth, **TUS, "Content-Type": OCTET, "Upload-Offset": str(offset), **headers},
    )


def head(client: Any, auth: dict[str, str], upload_id: str) -> Any:
    return client.head(f"/api/v1/uploads/{upload_id}", headers={**auth, **TUS})


def stored_sha256(key: str) -> str:
    digest = hashlib.sha256()
    for chunk in get_store().iter_chunks(key):
        digest.update(chunk)
    return digest.hexdigest()


def set_campaign(**values: Any) -> None:
    with session_scope() as session:
        session.execute(update(Campaign).values(**values))


def multipart_keys(prefix: str) -> list[str]:
    return [key for key, _ in get_store().list_multipart_uploads(prefix=prefix)]


def stored_under(work_id: int) -> tuple[set[str], set[str]]:
    """Objects and unfinished multipart uploads under a work's prefix. The test bucket is shared with
    other tests (work ids repeat across tests), so tests compare before and after."""
    prefix = f"originals/{work_id}/"
    return set(get_store().list_keys(prefix)), set(multipart_keys(prefix))


def assert_completed_once(upload_id: str, data: bytes) -> WorkVersion:
    """One version for this upload, exactly one validation job for it, and the stored bytes are ours."""
    with session_scope() as session:
        upload = session.get(Upload, upload_id)
        assert upload is not None and upload.status == UploadStatus.complete
        versions = list(session.exec(select(WorkVersion).where(WorkVersion.upload_id == upload_id)))
    assert len(versions) == 1
    version = versions[0]
    assert upload.version_id == version.id and version.size_bytes == len(data)
    assert version.object_key == f"originals/{upload.work_id}/{upload_id}.mp4"
    assert get_queue(VALIDATE).get_job_ids() == [f"validate-{version.id}"]
    assert stored_sha256(version.object_key) == hashlib.sha256(data).hexdigest()
    assert not tails(upload_id)
    assert multipart_keys(version.object_key) == []
    return version


# -- protocol ------------------------------------------------------------------------------------

def test_options_advertises_tus(client: Any, demo: dict[str, int]) -> None:
    response = client.options("/api/v1/uploads")
    assert response.status_code == 204
    assert response.headers["tus-resumable"] == "1.0.0" and response.headers["tus-version"] == "1.0.0"
    assert response.headers["tus-extension"] == (
        "creation,creation-with-upload,termination,expiration,concatenation,concatenation-unfinished"
    )
    assert response.headers["tus-max-size"] == str(300 * MIB)


def test_missing_or_wrong_tus_resumable_is_412(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    for headers in ({}, {"Tus-Resumable": "0.2.2"}):
        response = client.post("/api/v1/uploads", headers={**auth, **headers, "Upload-Length": "10",
                                                            "Upload-Metadata": meta(work_id=str(work_id))})
        assert response.status_code == 412
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "tus_version_unsupported"
        assert response.headers["tus-version"] == "1.0.0" and response.headers["tus-resumable"] == "1.0.0"
    upload_id = create(client, auth, work_id, 10)
    assert client.head(f"/api/v1/uploads/{upload_id}", headers=auth).status_code == 412
    assert patch(client, auth, upload_id, 0, b"x", **{"Tus-Resumable": "2.0"}).status_code == 412


def test_creation_errors(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    base = {**auth, **TUS}
    cases = [
        ({"Upload-Metadata": meta(work_id=str(work_id))}, 400, "upload_length_required"),
        ({"Upload-Defer-Length": "1", "Upload-Metadata": meta(work_id=str(work_id))}, 400, "defer_length_unsupported"),
        ({"Upload-Length": "-5", "Upload-Metadata": meta(work_id=str(work_id))}, 400, "invalid_upload_length"),
        ({"Upload-Length": "10"}, 400, "work_id_required"),
        ({"Upload-Length": "10", "Upload-Metadata": "work_id %%%"}, 400, "invalid_metadata"),
        ({"Upload-Length": "10", "Upload-Metadata": meta(work_id="999999")}, 404, "work_not_found"),
    ]
    for headers, status, code in cases:
        response = client.post("/api/v1/uploads", headers={**base, **headers})
        assert (response.status_code, response.json()["code"]) == (status, code), headers
        assert response.headers["tus-resumable"] == "1.0.0"
    unauthenticated = client.post("/api/v1/uploads", headers={**TUS, "Upload-Length": "10",
                                                               "Upload-Metadata": meta(work_id=str(work_id))})
    assert unauthenticated.status_code == 401


def test_empty_file_is_refused_at_creation_and_by_put(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    response = client.post("/api/v1/uploads", headers={**auth, **TUS, "Upload-Length": "0",
                                                        "Upload-Metadata": meta(work_id=str(work_id))})
    assert response.status_code == 422 and response.json()["code"] == "empty"
    put = client.put(f"/api/v1/works/{work_id}/video", content=b"", headers=auth)
    assert put.status_code == 422 and put.json()["code"] == "empty"
    with session_scope() as session:
        assert session.exec(select(WorkVersion)).first() is None


def test_declared_one_byte_over_the_limit_is_413_before_storing(client: Any, auth: dict[str, str]) -> None:
    limit = 64 * 1024
    set_campaign(max_size_bytes=limit)
    work_id = new_work(client, auth)
    before = stored_under(work_id)
    response = client.post("/api/v1/uploads", headers={**auth, **TUS, "Upload-Length": str(limit + 1),
                                                        "Upload-Metadata": meta(work_id=str(work_id))})
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    put = client.put(f"/api/v1/works/{work_id}/video", content=payload(limit + 1), headers=auth)
    assert put.status_code == 413 and put.json()["code"] == "too_large"
    with session_scope() as session:
        assert session.exec(select(Upload)).first() is None  # refused before anything was recorded
    assert stored_under(work_id) == before
    # Exactly the limit is fine.
    data = payload(limit)
    upload_id = create(client, auth, work_id, limit)
    assert patch(client, auth, upload_id, 0, data).status_code == 204
    assert_completed_once(upload_id, data)


def test_undeclared_body_growing_past_the_limit_is_cut_off(client: Any, auth: dict[str, str]) -> None:
    limit = 6 * MIB  # under one part: the cut happens before any part is stored
    set_campaign(max_size_bytes=limit)
    work_id = new_work(client, auth)
    before = stored_under(work_id)
    data = payload(limit + 1)

    def chunked() -> Iterator[bytes]:  # no Content-Length: httpx sends it chunked
        for start in range(0, len(data), 256 * 1024):
            yield data[start:start + 256 * 1024]

    response = client.put(f"/api/v1/works/{work_id}/video?filename=big.mp4", content=chunked(), headers=auth)
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert stored_under(work_id) == before
    with session_scope() as session:
        upload = session.exec(select(Upload)).one()
        assert upload.status == UploadStatus.terminated
        assert session.exec(select(WorkVersion)).first() is None
    # At the limit, undeclared, it is accepted.
    exact = data[:limit]
    response = client.put(f"/api/v1/works/{work_id}/video", content=iter([exact[: 3 * MIB], exact[3 * MIB:]]),
                          headers=auth)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "processing"


def test_undeclared_body_past_the_limit_over_several_parts(client: Any, auth: dict[str, str]) -> None:
    limit = 17 * MIB  # two full 8 MiB parts are stored before the body crosses the limit
    set_campaign(max_size_bytes=limit)
    work_id = new_work(client, auth)
    before = stored_under(work_id)
    data = payload(limit + 1)
    response = client.put(f"/api/v1/works/{work_id}/video", headers=auth,
                          content=(data[i:i + MIB] for i in range(0, len(data), MIB)))
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert stored_under(work_id) == before


@pytest.mark.parametrize("declared", [True, False])
def test_a_put_over_more_parts_than_it_sends_at_once_is_byte_identical(
    client: Any, auth: dict[str, str], declared: bool
) -> None:
    """The raw PUT sends several parts at once and records them with the last one: in order, all of them."""
    work_id = new_work(client, auth)
    data = payload(6 * 8 * MIB + 12345, seed=21)
    body: Any = data if declared else (data[i:i + 3 * MIB] for i in range(0, len(data), 3 * MIB))
    response = client.put(f"/api/v1/works/{work_id}/video", content=body, headers=auth)
    assert response.status_code == 202, response.text
    with session_scope() as session:
        upload = session.exec(select(Upload)).one()
        assert [part["n"] for part in upload.parts] == list(range(1, 8))
    assert_completed_once(upload.id, data)


def test_lying_upload_length_is_refused_and_nothing_beyond_is_kept(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    upload_id = create(client, auth, work_id, 1000)
    declared = patch(client, auth, upload_id, 0, payload(1001))
    assert declared.status_code == 413 and declared.json()["code"] == "upload_length_exceeded"
    undeclared = patch(client, auth, upload_id, 0, iter([payload(600), payload(401, seed=2)]))
    assert undeclared.status_code == 413 and undeclared.json()["code"] == "upload_length_exceeded"
    assert head(client, auth, upload_id).headers["upload-offset"] == "0"
    assert not tails(upload_id)
    data = payload(1000)
    assert patch(client, auth, upload_id, 0, data).status_code == 204
    assert_completed_once(upload_id, data)


def test_wrong_offset_and_content_type(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    upload_id = create(client, auth, work_id, 100)
    wrong = patch(client, auth, upload_id, 5, b"abc")
    assert wrong.status_code == 409 and wrong.json()["code"] == "offset_mismatch"
    assert wrong.headers["upload-offset"] == "0" and wrong.headers["tus-resumable"] == "1.0.0"
    typed = patch(client, auth, upload_id, 0, b"abc", **{"Content-Type": "application/octet-stream"})
    assert typed.status_code == 415 and typed.json()["code"] == "unsupported_media_type"
    assert patch(client, auth, upload_id, 0, b"abc").status_code == 204
    ahead = patch(client, auth, upload_id, 0, b"abc")
    assert ahead.status_code == 409 and ahead.headers["upload-offset"] == "3"
    missing = patch(client, auth, upload_id, 0, b"abc", **{"Upload-Offset": "x"})
    assert missing.status_code == 400


def test_someone_elses_upload_or_work_is_404(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    upload_id = create(client, auth, work_id, 100)
    other = {"Authorization": f"Bearer {token_for(client, 'demo-coordinator')}"}
    response = client.post("/api/v1/uploads", headers={**other, **TUS, "Upload-Length": "10",
                                                        "Upload-Metadata": meta(work_id=str(work_id))})
    assert response.status_code == 404 and response.json()["code"] == "work_not_found"
    assert client.put(f"/api/v1/works/{work_id}/video", content=b"abc", headers=other).status_code == 404
    for response in (
        head(client, other, upload_id),
        patch(client, other, upload_id, 0, b"abc"),
        client.delete(f"/api/v1/uploads/{upload_id}", headers={**other, **TUS}),
    ):
        assert response.status_code == 404
        if response.content:
            assert response.json()["code"] == "upload_not_found"
    assert head(client, auth, upload_id).headers["upload-offset"] == "0"
    assert client.get("/api/v1/uploads/nope", headers={**auth, **TUS}).status_code == 405


def test_busy_upload_answers_423(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    upload_id = create(client, auth, work_id, 100)
    lock = UploadLock(upload_id)
    assert lock.acquire()
    try:
        response = patch(client, auth, upload_id, 0, b"abc")
        assert response.status_code == 423 and response.json()["code"] == "upload_busy"
    finally:
        lock.release()
    assert patch(client, auth, upload_id, 0, b"abc").status_code == 204


def test_slow_request_keeps_its_lock_past_the_ttl(demo: dict[str, int]) -> None:
    """A request slower than the lock's TTL (an office line sending one chunk) renews the lock as its
    bytes arrive: a second request on the same upload meanwhile is refused, not let in to interleave."""
    import time

    server = start_server({"CLIPJURY_UPLOAD_LOCK_TTL_S": "2"})
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            auth = {"Authorization": f"Bearer {token_for(client, 'demo-submitter')}"}
            work_id = new_work(client, auth)
            upload_id = create(client, auth, work_id, 10 * MIB)
            piece = payload(32 * 1024, seed=7)
            pieces = 20  # one every 0.2 s: 4 s in all, twice the TTL, never a whole part

            def slow_body() -> Iterator[bytes]:
                for _ in range(pieces):
                    time.sleep(0.2)
                    yield piece

            answers: dict[str, Any] = {}

            def send_slowly() -> None:
                answers["slow"] = patch(client, auth, upload_id, 0, slow_body(),
                                        **{"Content-Length": str(len(piece) * pieces)})

            sender = threading.Thread(target=send_slowly)
            sender.start()
            time.sleep(3)  # past the TTL of a lock that would only be renewed at a part boundary
            answers["second"] = patch(client, auth, upload_id, 0, b"abc")
            sender.join(30)
            assert answers["second"].status_code == 423, answers["second"].text
            assert answers["second"].json()["code"] == "upload_busy"
            assert answers["slow"].status_code == 204, answers["slow"].text
            assert answers["slow"].headers["upload-offset"] == str(len(piece) * pieces)
            assert head(client, auth, upload_id).headers["upload-offset"] == str(len(piece) * pieces)
    finally:
        devservices.stop(server.proc)


# -- resumability ----------------------------------------------------------------------------------

def test_small_chunks_make_progress_and_complete_once(client: Any, auth: dict[str, str]) -> None:
    """3 MiB chunks (< the 5 MiB S3 minimum part): the tail object carries them across requests."""
    work_id = new_work(client, auth)
    data = payload(19 * MIB + 123)
    upload_id = create(client, auth, work_id, len(data))
    offset, step = 0, 3 * MIB
    while offset < len(data):
        response = patch(client, auth, upload_id, offset, data[offset:offset + step])
        assert response.status_code == 204, response.text
        offset = int(response.headers["upload-offset"])
        # An unfinished upload says when it expires; a complete one no longer does.
        assert response.headers.get("upload-expires", "").endswith("GMT") == (offset < len(data))
        probe = head(client, auth, upload_id)
        assert probe.status_code == 200 and probe.headers["upload-offset"] == str(offset)
        assert probe.headers["upload-length"] == str(len(data)) and probe.headers["cache-control"] == "no-store"
    assert offset == len(data)
    version = assert_completed_once(upload_id, data)
    assert version.original_filename == "作品.mp4"
    work = client.get(f"/api/v1/works/{work_id}", headers=auth).json()
    assert work["status"] == "processing"
    # A retried final PATCH: 409 with the final offset, no second version, object or job.
    retry = patch(client, auth, upload_id, offset - (len(data) % step), data[-(len(data) % step):])
    assert retry.status_code == 409 and retry.json()["code"] == "offset_mismatch"
    assert retry.headers["upload-offset"] == str(len(data))
    final = patch(client, auth, upload_id, len(data), b"")
    assert final.status_code == 409 and final.headers["upload-offset"] == str(len(data))
    assert_completed_once(upload_id, data)


def test_creation_with_upload_and_chunks_larger_than_a_part(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    data = payload(21 * MIB + 7, seed=3)
    first = data[: 11 * MIB]
    response = client.post(
        "/api/v1/uploads", content=first,
        headers={**auth, **TUS, "Content-Type": OCTET, "Upload-Length": str(len(data)),
                 "Upload-Metadata": meta(work_id=str(work_id), filename="a.mp4")},
    )
    assert response.status_code == 201, response.text
    assert response.headers["upload-offset"] == str(len(first)) and "upload-expires" in response.headers
    upload_id = response.headers["location"].rsplit("/", 1)[-1]
    with session_scope() as session:
        upload = session.get(Upload, upload_id)
        assert upload is not None and len(upload.parts) == 1 and upload.tail_size == 3 * MIB
    assert patch(client, auth, upload_id, len(first), data[len(first):]).status_code == 204
    assert_completed_once(upload_id, data)


def test_a_work_with_the_upload_completed_is_processing_and_a_new_upload_replaces(
    client: Any, auth: dict[str, str]
) -> None:
    work_id = new_work(client, auth)
    for seed in (1, 2):
        data = payload(1000, seed=seed)
        upload_id = create(client, auth, work_id, len(data))
        assert patch(client, auth, upload_id, 0, data).status_code == 204
    with session_scope() as session:
        assert len(list(session.exec(select(WorkVersion).where(WorkVersion.work_id == work_id)))) == 2
    assert len(get_queue(VALIDATE).get_job_ids()) == 2


# -- the tail: byte-identical or sent again, never spliced --------------------------------------------

ROW_PROGRESS = ("offset", "parts", "tail_size", "tail_crc", "s3_upload_id")


def row_progress(upload_id: str) -> dict[str, Any]:
    with session_scope() as session:
        upload = session.get(Upload, upload_id)
        assert upload is not None
        return {name: getattr(upload, name) for name in ROW_PROGRESS}


def lose_commit(upload_id: str, before: dict[str, Any]) -> None:
    """What a lost relaxed commit (or a request killed between its store write and its commit) leaves:
    the row as it was before the request, the objects the request wrote still in the store."""
    with session_scope() as session:
        session.execute(update(Upload).where(col(Upload.id) == upload_id).values(**before))


def test_a_lost_commit_after_a_part_and_a_new_tail_does_not_splice(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    data = payload(20 * MIB, seed=11)
    upload_id = create(client, auth, work_id, len(data))
    assert patch(client, auth, upload_id, 0, data[: 3 * MIB]).status_code == 204
    before = row_progress(upload_id)
    # Stores part 1 ([0, 8 MiB)) and a new tail [8, 12 MiB); then its commit is lost.
    assert patch(client, auth, upload_id, 3 * MIB, data[3 * MIB: 12 * MIB]).status_code == 204
    lose_commit(upload_id, before)
    assert head(client, auth, upload_id).headers["upload-offset"] == str(3 * MIB)
    assert patch(client, auth, upload_id, 3 * MIB, data[3 * MIB:]).status_code == 204
    assert_completed_once(upload_id, data)


def test_a_tail_overwritten_by_a_request_that_lost_its_lock_is_sent_again(
    client: Any, auth: dict[str, str]
) -> None:
    work_id = new_work(client, auth)
    data = payload(12 * MIB, seed=12)
    upload_id = create(client, auth, work_id, len(data))
    assert patch(client, auth, upload_id, 0, data[: 3 * MIB]).status_code == 204
    started = row_progress(upload_id)
    assert patch(client, auth, upload_id, 3 * MIB, data[3 * MIB: 4 * MIB]).status_code == 204
    committed = row_progress(upload_id)
    # A stale request that had read the row before that commit writes its own bytes over the same tail
    # object; its compare-and-set commit then loses, so the row stays the other request's.
    lose_commit(upload_id, started)
    assert patch(client, auth, upload_id, 3 * MIB, payload(MIB, seed=99)).status_code == 204
    lose_commit(upload_id, committed)
    refused = patch(client, auth, upload_id, 4 * MIB, data[4 * MIB:])
    assert refused.status_code == 409 and refused.json()["code"] == "upload_rewound"
    assert refused.headers["upload-offset"] == "0"
    assert head(client, auth, upload_id).headers["upload-offset"] == "0"
    assert patch(client, auth, upload_id, 0, data).status_code == 204
    assert_completed_once(upload_id, data)


# -- one slow database call holds only its own request ----------------------------------------------

@pytest.mark.skipif(TEST_DB != "postgres", reason="holds a PostgreSQL row lock")
def test_an_upload_waiting_on_the_database_does_not_hold_the_others(
    client: Any, auth: dict[str, str], live_server: LiveServer
) -> None:
    """A creation whose INSERT waits on a row lock (its work is locked FOR UPDATE elsewhere) must not stop
    the API process from answering another upload's HEAD meanwhile: the order of answers shows it."""
    busy_work, other_work = new_work(client, auth), new_work(client, auth, "另一个作品")
    other = create(client, auth, other_work, 100)
    events: list[str] = []
    with httpx.Client(base_url=live_server.url, timeout=120) as live, get_engine().connect() as blocker:
        blocker.execute(text("SELECT id FROM work WHERE id = :id FOR UPDATE"), {"id": busy_work})

        def create_on_the_locked_work() -> None:
            answer = live.post("/api/v1/uploads", headers={
                **auth, **TUS, "Upload-Length": "100", "Upload-Metadata": meta(work_id=str(busy_work)),
            })
            events.append(f"create {answer.status_code}")

        creator = threading.Thread(target=create_on_the_locked_work)
        creator.start()
        for _ in range(600):  # until the creation's INSERT waits on the lock
            with get_engine().connect() as watcher:
                waiting = watcher.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()"
                )).scalar_one()
            if waiting:
                break
            threading.Event().wait(0.05)
        assert waiting, "the creation never waited on the row lock"

        def probe() -> None:
            answer = live.head(f"/api/v1/uploads/{other}", headers={**auth, **TUS})
            events.append(f"head {answer.status_code}")

        prober = threading.Thread(target=probe)
        prober.start()
        prober.join(30)  # only bounds the failure: an answer held behind the lock comes after "release"
        events.append("release")
        blocker.rollback()
        creator.join(60)
        prober.join(60)
    assert events == ["head 200", "release", "create 201"]


def test_termination_frees_storage(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    data = payload(10 * MIB)
    upload_id = create(client, auth, work_id, len(data) + 5)
    assert patch(client, auth, upload_id, 0, data).status_code == 204
    key = f"originals/{work_id}/{upload_id}.mp4"
    assert multipart_keys(key) == [key] and tails(upload_id)
    response = client.delete(f"/api/v1/uploads/{upload_id}", headers={**auth, **TUS})
    assert response.status_code == 204 and response.headers["tus-resumable"] == "1.0.0"
    assert multipart_keys(key) == [] and not tails(upload_id)
    for answer in (head(client, auth, upload_id), patch(client, auth, upload_id, len(data), b"12345")):
        assert answer.status_code == 410
    assert patch(client, auth, upload_id, len(data), b"12345").json()["code"] == "upload_gone"


def test_expired_uploads_are_cleaned_up(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    data = payload(9 * MIB)
    abandoned = create(client, auth, work_id, 20 * MIB)
    assert patch(client, auth, abandoned, 0, data).status_code == 204
    fresh = create(client, auth, work_id, 100)
    key = f"originals/{work_id}/{abandoned}.mp4"
    assert multipart_keys(key) == [key] and tails(abandoned)
    with session_scope() as session:
        session.execute(update(Upload).where(col(Upload.id) == abandoned)
                        .values(expires_at=utcnow() - timedelta(minutes=1)))
    assert head(client, auth, abandoned).status_code == 410
    gone = patch(client, auth, abandoned, 9 * MIB, b"more")
    assert gone.status_code == 410 and gone.json()["code"] == "upload_gone"
    with session_scope() as session:
        assert cleanup_expired_uploads(session, utcnow()) == 1
    assert multipart_keys(key) == [] and not tails(abandoned)
    with session_scope() as session:
        assert session.get(Upload, abandoned).status == UploadStatus.expired  # type: ignore[union-attr]  # the row exists: the test made it
        assert session.get(Upload, fresh).status == UploadStatus.receiving  # type: ignore[union-attr]  # the row exists: the test made it
        assert cleanup_expired_uploads(session, utcnow()) == 0
    from clipjury_cli.main import main

    assert main(["cleanup-uploads"]) == 0


# -- the deadline ----------------------------------------------------------------------------------

def test_after_the_deadline_and_within_the_grace(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    upload_id = create(client, auth, work_id, 30)
    assert patch(client, auth, upload_id, 0, b"0123456789").status_code == 204
    # The deadline passes while the upload is under way: it may continue within the grace period...
    with session_scope() as session:
        session.execute(update(Upload).values(created_at=utcnow() - timedelta(minutes=5)))
    set_campaign(submission_deadline=utcnow() - timedelta(minutes=1), upload_grace_minutes=30)
    refused = client.post("/api/v1/uploads", headers={**auth, **TUS, "Upload-Length": "10",
                                                       "Upload-Metadata": meta(work_id=str(work_id))})
    assert refused.status_code == 409 and refused.json()["code"] == "deadline_passed"
    assert client.put(f"/api/v1/works/{work_id}/video", content=b"x", headers=auth).json()["code"] == (
        "deadline_passed"
    )
    assert patch(client, auth, upload_id, 10, b"0123456789").status_code == 204
    # ...but not after it.
    set_campaign(submission_deadline=utcnow() - timedelta(minutes=31))
    late = patch(client, auth, upload_id, 20, b"0123456789")
    assert late.status_code == 409 and late.json()["code"] == "deadline_passed"


# -- raw PUT and filenames ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("人人话保密.mp4", "人人话保密.mp4"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\win.ini", "win.ini"),
        ("a\x00b\x1b[31m\nc.mp4", "a b [31m c.mp4"),
        ("", "video.mp4"),
        ("..", "video.mp4"),
        ("长" * 300 + ".mp4", "长" * 251 + ".mp4"),
    ],
)
def test_sanitize_filename(raw: str, shown: str) -> None:
    assert sanitize_filename(raw) == shown


def test_put_video_with_odd_filenames(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    data = payload(2 * MIB + 5, seed=9)
    response = client.put(f"/api/v1/works/{work_id}/video", params={"filename": "../../etc/passwd"}, content=data,
                          headers=auth)
    assert response.status_code == 202, response.text
    assert response.json()["id"] == work_id and response.json()["status"] == "processing"
    with session_scope() as session:
        upload = session.exec(select(Upload)).one()
    version = assert_completed_once(upload.id, data)
    assert version.original_filename == "passwd" and ".." not in version.object_key
    disposition = "attachment; filename=\"fallback.mp4\"; filename*=UTF-8''%E4%BA%BA%E4%BA%BA%2F%E8%AF%9D.mp4"
    again = client.put(f"/api/v1/works/{work_id}/video", content=b"abc", headers={**auth,
                                                                                   "Content-Disposition": disposition})
    assert again.status_code == 202
    with session_scope() as session:
        names = {v.original_filename for v in session.exec(select(WorkVersion))}
        keys = {v.object_key for v in session.exec(select(WorkVersion))}
    assert names == {"passwd", "话.mp4"}
    assert all(key.startswith(f"originals/{work_id}/") and key.endswith(".mp4") for key in keys)


# -- several API processes -------------------------------------------------------------------------

@pytest.fixture()
def two_servers(demo: dict[str, int]) -> Iterator[tuple[str, str]]:
    first, second = start_server(), start_server()
    try:
        yield first.url, second.url
    finally:
        devservices.stop(first.proc)
        devservices.stop(second.proc)


def test_started_on_one_process_finished_on_another(two_servers: tuple[str, str]) -> None:
    url_a, url_b = two_servers
    with httpx.Client(base_url=url_a, timeout=60) as a, httpx.Client(base_url=url_b, timeout=60) as b:
        auth = {"Authorization": f"Bearer {token_for(a, 'demo-submitter')}"}
        work_id = new_work(a, auth)
        data = payload(12 * MIB + 3, seed=5)
        upload_id = create(a, auth, work_id, len(data))
        assert patch(a, auth, upload_id, 0, data[: 4 * MIB]).status_code == 204  # only a tail so far
        assert head(b, auth, upload_id).headers["upload-offset"] == str(4 * MIB)
        assert patch(b, auth, upload_id, 4 * MIB, data[4 * MIB: 9 * MIB]).status_code == 204  # a part + tail
        assert patch(a, auth, upload_id, 9 * MIB, data[9 * MIB:]).status_code == 204
    assert_completed_once(upload_id, data)


def test_concurrent_final_patch_completes_once(two_servers: tuple[str, str]) -> None:
    url_a, url_b = two_servers
    with httpx.Client(base_url=url_a, timeout=60) as a, httpx.Client(base_url=url_b, timeout=60) as _b:
        auth = {"Authorization": f"Bearer {token_for(a, 'demo-submitter')}"}
        work_id = new_work(a, auth)
        data = payload(10 * MIB, seed=6)
        upload_id = create(a, auth, work_id, len(data))
        assert patch(a, auth, upload_id, 0, data[: 2 * MIB]).status_code == 204
        statuses: list[int] = []
        barrier = threading.Barrier(4)

        def send(url: str) -> None:
            with httpx.Client(base_url=url, timeout=60) as own:
                barrier.wait()
                statuses.append(patch(own, auth, upload_id, 2 * MIB, data[2 * MIB:]).status_code)

        threads = [threading.Thread(target=send, args=(url,)) for url in (url_a, url_b, url_a, url_b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert statuses.count(204) == 1, statuses
    assert set(statuses) <= {204, 409, 423}, statuses
    assert_completed_once(upload_id, data)


def test_dropped_connection_keeps_what_arrived(two_servers: tuple[str, str]) -> None:
    url_a, url_b = two_servers
    with httpx.Client(base_url=url_a, timeout=60) as a:
        auth = {"Authorization": f"Bearer {token_for(a, 'demo-submitter')}"}
        work_id = new_work(a, auth)
        data = payload(12 * MIB, seed=7)
        upload_id = create(a, auth, work_id, len(data))
    sent = 10 * MIB + 12345  # one full part and a tail, then the connection drops
    host, port = url_a.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        request = (
            f"PATCH /api/v1/uploads/{upload_id} HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: {auth['Authorization']}\r\nTus-Resumable: 1.0.0\r\n"
            f"Content-Type: {OCTET}\r\nUpload-Offset: 0\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        sock.sendall(request.encode() + data[:sent])
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(30)
        while sock.recv(65536):  # the server notices the disconnect and stores what arrived
            pass
    with httpx.Client(base_url=url_b, timeout=60) as b:
        offset = 0
        for _ in range(50):  # the tail is stored right after the disconnect is seen
            offset = int(head(b, auth, upload_id).headers["upload-offset"])
            if offset == sent:
                break
            threading.Event().wait(0.1)
        assert offset == sent
        response = patch(b, auth, upload_id, offset, data[offset:])
        assert response.status_code == 204, response.text
    assert_completed_once(upload_id, data)


# -- the receive buffer and the progress commit ---------------------------------------------------------

def test_part_buffer_cuts_exact_parts_from_any_chunking() -> None:
    part = 1000
    data = payload(4321, seed=9)
    for sizes in ([1], [7, 993], [1000], [1500, 3], [4321]):
        buffer = PartBuffer(part, expected=len(data))
        parts: list[bytes] = []
        offset, i = 0, 0
        while offset < len(data):
            step = sizes[i % len(sizes)]
            buffer.write(data[offset:offset + step])
            offset += step
            i += 1
            while len(buffer) > part:  # like an upload whose last part waits for the end
                parts.append(bytes(buffer.pop_part()))
        rest = bytes(buffer.take_all())
        assert all(len(p) == part for p in parts)
        assert b"".join(parts) + rest == data and len(buffer) == 0


def test_part_buffer_small_requests_get_small_blocks_and_may_grow() -> None:
    buffer = PartBuffer(8 * MIB, expected=10)
    buffer.write(b"0123456789")
    assert [len(b) for b in buffer.blocks] == [10]  # not a whole 8 MiB part for a 10-byte request
    buffer.write(b"abc")  # more than announced (no Content-Length check upstream): still kept
    assert bytes(buffer.take_all()) == b"0123456789abc"


def test_recycled_blocks_never_leak_earlier_bytes() -> None:
    part = 5 * MIB
    first = PartBuffer(part)
    first.write(b"\xaa" * (part + 1))
    block = first.pop_part()
    first.recycle(block)
    second = PartBuffer(part)  # likely gets the recycled block back
    second.write(b"new")
    assert bytes(second.take_all()) == b"new"
    third = PartBuffer(part)
    third.write(b"\xbb" * part)
    third.write(b"x")
    assert bytes(third.pop_part()) == b"\xbb" * part and bytes(third.take_all()) == b"x"


def _durability(conn: Any) -> str:
    if conn.dialect.name == "sqlite":
        return str(conn.exec_driver_sql("PRAGMA synchronous").scalar())
    return str(conn.exec_driver_sql("SHOW synchronous_commit").scalar())


def test_relaxed_commit_is_relaxed_inside_and_durable_again_after(database: str) -> None:
    durable = "2" if database.startswith("sqlite") else "on"  # FULL / on
    with relaxed_commit() as conn:
        assert _durability(conn) == ("1" if database.startswith("sqlite") else "off")  # NORMAL / off
        conn.commit()
    # The pool hands connections back out: every one of them commits durably again.
    with get_engine().connect() as a, get_engine().connect() as b:
        assert _durability(a) == durable and _durability(b) == durable


def test_the_store_verifies_the_checksum_of_every_part() -> None:
    """Parts go unsigned (CLIPJURY_S3_SIGN_PAYLOAD=false): the CRC32 header is what protects them."""
    from storage.s3 import StorageError, crc32_b64

    store = get_store()
    key = "tests/checksum.bin"
    upload_id = store.create_multipart(key)
    try:
        data = payload(6 * MIB, seed=5)
        wrong = crc32_b64(data[:-1] + bytes([data[-1] ^ 1]))
        with pytest.raises(StorageError):
            store._call("upload_part", Key=key, UploadId=upload_id, PartNumber=1, Body=data, ChecksumCRC32=wrong)
        etag = store.upload_part(key, upload_id, 1, data)
        store.complete_multipart(key, upload_id, [(1, etag)])
        assert store.get_bytes(key) == data
    finally:
        store.abort_multipart(key, upload_id)
        store.delete(key)
