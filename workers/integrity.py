"""The integrity jobs, on their own lowest-priority queue: a version's fingerprint (frame pHashes at
1 fps, normal and mirrored, flat frames dropped; chromaprint of the sound) compared with the works it may
duplicate, and its screening (OCR of the first seconds for the opening line, then one frame every few
seconds for classification markings).

Like every media job they take a version id, reload, no-op when there is nothing to do, and are bounded:
ffmpeg runs through ``workers.media`` (time and memory limits, hardened input); OCR reads at most a
fixed number of frames. The OCR models ship inside the ``rapidocr`` wheel: nothing is fetched at run time.
Transient failures (store, database, Redis) raise so rq retries them; a file that cannot be read ends,
after ``integrity_max_attempts``, in a recorded ``failed``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import imagehash
import numpy as np
from PIL import Image
from redis.exceptions import RedisError
from rq.job import JobStatus
from sqlalchemy import update
from sqlmodel import Session, col, select

from clipjury.accounts.models import Province
from clipjury.campaigns.models import Campaign
from clipjury.db import rowcount, session_scope
from clipjury.integrity import reading
from clipjury.integrity.models import Fingerprint, JobState, Screening
from clipjury.integrity.service import match_version, record_fingerprint, switches_of
from clipjury.integrity.tasks import FINGERPRINT_FUNC, SCREEN_FUNC, fingerprint_job_id, screen_job_id
from clipjury.jobs import INTEGRITY, get_redis
from clipjury.settings import get_settings
from clipjury.timeutil import utcnow
from clipjury.works.models import VersionStatus, Work, WorkVersion
from storage import get_store
from workers import media
from workers.tasks import WAITING, _job_status, _resend, _workdir

log = logging.getLogger(__name__)

FRAME_BYTES = media.FINGERPRINT_SIZE * media.FINGERPRINT_SIZE
THUMB_WIDTH = 320
# Lines OCR is less sure of than this are noise (textures, logos).
OCR_MIN_SCORE = 0.5
# At most this many frames are read per version whatever its length (a 2-minute work needs ~75).
OCR_MAX_FRAMES = 200


# -- hashing ------------------------------------------------------------------------------------------

def _to_u64(bits: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.uint64]]:
    packed = np.packbits(bits.reshape(len(bits), 64).astype(np.uint8), axis=1)
    return packed.view(">u8").reshape(-1).astype(np.uint64)


@dataclass
class FrameHashes:
    times: np.ndarray[Any, np.dtype[np.uint16]]
    hashes: np.ndarray[Any, np.dtype[np.uint64]]
    mirrored: np.ndarray[Any, np.dtype[np.uint64]]


def hash_frames(raw: bytes, flat_std: float) -> FrameHashes:
    """pHash of every 64x64 grey frame and of its mirror image; flat frames (black, fades) dropped."""
    count = len(raw) // FRAME_BYTES
    frames = np.frombuffer(raw[: count * FRAME_BYTES], dtype=np.uint8).reshape(count, 64, 64)
    times, normal, mirrored = [], [], []
    for second, frame in enumerate(frames):
        if float(frame.std()) < flat_std:
            continue
        times.append(second)
        normal.append(imagehash.phash(Image.fromarray(frame)).hash)
        mirrored.append(imagehash.phash(Image.fromarray(np.ascontiguousarray(frame[:, ::-1]))).hash)
    if not times:
        empty = np.zeros(0, dtype=np.uint64)
        return FrameHashes(np.zeros(0, dtype=np.uint16), empty, empty)
    return FrameHashes(np.array(times, dtype=np.uint16), _to_u64(np.array(normal)), _to_u64(np.array(mirrored)))


def image_hash(path: Path) -> int:
    with Image.open(path) as img:
        value = imagehash.phash(img.convert("L").resize((64, 64)))
    return int(_to_u64(value.hash[None, :, :])[0])


Row = Fingerprint | Screening


def _row(session: Session, model: type[Row], version_id: int) -> Row | None:
    if model is Fingerprint:
        return session.get(Fingerprint, version_id)
    return session.get(Screening, version_id)


# -- claiming -------------------------------------------------------------------------------------------

def _claim(model: type[Fingerprint] | type[Screening], version_id: int, switch: str) -> WorkVersion | str:
    """Count an attempt on a pending row (compare-and-set, committed at once), or say why not:
    ``noop`` (nothing pending), ``off`` (the campaign's switch), ``failed`` (attempts used up, or the
    version is gone)."""
    settings = get_settings()
    with session_scope() as session:
        row = _row(session, model, version_id)
        if row is None or row.status != JobState.pending:
            return "noop"
        version = session.get(WorkVersion, version_id)
        work = session.get(Work, version.work_id) if version else None
        if version is None or work is None or version.status != VersionStatus.ready or version.purged_at:
            _finish(session, model, version_id, JobState.failed, error="version_gone")
            return "failed"
        if not getattr(switches_of(session, work.campaign_id), switch):
            _finish(session, model, version_id, JobState.off)
            return "off"
        if row.attempts >= settings.integrity_max_attempts:
            _finish(session, model, version_id, JobState.failed, error=row.error or "too_many_attempts")
            return "failed"
        result = session.execute(
            update(model).where(col(model.version_id) == version_id, col(model.attempts) == row.attempts,
                                col(model.status) == JobState.pending.value)
            .values(attempts=row.attempts + 1)
        )
        if rowcount(result) != 1:
            return "noop"
        session.expunge(version)
        return version


def _finish(session: Session, model: type[Fingerprint] | type[Screening], version_id: int, state: JobState,
            **values: Any) -> bool:
    result = session.execute(
        update(model).where(col(model.version_id) == version_id, col(model.status) == JobState.pending.value)
        .values(status=state.value, done_at=utcnow(), **values)
    )
    return rowcount(result) == 1


def _failed_attempt(model: type[Fingerprint] | type[Screening], version_id: int, error: str) -> str:
    """ffmpeg could not read the file: recorded ``failed`` once the attempts are used up, otherwise the
    error is noted and raised again for rq's retry."""
    with session_scope() as session:
        row = _row(session, model, version_id)
        if row is not None and row.attempts >= get_settings().integrity_max_attempts:
            _finish(session, model, version_id, JobState.failed, error=error[:500])
            return "failed"
        session.execute(update(model).where(col(model.version_id) == version_id).values(error=error[:500]))
    raise media.MediaToolError(error)


