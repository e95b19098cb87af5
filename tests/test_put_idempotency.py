"""``PUT /api/v1/works/{id}/video`` with an ``Idempotency-Key``: a script that sends the same request
again (its answer was lost, it timed out) stores the file once, enqueues one validation and gets the
work as it stands; a retry while the first is still arriving is told so; a first that broke off frees
the key. Real API processes, database, Redis and store."""

from __future__ import annotations

import socket
import threading
from typing import Any

import httpx
from sqlmodel import col, select

from clipjury.db import session_scope
from clipjury.uploads.models import Upload, UploadStatus
from clipjury.works.models import WorkVersion
from storage import get_store
from tests.conftest import LiveServer, token_for
from tests.test_uploads import MIB, assert_completed_once, new_work, payload


def uploads_of(work_id: int) -> list[Upload]:
    with session_scope() as session:
        return list(session.exec(select(Upload).where(Upload.work_id == work_id).order_by(col(Upload.created_at))))


def versions_of(work_id: int) -> list[WorkVersion]:
    with session_scope() as session:
        return list(session.exec(select(WorkVersion).where(WorkVersion.work_id == work_id)))


def test_a_put_sent_again_with_its_key_stores_nothing_twice(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    url = f"/api/v1/works/{work_id}/video"
    data = payload(9 * MIB + 5, seed=11)  # more than one part
    key = {"Idempotency-Key": "0b1e3a52-7c7e-4d55-9a4f-retry"}
    first = client.put(url, content=data, headers={**auth, **key})
    assert first.status_code == 202 and first.json()["status"] == "processing", first.text
    again = client.put(url, content=data, headers={**auth, **key})
    assert again.status_code == 202 and again.json()["id"] == work_id and again.json()["status"] == "processing"
    (upload,) = uploads_of(work_id)
    assert_completed_once(upload.id, data)  # one version, one validation job, one object
    # Another key (or none) is another upload: sending a file again on purpose still works.
    other = client.put(url, content=data, headers={**auth, "Idempotency-Key": "second-file"})
    assert other.status_code == 202
    assert len(uploads_of(work_id)) == 2 and len(versions_of(work_id)) == 2
    # The same key on another work names another upload.
    second_work = new_work(client, auth, title="另一件")
    assert client.put(f"/api/v1/works/{second_work}/video", content=data, headers={**auth, **key}).status_code == 202
    assert len(uploads_of(second_work)) == 1


def test_a_bad_key_or_someone_elses_work_is_refused(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    url = f"/api/v1/works/{work_id}/video"
    for bad in ("a" * 256, "带中文".encode().decode("latin-1"), "has space", ""):
        headers = [(b"Authorization", auth["Authorization"].encode()), (b"Idempotency-Key", bad.encode("latin-1"))]
        response = client.put(url, content=b"abc", headers=headers)
        assert response.status_code == 400 and response.json()["code"] == "invalid_idempotency_key", bad
    other = {"Authorization": f"Bearer {token_for(client, 'demo-coordinator')}"}
    theirs = client.put(url, content=b"abc", headers={**other, "Idempotency-Key": "k"})
    assert theirs.status_code == 404
    assert uploads_of(work_id) == []


def _start_put(
    server: LiveServer, auth: dict[str, str], work_id: int, key: str, data: bytes, sent: int
) -> socket.socket:
    """A raw PUT whose body stops after ``sent`` bytes (the connection stays open)."""
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    head = (
        f"PUT /api/v1/works/{work_id}/video HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: {auth['Authorization']}\r\nIdempotency-Key: {key}\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    sock.sendall(head.encode() + data[:sent])
    return sock


def _wait_for_upload(work_id: int, status: str) -> Upload:
    for _ in range(100):
        uploads = [u for u in uploads_of(work_id) if u.status == status]
        if uploads:
            return uploads[0]
        threading.Event().wait(0.05)
    raise AssertionError(f"no {status} upload for work {work_id}: {uploads_of(work_id)}")


def test_a_retry_while_the_first_is_arriving_is_told_so(live_server: LiveServer, demo: dict[str, int]) -> None:
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        auth = {"Authorization": f"Bearer {token_for(http, 'demo-submitter')}"}
        work_id = new_work(http, auth)
        data = payload(10 * MIB, seed=12)
        sock = _start_put(live_server, auth, work_id, "slow-office-line", data, 3 * MIB)
        try:
            _wait_for_upload(work_id, UploadStatus.receiving)
            retry = http.put(f"/api/v1/works/{work_id}/video", content=data,
                             headers={**auth, "Idempotency-Key": "slow-office-line"})
            assert retry.status_code == 409 and retry.json()["code"] == "upload_in_progress", retry.text
            assert "不必重复发送" in retry.json()["detail"]
            sock.sendall(data[3 * MIB:])
            sock.settimeout(60)
            answer = sock.recv(65536).split(b"\r\n", 1)[0]
        finally:
            sock.close()
        assert answer == b"HTTP/1.1 202 Accepted", answer
    (upload,) = uploads_of(work_id)
    assert_completed_once(upload.id, data)


def test_a_first_put_that_broke_off_frees_its_key(live_server: LiveServer, demo: dict[str, int]) -> None:
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        auth = {"Authorization": f"Bearer {token_for(http, 'demo-submitter')}"}
        work_id = new_work(http, auth)
        data = payload(10 * MIB, seed=13)
        sock = _start_put(live_server, auth, work_id, "dropped-once", data, 9 * MIB)
        _wait_for_upload(work_id, UploadStatus.receiving)
        sock.shutdown(socket.SHUT_WR)  # the connection drops: nothing of it is kept
        sock.close()
        _wait_for_upload(work_id, UploadStatus.terminated)
        again = http.put(f"/api/v1/works/{work_id}/video", content=data,
                         headers={**auth, "Idempotency-Key": "dropped-once"})
        assert again.status_code == 202, again.text
    finished = [u for u in uploads_of(work_id) if u.status == UploadStatus.complete]
    assert len(finished) == 1 and len(uploads_of(work_id)) == 2
    assert_completed_once(finished[0].id, data)
    (dropped,) = [u for u in uploads_of(work_id) if u.status == UploadStatus.terminated]
    assert get_store().head(dropped.object_key) is None and dropped.idempotency_digest is None
