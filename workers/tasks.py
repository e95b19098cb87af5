"""The rq jobs: validate a stored version, prepare its playback, and sweep for stuck work.

Jobs take IDs, reload, and no-op when the version is gone or already decided, so running one twice is
harmless. Transient failures (store, Redis, database, ffmpeg unable to run) raise, so rq retries;
a bad file always ends in a recorded verdict. A worker that dies mid-job (SIGKILL, OOM, deploy) leaves a
stale ``heartbeat_at`` that ``sweep`` notices and re-sends with a growing back-off; a death says nothing
about the file, so after ``job_max_attempts`` of them the version is held (``worker_gave_up``) for staff
(``clipjury retry-version``), never refused. The playback job counts its own attempts
(``media_max_attempts``); past them a rendition is recorded ``failed`` (the original stays downloadable).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from clipjury.campaigns.models import Campaign
from clipjury.campaigns.service import limits_of
from clipjury.db import rowcount, session_scope
from clipjury.jobs import MEDIA, VALIDATE, PendingJob, enqueue_now, get_redis
from clipjury.media.rules import (
    Limits,
    Verdict,
    decide,
    needs_probe,
    sniff_major_brand,
)
from clipjury.settings import get_settings
from clipjury.showcase.models import CopyStatus, ShowcaseEntry
from clipjury.showcase.tasks import PUBLIC_COPY_FUNC, public_copy_job_id
from clipjury.timeutil import as_utc, utcnow
from clipjury.uploads.expiry import cleanup_expired_uploads
from clipjury.works.models import Playback, VersionStatus, Work, WorkVersion
from clipjury.works.retention import purge_old_versions
from clipjury.works.service import MeasuredMedia, apply_verdict, give_up_playback, hold_version
from clipjury.works.tasks import MEDIA_FUNC, VALIDATE_FUNC, media_job_id, validation_job_id
from storage import get_store
from storage.s3 import ObjectNotFound, StorageError
from workers import media

log = logging.getLogger(__name__)

DOWNLOAD_CHUNK = 8 * 1024 * 1024
# Failures that say nothing about the file: rq retries them and they do not count as attempts.
TRANSIENT = (StorageError, RedisError, OperationalError, media.MediaToolError, OSError)
WORKER_GAVE_UP = "worker_gave_up"
# Scratch directories are named job-<pid>-<random>: the pid tells whether the job that owns one still runs.
SCRATCH_PREFIX = "job-"
# The longest back-off between two re-sends, however many attempts were made.
MAX_BACKOFF_S = 3600


# -- keys -----------------------------------------------------------------------------------------

def poster_key(version: WorkVersion) -> str:
    return f"works/{version.work_id}/v{version.id}/poster.jpg"


def rendition_key(version: WorkVersion) -> str:
    return f"works/{version.work_id}/v{version.id}/web.mp4"


# -- helpers --------------------------------------------------------------------------------------

class Heartbeat:
    """Stamps ``heartbeat_at`` from a thread while the job works, so the sweep can tell alive from dead."""

    def __init__(self, version_id: int, interval_s: float) -> None:
        self.version_id = version_id
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{version_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval_s + 5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                with session_scope() as session:
                    session.execute(
                        update(WorkVersion)
                        .where(col(WorkVersion.id) == self.version_id)
                        .where(col(WorkVersion.status) == VersionStatus.processing)
                        .values(heartbeat_at=utcnow())
                    )
            except Exception:  # a missed beat is not fatal; a run of them makes the sweep re-run the job
                log.warning("heartbeat for version %s failed", self.version_id, exc_info=True)


@dataclass
class Downloaded:
    path: Path | None
    size_bytes: int
    sha256: str


def _download(key: str, target: Path | None) -> Downloaded:
    """Stream the object, hashing as it comes; write it to ``target`` unless that is ``None``."""
    digest = hashlib.sha256()
    size = 0
    fh = target.open("wb") if target is not None else None
    try:
        for chunk in get_store().iter_chunks(key, DOWNLOAD_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if fh is not None:
                fh.write(chunk)
    finally:
        if fh is not None:
            fh.close()
    return Downloaded(target, size, digest.hexdigest())


def _scratch_base() -> Path:
    return get_settings().data_dir / "work"


@contextmanager
def _workdir() -> Iterator[Path]:
    base = _scratch_base()
    base.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed horse nobody has reaped yet is as dead as it gets
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def clean_scratch(now_s: float | None = None) -> list[str]:
    """Remove the scratch directories of killed jobs: those whose process is gone, and any older than the
    job timeout (no live job runs that long: rq kills it). A killed work horse cannot clean up after itself,
    and a large original left behind by each death would fill the disk."""
    base = _scratch_base()
    if not base.is_dir():
        return []
    now_s = time.time() if now_s is None else now_s
    max_age_s = get_settings().job_timeout
    removed: list[str] = []
    for entry in base.iterdir():
        if not entry.name.startswith(SCRATCH_PREFIX) or not entry.is_dir():
            continue
        pid_part = entry.name[len(SCRATCH_PREFIX):].split("-", 1)[0]
        owner_gone = pid_part.isdigit() and not _pid_alive(int(pid_part))
        try:
            too_old = now_s - entry.stat().st_mtime > max_age_s
        except OSError:
            continue
        if owner_gone or too_old:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    if removed:
        log.warning("removed %s stale scratch director%s: %s", len(removed), "y" if len(removed) == 1 else "ies",
                    removed)
    return removed


def _limits_for(session: Session, version: WorkVersion) -> Limits:
    work = session.get(Work, version.work_id)
    campaign = session.get(Campaign, work.campaign_id) if work else None
    if campaign is None:
        raise LookupError(f"no campaign for version {version.id}")
    return limits_of(campaign)


def _claim(version_id: int) -> tuple[WorkVersion, Limits] | None:
    """Count the attempt and stamp the first heartbeat, committed at once so a crash leaves a trace."""
    with session_scope() as session:
        version = session.get(WorkVersion, version_id)
        if version is None or version.status != VersionStatus.processing:
            return None
        result = session.execute(
            update(WorkVersion)
            .where(col(WorkVersion.id) == version_id, col(WorkVersion.status) == VersionStatus.processing)
            .values(attempts=col(WorkVersion.attempts) + 1, heartbeat_at=utcnow())
        )
        if rowcount(result) != 1:
            return None
        session.refresh(version)
        return version, _limits_for(session, version)


def _unclaim(version_id: int) -> None:
    """A transient failure is not the file's fault: give the attempt back (best effort)."""
    try:
        with session_scope() as session:
            session.execute(
                update(WorkVersion)
                .where(col(WorkVersion.id) == version_id, col(WorkVersion.attempts) > 0)
                .values(attempts=col(WorkVersion.attempts) - 1)
            )
    except Exception:
        log.warning("could not give back the attempt of version %s", version_id, exc_info=True)


