"""Read-only questions about a work's uploads that the pages ask (kept apart from the tus machinery)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from clipjury.uploads.models import Upload, UploadStatus
from clipjury.works.models import Work


def has_resumable_upload(session: Session, work: Work, deadline: datetime, now: datetime) -> bool:
    """An upload of the work by its owner, begun by ``deadline``, unfinished and not yet expired: the one
    kind the grace period lets finish."""
    found = session.exec(
        select(Upload.id).where(
            col(Upload.work_id) == work.id,
            col(Upload.user_id) == work.owner_id,
            col(Upload.status) == UploadStatus.receiving.value,
            col(Upload.created_at) <= deadline,
            col(Upload.expires_at) > now,
        ).limit(1)
    ).first()
    return found is not None
