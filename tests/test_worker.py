"""The worker process: it validates, survives being killed mid-job, and its jobs are idempotent."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from clipjury import devservices
from tests import media
from tests.conftest import run_jobs, start_worker
from tests.test_validation import add_file, new_work, version_row


def wait_for(predicate: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (rq's work horse sits in a process group of its own)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL the worker, its horse and their ffmpeg children at once, as the OOM killer or a crash would."""
    tree = [pid, *descendants(pid)]
    groups = {os.getpgid(p) for p in tree if _alive(p)}
    for group in groups:
        if group != os.getpgid(0):
            os.killpg(group, signal.SIGKILL)
    for p in tree:
        if _alive(p):
            os.kill(p, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_worker_process_validates(client, auth) -> None:  # type: ignore[no-untyped-def]
    work_id = new_work(client, auth)
    version_id = add_file(work_id, media.valid_mp4())
    worker = start_worker("test-validates")
    try:
        wait_for(lambda: version_row(version_id).poster_key, 60, "verdict and poster")
    finally:
        devservices.stop(worker)  # SIGTERM: a warm shutdown
    assert worker.returncode == 0
    body = client.get(f"/api/v1/works/{work_id}", headers=auth).json()
    assert body["status"] == "ready" and body["media"]["duration_s"] > 1.9


def test_worker_killed_mid_job_still_reaches_a_verdict(client, auth) -> None:  # type: ignore[no-untyped-def]
    path = media.slow_mp4()
    work_id = new_work(client, auth)
    version_id = add_file(work_id, path)
    fast = {"CLIPJURY_JOB_HEARTBEAT_S": "1", "CLIPJURY_JOB_STALE_AFTER_S": "4",
            "CLIPJURY_WORKER_MAINTENANCE_INTERVAL_S": "2"}
    first = start_worker("test-doomed", fast)
    try:
        wait_for(lambda: version_row(version_id).heartbeat_at, 60, "the job to start")
        time.sleep(0.5)  # well inside the download or the decode
        assert version_row(version_id).status == "processing", "the file is too quick to kill mid-job"
        kill_tree(first.pid)
        first.wait(10)
    finally:
        if first.poll() is None:
            kill_tree(first.pid)
    assert version_row(version_id).status == "processing"

    second = start_worker("test-rescuer", fast)
    try:
        row = wait_for(
            lambda: (r := version_row(version_id)).status != "processing" and r, 120, "the rescued verdict"
        )
    finally:
        devservices.stop(second)
    assert row.status == "ready", (row.rejection_code, row.warnings)
    assert row.attempts == 2


def test_validate_twice_records_one_verdict(client, auth) -> None:  # type: ignore[no-untyped-def]
    from clipjury.audit.models import AuditEvent
    from clipjury.db import session_scope
    from workers.tasks import validate_version

    work_id = new_work(client, auth)
    version_id = add_file(work_id, media.valid_mp4())
    assert validate_version(version_id) == "ready"
    first = version_row(version_id)
    assert validate_version(version_id) == "noop"
    run_jobs()  # the queued copy of the job, and the poster job
    again = version_row(version_id)
    assert again.validated_at == first.validated_at and again.attempts == 1
    with session_scope() as session:
        verdicts = session.exec(
            select(AuditEvent).where(AuditEvent.work_id == work_id, AuditEvent.action == "verdict")
        ).all()
        assert len(verdicts) == 1


def test_sweep_gives_up_on_a_file_that_keeps_killing_workers(client, auth) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from clipjury.db import session_scope
    from clipjury.jobs import get_redis
    from clipjury.settings import get_settings
    from clipjury.timeutil import utcnow
    from clipjury.works.models import WorkVersion
    from workers.tasks import sweep

    work_id = new_work(client, auth)
    version_id = add_file(work_id, media.valid_mp4())
    get_redis().flushdb()  # the job never reached Redis (or Redis lost it)
    settings = get_settings()
    report = sweep(utcnow() + timedelta(seconds=settings.job_stale_after_s + 1))
    assert report.resent == [version_id] and report.gave_up == []
    run_jobs()
    assert version_row(version_id).status == "ready"

    # A version that has already crashed its workers job_max_attempts times is refused, not re-run forever.
    second = add_file(work_id, media.valid_mp4())
    get_redis().flushdb()
    with session_scope() as session:
        session.execute(
            update(WorkVersion).where(col(WorkVersion.id) == second).values(attempts=settings.job_max_attempts)
        )
    report = sweep(utcnow() + timedelta(seconds=settings.job_stale_after_s + 1))
    assert report.gave_up == [second]
    row = version_row(second)
    assert row.status == "rejected" and row.rejection_code == "corrupt" and "worker_gave_up" in row.warnings
    body = client.get(f"/api/v1/works/{work_id}", headers=auth).json()
    assert body["status"] == "ready"  # the earlier good file stays submittable
