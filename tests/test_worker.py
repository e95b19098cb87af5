"""The worker process: it validates, survives being killed mid-job, and its jobs are idempotent."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from tests import media
from tests.conftest import DATABASE_URL, PG_TEST_DB, TEST_DB, TEST_ENV, run_jobs, start_worker
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


# How long a SIGTERMed worker may take to exit: its grace (set to 0 below) plus teardown on a loaded
# 2-core machine. A bound on an event, not a speed assertion: a healthy worker exits in a second or two.
# rq's pubsub thread used to hold a warm shutdown for up to 60 s (see ClipjuryWorker.subscribe).
SHUTDOWN_BOUND_S = 45


def stop_worker(worker: Any) -> int:
    """SIGTERM (a warm shutdown) and the real exit code; a worker that ignores it fails the test."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
    try:
        return int(worker.wait(SHUTDOWN_BOUND_S))
    except Exception:
        left = [(p, process_state(p), command_of(p)) for p in [worker.pid, *descendants(worker.pid)]]
        os.kill(worker.pid, signal.SIGUSR1)  # the worker prints where it waits (see the captured stderr)
        time.sleep(1)
        kill_tree(worker.pid)
        worker.wait(10)
        raise AssertionError(f"the worker did not exit within {SHUTDOWN_BOUND_S}s of SIGTERM: {left}") from None


