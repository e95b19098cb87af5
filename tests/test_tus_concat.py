"""tus concatenation: partial uploads sent in parallel and joined by a final upload, on real services.

Both ways of joining are covered: straight into the final object (final created first) and by copy
(final created after the partials, as tus-js-client and Uppy do).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import shutil
import socket
import subprocess
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col, select

from clipjury.accounts.models import User
from clipjury.db import session_scope
from clipjury.jobs import VALIDATE, get_queue
from clipjury.settings import get_settings
from clipjury.timeutil import utcnow
from clipjury.uploads import concat, tus_client
from clipjury.uploads.expiry import cleanup_expired_uploads
from clipjury.uploads.locks import UploadLock
from clipjury.uploads.models import Upload, UploadStatus
from clipjury.uploads.objects import partial_key_for
from clipjury.works.models import WorkVersion
from storage import get_store
from storage.s3 import ObjectStore
from tests.conftest import ROOT, LiveServer, token_for
from tests.test_uploads import (
    MIB,
    OCTET,
    TUS,
    assert_completed_once,
    head,
    meta,
    multipart_keys,
    new_work,
    patch,
    payload,
    set_campaign,
    tails,
)

ENDPOINT = "/api/v1/uploads"


def partial(client: Any, auth: dict[str, str], length: int, **metadata: str) -> str:
    url = tus_client.create(client, ENDPOINT, auth, length=length, metadata=metadata or None, concat="partial")
    return url.rsplit("/", 1)[-1]


def final(client: Any, auth: dict[str, str], ids: list[str], **metadata: str) -> Any:
    headers = {**auth, **TUS, "Upload-Concat": "final;" + " ".join(f"{ENDPOINT}/{i}" for i in ids)}
    if metadata:
        headers["Upload-Metadata"] = meta(**metadata)
    return client.post(ENDPOINT, headers=headers)


def send_all(client: Any, auth: dict[str, str], upload_id: str, data: bytes, step: int) -> None:
    offset = 0
    while offset < len(data):
        response = patch(client, auth, upload_id, offset, data[offset:offset + step])
        assert response.status_code == 204, response.text
        offset = int(response.headers["upload-offset"])


def row(upload_id: str) -> Upload:
    with session_scope() as session:
        upload = session.get(Upload, upload_id)
        assert upload is not None
        return upload


def final_id_of(response: Any) -> str:
    assert response.status_code == 201, response.text
    return str(response.headers["location"]).rsplit("/", 1)[-1]


def assert_partials_freed(ids: list[str]) -> None:
    store = get_store()
    for upload_id in ids:
        assert store.head(partial_key_for(upload_id)) is None
        assert not tails(upload_id)
        assert multipart_keys(partial_key_for(upload_id)) == []


# -- joining --------------------------------------------------------------------------------------------

def test_final_after_partials_is_joined_by_copy(client: Any, auth: dict[str, str]) -> None:
    """tus-js-client's order; pieces under 5 MiB (an empty one too) are re-sent with their neighbours."""
    work_id = new_work(client, auth)
    sizes = [1000, 6 * MIB, 2 * MIB + 1, 0, 7 * MIB + 3, 10]
    data = payload(sum(sizes), seed=21)
    ids, start = [], 0
    for size in sizes:
        upload_id = partial(client, auth, size)
        if size:
            send_all(client, auth, upload_id, data[start:start + size], 3 * MIB)
        assert row(upload_id).status == UploadStatus.complete
        ids.append(upload_id)
        start += size
    probe = head(client, auth, ids[1])
    assert probe.headers["upload-concat"] == "partial" and probe.headers["upload-offset"] == str(6 * MIB)
    response = final(client, auth, ids, work_id=str(work_id), filename="合并.mp4")
    final_id = final_id_of(response)
    assert response.headers["upload-offset"] == response.headers["upload-length"] == str(len(data))
    version = assert_completed_once(final_id, data)
    assert version.original_filename == "合并.mp4"
    assert_partials_freed(ids)
    probe = head(client, auth, final_id)
    assert probe.status_code == 200 and probe.headers["upload-offset"] == str(len(data))
    assert probe.headers["upload-concat"] == "final;" + " ".join(f"{ENDPOINT}/{i}" for i in ids)
    assert client.get(f"/api/v1/works/{work_id}", headers=auth).json()["status"] == "processing"
    # A retried final (its answer was lost) gets the same upload, not a second file.
    again = final(client, auth, ids, work_id=str(work_id))
    assert final_id_of(again) == final_id
    assert_completed_once(final_id, data)


class HoldingProxy:
    """A TCP relay in front of the object store that holds every request carrying ``marker`` (a real slow
    store, as a congested link makes it) until ``release`` is set; everything else passes through."""

    def __init__(self, target: tuple[str, int], marker: bytes) -> None:
        self.target, self.marker = target, marker.lower()
        self.holding, self.release = threading.Event(), threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, outgoing: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if outgoing and self.marker in chunk.lower():
                    self.holding.set()
                    self.release.wait()
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.release.set()
        self.listener.close()