# -- the fingerprint job ------------------------------------------------------------------------------

def fingerprint_version(version_id: int) -> str:
    """Fingerprint a valid version and compare it with the works it may duplicate."""
    claimed = _claim(Fingerprint, version_id, "fingerprints")
    if isinstance(claimed, str):
        return claimed
    version = claimed
    settings = get_settings()
    try:
        with _workdir() as workdir:
            source = workdir / "original.mp4"
            get_store().download_file(version.object_key, source)
            frames = hash_frames(media.grey_frames(source), settings.integrity_flat_std)
            audio = b""
            if version.audio_codec:
                try:
                    audio = media.audio_fingerprint(source)
                except media.MediaToolError as exc:  # the picture is still worth comparing
                    log.warning("no audio fingerprint for version %s: %s", version_id, exc)
    except media.MediaToolError as exc:
        return _failed_attempt(Fingerprint, version_id, str(exc))
    with session_scope() as session:
        if not record_fingerprint(
            session, version_id, times=frames.times.astype("<u2").tobytes(),
            hashes=frames.hashes.astype("<u8").tobytes(), mirrored=frames.mirrored.astype("<u8").tobytes(),
            audio=audio, duration_s=float(version.duration_s or 0.0),
        ):
            return "noop"
        pairs = match_version(session, version_id)
    return f"done:{len(pairs)}"


# -- the screening job ----------------------------------------------------------------------------------

_ocr_lock = threading.Lock()


@lru_cache(maxsize=1)
def ocr_engine() -> Any:
    """RapidOCR with its bundled PP-OCR models (loaded once per process, ~1 s)."""
    from rapidocr import RapidOCR

    threads = get_settings().media_threads
    return RapidOCR(params={
        "Global.log_level": "error",
        "EngineConfig.onnxruntime.intra_op_num_threads": threads,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    })


def read_frame(path: Path, at_s: float) -> reading.FrameText:
    with Image.open(path) as img:
        pixels = np.array(img.convert("RGB"))
    with _ocr_lock:
        result = ocr_engine()(pixels)
    texts = result.txts or ()
    scores = result.scores or ()
    lines = [str(t).strip() for t, s in zip(texts, scores, strict=False) if s >= OCR_MIN_SCORE and str(t).strip()]
    return reading.FrameText(at_s, lines)


def _thumbnail(source: Path, out: Path) -> None:
    with Image.open(source) as img:
        rgb = img.convert("RGB")
    height = max(1, round(rgb.height * THUMB_WIDTH / max(rgb.width, 1)))
    rgb.resize((THUMB_WIDTH, height)).save(out, "JPEG", quality=80)


def thumb_key(version: WorkVersion, at_s: float) -> str:
    return f"works/{version.work_id}/v{version.id}/marking-{round(at_s * 1000)}.jpg"


@dataclass
class ScreenResult:
    opening: reading.OpeningFound
    markings: list[dict[str, Any]]
    frames_read: int


