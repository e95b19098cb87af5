"""Expiring abandoned uploads and finishing to free what ended uploads left in the store (the workers'
sweep and ``clipjury cleanup-uploads`` run it)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from clipjury.db import rowcount
from clipjury.uploads import concat
from clipjury.uploads.locks import UploadLock
from clipjury.uploads.models import Concat, Upload, UploadStatus
from clipjury.uploads.objects import release_storage
from storage.s3 import get_store

log = logging.getLogger(__name__)


def cleanup_expired_uploads(session: Session, now: datetime) -> int:
    """Expire abandoned uploads and free their storage; returns how many were expired.

    Also finishes freeing terminated or expired uploads whose storage could not be released before.
    Busy uploads (a request holds the lock) are left for the next run. The caller commits.
    """

    store = get_store()
    rows = list(session.exec(
        select(Upload).where(
            or_(
                (col(Upload.status) == UploadStatus.receiving) & (col(Upload.expires_at) < now),
                # A finished partial that no final joined is abandoned like an unfinished upload.
                (col(Upload.concat) == Concat.partial) & (col(Upload.status) == UploadStatus.complete)
                & col(Upload.final_id).is_(None) & (col(Upload.expires_at) < now),
                col(Upload.status).in_([UploadStatus.terminated, UploadStatus.expired])
                & (col(Upload.s3_upload_id).is_not(None) | (col(Upload.tail_size) > 0)),
            )
        )
    ))
    # Finals first, each in its own unit: before this session writes anything (SQLite has one writer).
    groups = [u for u in rows if u.concat == Concat.final and u.status == UploadStatus.receiving]
    expired = sum(concat.expire_final(final.id, store, now) for final in groups)
    for upload in rows:
        if upload in groups:
            continue
        if upload.final_id is not None and upload.status in (UploadStatus.receiving, UploadStatus.complete):
            continue  # a piece of a file being joined: it expires with its final
        lock = UploadLock(upload.id)
        if not lock.acquire():
            continue
        try:
            was = upload.status  # read first: the UPDATE below also refreshes the loaded object
            abandoned = was == UploadStatus.receiving or (
                upload.concat == Concat.partial and was == UploadStatus.complete
            )
            new_status = UploadStatus.expired if abandoned else was
            if upload.concat == Concat.partial and abandoned:
                # Claim it before freeing its storage: a final may have joined it since the query.
                claimed = session.execute(
                    update(Upload).where(col(Upload.id) == upload.id, col(Upload.status) == was,
                                         col(Upload.final_id).is_(None))
                    .values(status=new_status)
                )
                if rowcount(claimed) != 1:
                    continue
                was = new_status
            release_storage(store, upload, delete_object=True)
            result = session.execute(
                update(Upload).where(col(Upload.id) == upload.id, col(Upload.status) == was)
                .values(status=new_status, s3_upload_id=None, tail_size=0)
            )
            if abandoned and rowcount(result) == 1:
                expired += 1
        finally:
            lock.release()
    session.flush()
    if expired:
        log.info("expired %d abandoned uploads", expired)
    return expired