def process_state(pid: int) -> str | None:
    """The /proc state letter, or None once the process is gone (a zombie counts as gone)."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
    return None if state == "Z" else state


def command_of(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@contextmanager
def database_lock() -> Iterator[None]:
    """Hold the database so that every other connection's next query waits (as a long migration would)."""
    if TEST_DB == "postgres":
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{PG_TEST_DB}") as pg:
            pg.execute("LOCK TABLE work_version, work IN ACCESS EXCLUSIVE MODE")
            yield
            pg.rollback()
        return
    import sqlite3

    from clipjury.db import get_engine

    # WAL lets readers past an ordinary writer; an exclusive-mode connection keeps everyone out, once
    # this process's own pooled connections are closed.
    get_engine().dispose()
    conn = sqlite3.connect(DATABASE_URL.removeprefix("sqlite:///"), timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("UPDATE work SET title = title")
        yield
        conn.execute("COMMIT")
    finally:
        conn.close()


def decoding(pids: list[int]) -> bool:
    """Whether one of ``pids`` is the validation's full decode (ffmpeg ... -xerror ... -f null)."""
    return any("-xerror" in command_of(p) for p in pids)


GRACE_0 = {"CLIPJURY_WORKER_SHUTDOWN_GRACE_S": "0"}


def test_worker_process_validates(client: Any, auth: Any) -> None:
    work_id = new_work(client, auth)
    version_id = add_file(work_id, media.valid_mp4())
    worker = start_worker("test-validates", GRACE_0)
    try:
        wait_for(lambda: version_row(version_id).poster_key, 120, "verdict and poster")
    finally:
        code = stop_worker(worker)
    assert code == 0
    body = client.get(f"/api/v1/works/{work_id}", headers=auth).json()
    assert body["status"] == "ready" and body["media"]["duration_s"] > 1.9


FAST = {"CLIPJURY_JOB_HEARTBEAT_S": "1", "CLIPJURY_JOB_STALE_AFTER_S": "4",
        "CLIPJURY_WORKER_MAINTENANCE_INTERVAL_S": "2", "CLIPJURY_JOB_RETRY_BACKOFF_S": "1", **GRACE_0}


def _start_slow_job(client: Any, auth: dict[str, str], name: str) -> tuple[int, Any]:
    work_id = new_work(client, auth)
    version_id = add_file(work_id, media.slow_mp4())
    worker = start_worker(name, FAST)
    wait_for(lambda: version_row(version_id).heartbeat_at, 120, "the job to start")
    wait_for(lambda: decoding(descendants(worker.pid)), 60, "the decode to run")
    assert version_row(version_id).status == "processing", "the file is too quick to kill mid-job"
    return version_id, worker


def test_sigkilled_worker_takes_its_horse_and_ffmpeg_with_it_and_the_job_is_rescued(client: Any, auth: Any) -> None:
    version_id, first = _start_slow_job(client, auth, "test-doomed")
    try:
        family = descendants(first.pid)  # rq's work horse, its ffmpeg, rq's scheduler
        assert decoding(family)
        scratch = list((Path(TEST_ENV["CLIPJURY_DATA_DIR"]) / "work").glob("job-*"))
        assert scratch, "the job works in a scratch directory"
        os.kill(first.pid, signal.SIGKILL)  # only the worker, as the OOM killer would
        first.wait(10)
        # Every process the worker started dies with it: none finishes the job on its own.
        wait_for(lambda: all(process_state(p) is None for p in family), 60, "the worker's children to die")
    finally:
        if first.poll() is None:
            kill_tree(first.pid)
    assert version_row(version_id).status == "processing", "an orphaned horse went on and recorded a verdict"
    assert all(d.exists() for d in scratch), "the killed job could not clean up after itself"

    second = start_worker("test-rescuer", FAST)
    try:
        row = wait_for(
            lambda: (r := version_row(version_id)).status != "processing" and r, 180, "the rescued verdict"
        )
    finally:
        assert stop_worker(second) == 0
    assert row.status == "ready", (row.rejection_code, row.warnings)
    assert row.attempts == 2
    assert not any(d.exists() for d in scratch), "the killed job's scratch directory was left behind"


def test_sigterm_mid_job_is_a_bounded_shutdown(client: Any, auth: Any) -> None:
    """A deploy must not wait for a transcode: past the grace the horse and its ffmpeg are killed, the
    worker exits 0 and the job is left for the next worker (it is no verdict about the file)."""
    version_id, worker = _start_slow_job(client, auth, "test-deploy")
    family = descendants(worker.pid)
    code = stop_worker(worker)
    assert code == 0
    wait_for(lambda: all(process_state(p) is None for p in family), 60, "the horse and ffmpeg to die")
    row = version_row(version_id)
    assert row.status == "processing", "the job ran to its end instead of being stopped at the grace"


def test_sigterm_during_the_sweep_stops_the_worker(client: Any, auth: Any) -> None:
    """SIGTERM in the middle of the sweep must end the worker once the sweep is done, not be logged as a
    failed sweep and forgotten (rq's own handler raised StopRequested inside the sweep's query)."""
    from clipjury.jobs import get_redis

    new_work(client, auth)
    lock_key = f"{TEST_ENV['CLIPJURY_QUEUE_PREFIX']}-sweep-lock"
    with database_lock():  # the sweep's first query waits for this
        worker = start_worker("test-sweeping", FAST)
        try:
            wait_for(lambda: get_redis().exists(lock_key), 120, "the start-up sweep")
            worker.send_signal(signal.SIGTERM)
            time.sleep(0.5)  # the signal is handled when the blocked query returns, below
        except BaseException:
            kill_tree(worker.pid)
            raise
    # No second SIGTERM (rq would take that as a cold shutdown): the first one must suffice.
    try:
        code = worker.wait(SHUTDOWN_BOUND_S)
    except Exception:
        kill_tree(worker.pid)
        raise AssertionError("SIGTERM during the sweep was swallowed: the worker kept running") from None
    assert code == 0


def test_validate_twice_records_one_verdict(client: Any, auth: Any) -> None:
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


def _stale(seconds: float = 0) -> Any:
    from clipjury.settings import get_settings
    from clipjury.timeutil import utcnow

    return utcnow() + timedelta(seconds=get_settings().job_stale_after_s + 1 + seconds)


def _set_version(version_id: int, **values: Any) -> None:
    from sqlalchemy import update

    from clipjury.db import session_scope
    from clipjury.works.models import WorkVersion

    with session_scope() as session:
        session.execute(update(WorkVersion).where(col(WorkVersion.id) == version_id).values(**values))


def test_sweep_resends_lost_jobs_with_a_growing_back_off(client: Any, auth: Any) -> None:
    from clipjury.jobs import get_redis
    from clipjury.settings import get_settings
    from clipjury.timeutil import utcnow
    from workers.tasks import backoff_s, sweep

    work_id = new_work(client, auth)
    version_id = add_file(work_id, media.valid_mp4())
    get_redis().flushdb()  # the job never reached Redis (or Redis lost it)
    report = sweep(_stale())
    assert report.resent == [version_id] and report.gave_up == []  # never tried: sent again at once
    get_redis().flushdb()

    # Its worker died once: the next re-send waits the back-off on top of the stale time, then doubles.
    died_at = utcnow()
    _set_version(version_id, attempts=1, heartbeat_at=died_at)
    base = get_settings().job_retry_backoff_s
    assert base > 0 and backoff_s(1) == base and backoff_s(2) == 2 * base
    assert sweep(_stale(base - 2)).resent == []
    assert sweep(_stale(base + 1)).resent == [version_id]
    get_redis().flushdb()
    _set_version(version_id, attempts=2, heartbeat_at=died_at)
    assert sweep(_stale(base + 1)).resent == []
    assert sweep(_stale(2 * base + 1)).resent == [version_id]
    run_jobs()
    assert version_row(version_id).status == "ready"


def test_a_version_whose_workers_keep_dying_is_held_for_staff_not_refused(client: Any, auth: Any) -> None:
    from clipjury.jobs import get_redis
    from clipjury.settings import get_settings
    from clipjury_cli.main import main
    from workers.tasks import sweep

    work_id = new_work(client, auth)
    first = add_file(work_id, media.valid_mp4())
    run_jobs()
    second = add_file(work_id, media.valid_mp4(3))
    get_redis().flushdb()
    _set_version(second, attempts=get_settings().job_max_attempts)  # three worker deaths
    report = sweep(_stale())
    assert report.gave_up == [second] and report.resent == []
    row = version_row(second)
    # No verdict about the file: held, with the reason, for staff.
    assert row.status == "held" and row.rejection_code is None and row.validated_at is None
    assert "worker_gave_up" in row.warnings
    assert sweep(_stale(3600)).resent == []  # and not re-sent for ever
    body = client.get(f"/api/v1/works/{work_id}", headers=auth).json()
    assert body["status"] == "processing" and not body.get("rejection")
    assert version_row(first).status == "ready"

    # The submitter reads a system fault, not "your file is broken".
    page = web_page(client, f"/works/{work_id}")
    assert "系统处理异常，工作人员正在处理" in page and "文件损坏" not in page
    # Staff read it in the audit log, with the way forward: the national office, since a province sees
    # nothing of a work before it is submitted (and this one is not).
    client.cookies.clear()
    audit = web_page(client, "/audit?action=held", "demo-admin")
    assert "文件处理挂起" in audit and "clipjury retry-version" in audit

    # Staff send it through again (documented in the README); the file then gets its real verdict.
    assert main(["retry-version", str(second)]) == 0
    row = version_row(second)
    assert row.status == "processing" and row.attempts == 0
    run_jobs()
    assert version_row(second).status == "ready"
    assert main(["retry-version", str(second)]) == 2  # nothing left to retry


def web_page(client: Any, path: str, username: str = "demo-submitter") -> str:
    from tests.test_ui import login

    assert login(client, username).status_code == 303
    page = client.get(path)
    assert page.status_code == 200, page.text
    return str(page.text)


def test_poster_is_taken_where_the_video_has_frames(client: Any, auth: Any) -> None:
    """0.2 s of video under 5 s of audio: valid, and its poster comes from the video's own extent."""
    work_id = new_work(client, auth)
    version_id = add_file(work_id, media.short_video_long_audio_mp4())
    run_jobs()
    row = version_row(version_id)
    assert row.status == "ready", (row.rejection_code, row.warnings)
    assert row.duration_s > 4
    assert row.poster_key is not None, row.media_error
    assert row.media_attempts == 1 and row.media_error is None


def test_playback_job_attempts_are_capped_and_the_failure_recorded(client: Any, auth: Any) -> None:
    from clipjury.jobs import get_redis
    from clipjury.settings import get_settings
    from storage import get_store
    from workers.media import MediaToolError
    from workers.tasks import prepare_playback, sweep, validate_version

    work_id = new_work(client, auth)
    version_id = add_file(work_id, media.valid_mp4())
    assert validate_version(version_id) == "ready"
    get_redis().flushdb()  # run the playback job by hand below
    # The stored object no longer holds a picture ffmpeg can read: every poster attempt fails for real.
    row = version_row(version_id)
    get_store().put_bytes(row.object_key, media.random_bytes(), content_type="video/mp4")
    cap = get_settings().media_max_attempts
    for attempt in range(1, cap):
        try:
            prepare_playback(version_id)
        except MediaToolError:
            pass
        else:
            raise AssertionError("a poster of random bytes cannot succeed")
        assert version_row(version_id).media_attempts == attempt
        # The sweep sends it again, after the back-off.
        assert sweep(_stale(3600)).media_resent == [version_id]
        get_redis().flushdb()
    assert prepare_playback(version_id) == "gave_up"
    row = version_row(version_id)
    assert row.media_attempts == cap and row.poster_key is None and "poster" in (row.media_error or "")
    report = sweep(_stale(3600))
    assert report.media_resent == [] and report.media_gave_up == []  # no more downloads of the original
    assert prepare_playback(version_id) == "gave_up" and version_row(version_id).media_attempts == cap
    assert audit_actions(work_id).count("media_failed") == 1  # staff read it once in the audit log

    # Staff may send it through again with fresh attempts.
    from clipjury.works.tasks import media_job_id
    from clipjury_cli.main import main
    from workers.tasks import _job_status

    assert main(["retry-version", str(version_id)]) == 0
    row = version_row(version_id)
    assert row.media_attempts == 0 and row.media_error is None
    assert _job_status(media_job_id(version_id)) is not None


def audit_actions(work_id: int) -> list[str]:
    from clipjury.audit.models import AuditEvent
    from clipjury.db import session_scope

    with session_scope() as session:
        return [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.work_id == work_id))]