# -- measuring and deciding -----------------------------------------------------------------------

@dataclass
class Outcome:
    verdict: Verdict
    measured: MeasuredMedia


def evaluate(key: str, limits: Limits, workdir: Path) -> Outcome:
    """Measure the stored object and decide. Shared by the validation job and ``clipjury revalidate``."""
    store = get_store()
    info = store.head(key)
    if info is None:
        raise ObjectNotFound(key=key)
    head = store.get_bytes(key, 0, media.SNIFF_BYTES - 1) if info.size else b""
    brand = sniff_major_brand(head)
    cheap = needs_probe(info.size, brand, limits)
    if cheap is not None:
        # No ffmpeg and no disk for these: hash the object as it streams past.
        got = _download(key, None)
        cheap = needs_probe(got.size_bytes, brand, limits) or cheap
        return Outcome(
            cheap,
            MeasuredMedia(sha256=got.sha256, major_brand=brand, rules_version=limits.version,
                          probe={"size_bytes": got.size_bytes, "major_brand": brand}),
        )

    got = _download(key, workdir / "original.mp4")
    assert got.path is not None
    report = media.measure(got.path, size_bytes=got.size_bytes, major_brand=media.sniff(got.path), limits=limits)
    verdict = decide(report.measurements(), limits)
    verdict.warnings.extend(f"{step}_timeout" for step in report.timed_out)
    if got.size_bytes != info.size:
        verdict.warnings.append(f"size_changed: head said {info.size}, read {got.size_bytes}")
    video, audio = report.video, report.audio
    playback = None
    if verdict.ok:
        playable = media.browser_playable(report, limits.allowed_brands)
        playback = Playback.original if playable else Playback.rendition
    return Outcome(
        verdict,
        MeasuredMedia(
            sha256=got.sha256,
            duration_s=report.duration_s,
            header_duration_s=report.header_duration_s,
            width=video.width if video else None,
            height=video.height if video else None,
            video_codec=(video.codec_name or None) if video else None,
            audio_codec=(audio.codec_name or None) if audio else None,
            major_brand=report.major_brand,
            probe=report.summary(),
            ffmpeg_version=report.ffmpeg_version,
            rules_version=limits.version,
            playback=playback,
        ),
    )


