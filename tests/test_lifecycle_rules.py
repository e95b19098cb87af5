"""The work lifecycle's rules end to end: the grace period, a submit raced on two API processes, the audit
log of a whole lifecycle, and uploads refused or finishing late around a good or submitted version.

Real services throughout (SQLite/PostgreSQL, Redis, SeaweedFS, ffmpeg); the clock is real, so the
campaign's deadline is moved in the database, as the other deadline tests do.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update
from sqlmodel import col, select

from clipjury.audit.models import AuditEvent
from clipjury.db import session_scope
from clipjury.jobs import VALIDATE, get_queue, get_redis
from clipjury.timeutil import utcnow
from clipjury.uploads.locks import lock_key
from clipjury.uploads.models import Upload, UploadStatus
from clipjury.works.models import Work, WorkVersion
from storage import get_store
from tests import media
from tests.conftest import run_jobs
from tests.test_uploads import create, head, meta, patch, payload
from tests.test_validation import CJK, add_file, new_work, set_campaign

# -- helpers --------------------------------------------------------------------------------------

def work_row(work_id: int) -> Work:
    with session_scope() as session:
        work = session.get(Work, work_id)
        assert work is not None
        return work


def versions_of(work_id: int) -> list[int]:
    with session_scope() as session:
        return [v.id or 0 for v in session.exec(
            select(WorkVersion).where(WorkVersion.work_id == work_id).order_by(col(WorkVersion.id)))]


def audit_of(work_id: int) -> list[AuditEvent]:
    with session_scope() as session:
        return list(
            session.exec(select(AuditEvent).where(AuditEvent.work_id == work_id).order_by(col(AuditEvent.id)))
        )


def put_video(client: Any, auth: dict[str, str], work_id: int, data: bytes, filename: str = "作品.mp4") -> Any:
    return client.put(f"/api/v1/works/{work_id}/video", params={"filename": filename}, content=data, headers=auth)


def ready_work(client: Any, auth: dict[str, str], title: str = "已就绪") -> tuple[int, int]:
    """A work with one good version uploaded through the API and validated: (work id, version id)."""
    work_id = new_work(client, auth, title)
    assert put_video(client, auth, work_id, media.valid_mp4().read_bytes()).status_code == 202
    run_jobs()
    work = work_row(work_id)
    assert work.status == "ready" and work.current_version_id is not None
    return work_id, work.current_version_id


# -- the grace period -------------------------------------------------------------------------------

def test_grace_period_end_to_end(client: Any, auth: Any, demo: Any) -> None:
    """Started before the deadline, finished after it within the grace: ready and submittable, marked as
    grace; the same work once the grace is over is refused; a file started after the deadline is refused."""
    data = media.valid_mp4().read_bytes()
    half = len(data) // 2
    early = new_work(client, auth, "截止前开始上传")
    late = new_work(client, auth, "截止后开始上传")
    upload_id = create(client, auth, early, len(data))
    assert patch(client, auth, upload_id, 0, data[:half]).status_code == 204
    assert put_video(client, auth, late, data).status_code == 202  # starts (and ends) now
    # The early upload began an hour ago; the deadline passed a minute ago, the 30-minute grace runs.
    with session_scope() as session:
        session.execute(update(Upload).where(col(Upload.id) == upload_id)
                        .values(created_at=utcnow() - timedelta(minutes=60)))
    set_campaign(submission_deadline=utcnow() - timedelta(minutes=1), upload_grace_minutes=30)
    finished = patch(client, auth, upload_id, half, data[half:])
    assert finished.status_code == 204, finished.text
    assert finished.headers["upload-offset"] == str(len(data))
    run_jobs()
    assert client.get(f"/api/v1/works/{early}", headers=auth).json()["status"] == "ready"
    assert client.get(f"/api/v1/works/{late}", headers=auth).json()["status"] == "ready"

    # Past the grace (it ended a minute ago), the early work is refused although its upload began in time.
    set_campaign(submission_deadline=utcnow() - timedelta(minutes=31))
    over = client.post(f"/api/v1/works/{early}/submit", headers=auth)
    assert over.status_code == 409 and over.json()["code"] == "deadline_passed", over.text
    assert CJK.search(over.json()["detail"])
    assert work_row(early).status == "ready" and work_row(early).submitted_at is None

    # Within the grace again: the early work goes in, marked as a grace submission.
    set_campaign(submission_deadline=utcnow() - timedelta(minutes=1))
    before = utcnow()
    accepted = client.post(f"/api/v1/works/{early}/submit", headers=auth)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "submitted" and accepted.json()["submitted_at"]
    row = work_row(early)
    assert row.submitted_at is not None and before - timedelta(seconds=1) <= row.submitted_at <= utcnow()
    assert row.submitted_version_id == row.current_version_id
    submits = [e for e in audit_of(early) if e.action == "submit"]
    assert [(e.actor_name, e.from_status, e.to_status, e.reason) for e in submits] == [
        ("demo-submitter", "ready", "submitted", "grace_period")
    ]
    assert submits[0].data["version_id"] == row.submitted_version_id

    # The late work's file began after the deadline: the grace is not for it. The deadline is put just
    # before that start, not "a minute ago": on a loaded machine more than a minute may have passed since.
    with session_scope() as session:
        late_version = session.get(WorkVersion, work_row(late).current_version_id)
        assert late_version is not None
        late_started = late_version.upload_started_at
    set_campaign(submission_deadline=late_started - timedelta(seconds=1))
    refused = client.post(f"/api/v1/works/{late}/submit", headers=auth)
    assert refused.status_code == 409 and refused.json()["code"] == "deadline_passed", refused.text
    assert work_row(late).status == "ready" and work_row(late).submitted_at is None
    assert [e for e in audit_of(late) if e.action == "submit"] == []


# -- submitting twice at once, on two processes ------------------------------------------------------

def submit_together(
    clients: list[httpx.Client], work_id: int, auth: dict[str, str]
) -> tuple[list[Any], list[tuple[float, float]]]:
    """One submit per client, released by a barrier; the answers and each request's (start, end)."""
    barrier = threading.Barrier(len(clients))
    results: list[Any] = [None] * len(clients)
    spans = [(0.0, 0.0)] * len(clients)

    def fire(i: int) -> None:
        barrier.wait()
        start = time.monotonic()
        results[i] = clients[i].post(f"/api/v1/works/{work_id}/submit", headers=auth)
        spans[i] = (start, time.monotonic())

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, spans