def test_a_slow_copy_keeps_its_lock_and_a_second_caller_cannot_abort_it(
    client: Any, auth: dict[str, str], demo: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The final is joined by server-side copies that the store answers only after the lock's TTL: the
    lock is renewed meanwhile, so a second caller (a HEAD) does not take it and abort the copy."""
    work_id = new_work(client, auth)
    sizes = [6 * MIB, 6 * MIB]
    data = payload(sum(sizes), seed=31)
    ids, start = [], 0
    for size in sizes:
        upload_id = partial(client, auth, size)
        send_all(client, auth, upload_id, data[start:start + size], 8 * MIB)
        ids.append(upload_id)
        start += size
    monkeypatch.setattr(get_settings(), "upload_lock_ttl_s", 1)
    endpoint = httpx.URL(get_settings().s3_endpoint_url)
    proxy = HoldingProxy((endpoint.host, endpoint.port or 80), b"x-amz-copy-source")
    slow_store = ObjectStore(get_settings().model_copy(update={"s3_endpoint_url": proxy.url}))
    outcome: dict[str, Any] = {}

    def join() -> None:
        try:
            with session_scope() as session:
                user = session.get(User, demo["demo-submitter"])
                assert user is not None
                outcome["final"] = concat.create_final(session, user, ids, {"work_id": str(work_id)}, slow_store)
        except BaseException as exc:  # reported by the assertion below
            outcome["error"] = exc

    joiner = threading.Thread(target=join)
    joiner.start()
    try:
        assert proxy.holding.wait(60), "the copy never started"
        with session_scope() as session:
            final_id = session.exec(select(Upload.id).where(col(Upload.concat) == "final")).one()
        # Longer than the lock's TTL: without renewal the lock has expired by now.
        proxy.release.wait(2.5)
        assert concat.finish_final_if_ready(final_id, get_store(), 0, raise_errors=False) is False
    finally:
        proxy.close()
        joiner.join(120)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["final"].status == UploadStatus.complete
    assert_completed_once(final_id, data)
    assert_partials_freed(ids)


def test_final_first_writes_partials_straight_into_the_final_object(client: Any, auth: dict[str, str]) -> None:
    """Unaligned partials in 3 MiB chunks: parts and tails, and no short inner part."""
    work_id = new_work(client, auth)
    sizes = [6 * MIB + 1, 9 * MIB + 7, 5 * MIB, 1000]
    data = payload(sum(sizes), seed=22)
    ids = [partial(client, auth, size) for size in sizes]
    response = final(client, auth, ids, work_id=str(work_id), filename="a.mp4")
    final_id = final_id_of(response)
    assert "upload-offset" not in response.headers  # unfinished: a final has no offset of its own
    unfinished = head(client, auth, final_id)
    assert unfinished.status_code == 200 and "upload-offset" not in unfinished.headers
    assert unfinished.headers["upload-length"] == str(len(data))
    assert all(row(i).part_base is not None for i in ids)
    # Send the pieces in reverse order: the order of arrival does not matter.
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    for index in reversed(range(len(sizes))):
        send_all(client, auth, ids[index], data[starts[index]:starts[index] + sizes[index]], 3 * MIB)
    version = assert_completed_once(final_id, data)
    assert version.original_filename == "a.mp4"
    assert_partials_freed(ids)
    patched = patch(client, auth, final_id, 0, b"x")
    assert patched.status_code == 403 and patched.json()["code"] == "concat_final_patch"


def test_final_over_unfinished_partials_with_bytes_waits_for_them(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    data = payload(14 * MIB + 5, seed=23)
    first, second = partial(client, auth, 8 * MIB), partial(client, auth, len(data) - 8 * MIB)
    assert patch(client, auth, first, 0, data[: 3 * MIB]).status_code == 204
    final_id = final_id_of(final(client, auth, [first, second], work_id=str(work_id)))
    assert row(first).part_base is None  # it already holds bytes: joined by copy when all are in
    assert patch(client, auth, first, 3 * MIB, data[3 * MIB: 8 * MIB]).status_code == 204
    assert row(final_id).status == UploadStatus.receiving
    send_all(client, auth, second, data[8 * MIB:], 4 * MIB)
    assert_completed_once(final_id, data)
    assert_partials_freed([first, second])


def test_metadata_may_come_with_the_partials(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    data = payload(3000, seed=24)
    ids = [partial(client, auth, 1000, work_id=str(work_id), filename="片段.mp4") for _ in range(3)]
    for index, upload_id in enumerate(ids):
        send_all(client, auth, upload_id, data[index * 1000:(index + 1) * 1000], 1000)
    final_id = final_id_of(final(client, auth, ids))
    assert assert_completed_once(final_id, data).original_filename == "片段.mp4"


# -- partials that declare their layout (the web page's way) ---------------------------------------------

def layout_partial(client: Any, auth: dict[str, str], length: int, layout: dict[str, str], **metadata: str) -> Any:
    return client.post(ENDPOINT, headers={**auth, **TUS, "Upload-Length": str(length), "Upload-Concat": "partial",
                                          "Upload-Metadata": meta(**layout, **metadata)})


def declare(sizes: list[int], group: str = "group-0123456789") -> dict[str, str]:
    return {"concat_group": group, "concat_layout": ",".join(map(str, sizes))}


def group_final(upload_id: str) -> Upload:
    final_id = row(upload_id).final_id
    assert final_id is not None
    return row(final_id)


def test_partials_declaring_their_layout_go_straight_into_the_final(client: Any, auth: dict[str, str]) -> None:
    """tus-js-client's order (final last), yet no copy: each partial finds its place by its length."""
    work_id = new_work(client, auth)
    sizes = [16 * MIB, 8 * MIB, 3 * MIB + 5]  # whole parts but the last, no two alike
    data = payload(sum(sizes), seed=31)
    layout = declare(sizes)
    # Created out of order, as concurrent requests may arrive.
    order = [1, 2, 0]
    created = {i: final_id_of(layout_partial(client, auth, sizes[i], layout, work_id=str(work_id),
                                             filename="分段.mp4")) for i in order}
    ids = [created[i] for i in range(len(sizes))]
    pre = group_final(ids[0])
    assert pre.partial_ids == ids and pre.part_base == 0 and pre.concat_group is not None
    assert [row(i).part_base for i in ids] == [0, 2, 3]
    assert all(row(i).final_id == pre.id and row(i).object_key == pre.object_key for i in ids)
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    for index in reversed(range(len(sizes))):
        send_all(client, auth, ids[index], data[starts[index]:starts[index] + sizes[index]], 8 * MIB)
    # The last byte of the last partial completed the file; the final the client now creates is that one
    # (for the work the partials declared: naming another one is refused).
    assert row(pre.id).status == UploadStatus.complete
    other = final(client, auth, ids, work_id=str(new_work(client, auth)))
    assert (other.status_code, other.json()["code"]) == (400, "concat_work_mismatch")
    response = final(client, auth, ids, work_id=str(work_id))
    assert final_id_of(response) == pre.id
    assert response.headers["upload-offset"] == response.headers["upload-length"] == str(len(data))
    version = assert_completed_once(pre.id, data)
    assert version.original_filename == "分段.mp4"
    assert_partials_freed(ids)  # nothing was ever stored under the partials' own keys
    assert final_id_of(final(client, auth, ids, work_id=str(work_id))) == pre.id  # a retried final
    assert_completed_once(pre.id, data)


def test_a_final_created_early_over_declared_partials_waits_for_them(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    sizes = [8 * MIB, 1000]
    data = payload(sum(sizes), seed=32)
    layout = declare(sizes, "early-final-group")
    ids = [final_id_of(layout_partial(client, auth, n, layout, work_id=str(work_id))) for n in sizes]
    # Listing the pieces in another order than they declared is refused; nothing is lost by it.
    wrong = final(client, auth, list(reversed(ids)), work_id=str(work_id))
    assert (wrong.status_code, wrong.json()["code"]) == (409, "concat_layout_mismatch")
    response = final(client, auth, ids, work_id=str(work_id))
    final_id = final_id_of(response)
    assert final_id == group_final(ids[0]).id and "upload-offset" not in response.headers
    send_all(client, auth, ids[0], data[:8 * MIB], 8 * MIB)
    assert row(final_id).status == UploadStatus.receiving
    send_all(client, auth, ids[1], data[8 * MIB:], 8 * MIB)
    assert_completed_once(final_id, data)


def test_a_retried_partial_creation_takes_the_place_of_the_lost_one(client: Any, auth: dict[str, str]) -> None:
    """The answer to a partial's creation was lost and the client created it again: the new one takes
    the place; the first, which never got a byte, ends. A place whose partial has bytes is kept."""
    work_id = new_work(client, auth)
    sizes = [16 * MIB, 8 * MIB + 1]
    data = payload(sum(sizes), seed=33)
    layout = declare(sizes, "retried-creation")
    lost = final_id_of(layout_partial(client, auth, sizes[0], layout, work_id=str(work_id)))
    second = final_id_of(layout_partial(client, auth, sizes[1], layout, work_id=str(work_id)))
    first = final_id_of(layout_partial(client, auth, sizes[0], layout, work_id=str(work_id)))
    assert row(lost).status == UploadStatus.terminated and row(lost).final_id is None
    assert group_final(first).partial_ids == [first, second]
    assert patch(client, auth, lost, 0, b"x").status_code == 410
    assert patch(client, auth, first, 0, data[:8 * MIB]).status_code == 204
    extra = final_id_of(layout_partial(client, auth, sizes[0], layout, work_id=str(work_id)))
    assert row(extra).final_id is None and row(extra).part_base is None  # an ordinary partial
    assert group_final(first).partial_ids == [first, second]
    assert patch(client, auth, first, 8 * MIB, data[8 * MIB:sizes[0]]).status_code == 204
    send_all(client, auth, second, data[sizes[0]:], 8 * MIB)
    assert_completed_once(final_id_of(final(client, auth, [first, second], work_id=str(work_id))), data)


def test_a_busy_group_asks_the_client_to_create_the_partial_again(
    client: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half a group cannot be joined, so a partial that cannot take its place now is not left behind
    as an ordinary one: it ends and the client is told to retry (tus-js-client retries a 423)."""
    monkeypatch.setattr(concat, "LOCK_WAIT_S", 0.2)
    work_id = new_work(client, auth)
    sizes = [16 * MIB, 8 * MIB + 1]
    layout = declare(sizes, "busy-group-0001")
    first = final_id_of(layout_partial(client, auth, sizes[0], layout, work_id=str(work_id)))
    pre = group_final(first)
    assert pre.concat_group is not None
    group_lock = UploadLock(f"group-{pre.concat_group}")
    assert group_lock.acquire()
    try:
        busy = layout_partial(client, auth, sizes[1], layout, work_id=str(work_id))
    finally:
        group_lock.release()
    assert (busy.status_code, busy.json()["code"]) == (423, "upload_busy")
    with session_scope() as session:
        left = session.exec(select(Upload).where(col(Upload.concat) == "partial", col(Upload.id) != first)).all()
    assert [u.status for u in left] == [UploadStatus.terminated]
    # Its place is being written (a retried creation of the first piece while it streams): 423 as well.
    slot_lock = UploadLock(first)
    assert slot_lock.acquire()
    try:
        again = layout_partial(client, auth, sizes[0], layout, work_id=str(work_id))
    finally:
        slot_lock.release()
    assert (again.status_code, again.json()["code"]) == (423, "upload_busy")
    second = final_id_of(layout_partial(client, auth, sizes[1], layout, work_id=str(work_id)))
    assert group_final(first).partial_ids == [first, second]


def test_declared_layouts_that_cannot_go_straight_are_joined_by_copy(client: Any, auth: dict[str, str]) -> None:
    """Two pieces of the same length (which is which?), a piece not a whole number of parts, or no
    work: ordinary partials, joined by copy at the end. The file is the same either way."""
    work_id = new_work(client, auth)
    for sizes, with_work in (([6 * MIB, 6 * MIB, 10], True), ([6 * MIB + 1, 10], True), ([8 * MIB, 10], False)):
        data = payload(sum(sizes), seed=34)
        layout = declare(sizes, f"plain-{len(sizes)}-{with_work}-group")
        extra = {"work_id": str(work_id)} if with_work else {}
        ids = [final_id_of(layout_partial(client, auth, n, layout, **extra)) for n in sizes]
        assert all(row(i).final_id is None and row(i).part_base is None for i in ids)
        start = 0
        for upload_id, size in zip(ids, sizes, strict=True):
            send_all(client, auth, upload_id, data[start:start + size], 8 * MIB)
            start += size
        final_id = final_id_of(final(client, auth, ids, work_id=str(work_id)))
        assert row(final_id).part_base is None and row(final_id).concat_group is None
        get_queue(VALIDATE).empty()  # type: ignore[no-untyped-call]  # rq's Queue.empty is untyped
        with session_scope() as session:
            version = session.exec(select(WorkVersion).where(WorkVersion.upload_id == final_id)).one()
        assert version.size_bytes == len(data)
        assert_partials_freed(ids)


def test_bad_declared_layouts(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    for layout in ({"concat_group": "short", "concat_layout": "10,20"},
                   {"concat_group": "group-0123456789", "concat_layout": "10,-20"},
                   {"concat_group": "group-0123456789", "concat_layout": ""},
                   {"concat_layout": "10,20"},
                   {"concat_group": "../../etc/passwd", "concat_layout": "10,20"}):
        response = layout_partial(client, auth, 10, layout, work_id=str(work_id))
        assert (response.status_code, response.json()["code"]) == (400, "invalid_concat_layout"), layout
        assert "concat_layout" in response.json()["detail"]
    # A file over the limit is refused with its first piece, before a byte is sent.
    limit = 20 * MIB
    set_campaign(max_size_bytes=limit)
    over = layout_partial(client, auth, 8 * MIB, declare([16 * MIB, 8 * MIB, 1]), work_id=str(work_id))
    assert (over.status_code, over.json()["code"]) == (413, "too_large")
    with session_scope() as session:
        assert session.exec(select(Upload)).first() is None


def test_terminating_a_declared_partial_ends_its_group(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    sizes = [8 * MIB, 100]
    layout = declare(sizes, "terminated-group")
    ids = [final_id_of(layout_partial(client, auth, n, layout, work_id=str(work_id))) for n in sizes]
    assert patch(client, auth, ids[0], 0, payload(8 * MIB)).status_code == 204
    pre = group_final(ids[0])
    assert multipart_keys(pre.object_key) == [pre.object_key]
    assert client.delete(f"{ENDPOINT}/{ids[1]}", headers={**auth, **TUS}).status_code == 204
    assert multipart_keys(pre.object_key) == [] and get_store().head(pre.object_key) is None
    assert {row(i).status for i in [*ids, pre.id]} == {UploadStatus.terminated}
    # A new partial of the same group cannot bring the ended file back: it is an ordinary one.
    again = final_id_of(layout_partial(client, auth, 100, layout, work_id=str(work_id)))
    assert row(again).final_id is None


def test_a_piece_idle_while_the_others_go_on_does_not_expire_alone(client: Any, auth: dict[str, str]) -> None:
    """The file expires as a whole: a piece whose own expiry passed while another piece made progress
    is still answered and continued (it used to be 410, and tus-js-client then made a piece no final
    could join)."""
    work_id = new_work(client, auth)
    sizes = [8 * MIB, 100]
    data = payload(sum(sizes), seed=36)
    layout = declare(sizes, "idle-piece-group")
    ids = [final_id_of(layout_partial(client, auth, n, layout, work_id=str(work_id))) for n in sizes]
    assert patch(client, auth, ids[1], 0, data[8 * MIB:]).status_code == 204  # the small piece is done
    with session_scope() as session:
        session.execute(update(Upload).where(col(Upload.id) == ids[0])
                        .values(expires_at=utcnow() - timedelta(minutes=1)))
    with session_scope() as session:
        assert cleanup_expired_uploads(session, utcnow()) == 0
    probe = head(client, auth, ids[0])
    assert probe.status_code == 200 and probe.headers["upload-offset"] == "0"
    send_all(client, auth, ids[0], data[:8 * MIB], 8 * MIB)
    assert_completed_once(group_final(ids[0]).id, data)


def test_an_abandoned_group_expires(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    sizes = [8 * MIB, 8 * MIB + 1]
    layout = declare(sizes, "abandoned-group")
    first = final_id_of(layout_partial(client, auth, sizes[0], layout, work_id=str(work_id)))
    assert patch(client, auth, first, 0, payload(8 * MIB)).status_code == 204
    pre = group_final(first)  # the second piece was never created
    with session_scope() as session:
        session.execute(update(Upload).where(col(Upload.id).in_([first, pre.id]))
                        .values(expires_at=utcnow() - timedelta(minutes=1)))
    with session_scope() as session:
        assert cleanup_expired_uploads(session, utcnow()) == 1
    assert multipart_keys(pre.object_key) == [] and get_store().head(pre.object_key) is None
    assert {row(i).status for i in [first, pre.id]} == {UploadStatus.expired}


# -- bad input ------------------------------------------------------------------------------------------

def test_bad_concat_requests(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    done = partial(client, auth, 10)
    send_all(client, auth, done, b"0123456789", 10)
    normal = client.post(ENDPOINT, headers={**auth, **TUS, "Upload-Length": "10",
                                            "Upload-Metadata": meta(work_id=str(work_id))})
    normal_id = normal.headers["location"].rsplit("/", 1)[-1]
    other = {"Authorization": f"Bearer {token_for(client, 'demo-coordinator')}"}
    foreign = partial(client, other, 10)
    w = {"work_id": str(work_id)}
    cases: list[tuple[dict[str, str], int, str]] = [
        ({"Upload-Concat": "whole"}, 400, "invalid_upload_concat"),
        ({"Upload-Concat": "final;"}, 400, "invalid_upload_concat"),
        ({"Upload-Concat": f"final;{ENDPOINT}/{done} {ENDPOINT}/{done}"}, 400, "invalid_upload_concat"),
        ({"Upload-Concat": f"final;https://elsewhere.example/files/{done}"}, 400, "invalid_upload_concat"),
        ({"Upload-Concat": f"final;{ENDPOINT}/nope"}, 404, "concat_partial_not_found"),
        ({"Upload-Concat": f"final;{ENDPOINT}/{foreign}"}, 404, "concat_partial_not_found"),
        ({"Upload-Concat": f"final;{ENDPOINT}/{normal_id}"}, 400, "concat_not_partial"),
        ({"Upload-Concat": f"final;http://testserver{ENDPOINT}/{done}"}, 400, "work_id_required"),
    ]
    for headers, status, code in cases:
        with_work = {} if code == "work_id_required" else {"Upload-Metadata": meta(**w)}
        response = client.post(ENDPOINT, headers={**auth, **TUS, **with_work, **headers})
        assert (response.status_code, response.json()["code"]) == (status, code), headers
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["tus-resumable"] == "1.0.0"
    # Someone else's work, and a work that is not the partials'.
    response = final(client, other, [foreign], work_id=str(work_id))
    assert (response.status_code, response.json()["code"]) == (404, "work_not_found")
    other_work = new_work(client, auth, "另一个作品")
    tagged = partial(client, auth, 10, work_id=str(other_work))
    response = final(client, auth, [tagged], work_id=str(work_id))
    assert (response.status_code, response.json()["code"]) == (400, "concat_work_mismatch")
    # A final carries no data.
    response = client.post(ENDPOINT, content=b"abc", headers={
        **auth, **TUS, "Content-Type": OCTET, "Upload-Concat": f"final;{ENDPOINT}/{done}",
        "Upload-Metadata": meta(**w)})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_upload_concat")
    # A final's URL is not a partial; a terminated partial is gone.
    final_id = final_id_of(final(client, auth, [done], **w))
    response = final(client, auth, [final_id], **w)
    assert (response.status_code, response.json()["code"]) == (400, "concat_not_partial")
    dropped = partial(client, auth, 10)
    assert client.delete(f"{ENDPOINT}/{dropped}", headers={**auth, **TUS}).status_code == 204
    response = final(client, auth, [dropped], **w)
    assert (response.status_code, response.json()["code"]) == (410, "concat_partial_gone")
    # A partial joins one file only.
    response = final(client, auth, [done, partial(client, auth, 5)], **w)
    assert (response.status_code, response.json()["code"]) == (409, "concat_partial_used")
    with session_scope() as session:
        assert len(list(session.exec(select(WorkVersion)))) == 1


def test_size_limit_applies_to_the_sum_of_the_partials(client: Any, auth: dict[str, str]) -> None:
    limit = 64 * 1024
    set_campaign(max_size_bytes=limit)
    work_id = new_work(client, auth)
    over = client.post(ENDPOINT, headers={**auth, **TUS, "Upload-Length": str(limit + 1), "Upload-Concat": "partial"})
    assert (over.status_code, over.json()["code"]) == (413, "too_large")
    halves = [partial(client, auth, limit // 2), partial(client, auth, limit // 2 + 1)]
    data = payload(limit + 1, seed=25)
    send_all(client, auth, halves[0], data[: limit // 2], limit)
    send_all(client, auth, halves[1], data[limit // 2:], limit)
    response = final(client, auth, halves, work_id=str(work_id))
    assert (response.status_code, response.json()["code"]) == (413, "too_large")
    assert_partials_freed(halves)  # nothing of a file over the limit stays stored
    assert all(row(i).status == UploadStatus.terminated for i in halves)
    # Declared pieces summing over the limit are refused before a byte is sent, too.
    fresh = [partial(client, auth, limit // 2), partial(client, auth, limit // 2 + 1)]
    assert final(client, auth, fresh, work_id=str(work_id)).status_code == 413
    with session_scope() as session:
        assert session.exec(select(WorkVersion)).first() is None
        assert not [u for u in session.exec(select(Upload)) if u.concat == "final"]


def test_terminating_a_partial_ends_its_unfinished_final(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    ids = [partial(client, auth, 6 * MIB), partial(client, auth, 6 * MIB)]
    final_id = final_id_of(final(client, auth, ids, work_id=str(work_id)))
    assert patch(client, auth, ids[0], 0, payload(6 * MIB)).status_code == 204
    key = row(final_id).object_key
    assert multipart_keys(key) == [key]
    assert client.delete(f"{ENDPOINT}/{ids[1]}", headers={**auth, **TUS}).status_code == 204
    assert multipart_keys(key) == [] and get_store().head(key) is None
    assert {row(i).status for i in [*ids, final_id]} == {UploadStatus.terminated}
    assert head(client, auth, final_id).status_code == 410


def test_grace_period_applies_from_the_first_partial(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    ids = [partial(client, auth, 10)]
    send_all(client, auth, ids[0], b"0123456789", 10)
    with session_scope() as session:
        session.execute(update(Upload).values(created_at=utcnow() - timedelta(minutes=5)))
    set_campaign(submission_deadline=utcnow() - timedelta(minutes=1), upload_grace_minutes=30)
    late = client.post(ENDPOINT, headers={**auth, **TUS, "Upload-Length": "10", "Upload-Concat": "partial"})
    assert (late.status_code, late.json()["code"]) == (409, "deadline_passed")
    set_campaign(submission_deadline=utcnow() - timedelta(minutes=31))
    response = final(client, auth, ids, work_id=str(work_id))
    assert (response.status_code, response.json()["code"]) == (409, "deadline_passed")
    set_campaign(submission_deadline=utcnow() - timedelta(minutes=1))
    assert final(client, auth, ids, work_id=str(work_id)).status_code == 201


# -- expiry ---------------------------------------------------------------------------------------------

def test_orphan_partials_and_abandoned_finals_expire(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    store = get_store()
    receiving = partial(client, auth, 20 * MIB)
    assert patch(client, auth, receiving, 0, payload(9 * MIB)).status_code == 204  # a part and a tail
    finished = partial(client, auth, 100)
    send_all(client, auth, finished, payload(100), 100)
    straight = [partial(client, auth, 6 * MIB), partial(client, auth, 10)]
    final_id = final_id_of(final(client, auth, straight, work_id=str(work_id)))
    assert patch(client, auth, straight[0], 0, payload(6 * MIB)).status_code == 204
    final_key = row(final_id).object_key
    assert multipart_keys(partial_key_for(receiving)) == [partial_key_for(receiving)]
    assert tails(receiving) and store.head(partial_key_for(finished)) is not None
    assert multipart_keys(final_key) == [final_key]
    fresh = partial(client, auth, 100)

    with session_scope() as session:
        assert cleanup_expired_uploads(session, utcnow()) == 0  # nothing is old yet
        past = utcnow() - timedelta(minutes=1)
        session.execute(update(Upload).where(col(Upload.id).in_([receiving, finished, final_id, *straight]))
                        .values(expires_at=past))
    assert head(client, auth, finished).status_code == 410
    assert (final(client, auth, [finished], work_id=str(work_id)).json()["code"]) == "concat_partial_gone"
    with session_scope() as session:
        assert cleanup_expired_uploads(session, utcnow()) == 3  # two orphans and one final with its pieces
    assert_partials_freed([receiving, finished, *straight])
    assert multipart_keys(final_key) == [] and store.head(final_key) is None
    assert {row(i).status for i in [receiving, finished, final_id, *straight]} == {UploadStatus.expired}
    assert row(fresh).status == UploadStatus.receiving
    with session_scope() as session:
        assert cleanup_expired_uploads(session, utcnow()) == 0


def test_a_final_waits_while_one_of_its_partials_is_still_being_sent(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    ids = [partial(client, auth, 6 * MIB), partial(client, auth, 6 * MIB)]
    final_id = final_id_of(final(client, auth, ids, work_id=str(work_id)))
    with session_scope() as session:
        session.execute(update(Upload).where(col(Upload.id).in_([final_id, ids[0]]))
                        .values(expires_at=utcnow() - timedelta(minutes=1)))
        assert cleanup_expired_uploads(session, utcnow()) == 0
    assert row(final_id).status == UploadStatus.receiving


# -- several API processes and real clients -------------------------------------------------------------

def test_parallel_partials_across_two_processes_and_duplicate_finals(
    two_servers: tuple[LiveServer, LiveServer], tmp_path: Path
) -> None:
    a, b = two_servers
    data = payload(26 * MIB + 11, seed=26)
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    with httpx.Client(base_url=a.url, timeout=120) as http_a, httpx.Client(base_url=b.url, timeout=120) as http_b:
        auth = {"Authorization": f"Bearer {token_for(http_a, 'demo-submitter')}"}
        work_id = new_work(http_a, auth)
        # Straight mode, partials started on one process and continued on the other, chunk by chunk.
        ranges = tus_client.split(len(data), 3, 8 * MIB)
        ids = [partial(http_a, auth, end - start) for start, end in ranges]
        final_id = final_id_of(final(http_b, auth, ids, work_id=str(work_id), filename="clip.mp4"))

        def send_alternating(upload_id: str, start: int, end: int) -> None:
            offset, step = 0, 3 * MIB
            for turn in range(1000):
                if start + offset >= end:
                    return
                http = (http_a, http_b)[turn % 2]
                response = patch(http, auth, upload_id, offset, data[start + offset:min(end, start + offset + step)])
                assert response.status_code == 204, response.text
                offset = int(response.headers["upload-offset"])

        threads = [threading.Thread(target=send_alternating, args=(upload_id, start, end))
                   for upload_id, (start, end) in zip(ids, ranges, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert_completed_once(final_id, data)

        # Copy mode: complete partials, then four identical finals at once on both processes.
        second = new_work(http_a, auth, "第二个")
        ranges = tus_client.split(len(data), 3, 5 * MIB)
        racing = [partial(http_a, auth, end - start) for start, end in ranges]
        for upload_id, (start, end) in zip(racing, ranges, strict=True):
            send_all(http_b, auth, upload_id, data[start:end], 5 * MIB)
    get_queue(VALIDATE).empty()  # type: ignore[no-untyped-call]  # rq's Queue.empty is untyped
    answers: list[tuple[int, str]] = []
    barrier = threading.Barrier(4)

    def race(server: LiveServer) -> None:
        with httpx.Client(base_url=server.url, timeout=120) as own:
            barrier.wait()
            response = final(own, auth, racing, work_id=str(second))
            answers.append((response.status_code, response.headers.get("location", response.text)))

    threads = [threading.Thread(target=race, args=(server,)) for server in (a, b, a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    created = {location.rsplit("/", 1)[-1] for status, location in answers if status == 201}
    assert len(created) == 1 and {status for status, _ in answers} <= {201, 423}, answers
    assert_completed_once(created.pop(), data)
    with session_scope() as session:
        finals = [u for u in session.exec(select(Upload)) if u.concat == "final" and u.partial_ids == racing]
    assert len(finals) == 1


NODE_CLIENT = r"""
const tus = require(process.argv[2]);
const fs = require('fs');
const [file, endpoint, token, workId] = process.argv.slice(3);
const upload = new tus.Upload(fs.readFileSync(file), {
  endpoint, chunkSize: 3 * 1024 * 1024, parallelUploads: 3, retryDelays: null,
  headers: { Authorization: `Bearer ${token}` },
  metadata: { work_id: workId, filename: 'node.mp4' },
  onError: (error) => { console.error(String(error)); process.exit(1); },
  onSuccess: () => { console.log(JSON.stringify({ url: upload.url })); },
});
upload.start();
"""


@pytest.mark.skipif(shutil.which("node") is None or not (ROOT / "node_modules" / "tus-js-client").exists(),
                    reason="node or tus-js-client is not installed (npm ci)")
def test_tus_js_client_parallel_uploads(two_servers: tuple[LiveServer, LiveServer], tmp_path: Path) -> None:
    server = two_servers[0]
    data = payload(17 * MIB + 5, seed=27)
    path = tmp_path / "node.mp4"
    path.write_bytes(data)
    script = tmp_path / "upload.cjs"
    script.write_text(NODE_CLIENT)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        token = token_for(http, "demo-submitter")
        work_id = new_work(http, {"Authorization": f"Bearer {token}"})
    done = subprocess.run(
        ["node", str(script), str(ROOT / "node_modules" / "tus-js-client"), str(path),
         f"{server.url}{ENDPOINT}", token, str(work_id)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    final_id = json.loads(done.stdout)["url"].rsplit("/", 1)[-1]
    version = assert_completed_once(final_id, data)
    assert version.original_filename == "node.mp4"
    assert len(row(final_id).partial_ids) == 3
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()


NODE_PAGE_CLIENT = r"""
import { createRequire } from 'node:module';
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
const [tusPath, planPath, file, endpoint, token, workId, partSize] = process.argv.slice(2);
const tus = createRequire(import.meta.url)(tusPath);
const { planPieces, layoutMetadata } = await import(pathToFileURL(planPath).href);
const sizes = [];
for (let size = 1; size < 400 * 1048576; size += 1048573) sizes.push(size);
for (let parts = 1; parts <= 50; parts++) sizes.push(parts * Number(partSize), parts * Number(partSize) + 1);
const check = sizes.map((size) => [size, planPieces(size, 4, Number(partSize))]);
const data = fs.readFileSync(file);
const pieces = planPieces(data.length, 4, Number(partSize));
const upload = new tus.Upload(data, {
  endpoint, chunkSize: Number(partSize), parallelUploads: pieces.length, parallelUploadBoundaries: pieces,
  retryDelays: null, headers: { Authorization: `Bearer ${token}` },
  metadata: { work_id: workId, filename: 'page.mp4' },
  metadataForPartialUploads: { work_id: workId, filename: 'page.mp4', ...layoutMetadata(pieces) },
  onError: (error) => { console.error(String(error)); process.exit(1); },
  onSuccess: () => { console.log(JSON.stringify({ url: upload.url, pieces, check })); },
});
upload.start();
"""


@pytest.mark.skipif(shutil.which("node") is None or not (ROOT / "node_modules" / "tus-js-client").exists(),
                    reason="node or tus-js-client is not installed (npm ci)")
def test_the_web_pages_pieces_go_straight_into_the_final(
    two_servers: tuple[LiveServer, LiveServer], tmp_path: Path
) -> None:
    """tus-js-client with the web page's own split (review_ui/assets/concat_plan.js): no copy."""
    server, part_size = two_servers[0], get_store().part_size
    data = payload(5 * part_size + 12345, seed=35)
    path = tmp_path / "page.mp4"
    path.write_bytes(data)
    script = tmp_path / "upload.mjs"
    script.write_text(NODE_PAGE_CLIENT)
    plan = tmp_path / "concat_plan.mjs"  # the page's module as it is (ES module syntax in a .js file)
    shutil.copyfile(ROOT / "review_ui" / "assets" / "concat_plan.js", plan)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        token = token_for(http, "demo-submitter")
        work_id = new_work(http, {"Authorization": f"Bearer {token}"})
    done = subprocess.run(
        ["node", str(script), str(ROOT / "node_modules" / "tus-js-client"), str(plan), str(path),
         f"{server.url}{ENDPOINT}", token, str(work_id), str(part_size)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    final_id = answer["url"].rsplit("/", 1)[-1]
    assert assert_completed_once(final_id, data).original_filename == "page.mp4"
    final_row = row(final_id)
    assert final_row.concat_group is not None and final_row.part_base == 0
    assert len(final_row.partial_ids) == len(answer["pieces"]) == 3
    assert_partials_freed(final_row.partial_ids)
    # The split for every size up to 400 MiB: whole parts but the last, no two alike, the whole file.
    for size, pieces in answer["check"]:
        if pieces is None:
            assert size < 3 * part_size
            continue
        lengths = [p["end"] - p["start"] for p in pieces]
        assert pieces[0]["start"] == 0 and pieces[-1]["end"] == size and len(set(lengths)) == len(lengths)
        assert all(n % part_size == 0 for n in lengths[:-1]) and lengths[-1] > 0 and 2 <= len(pieces) <= 4
        assert all(a["end"] == b["start"] for a, b in itertools.pairwise(pieces))
        assert len(pieces) == 4 or size < 10 * part_size
        # Balanced: within 3 parts; 5 for an exact number of parts (the rest needs another base).
        assert max(lengths) - min(lengths) <= (3 if size % part_size else 5) * part_size


def test_declared_split_of_the_script_client() -> None:
    align = 8 * MIB
    exact = [n * align + extra for n in range(1, 51) for extra in (0, 1)]
    for size in [*range(1, 400 * MIB, 1_048_573), *exact]:
        ranges = tus_client.declared_split(size, 4, align)
        if ranges is None:
            assert size < 3 * align
            continue
        lengths = [end - start for start, end in ranges]
        assert ranges[0][0] == 0 and ranges[-1][1] == size and len(set(lengths)) == len(lengths)
        assert all(n % align == 0 for n in lengths[:-1]) and lengths[-1] > 0
        assert len(ranges) == 4 or size < 10 * align
        assert max(lengths) - min(lengths) <= (3 if size % align else 5) * align  # balanced enough