# -- jobs -----------------------------------------------------------------------------------------

def validate_version(version_id: int) -> str:
    """Measure a stored version and record its verdict. Returns what happened (for rq's result)."""
    claimed = _claim(version_id)
    if claimed is None:
        return "noop"
    version, limits = claimed
    settings = get_settings()
    try:
        with Heartbeat(version_id, settings.job_heartbeat_s), _workdir() as workdir:
            outcome = evaluate(version.object_key, limits, workdir)
    except ObjectNotFound:
        # The stored file is gone: not transient, so the attempt counts and the sweep gives up in time.
        raise
    except TRANSIENT:
        _unclaim(version_id)
        raise
    with session_scope() as session:
        recorded = apply_verdict(session, version_id, outcome.verdict, outcome.measured)
    if not recorded:
        return "noop"
    return "ready" if outcome.verdict.ok else f"rejected:{outcome.verdict.code}"


def poster_time_s(version: WorkVersion) -> float:
    """Where to take the poster: 1 s in, or half-way through the VIDEO stream when that is shorter.

    The file's duration is its longest stream's: 0.2 s of video under 5 s of audio has no frame at 1 s.
    The video stream's own extent is in the stored probe summary (``stream_durations_s``)."""
    probe = version.probe or {}
    durations = probe.get("stream_durations_s") or {}
    video_s: float | None = None
    for stream in probe.get("streams") or []:
        if isinstance(stream, dict) and stream.get("codec_type") == "video":
            value = durations.get(str(stream.get("index")))
            if isinstance(value, int | float):
                video_s = float(value)
            break
    extent = video_s if video_s is not None else (version.duration_s or 0.0)
    return max(0.0, min(1.0, extent / 2))


def _playback_todo(version: WorkVersion) -> tuple[bool, bool]:
    """(poster missing, rendition missing) for a valid version."""
    needs_rendition = version.playback != Playback.original
    rendition_todo = needs_rendition and version.rendition_status not in ("ready", "failed")
    return version.poster_key is None, rendition_todo


def _claim_media(version_id: int) -> tuple[WorkVersion, int] | str:
    """Count the playback attempt (compare-and-set, committed at once so a crash leaves a trace), or say
    why there is nothing to do: ``"noop"`` or ``"gave_up"`` (the cap is reached; the failure is recorded)."""
    settings = get_settings()
    with session_scope() as session:
        version = session.get(WorkVersion, version_id)
        if version is None or version.status != VersionStatus.ready:
            return "noop"
        poster_todo, rendition_todo = _playback_todo(version)
        if not poster_todo and not rendition_todo:
            return "noop"
        if version.media_attempts >= settings.media_max_attempts:
            _record_media_gave_up(session, version)
            return "gave_up"
        values: dict[str, Any] = {"media_attempts": version.media_attempts + 1, "media_attempted_at": utcnow()}
        if rendition_todo:
            values["rendition_status"] = "processing"
        result = session.execute(
            update(WorkVersion)
            .where(col(WorkVersion.id) == version_id, col(WorkVersion.media_attempts) == version.media_attempts)
            .values(**values)
        )
        if rowcount(result) != 1:
            return "noop"  # another run took this attempt
        session.refresh(version)
        return version, version.media_attempts


def _record_media_gave_up(session: Session, version: WorkVersion) -> None:
    if give_up_playback(session, version.id or 0):
        log.error("gave up on playback of version %s after %s attempts: %s", version.id, version.media_attempts,
                  version.media_error)