def test_a_rendition_whose_workers_keep_dying_is_recorded_failed(client: Any, auth: Any) -> None:
    from clipjury.db import session_scope
    from clipjury.jobs import get_redis
    from clipjury.settings import get_settings
    from clipjury.works.models import Work
    from clipjury.works.playback import playback_for
    from workers.tasks import sweep

    work_id = new_work(client, auth)
    version_id = add_file(work_id, media.valid_mp4())
    run_jobs()
    get_redis().flushdb()
    # As the playback job leaves it after its workers died media_max_attempts times mid-transcode.
    cap = get_settings().media_max_attempts
    _set_version(version_id, playback="rendition", rendition_status="processing", media_attempts=cap,
                 media_attempted_at=_stale(-3600))
    report = sweep(_stale(3600))
    assert report.media_gave_up == [version_id] and report.media_resent == []
    assert version_row(version_id).rendition_status == "failed"
    with session_scope() as session:
        work = session.get(Work, work_id)
        assert work is not None
        play = playback_for(session, work)
    assert play.failed and play.download_url  # the original stays downloadable
    assert sweep(_stale(7200)).media_gave_up == []


def test_scratch_directories_of_killed_jobs_are_removed(client: Any, auth: Any) -> None:
    import subprocess

    from clipjury.settings import get_settings
    from workers.tasks import sweep

    base = get_settings().data_dir / "work"
    base.mkdir(parents=True, exist_ok=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = base / f"job-{gone.pid}-abc"  # its process is gone (a SIGKILLed horse)
    live = base / f"job-{os.getpid()}-def"  # a running job's
    old = base / "job-legacyname"  # no pid, older than any job may run
    for path in (dead, live, old):
        path.mkdir()
        (path / "original.mp4").write_bytes(b"x" * 1024)
    past = time.time() - get_settings().job_timeout - 10
    os.utime(old, (past, past))
    report = sweep()
    assert not dead.exists() and not old.exists() and live.exists()
    assert sorted(report.scratch_removed) == sorted([dead.name, old.name])


def test_job_timeout_must_exceed_every_step() -> None:
    import pytest
    from pydantic import ValidationError

    from clipjury.settings import Settings

    with pytest.raises(ValidationError, match="CLIPJURY_JOB_TIMEOUT_S"):
        Settings(transcode_timeout_s=1800, job_timeout_s=1800)  # rq would kill ffmpeg before its own limit
    derived = Settings(transcode_timeout_s=1800, decode_timeout_s=900, probe_timeout_s=60)
    assert derived.job_timeout > 60 + 1800
    assert Settings(transcode_timeout_s=600, job_timeout_s=1800).job_timeout == 1800