def test_submit_twice_at_once_on_two_processes(client: Any, auth: Any, two_servers: Any) -> None:
    """Two API processes each get one submit of the same work, released together by a barrier over
    warm connections, several times on fresh works: exactly one wins every time."""
    rounds = 6
    works = [new_work(client, auth, f"并发提交 {i}") for i in range(rounds)]
    for work_id in works:
        add_file(work_id, media.branded_mp4("isom"))  # the tiniest valid file: quick to validate
    run_jobs()
    clients = [httpx.Client(base_url=server.url, timeout=30) for server in two_servers]
    overlapped = raced = 0
    try:
        for work_id in works:
            for c in clients:  # opens each connection and loads each process before the race
                assert c.get(f"/api/v1/works/{work_id}", headers=auth).json()["status"] == "ready"
            results, spans = submit_together(clients, work_id, auth)
            overlapped += spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]
            statuses = sorted(r.status_code for r in results)
            assert statuses == [200, 409], (work_id, [r.text for r in results])
            winner = next(r for r in results if r.status_code == 200)
            loser = next(r for r in results if r.status_code == 409)
            assert loser.json()["code"] == "already_submitted", loser.text
            # The pre-check answers "作品已经提交过了"; this message comes from losing the compare-and-set,
            # i.e. this process too had read the work as ready: the two submits really raced.
            raced += "已被提交或状态已改变" in loser.json()["detail"]
            assert loser.headers["content-type"].startswith("application/problem+json")
            row = work_row(work_id)
            assert row.status == "submitted" and row.submitted_at is not None
            assert winner.json()["submitted_at"] == client.get(
                f"/api/v1/works/{work_id}", headers=auth).json()["submitted_at"]
            submits = [e for e in audit_of(work_id) if e.action == "submit"]
            assert len(submits) == 1 and (submits[0].from_status, submits[0].to_status) == ("ready", "submitted")
            assert row.review_rev == 1  # bumped once, by the one submit
    finally:
        for c in clients:
            c.close()
    assert overlapped == rounds  # the two requests were in flight together every time
    assert raced >= 1, "no round got both submits past the status check: the race was not forced"