def prepare_playback(version_id: int) -> str:
    """A poster for every valid version, and an H.264/AAC rendition when the original is not playable."""
    claimed = _claim_media(version_id)
    if isinstance(claimed, str):
        return claimed
    version, attempt = claimed
    poster_todo, rendition_todo = _playback_todo(version)
    store = get_store()
    values: dict[str, Any] = {}
    errors: list[str] = []
    with _workdir() as workdir:
        source = workdir / "original.mp4"
        store.download_file(version.object_key, source)
        if poster_todo:
            poster = workdir / "poster.jpg"
            try:
                media.make_poster(source, poster, at_s=poster_time_s(version))
            except media.MediaToolError as exc:
                errors.append(f"poster: {exc}")
            else:
                store.upload_file(poster_key(version), poster, content_type="image/jpeg")
                values["poster_key"] = poster_key(version)
        if rendition_todo:
            values["playback"] = Playback.rendition
            web = workdir / "web.mp4"
            try:
                media.make_rendition(source, web, has_audio=version.audio_codec is not None)
            except media.MediaToolError as exc:
                # A file that validated but will not transcode: retrying gives the same answer.
                log.exception("rendition of version %s failed", version_id)
                values["rendition_status"] = "failed"
                errors.append(f"rendition: {exc}")
            else:
                store.upload_file(rendition_key(version), web, content_type="video/mp4")
                values.update(rendition_key=rendition_key(version), rendition_status="ready")
    if errors:
        values["media_error"] = "; ".join(errors)[:500]
    with session_scope() as session:
        session.execute(update(WorkVersion).where(col(WorkVersion.id) == version_id).values(**values))
        if "poster_key" not in values and poster_todo and attempt >= get_settings().media_max_attempts:
            current = session.get(WorkVersion, version_id)
            assert current is not None
            _record_media_gave_up(session, current)
            return "gave_up"
    if poster_todo and "poster_key" not in values:
        # rq retries it (and the sweep after a back-off) until media_max_attempts.
        raise media.MediaToolError(values["media_error"])
    return "done"


# -- the showcase's public copy ------------------------------------------------------------------

PUBLIC_PREFIX = "showcase"


def public_copy_key(work_id: int, version_id: int) -> str:
    return f"{PUBLIC_PREFIX}/works/{work_id}/v{version_id}/public.mp4"


def public_poster_key(work_id: int, version_id: int) -> str:
    return f"{PUBLIC_PREFIX}/works/{work_id}/v{version_id}/poster.jpg"


def _claim_copy(work_id: int) -> tuple[WorkVersion, int] | str:
    """Count the copy attempt (compare-and-set, committed at once), or say why there is nothing to do."""
    settings = get_settings()
    with session_scope() as session:
        entry = session.get(ShowcaseEntry, work_id)
        if entry is None or entry.copy_status != CopyStatus.pending:
            return "noop"
        work = session.get(Work, work_id)
        version_id = entry.version_id or (work.submitted_version_id or work.current_version_id if work else None)
        version = session.get(WorkVersion, version_id) if version_id else None
        if version is None or version.status != VersionStatus.ready:
            _copy_failed(session, work_id, entry.copy_attempts, "no validated version to copy")
            return "failed"
        if entry.copy_attempts >= settings.media_max_attempts:
            _copy_failed(session, work_id, entry.copy_attempts, entry.copy_error or "too many attempts")
            return "gave_up"
        result = session.execute(
            update(ShowcaseEntry)
            .where(col(ShowcaseEntry.work_id) == work_id, col(ShowcaseEntry.copy_status) == CopyStatus.pending,
                   col(ShowcaseEntry.copy_attempts) == entry.copy_attempts)
            .values(copy_attempts=entry.copy_attempts + 1, copy_attempted_at=utcnow(), version_id=version.id)
        )
        if rowcount(result) != 1:
            return "noop"
        session.expunge(version)
        return version, entry.copy_attempts + 1


def _copy_failed(session: Session, work_id: int, attempts: int, error: str) -> None:
    session.execute(
        update(ShowcaseEntry)
        .where(col(ShowcaseEntry.work_id) == work_id, col(ShowcaseEntry.copy_status) == CopyStatus.pending)
        .values(copy_status=CopyStatus.failed.value, copy_error=error[:500], updated_at=utcnow())
    )
    log.error("gave up on the public copy of work %s after %s attempts: %s", work_id, attempts, error)


