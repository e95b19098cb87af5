"""Completing an upload whose bytes are all in: exactly once, whoever calls it.

The bytes are stored (the multipart upload completed and the object's size checked), then the row moves
``receiving -> complete`` by compare-and-set in the same transaction that adds the work's version (which
sends the validation job after commit). A partial upload is complete once its bytes are stored; joining
it into its final is ``clipjury.uploads.concat``'s."""

from __future__ import annotations

import logging

from sqlalchemy import update
from sqlmodel import Session, col

from clipjury.accounts.models import User
from clipjury.db import rowcount
from clipjury.timeutil import utcnow
from clipjury.uploads.models import Upload, UploadStatus
from clipjury.uploads.objects import abort_orphan_multiparts, delete_tails, end_upload
from clipjury.uploads.tus import UploadGone
from clipjury.works.models import Work
from clipjury.works.policy import AlreadySubmitted, Disqualified, UnderReview
from clipjury.works.service import add_version
from storage.s3 import ObjectNotFound, ObjectStore

log = logging.getLogger(__name__)


def _complete_object(upload: Upload, store: ObjectStore, length: int) -> None:
    """Complete the upload's multipart object (if it has one) and check the stored size: ``UploadGone``
    when the object is missing or short, so no version is ever made of an incomplete file."""
    if upload.s3_upload_id is not None:
        parts = [(int(p["n"]), str(p["etag"])) for p in upload.parts]
        try:
            store.complete_multipart(upload.object_key, upload.s3_upload_id, parts)
        except ObjectNotFound:
            pass  # completed by an earlier attempt that died before its commit: the size check decides
    info = store.head(upload.object_key)
    if info is None or info.size != length:
        log.error("upload %s: stored object %s is missing or has the wrong size", upload.id, upload.object_key)
        raise UploadGone("上传的文件在存储中不完整，请重新上传。")


def finish_partial(session: Session, upload: Upload, store: ObjectStore) -> str | None:
    """A partial is complete once its bytes are stored: in its own object, or as parts of its final's
    multipart upload (which the final completes). Returns the final to try completing, if any."""
    length = upload.length or 0
    if upload.part_base is None:
        _complete_object(upload, store, length)
    result = session.execute(
        update(Upload)
        .where(col(Upload.id) == upload.id, col(Upload.status) == UploadStatus.receiving,
               col(Upload.offset) == length)
        .values(status=UploadStatus.complete, completed_at=utcnow(), tail_size=0)
    )
    if rowcount(result) != 1:
        session.rollback()
        return None
    session.commit()
    delete_tails(store, upload.id)
    return upload.final_id


def finish_upload(session: Session, upload: Upload, store: ObjectStore) -> int | None:
    upload_id = upload.id
    length = upload.length or 0
    _complete_object(upload, store, length)
    now = utcnow()
    result = session.execute(
        update(Upload)
        .where(col(Upload.id) == upload_id, col(Upload.status) == UploadStatus.receiving,
               col(Upload.offset) == length)
        .values(status=UploadStatus.complete, completed_at=now, tail_size=0)
    )
    if rowcount(result) != 1:
        session.rollback()
        return None
    try:
        version_id = add_upload_version(session, upload, length)
    except (AlreadySubmitted, UnderReview, Disqualified):  # the work moved on while the bytes arrived
        session.rollback()
        end_upload(upload_id, store, delete_object=True)
        raise
    session.commit()  # sends the validation job
    # Tail objects linger from earlier requests (their bytes have since gone into parts), and a lost
    # commit may have left a multipart upload the row never recorded.
    delete_tails(store, upload_id)
    abort_orphan_multiparts(store, upload.object_key)
    return version_id


def add_upload_version(session: Session, upload: Upload, length: int) -> int:
    """The work's new version for a completed upload (plain or final), linked from the upload's row,
    in the caller's transaction; raises as ``add_version`` does when the work no longer takes files."""
    work = session.get(Work, upload.work_id)
    user = session.get(User, upload.user_id)
    assert work is not None
    version = add_version(
        session, work, actor=user, object_key=upload.object_key, size_bytes=length,
        filename=upload.filename, upload_id=upload.id, upload_started_at=upload.created_at,
    )
    session.execute(update(Upload).where(col(Upload.id) == upload.id).values(version_id=version.id))
    assert version.id is not None
    return version.id