# -- the audit log ----------------------------------------------------------------------------------

def test_audit_log_of_a_whole_lifecycle(client: Any, auth: Any, demo: Any) -> None:
    """create → upload → (processing) → verdict ready → submit → withdraw → a rejected re-upload."""
    good = media.valid_mp4().read_bytes()
    work_id = new_work(client, auth, "审计全程")
    assert put_video(client, auth, work_id, good, "好的.mp4").status_code == 202
    assert client.get(f"/api/v1/works/{work_id}", headers=auth).json()["status"] == "processing"
    run_jobs()
    assert client.post(f"/api/v1/works/{work_id}/submit", headers=auth).status_code == 200
    withdrawn = client.post(f"/api/v1/works/{work_id}/withdraw", headers=auth, json={"reason": "换一个版本"})
    assert withdrawn.status_code == 200, withdrawn.text
    bad = media.truncated_mp4(0.6).read_bytes()
    assert put_video(client, auth, work_id, bad, "坏的.mp4").status_code == 202
    run_jobs()
    body = client.get(f"/api/v1/works/{work_id}", headers=auth).json()
    assert body["status"] == "ready" and body["rejection"]["code"] == "corrupt"
    first, second = versions_of(work_id)
    assert work_row(work_id).current_version_id == first and work_row(work_id).latest_version_id == second

    submitter = demo["demo-submitter"]
    events = audit_of(work_id)
    assert [(e.action, e.actor_name, e.actor_id, e.from_status, e.to_status, e.reason) for e in events] == [
        ("create", "demo-submitter", submitter, None, "draft", ""),
        ("upload", "demo-submitter", submitter, "draft", "processing", ""),
        ("verdict", "system", None, "processing", "ready", "ready"),
        ("submit", "demo-submitter", submitter, "ready", "submitted", ""),
        ("withdraw", "demo-submitter", submitter, "submitted", "ready", "换一个版本"),
        ("upload", "demo-submitter", submitter, "ready", "processing", ""),
        ("verdict", "system", None, "processing", "ready", "corrupt"),
    ]
    create_, up1, ok, submit, _withdraw, up2, rejected = events
    assert up1.data["version_id"] == first and up1.data["size_bytes"] == len(good)
    assert up1.data["filename"] == "好的.mp4"
    assert ok.data["version_id"] == first
    with session_scope() as session:
        sha = session.get(WorkVersion, first).sha256  # type: ignore[union-attr]  # the row exists: the test made it
    assert submit.data == {"version_id": first, "sha256": sha} and sha
    assert up2.data["version_id"] == second and up2.data["filename"] == "坏的.mp4"
    assert rejected.data["version_id"] == second
    assert create_.province_id is not None and {e.province_id for e in events} == {create_.province_id}
    assert all(a.at <= b.at for a, b in itertools.pairwise(events))

    # The submitter reads the same trail through the API.
    shown = client.get(f"/api/v1/works/{work_id}/events", headers=auth).json()
    assert [(e["action"], e["by"], e["from_status"], e["to_status"], e["reason"]) for e in shown] == [
        (e.action, e.actor_name, e.from_status, e.to_status, e.reason) for e in events
    ]