def make_public_copy(work_id: int) -> str:
    """The public copy of a work's submitted version and its poster, uploaded under ``showcase/``; the entry
    records ready, or the error (failed after ``media_max_attempts``; rq retries until then)."""
    claimed = _claim_copy(work_id)
    if isinstance(claimed, str):
        return claimed
    version, attempt = claimed
    version_id = version.id or 0
    store = get_store()
    try:
        with _workdir() as workdir:
            source = workdir / "original.mp4"
            store.download_file(version.object_key, source)
            report = media.probe_header(source)
            if not report.probe_ok or report.video is None:
                raise media.MediaToolError(f"cannot read the original: {report.probe_error[:300]}")
            copy = workdir / "public.mp4"
            remuxed = media.make_public_copy(source, copy, report=report)
            poster = workdir / "poster.jpg"
            media.make_poster(copy, poster, at_s=poster_time_s(version))
            store.upload_file(public_copy_key(work_id, version_id), copy, content_type="video/mp4")
            store.upload_file(public_poster_key(work_id, version_id), poster, content_type="image/jpeg")
    except Exception as exc:
        with session_scope() as session:
            if attempt >= get_settings().media_max_attempts:
                _copy_failed(session, work_id, attempt, str(exc) or type(exc).__name__)
            else:
                session.execute(update(ShowcaseEntry).where(col(ShowcaseEntry.work_id) == work_id)
                                .values(copy_error=(str(exc) or type(exc).__name__)[:500]))
        raise
    with session_scope() as session:
        session.execute(
            update(ShowcaseEntry)
            .where(col(ShowcaseEntry.work_id) == work_id, col(ShowcaseEntry.copy_status) == CopyStatus.pending)
            .values(copy_status=CopyStatus.ready.value, public_key=public_copy_key(work_id, version_id),
                    public_poster_key=public_poster_key(work_id, version_id), copy_error=None, updated_at=utcnow())
        )
    return "remuxed" if remuxed else "transcoded"


# -- sweep ----------------------------------------------------------------------------------------

WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.CREATED}
# A job missing from Redis right after the version was committed may still be on its way there.
ENQUEUE_GRACE_S = 10


def _job_status(job_id: str) -> JobStatus | None:
    try:
        return Job.fetch(job_id, connection=get_redis()).get_status()
    except NoSuchJobError:
        return None


def _resend(queue: str, func: str, job_id: str, version_id: int) -> None:
    redis = get_redis()
    try:
        Job.fetch(job_id, connection=redis).delete()  # drop the dead run from rq's registries first
    except NoSuchJobError:
        pass
    enqueue_now(PendingJob(queue, func, job_id, (version_id,), 2))


@dataclass
class SweepReport:
    resent: list[int]
    gave_up: list[int]  # held with worker_gave_up
    media_resent: list[int]
    media_gave_up: list[int] = field(default_factory=list)
    scratch_removed: list[str] = field(default_factory=list)
    uploads_cleaned: int | None = None
    skipped: bool = False


def backoff_s(attempts: int) -> float:
    """How long the sweep waits, on top of ``job_stale_after_s``, before re-sending a job that has already
    been tried ``attempts`` times: a worker that keeps dying (OOM, a crash loop) is not hammered."""
    if attempts <= 0:
        return 0.0
    return float(min(get_settings().job_retry_backoff_s * 2 ** (attempts - 1), MAX_BACKOFF_S))


def _last_sign_of_life(version: WorkVersion) -> datetime:
    moments = [as_utc(version.created_at)]
    if version.heartbeat_at is not None:
        moments.append(as_utc(version.heartbeat_at))
    return max(moments)


def sweep(now: datetime | None = None) -> SweepReport:
    """Re-send validations whose worker died or whose job never reached Redis, with a growing back-off;
    hold versions whose workers keep dying; re-send lost playback jobs until their cap; remove killed jobs'
    scratch directories; clean expired uploads. One worker at a time."""
    settings = get_settings()
    lock = get_redis().lock(
        f"{settings.queue_prefix}-sweep-lock", timeout=max(settings.worker_maintenance_interval_s, 60)
    )
    if not lock.acquire(blocking=False):
        return SweepReport([], [], [], skipped=True)
    try:
        return _sweep(now or utcnow())
    finally:
        try:
            lock.release()
        except RedisError:
            pass  # expired while we worked: harmless, the next sweep takes it again


