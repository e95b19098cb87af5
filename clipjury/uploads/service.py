"""Resumable uploads into object storage, shared by the tus routes and the raw PUT: creating an upload,
streaming a request's bytes onto it, finishing and ending it.

No state lives in the API process: the ``Upload`` row holds the offset and the stored parts, S3 holds
the bytes (multipart parts plus a small tail object for what does not fill a part yet), and a Redis lock
per upload keeps two requests from writing the same upload at once. Any API process can therefore
continue an upload another one started. A retried final PATCH finds the upload complete and answers 409
``offset_mismatch`` with ``Upload-Offset`` = length, without side effects.

The seams, lowest first: ``tus`` (protocol errors and headers), ``objects`` (store keys, freeing bytes),
``locks``, ``buffer`` (the part buffer), ``completion``, ``concat`` (partial uploads joined into a final),
``expiry``; this module builds on all of them and none of them imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

import anyio.to_thread
from sqlalchemy import update
from sqlmodel import Session, col, select

from clipjury.accounts.models import User
from clipjury.campaigns.models import Campaign
from clipjury.campaigns.service import active_campaign, ensure_open_for_new_upload, ensure_upload_may_continue
from clipjury.db import relaxed_commit
from clipjury.settings import get_settings
from clipjury.timeutil import as_utc, utcnow
from clipjury.uploads import concat
from clipjury.uploads.buffer import PUT_PARTS_IN_FLIGHT, PartBuffer
from clipjury.uploads.completion import finish_partial, finish_upload
from clipjury.uploads.limits import check_new_upload
from clipjury.uploads.locks import UploadLock
from clipjury.uploads.models import Concat, Upload, UploadStatus
from clipjury.uploads.objects import end_upload, object_key_for, partial_key_for, tail_crc, tail_key_for, unit_session
from clipjury.uploads.tus import (
    MIN_PART,
    BadUploadRequest,
    EmptyUpload,
    FinalNotPatchable,
    IncompleteBody,
    OffsetMismatch,
    TailRewound,
    UploadBusy,
    UploadComplete,
    UploadGone,
    UploadInProgress,
    UploadLengthExceeded,
    UploadNotFound,
    check_declared_length,
    sanitize_filename,
    too_large,
)
from clipjury.works.models import Work
from clipjury.works.service import (
    ensure_accepts_upload,
    ensure_editable,
    ensure_may_submit,
    get_own_work,
)
from storage.s3 import ObjectNotFound, ObjectStore, get_store

log = logging.getLogger(__name__)

T = TypeVar("T")


def earlier_put(session: Session, digest: str, store: ObjectStore | None = None) -> Upload | None:
    """The upload a PUT with the same key already made, when it completed (the answer is given again,
    nothing is stored twice). One still receiving is refused (``UploadInProgress``) while its request
    holds the lock, and ended when that request is gone (its process died); an ended one frees the key."""
    upload = session.exec(select(Upload).where(col(Upload.idempotency_digest) == digest)).first()
    if upload is None:
        return None
    if upload.status == UploadStatus.complete:
        return upload
    if upload.status == UploadStatus.receiving:
        lock = UploadLock(upload.id)
        if not lock.acquire():
            raise UploadInProgress()
        try:
            end_upload(upload.id, store or get_store(), True)
        finally:
            lock.release()
    session.execute(update(Upload).where(col(Upload.id) == upload.id).values(idempotency_digest=None))
    session.commit()
    return None


async def _thread(func: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(func, *args)


def max_size(session: Session) -> int:
    return active_campaign(session).max_size_bytes


def create_upload(
    session: Session, user: User, *, work_id: int | None, length: int | None, filename: str | None,
    now: datetime | None = None, partial: bool = False, file_length: int | None = None,
    idempotency: str | None = None,
) -> Upload:
    """Check everything before a byte is stored, then record the upload (flushed; the caller commits).

    A partial upload may come without a work (tus-js-client sends the metadata on the final only):
    then only the campaign's window and size limit apply until the final names the work. A partial
    that declares the whole file's length (``file_length``, from its layout) is refused when that is
    over the limit.
    """
    now = now or utcnow()
    ensure_may_submit(user)  # before the work: a reviewer's upload is refused as such, never a 404
    if work_id is not None:
        work, campaign = ensure_accepts_upload(session, user, work_id)
    elif partial:
        work, campaign = None, active_campaign(session)
        ensure_open_for_new_upload(campaign, now)
    else:
        raise BadUploadRequest("Upload-Metadata 必须包含作品编号 work_id。", code="work_id_required")
    if length is not None:
        if partial and length == 0:
            pass  # a client splitting a tiny file may send an empty piece; the final's total is checked
        else:
            check_declared_length(length, campaign.max_size_bytes)
    if file_length is not None:
        check_declared_length(file_length, campaign.max_size_bytes)
    check_new_upload(session, user, length=length, partial=partial, now=now)
    upload_id = secrets.token_urlsafe(24)
    if partial:
        object_key = partial_key_for(upload_id)
    else:
        assert work is not None
        object_key = object_key_for(work.id or 0, upload_id)
    empty_piece = partial and length == 0
    upload = Upload(
        id=upload_id,
        work_id=work.id if work is not None else None,
        user_id=user.id or 0,
        filename=sanitize_filename(filename),
        length=length,
        object_key=object_key,
        created_at=now,
        expires_at=now + timedelta(hours=get_settings().upload_expiry_hours),
        concat=Concat.partial.value if partial else None,
        status=UploadStatus.complete.value if empty_piece else UploadStatus.receiving.value,
        completed_at=now if empty_piece else None,
        idempotency_digest=idempotency,
    )
    session.add(upload)
    session.flush()
    return upload


def ensure_may_upload_to(session: Session, user: User, work_id: int) -> None:
    """The checks of ``create_upload`` that come before anything else, in its order: the role (403), then
    the work (someone else's stays a 404)."""
    ensure_may_submit(user)
    get_own_work(session, user, work_id)


def _usable(upload: Upload, now: datetime) -> None:
    if upload.status in (UploadStatus.terminated, UploadStatus.expired):
        raise UploadGone()
    # A file being joined (a final and the pieces it claimed) expires as a whole, by the cleanup, once
    # none of its pieces made progress for the expiry: one piece idle while the others go on stays usable.
    if upload.concat == Concat.final or (upload.concat == Concat.partial and upload.final_id is not None):
        return
    # A finished partial that no final has joined yet expires like an unfinished upload.
    waiting = upload.status == UploadStatus.receiving or upload.concat == Concat.partial
    if waiting and as_utc(upload.expires_at) < now:
        raise UploadGone()


def get_own_upload(session: Session, user: User, upload_id: str, now: datetime | None = None) -> Upload:
    """The user's upload, usable (not expired or terminated); someone else's answers like a missing one."""
    upload = session.get(Upload, upload_id)
    if upload is None or upload.user_id != user.id:
        raise UploadNotFound()
    _usable(upload, now or utcnow())
    return upload


def current_offset(upload: Upload) -> int:
    return upload.length or 0 if upload.status == UploadStatus.complete else upload.offset


@dataclass
class _State:
    """What one request knows about the upload it appends to (reloaded from the row at its start)."""

    upload_id: str
    user_id: int
    work_id: int
    object_key: str
    length: int | None
    limit: int
    filename: str
    created_at: datetime
    s3_upload_id: str | None
    parts: list[dict[str, Any]]
    stored: int  # bytes in committed parts
    tail: bytes = b""
    expires_at: datetime | None = None
    # A partial written straight into its final's multipart upload: its part numbers follow the
    # previous partials', and unless it is the final's last piece its last part must be a valid S3 part.
    part_base: int = 0
    min_last_part: int = 0


def _load(upload_id: str, user_id: int, offset: int, content_length: int | None, store: ObjectStore) -> _State:
    now = utcnow()
    with unit_session() as session:
        # One statement for the upload, its work and the work's campaign (this runs for every chunk).
        row = session.execute(
            select(Upload, Work, Campaign)
            .outerjoin(Work, col(Work.id) == col(Upload.work_id))
            .outerjoin(Campaign, col(Campaign.id) == col(Work.campaign_id))
            .where(col(Upload.id) == upload_id)
        ).first()
        if row is None or row[0].user_id != user_id:
            raise UploadNotFound()
        upload, work, campaign = row
        _usable(upload, now)
        if upload.concat == Concat.final:
            raise FinalNotPatchable()
        if upload.status == UploadStatus.complete:
            raise OffsetMismatch(upload.length or 0)
        if offset != upload.offset:
            raise OffsetMismatch(upload.offset)
        if upload.work_id is None:  # a partial not yet joined to a work
            campaign = active_campaign(session)
        else:
            if work is None or campaign is None:
                raise UploadNotFound()
            # Submitted, under review or disqualified meanwhile: no more bytes for this file.
            ensure_editable(work)
        assert campaign is not None
        ensure_upload_may_continue(campaign, upload.created_at, now)
        limit = campaign.max_size_bytes
        if upload.length is not None and content_length is not None and offset + content_length > upload.length:
            raise UploadLengthExceeded()
        if upload.length is None and content_length is not None and offset + content_length > limit:
            raise too_large(limit)
        state = _State(
            upload_id=upload.id, user_id=upload.user_id, work_id=upload.work_id or 0, object_key=upload.object_key,
            length=upload.length, limit=limit, filename=upload.filename, created_at=upload.created_at,
            s3_upload_id=upload.s3_upload_id, parts=list(upload.parts), stored=upload.offset - upload.tail_size,
            expires_at=upload.expires_at,
        )
        if upload.part_base is not None and upload.final_id is not None:
            final = session.get(Upload, upload.final_id)
            state.part_base = upload.part_base
            if final is not None and final.partial_ids and final.partial_ids[-1] != upload.id:
                state.min_last_part = MIN_PART
        if upload.tail_size:
            state.tail = _read_tail(session, upload, store)
        return state


def _read_tail(session: Session, upload: Upload, store: ObjectStore) -> bytes:
    """The tail the row records, checked against its CRC: a file is byte-identical or its tail is sent again.

    On a mismatch the upload goes back to the end of its stored parts (compare-and-set on what was read)
    and the request is answered 409 with that offset, which tus clients resume from.
    """
    start = upload.offset - upload.tail_size
    key = tail_key_for(upload.id, start if upload.tail_crc is not None else None)
    try:
        data = store.get_bytes(key, 0, upload.tail_size - 1)
    except ObjectNotFound:
        data = b""
    if len(data) == upload.tail_size and (upload.tail_crc is None or tail_crc(data) == upload.tail_crc):
        return data
    log.error("upload %s: tail at %d does not match its row (%d bytes read); rewinding", upload.id, start, len(data))
    session.execute(
        update(Upload).where(col(Upload.id) == upload.id, col(Upload.offset) == upload.offset,
                             col(Upload.status) == UploadStatus.receiving)
        .values(offset=start, tail_size=0, tail_crc=None)
    )
    session.commit()
    raise TailRewound(start)


def _commit_progress(
    state: _State, old_offset: int, new_offset: int, tail_size: int, crc: str | None = None, **values: Any
) -> None:
    """Compare-and-set on the offset: a request that lost its lock cannot overwrite another's progress."""
    expires_at = utcnow() + timedelta(hours=get_settings().upload_expiry_hours)
    # Progress is cheap to redo, so its commit does not wait for the disk (one per part, on the hot
    # path): if a power cut undoes it, the client is told a lower offset and sends that part again
    # under the same part number. Completing an upload (status, version) is a durable commit.
    with relaxed_commit() as conn:
        # The object key is compared too: a partial joined to a final meanwhile writes elsewhere now.
        result = conn.execute(
            update(Upload)
            .where(col(Upload.id) == state.upload_id, col(Upload.offset) == old_offset,
                   col(Upload.status) == UploadStatus.receiving, col(Upload.object_key) == state.object_key)
            .values(offset=new_offset, parts=list(state.parts), tail_size=tail_size, tail_crc=crc,
                    s3_upload_id=state.s3_upload_id, expires_at=expires_at, **values)
        )
        if result.rowcount != 1:
            raise UploadBusy("该上传已被另一连接改变，请刷新进度后继续。")
        conn.commit()
    state.expires_at = expires_at


def _body(data: bytes | bytearray) -> bytes:
    """botocore sends a bytearray as it is (it accepts any bytes-like body): no copy of the buffer."""
    return cast(bytes, data)


def _store_part(state: _State, store: ObjectStore, data: bytes | bytearray, offset_before: int) -> None:
    """Upload one full part and commit the new offset (runs in a worker thread)."""
    if state.s3_upload_id is None:
        state.s3_upload_id = store.create_multipart(state.object_key)
    number = state.part_base + len(state.parts) + 1
    etag = store.upload_part(state.object_key, state.s3_upload_id, number, _body(data))
    state.parts.append({"n": number, "etag": etag, "size": len(data)})
    state.stored += len(data)
    _commit_progress(state, offset_before, state.stored, 0)


def _send_part(state: _State, store: ObjectStore, data: bytes | bytearray, part: dict[str, Any]) -> None:
    """Upload one part of a raw PUT (several at once); recorded in the row with the last part only."""
    assert state.s3_upload_id is not None
    part["etag"] = store.upload_part(state.object_key, state.s3_upload_id, int(part["n"]), _body(data))


def _store_tail(state: _State, store: ObjectStore, data: bytes | bytearray, offset_before: int) -> None:
    """Keep bytes that do not fill a part yet, so a later request (on any process) can go on.

    The tail this request started from is not deleted here: if this commit is lost, the row still points
    at it. Tails live until the upload completes or ends (at most one per part boundary, each under a part).
    """
    if data:
        store.put_bytes(tail_key_for(state.upload_id, state.stored), _body(data))
    if state.stored + len(data) != offset_before:
        _commit_progress(state, offset_before, state.stored + len(data), len(data), tail_crc(data) if data else None)


def _store_final(state: _State, store: ObjectStore, data: bytes | bytearray, offset_before: int) -> None:
    """Store the last bytes and record that every byte is in (offset == length), before completing."""
    length = state.stored + len(data)
    if state.s3_upload_id is None:
        # Everything fits in one request's buffer: a plain PUT, no multipart upload to complete.
        store.put_bytes(state.object_key, _body(data), content_type="video/mp4")
    elif data:
        number = state.part_base + len(state.parts) + 1
        etag = store.upload_part(state.object_key, state.s3_upload_id, number, _body(data))
        state.parts.append({"n": number, "etag": etag, "size": len(data)})
    state.stored = length
    state.length = length
    _commit_progress(state, offset_before, length, 0, length=length)


def finish(upload_id: str, store: ObjectStore | None = None) -> int | None:
    """Complete an upload whose bytes are all in (offset == length): once, whoever calls it.

    Returns the new version id, or None if the upload was already complete. Safe to call again after
    a crash at any point: completing a multipart upload twice is detected and the object checked.
    """
    store = store or get_store()
    with unit_session() as session:
        upload = session.get(Upload, upload_id)
        if upload is None or upload.status != UploadStatus.receiving or upload.offset != upload.length:
            return None
        if upload.concat == Concat.partial:
            final_id = finish_partial(session, upload, store)
        else:
            return finish_upload(session, upload, store)
    if final_id is not None:

        concat.finish_after_partial(final_id, store)
    return None


def _part_ready(state: _State, buffered: int, sent_end: int, part_size: int) -> bool:
    """Whether the next ``part_size`` bytes of the buffer can go to the store as a part now.

    The part at the end of the file is the last one: it waits for the end of the body. A partial that
    is not its final's last piece also keeps at least ``min_last_part`` bytes back, so its own last
    part (an inner part of the final object) is not below S3's minimum.
    """
    if buffered < part_size:
        return False
    if state.length is None:
        return buffered > part_size
    left_after = state.length - (sent_end + part_size)
    return left_after > 0 and left_after >= state.min_last_part


@dataclass(frozen=True)
class Appended:
    """Where an upload stands after a request appended to it (what the PATCH answer reports)."""

    offset: int
    length: int | None
    expires_at: datetime | None
    complete: bool


class BodyInterrupted(Exception):
    """The client went away mid-body: what arrived is still kept (tus) or dropped (raw PUT)."""


async def append(
    upload_id: str,
    user_id: int,
    offset: int,
    body: AsyncIterator[bytes],
    *,
    content_length: int | None,
    whole_file: bool = False,
    held_lock: UploadLock | None = None,
) -> Appended:
    """Stream a request body onto an upload at ``offset``; returns where the upload stands now.

    tus: full parts go to S3 while the next one is being received (one part in flight), each recorded
    in the row once stored, so a broken request keeps what arrived; memory stays at about three parts
    per request. ``whole_file`` (the raw PUT): the body is the entire file and a short or broken body
    stores nothing, so no part needs recording before the end: up to ``PUT_PARTS_IN_FLIGHT`` parts go
    to the store at once and the row is written once, with the last part.
    """
    store = get_store()
    part_size = store.part_size
    lock = held_lock or UploadLock(upload_id)  # held: taken before the upload row was committed
    if held_lock is None and not await _thread(lock.acquire):
        raise UploadBusy()
    # Parts being stored, oldest first, with where each ends in the file.
    in_flight: list[tuple[asyncio.Future[None], bytearray, int]] = []
    max_in_flight = PUT_PARTS_IN_FLIGHT if whole_file else 1
    buffer: PartBuffer | None = None
    committed = offset  # what the row holds

    async def settle(keep: int) -> None:
        """Wait for the oldest parts until at most ``keep`` are in flight; their blocks go back to the pool."""
        nonlocal committed
        while len(in_flight) > keep:
            task, block, end = in_flight.pop(0)
            await task
            if not whole_file:  # tus records each part as it is stored
                committed = end
            assert buffer is not None
            buffer.recycle(block)

    try:
        state = await _thread(_load, upload_id, user_id, offset, content_length, store)
        if state.length is not None and offset == state.length:
            # Every byte is already in but the completion did not happen (a crash): do it now.
            await _thread(finish, upload_id, store)
            return Appended(offset, state.length, state.expires_at, complete=True)
        sent_end = state.stored  # end of the bytes handed to the store (committed or in flight)
        buffer = PartBuffer(part_size, None if content_length is None else len(state.tail) + content_length)
        buffer.write(state.tail)
        state.tail = b""
        room = (state.length if state.length is not None else state.limit) - offset
        received = 0
        disconnected = False
        try:
            async for chunk in body:
                if received + len(chunk) > room:
                    # Stop reading: nothing of this request past its stored parts is kept.
                    if state.length is None or whole_file:
                        raise too_large(state.limit)
                    raise UploadLengthExceeded()
                buffer.write(chunk)
                received += len(chunk)
                # Renewed as the bytes come, not only when a part is full: a slow office connection may
                # take longer than the lock's TTL to send one part, and must not lose the upload to a retry.
                if lock.due() and not await _thread(lock.refresh):
                    raise UploadBusy("上传锁已失效，请刷新进度后继续。")
                while _part_ready(state, len(buffer), sent_end, part_size):
                    data = buffer.pop_part()
                    await settle(max_in_flight - 1)
                    if whole_file:
                        if state.s3_upload_id is None:
                            state.s3_upload_id = await _thread(store.create_multipart, state.object_key)
                        number = state.part_base + len(state.parts) + 1
                        state.parts.append({"n": number, "etag": "", "size": len(data)})
                        job = _thread(_send_part, state, store, data, state.parts[-1])
                    else:
                        job = _thread(_store_part, state, store, data, committed)
                    sent_end += len(data)
                    in_flight.append((asyncio.ensure_future(job), data, sent_end))
        except BodyInterrupted:
            disconnected = True
        await settle(0)
        total = sent_end + len(buffer)
        if whole_file:
            if disconnected or (content_length is not None and received != content_length):
                raise IncompleteBody()
            if total == 0:
                raise EmptyUpload()
            if state.length is None:
                state.length = total
            state.stored = sent_end  # every part is in the store now, none recorded yet
        if state.length is not None and total == state.length:
            last = buffer.take_all()
            await _thread(_store_final, state, store, last, committed)
            buffer.recycle(last)
            await _thread(finish, upload_id, store)
            return Appended(total, state.length, state.expires_at, complete=True)
        if whole_file:
            raise IncompleteBody()
        if received:
            await _thread(_store_tail, state, store, buffer.take_all(), committed)
        return Appended(total, state.length, state.expires_at, complete=False)
    except BaseException:
        for task, _block, _end in in_flight:  # never release the lock while a part is still being written
            with contextlib.suppress(BaseException):
                await task
        if whole_file:
            await _thread(end_upload, upload_id, store, True)
        raise
    finally:
        await _thread(lock.release)


def recover_if_stalled(upload: Upload, store: ObjectStore | None = None) -> bool:
    """An upload with every byte in but not complete (its process died between the two steps):
    finish it now, under the lock. Returns True if it is (now) complete."""
    if upload.status != UploadStatus.receiving or upload.length is None or upload.offset != upload.length:
        return upload.status == UploadStatus.complete
    lock = UploadLock(upload.id)
    if not lock.acquire():
        return False
    try:
        finish(upload.id, store)
        return True
    finally:
        lock.release()


def terminate(session: Session, user: User, upload_id: str) -> None:
    """tus termination: abort the multipart upload and drop the stored bytes now.

    A final upload and its partials end together: ending one piece of a file being joined ends the file.
    """
    upload = get_own_upload(session, user, upload_id)
    group = upload.id if upload.concat == Concat.final else upload.final_id
    if group is not None:

        session.commit()
        concat.terminate_final(group, get_store())
        return
    unjoined_partial = upload.concat == Concat.partial and upload.status == UploadStatus.complete
    if upload.status == UploadStatus.complete and not unjoined_partial:
        raise UploadComplete()
    lock = UploadLock(upload_id)
    if not lock.acquire():
        raise UploadBusy()
    try:
        session.commit()  # end the read transaction: end_upload works in its own unit
        end_upload(upload_id, get_store(), delete_object=True, status=upload.status)
    finally:
        lock.release()
