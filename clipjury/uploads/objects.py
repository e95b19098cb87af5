"""Where an upload's bytes live in the object store, and how they are freed.

Object key of a finished upload: ``originals/{work_id}/{upload_id}.mp4`` (deterministic, never derived
from the client's filename); bytes that do not fill a part yet wait in ``uploads/{id}/tail-{start}``
objects; a partial upload (tus concatenation) not written into its final is kept in ``uploads/{id}/data``.
Ending an upload aborts its multipart upload, drops its tails and marks its row, in a unit of its own."""

from __future__ import annotations

import zlib

from sqlalchemy import true, update
from sqlmodel import Session, col

from clipjury.db import get_engine
from clipjury.uploads.models import Concat, Upload, UploadStatus
from storage.s3 import ObjectNotFound, ObjectStore


def object_key_for(work_id: int, upload_id: str) -> str:
    return f"originals/{work_id}/{upload_id}.mp4"


def tail_prefix(upload_id: str) -> str:
    return f"uploads/{upload_id}/tail"


def tail_key_for(upload_id: str, start: int | None) -> str:
    """Keyed by where the tail starts in the file: a request that stores a part and then a new tail
    writes another object, never over the one the committed row still points at (a lost relaxed commit
    leaves the row on its older tail). ``None``: the one key of rows written before tails had a CRC."""
    return tail_prefix(upload_id) if start is None else f"{tail_prefix(upload_id)}-{start}"


def tail_crc(data: bytes | bytearray) -> str:
    return f"{zlib.crc32(data):08x}"


def partial_key_for(upload_id: str) -> str:
    """Where a partial upload not written straight into its final object is kept until it is joined."""
    return f"uploads/{upload_id}/data"


def unit_session() -> Session:
    """A unit of work of its own, apart from the request's (the upload steps commit as they go); its rows
    stay readable after the commit."""
    return Session(get_engine(), expire_on_commit=False)


def delete_quietly(store: ObjectStore, key: str) -> None:
    try:
        store.delete(key)
    except ObjectNotFound:
        pass


def abort_orphan_multiparts(store: ObjectStore, key: str) -> None:
    """Multipart uploads left on a finished object's key (no row records them any more)."""
    for other_key, other_id in store.list_multipart_uploads(prefix=key):
        if other_key == key:
            store.abort_multipart(key, other_id)


def delete_tails(store: ObjectStore, upload_id: str) -> None:
    """Every tail object of an upload (the current one and any a lost commit or a dead request left)."""
    for key in store.list_keys(tail_prefix(upload_id)):
        delete_quietly(store, key)


def release_storage(store: ObjectStore, upload: Upload, *, delete_object: bool) -> None:
    """Abort every multipart upload of this upload's key (an orphan from a crash too), drop the tail."""
    if upload.concat == Concat.partial and upload.part_base is not None:
        # Its parts belong to the final's multipart upload, which only the final releases.
        delete_tails(store, upload.id)
        return
    if upload.s3_upload_id:
        store.abort_multipart(upload.object_key, upload.s3_upload_id)
    for key, other_id in store.list_multipart_uploads(prefix=upload.object_key):
        if key == upload.object_key:
            store.abort_multipart(key, other_id)
    delete_tails(store, upload.id)
    if delete_object:
        delete_quietly(store, upload.object_key)


def end_upload(
    upload_id: str, store: ObjectStore, delete_object: bool = False, *, status: str = UploadStatus.receiving
) -> None:
    """End an upload in ``status`` (a finished partial no final joined may be ended too)."""
    with unit_session() as session:
        upload = session.get(Upload, upload_id)
        if upload is None or upload.status != status:
            return
        release_storage(store, upload, delete_object=delete_object)
        session.execute(
            update(Upload).where(col(Upload.id) == upload_id, col(Upload.status) == status,
                                 col(Upload.final_id).is_(None) if upload.concat == Concat.partial else true())
            .values(status=UploadStatus.terminated, s3_upload_id=None, tail_size=0, tail_crc=None)
        )
        session.commit()
