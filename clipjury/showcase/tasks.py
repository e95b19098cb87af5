"""The showcase's job: the public copy of a published work (metadata stripped, ``+faststart``, its poster).
Its id is deterministic per work, so a work never has two copies queued; the job runs in ``workers.tasks``
(the one module that drives ffmpeg), this module only names and defers it."""

from __future__ import annotations

from sqlmodel import Session

from clipjury.jobs import MEDIA, defer

PUBLIC_COPY_FUNC = "workers.tasks.make_public_copy"


def public_copy_job_id(work_id: int) -> str:
    return f"public-copy-{work_id}"


def defer_public_copy(session: Session, work_id: int) -> None:
    defer(session, MEDIA, PUBLIC_COPY_FUNC, public_copy_job_id(work_id), work_id)