def test_refused_uploads_leave_the_ready_work_as_it_was(client: Any, auth: Any) -> None:
    """Over the size limit (declared or not) or past the declared tus length: 413, and the work stays
    ready with its good version, no new version, no job, nothing in the audit log."""
    work_id, good = ready_work(client, auth)
    limit = media.valid_mp4().stat().st_size + 1024
    set_campaign(max_size_bytes=limit)
    events_before = [e.id for e in audit_of(work_id)]
    over = payload(limit + 1)

    declared = put_video(client, auth, work_id, over)
    assert declared.status_code == 413 and declared.json()["code"] == "too_large"
    undeclared = client.put(f"/api/v1/works/{work_id}/video", headers=auth,
                            content=(over[i:i + 4096] for i in range(0, len(over), 4096)))
    assert undeclared.status_code == 413 and undeclared.json()["code"] == "too_large"
    tus_over = client.post("/api/v1/uploads", headers={**auth, "Tus-Resumable": "1.0.0",
                                                        "Upload-Length": str(limit + 1),
                                                        "Upload-Metadata": meta(work_id=str(work_id))})
    assert tus_over.status_code == 413 and tus_over.json()["code"] == "too_large"
    upload_id = create(client, auth, work_id, 1000)
    lying = patch(client, auth, upload_id, 0, payload(1001))
    assert lying.status_code == 413 and lying.json()["code"] == "upload_length_exceeded"

    body = client.get(f"/api/v1/works/{work_id}", headers=auth).json()
    assert body["status"] == "ready" and body["rejection"] is None, body
    assert body["media"]["size_bytes"] == media.valid_mp4().stat().st_size
    row = work_row(work_id)
    assert (row.current_version_id, row.latest_version_id, row.pending_version_id) == (good, good, None)
    assert versions_of(work_id) == [good]
    assert [e.id for e in audit_of(work_id)] == events_before
    assert get_queue(VALIDATE).get_job_ids() == []
    submitted = client.post(f"/api/v1/works/{work_id}/submit", headers=auth)
    assert submitted.status_code == 200 and work_row(work_id).submitted_version_id == good


def test_an_upload_finishing_after_the_submit_leaves_the_submitted_version(
    client: Any, auth: Any, live_server: Any
) -> None:
    """An upload whose last bytes arrive after the work was submitted: its final request is answered
    409 already_submitted, the file is dropped (upload terminated, object deleted, no version, no job),
    and the work keeps its submitted version. Both ways: bytes sent after the submit are refused at
    once; a final request already streaming when the submit lands is refused at completion."""
    work_id, good = ready_work(client, auth)
    new = media.faststart_mp4().read_bytes()
    half = len(new) // 2
    streaming = create(client, auth, work_id, len(new))
    waiting = create(client, auth, work_id, len(new))
    for upload_id in (streaming, waiting):
        assert patch(client, auth, upload_id, 0, new[:half]).status_code == 204

    release = threading.Event()

    def slow_rest() -> Iterator[bytes]:
        yield new[half:half + 1000]
        release.wait(30)
        yield new[half + 1000:]

    answers: dict[str, Any] = {}

    def send() -> None:
        with httpx.Client(base_url=live_server.url, timeout=60) as live:
            answers["final"] = patch(live, auth, streaming, half, slow_rest(),
                                     **{"Content-Length": str(len(new) - half)})

    sender = threading.Thread(target=send)
    sender.start()
    try:
        # The final request holds the upload's lock once its checks begin; give them time to pass.
        deadline = time.monotonic() + 20
        while not get_redis().exists(lock_key(streaming)):
            assert time.monotonic() < deadline, "the final request never took the upload's lock"
            time.sleep(0.02)
        time.sleep(0.5)
        submitted = client.post(f"/api/v1/works/{work_id}/submit", headers=auth)
        assert submitted.status_code == 200, submitted.text
    finally:
        release.set()
        sender.join(60)
    final = answers["final"]
    assert final.status_code == 409 and final.json()["code"] == "already_submitted", final.text

    late = patch(client, auth, waiting, half, new[half:])
    assert late.status_code == 409 and late.json()["code"] == "already_submitted", late.text
    assert head(client, auth, waiting).headers["upload-offset"] == str(half)  # nothing more was kept

    row = work_row(work_id)
    assert row.status == "submitted" and row.submitted_version_id == good
    assert (row.current_version_id, row.latest_version_id, row.pending_version_id) == (good, good, None)
    assert versions_of(work_id) == [good]
    assert get_queue(VALIDATE).get_job_ids() == []
    with session_scope() as session:
        dropped = session.get(Upload, streaming)
        assert dropped is not None and dropped.status == UploadStatus.terminated and dropped.version_id is None
        key = dropped.object_key
    assert get_store().head(key) is None
    assert [key for key, _ in get_store().list_multipart_uploads(prefix=key)] == []
    assert [e.action for e in audit_of(work_id)][-1] == "submit"
    body = client.get(f"/api/v1/works/{work_id}", headers=auth).json()
    assert body["status"] == "submitted" and body["media"]["size_bytes"] == media.valid_mp4().stat().st_size
