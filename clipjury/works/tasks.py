"""The jobs of a work's versions: validation (is the stored file an acceptable MP4?) and playback (a
poster frame and a browser-playable rendition). Their ids are deterministic, so a version never has two
of either queued; running deployments have jobs queued under these exact ids: never change them.

The jobs themselves run in ``workers.tasks`` (the one module that drives ffmpeg); this module only names
and defers them, so the domain never imports the worker.
"""

from __future__ import annotations

from sqlmodel import Session

from clipjury.jobs import MEDIA, VALIDATE, defer

VALIDATE_FUNC = "workers.tasks.validate_version"
MEDIA_FUNC = "workers.tasks.prepare_playback"


def validation_job_id(version_id: int) -> str:
    return f"validate-{version_id}"


def media_job_id(version_id: int) -> str:
    return f"media-{version_id}"


def defer_validation(session: Session, version_id: int) -> None:
    # Transient failures are retried inside the job by re-raising; the rq retry covers a crash.
    defer(session, VALIDATE, VALIDATE_FUNC, validation_job_id(version_id), version_id)


def defer_media(session: Session, version_id: int) -> None:
    defer(session, MEDIA, MEDIA_FUNC, media_job_id(version_id), version_id)