def _sweep(now: datetime) -> SweepReport:
    settings = get_settings()
    stale = timedelta(seconds=settings.job_stale_after_s)
    report = SweepReport([], [], [])
    with session_scope() as session:
        processing = list(session.exec(select(WorkVersion).where(WorkVersion.status == VersionStatus.processing)))
    for version in processing:
        version_id = version.id or 0
        status = _job_status(validation_job_id(version_id))
        silent_for = now - _last_sign_of_life(version)
        if status in WAITING:
            continue
        if status == JobStatus.STARTED and silent_for <= stale:
            continue
        if status != JobStatus.STARTED and silent_for <= min(stale, timedelta(seconds=ENQUEUE_GRACE_S)):
            continue
        if version.attempts >= settings.job_max_attempts:
            if _hold(version_id, version.attempts):
                report.gave_up.append(version_id)
            continue
        if silent_for <= stale + timedelta(seconds=backoff_s(version.attempts)):
            continue
        log.warning("re-sending validation of version %s (job %s, silent %s)", version_id, status, silent_for)
        _resend(VALIDATE, VALIDATE_FUNC, validation_job_id(version_id), version_id)
        report.resent.append(version_id)

    with session_scope() as session:
        waiting_media = list(
            session.exec(
                select(WorkVersion).where(
                    WorkVersion.status == VersionStatus.ready,
                    (col(WorkVersion.poster_key).is_(None)
                     & (col(WorkVersion.media_attempts) < settings.media_max_attempts))
                    | (col(WorkVersion.rendition_status) == "processing"),
                    col(WorkVersion.validated_at) < now - stale,
                )
            )
        )
    for version in waiting_media:
        version_id = version.id or 0
        status = _job_status(media_job_id(version_id))
        if status in WAITING or status == JobStatus.STARTED:
            continue
        if version.media_attempts >= settings.media_max_attempts:
            with session_scope() as session:
                current = session.get(WorkVersion, version_id)
                if current is not None and current.status == VersionStatus.ready:
                    _record_media_gave_up(session, current)
            report.media_gave_up.append(version_id)
            continue
        if version.media_attempted_at is not None and (
            now - as_utc(version.media_attempted_at) <= stale + timedelta(seconds=backoff_s(version.media_attempts))
        ):
            continue
        _resend(MEDIA, MEDIA_FUNC, media_job_id(version_id), version_id)
        report.media_resent.append(version_id)

    report.scratch_removed = clean_scratch()
    report.uploads_cleaned = _cleanup_uploads(now)
    with session_scope() as session:
        purge_old_versions(session, get_store(), now)
    return report


def sweep_public_copies(now: datetime | None = None) -> list[int]:
    """Re-send the public-copy jobs of pending copies whose job is neither waiting nor running and that have
    been quiet for ``job_stale_after_s``: a job lost on its way to Redis, or whose worker died. Bounded by
    the job itself: each run counts an attempt, and past ``media_max_attempts`` the copy is ``failed``."""
    now = now or utcnow()
    stale = timedelta(seconds=get_settings().job_stale_after_s)
    with session_scope() as session:
        pending = list(session.exec(
            select(ShowcaseEntry).where(col(ShowcaseEntry.copy_status) == CopyStatus.pending.value)
        ))
    resent: list[int] = []
    for entry in pending:
        job_id = public_copy_job_id(entry.work_id)
        status = _job_status(job_id)
        if status in WAITING or status == JobStatus.STARTED:
            continue
        quiet_since = as_utc(entry.copy_attempted_at or entry.updated_at)
        if now - quiet_since <= stale + timedelta(seconds=backoff_s(entry.copy_attempts)):
            continue
        log.warning("re-sending the public copy of work %s (job %s)", entry.work_id, status)
        _resend(MEDIA, PUBLIC_COPY_FUNC, job_id, entry.work_id)
        resent.append(entry.work_id)
    return resent


def _hold(version_id: int, attempts: int) -> bool:
    with session_scope() as session:
        held = hold_version(session, version_id, attempts, WORKER_GAVE_UP)
    if held:
        log.error("holding version %s for staff: its workers died %s times (clipjury retry-version %s)",
                  version_id, attempts, version_id)
    return held


def _cleanup_uploads(now: datetime) -> int:
    with session_scope() as session:
        return cleanup_expired_uploads(session, now)