def screen_file(source: Path, workdir: Path, expected: str, version: WorkVersion | None = None) -> ScreenResult:
    """OCR the first seconds at 2 fps for the opening line, then one frame every few seconds (skipping
    frames that did not change) for markings. Thumbnails are stored when ``version`` is given."""
    settings = get_settings()
    window = settings.integrity_opening_window_s
    opening_frames = media.still_frames(source, workdir, "open", fps=2.0, duration_s=window)
    read: list[tuple[Path, reading.FrameText]] = []
    for i, path in enumerate(opening_frames[:OCR_MAX_FRAMES]):
        read.append((path, read_frame(path, i / 2.0)))
    opening = reading.find_opening([t for _p, t in read], expected, settings.integrity_opening_similarity)
    step = settings.integrity_marking_step_s
    scan = media.still_frames(source, workdir, "scan", fps=1.0 / step, start_s=window)
    last_hash: int | None = None
    for i, path in enumerate(scan):
        if len(read) >= OCR_MAX_FRAMES:
            break
        value = image_hash(path)
        if last_hash is not None and bin(value ^ last_hash).count("1") <= settings.integrity_unchanged_distance:
            continue
        last_hash = value
        read.append((path, read_frame(path, window + i * step)))
    markings: list[dict[str, Any]] = []
    seen: set[str] = set()
    for path, frame in read:
        for text in reading.markings_in(frame):
            key = reading.normalize(text)
            if key in seen:
                continue
            seen.add(key)
            entry: dict[str, Any] = {"text": text[:200], "at_s": frame.at_s, "thumb_key": None}
            if version is not None:
                thumb = workdir / f"thumb-{len(markings)}.jpg"
                _thumbnail(path, thumb)
                entry["thumb_key"] = thumb_key(version, frame.at_s)
                get_store().upload_file(entry["thumb_key"], thumb, content_type="image/jpeg")
            markings.append(entry)
    markings.sort(key=lambda m: float(m["at_s"]))
    return ScreenResult(opening, markings, len(read))


def _expected_line(version: WorkVersion) -> str:
    with session_scope() as session:
        work = session.get(Work, version.work_id)
        campaign = session.get(Campaign, work.campaign_id) if work else None
        province = session.get(Province, work.province_id) if work else None
        return campaign.opening_line(province.name if province else "") if campaign else ""


def screen_version(version_id: int) -> str:
    """Read a valid version's opening line and look for classification markings; record what was read."""
    claimed = _claim(Screening, version_id, "screening")
    if isinstance(claimed, str):
        return claimed
    version = claimed
    expected = _expected_line(version)
    try:
        with _workdir() as workdir:
            source = workdir / "original.mp4"
            get_store().download_file(version.object_key, source)
            result = screen_file(source, workdir, expected, version)
    except media.MediaToolError as exc:
        return _failed_attempt(Screening, version_id, str(exc))
    with session_scope() as session:
        done = _finish(
            session, Screening, version_id, JobState.done,
            opening_found=result.opening.found, opening_text=result.opening.text,
            opening_at_s=result.opening.at_s, opening_similarity=result.opening.similarity,
            markings=result.markings, frames_read=result.frames_read, error=None,
        )
    return f"done:{len(result.markings)}" if done else "noop"


# -- the sweep ----------------------------------------------------------------------------------------

def sweep_integrity(now: datetime | None = None) -> list[str]:
    """Re-send fingerprint and screening jobs that never reached Redis (it was down at commit time) or
    whose worker died: pending rows older than ``job_stale_after_s`` with no job waiting or running.
    Each run counts as an attempt, so a file that kills its worker ends ``failed``. One worker at a time."""
    settings = get_settings()
    lock = get_redis().lock(f"{settings.queue_prefix}-integrity-sweep-lock",
                            timeout=max(settings.worker_maintenance_interval_s, 60))
    if not lock.acquire(blocking=False):
        return []
    resent: list[str] = []
    try:
        before = (now or utcnow()) - timedelta(seconds=settings.job_stale_after_s)
        with session_scope() as session:
            rows: list[tuple[str, int]] = [
                (fingerprint_job_id(v), v) for v in session.exec(select(Fingerprint.version_id).where(
                    Fingerprint.status == JobState.pending.value, col(Fingerprint.created_at) < before))
            ] + [
                (screen_job_id(v), v) for v in session.exec(select(Screening.version_id).where(
                    Screening.status == JobState.pending.value, col(Screening.created_at) < before))
            ]
        for job_id, version_id in rows:
            status = _job_status(job_id)
            if status in WAITING or status == JobStatus.STARTED:
                continue
            func = FINGERPRINT_FUNC if job_id.startswith("fingerprint-") else SCREEN_FUNC
            _resend(INTEGRITY, func, job_id, version_id)
            resent.append(job_id)
    finally:
        try:
            lock.release()
        except RedisError:
            pass
    if resent:
        log.warning("re-sent %s integrity job(s): %s", len(resent), resent[:20])
    return resent
