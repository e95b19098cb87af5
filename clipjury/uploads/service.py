"""Resumable uploads into object storage, shared by the tus routes and the raw PUT.

No state lives in the API process: the ``Upload`` row holds the offset and the stored parts, S3 holds
the bytes (multipart parts plus a small ``uploads/{id}/tail`` object for what does not fill a part
yet), and a Redis lock per upload keeps two requests from writing the same upload at once. Any API
process can therefore continue an upload another one started.

Object key of a finished upload: ``originals/{work_id}/{upload_id}.mp4`` (deterministic, never
derived from the client's filename). Completion happens exactly once: the bytes are stored, then the
row moves ``receiving -> complete`` by compare-and-set in the same transaction that adds the work
version (which sends the validation job after commit). A retried final PATCH finds the upload
complete and answers 409 ``offset_mismatch`` with ``Upload-Offset`` = length, without side effects.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import secrets
import time
import unicodedata
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from clipjury.accounts.models import User
from clipjury.campaigns.models import Campaign
from clipjury.campaigns.service import active_campaign, ensure_upload_may_continue
from clipjury.db import get_engine
from clipjury.errors import Conflict, DomainError, Gone, Invalid, Locked, NotFound, PayloadTooLarge
from clipjury.jobs import get_redis
from clipjury.settings import get_settings
from clipjury.timeutil import as_utc, utcnow
from clipjury.uploads.models import Upload, UploadStatus
from clipjury.works.models import Work, WorkStatus
from clipjury.works.service import AlreadySubmitted, add_version, ensure_accepts_upload
from storage.s3 import ObjectNotFound, ObjectStore, get_store

log = logging.getLogger(__name__)

T = TypeVar("T")
MIB = 1024 * 1024
FILENAME_MAX = 255
DEFAULT_FILENAME = "video.mp4"


# -- errors ----------------------------------------------------------------------------------------

class TusError(DomainError):
    """A tus protocol error; ``headers`` are added to the problem response."""

    headers: dict[str, str] = {}  # noqa: RUF012  (read-only default, replaced per instance)


class BadUploadRequest(TusError):
    status_code = 400
    code = "bad_upload_request"
    message = "上传请求格式有误。"


class TusVersionUnsupported(TusError):
    status_code = 412
    code = "tus_version_unsupported"
    message = "不支持的 tus 协议版本，请使用 tus 1.0.0 客户端。"
    headers = {"Tus-Version": "1.0.0"}  # noqa: RUF012


class UnsupportedContentType(TusError):
    status_code = 415
    code = "unsupported_media_type"
    message = "上传数据的 Content-Type 必须是 application/offset+octet-stream。"


class EmptyUpload(Invalid):
    code = "empty"
    message = "文件是空的（0 字节）。请确认视频已导出完成，再重新选择文件上传。"


class TooLarge(PayloadTooLarge):
    code = "too_large"


class UploadLengthExceeded(PayloadTooLarge):
    code = "upload_length_exceeded"
    message = "发送的数据超过了创建上传时声明的文件大小，本次数据未被保存。请重新开始上传。"


class OffsetMismatch(TusError, Conflict):
    status_code = 409
    code = "offset_mismatch"
    message = "上传位置与服务器记录不一致，请刷新进度后继续上传。"

    def __init__(self, current: int) -> None:
        super().__init__(offset=current)
        self.headers = {"Upload-Offset": str(current)}


class UploadNotFound(NotFound):
    code = "upload_not_found"
    message = "找不到该上传，或您无权访问。"


class UploadGone(Gone):
    code = "upload_gone"
    message = "该上传已过期或已取消，请重新上传文件。"


class UploadBusy(Locked):
    code = "upload_busy"


class UploadComplete(Conflict):
    code = "upload_complete"
    message = "该上传已完成，不能再取消。"


class IncompleteBody(BadUploadRequest):
    code = "incomplete_body"
    message = "文件没有完整收到（连接中断），请重新上传。"


def too_large(limit: int) -> TooLarge:
    return TooLarge(f"文件超过大小上限（{limit / MIB:.0f} MB），请压缩或剪短后再上传。", limit=limit)


# -- small pure helpers ----------------------------------------------------------------------------

def object_key_for(work_id: int, upload_id: str) -> str:
    return f"originals/{work_id}/{upload_id}.mp4"


def tail_key_for(upload_id: str) -> str:
    return f"uploads/{upload_id}/tail"


def sanitize_filename(raw: str | None) -> str:
    """A name for display only (never a storage key): no path, no control characters, bounded."""
    name = unicodedata.normalize("NFC", raw or "")
    name = "".join(" " if unicodedata.category(ch).startswith(("C", "Z")) else ch for ch in name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = " ".join(name.split()).strip(". ")
    if len(name) > FILENAME_MAX:
        stem, dot, ext = name.rpartition(".")
        keep = f".{ext}" if dot and 0 < len(ext) <= 10 else ""
        name = (stem if keep else name)[: FILENAME_MAX - len(keep)] + keep
    return name or DEFAULT_FILENAME


def parse_metadata(header: str | None) -> dict[str, str]:
    """tus ``Upload-Metadata``: comma-separated ``key base64value`` pairs (the value may be absent)."""
    result: dict[str, str] = {}
    for pair in (header or "").split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, encoded = pair.partition(" ")
        try:
            value = base64.b64decode(encoded.strip(), validate=True).decode("utf-8") if encoded.strip() else ""
        except (binascii.Error, UnicodeDecodeError):
            raise BadUploadRequest(
                f"Upload-Metadata 中 {key[:40]!r} 的值不是有效的 base64（UTF-8）。", code="invalid_metadata"
            ) from None
        result[key] = value
    return result


def parse_length(value: str | None, header: str) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit() or len(value) > 18:
        raise BadUploadRequest(f"{header} 必须是非负整数。", code=f"invalid_{header.lower().replace('-', '_')}")
    return int(value)


def _lock_key(upload_id: str) -> str:
    return f"{get_settings().queue_prefix}:upload-lock:{upload_id}"


_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_REFRESH = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)


class UploadLock:
    """One writer per upload across every API process (SET NX PX with a token, refreshed while streaming)."""

    def __init__(self, upload_id: str) -> None:
        self.key = _lock_key(upload_id)
        self.token = secrets.token_hex(16)
        self.ttl_ms = get_settings().upload_lock_ttl_s * 1000
        self.refreshed_at = 0.0

    def acquire(self) -> bool:
        ok = bool(get_redis().set(self.key, self.token, nx=True, px=self.ttl_ms))
        self.refreshed_at = time.monotonic()
        return ok

    def due(self) -> bool:
        return time.monotonic() - self.refreshed_at > self.ttl_ms / 3000

    def refresh(self) -> bool:
        self.refreshed_at = time.monotonic()
        return bool(get_redis().eval(_REFRESH, 1, self.key, self.token, self.ttl_ms))  # type: ignore[no-untyped-call]

    def release(self) -> None:
        try:
            get_redis().eval(_RELEASE, 1, self.key, self.token)  # type: ignore[no-untyped-call]
        except Exception:  # the TTL frees it anyway
            log.warning("could not release %s", self.key, exc_info=True)


def _session() -> Session:
    return Session(get_engine(), expire_on_commit=False)


async def _thread(func: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(func, *args)


# -- creating and reading ----------------------------------------------------------------------------

def max_size(session: Session) -> int:
    return active_campaign(session).max_size_bytes


def create_upload(
    session: Session, user: User, *, work_id: int, length: int | None, filename: str | None,
    now: datetime | None = None,
) -> Upload:
    """Check everything before a byte is stored, then record the upload (flushed; the caller commits)."""
    now = now or utcnow()
    work, campaign = ensure_accepts_upload(session, user, work_id)
    if length is not None:
        check_declared_length(length, campaign.max_size_bytes)
    upload_id = secrets.token_urlsafe(24)
    upload = Upload(
        id=upload_id,
        work_id=work.id or 0,
        user_id=user.id or 0,
        filename=sanitize_filename(filename),
        length=length,
        object_key=object_key_for(work.id or 0, upload_id),
        created_at=now,
        expires_at=now + timedelta(hours=get_settings().upload_expiry_hours),
    )
    session.add(upload)
    session.flush()
    return upload


def check_declared_length(length: int, limit: int) -> None:
    if length == 0:
        raise EmptyUpload()
    if length > limit:
        raise too_large(limit)


def _usable(upload: Upload, now: datetime) -> None:
    if upload.status in (UploadStatus.terminated, UploadStatus.expired):
        raise UploadGone()
    if upload.status == UploadStatus.receiving and as_utc(upload.expires_at) < now:
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


# -- receiving bytes ---------------------------------------------------------------------------------

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


def _load(upload_id: str, user_id: int, offset: int, content_length: int | None, store: ObjectStore) -> _State:
    now = utcnow()
    with _session() as session:
        upload = session.get(Upload, upload_id)
        if upload is None or upload.user_id != user_id:
            raise UploadNotFound()
        _usable(upload, now)
        if upload.status == UploadStatus.complete:
            raise OffsetMismatch(upload.length or 0)
        if offset != upload.offset:
            raise OffsetMismatch(upload.offset)
        work = session.get(Work, upload.work_id)
        campaign = session.get(Campaign, work.campaign_id) if work else None
        if work is None or campaign is None:
            raise UploadNotFound()
        if work.status == WorkStatus.submitted:
            raise AlreadySubmitted("作品已提交，不能更换文件；如需更换，请先撤回提交。")
        ensure_upload_may_continue(campaign, upload.created_at, now)
        limit = campaign.max_size_bytes
        if upload.length is not None and content_length is not None and offset + content_length > upload.length:
            raise UploadLengthExceeded()
        if upload.length is None and content_length is not None and offset + content_length > limit:
            raise too_large(limit)
        state = _State(
            upload_id=upload.id, user_id=upload.user_id, work_id=upload.work_id, object_key=upload.object_key,
            length=upload.length, limit=limit, filename=upload.filename, created_at=upload.created_at,
            s3_upload_id=upload.s3_upload_id, parts=list(upload.parts), stored=upload.offset - upload.tail_size,
            expires_at=upload.expires_at,
        )
        if upload.tail_size:
            state.tail = store.get_bytes(tail_key_for(upload.id), 0, upload.tail_size - 1)
            if len(state.tail) != upload.tail_size:
                raise RuntimeError(f"tail of upload {upload.id} is shorter than recorded")
        return state


def _commit_progress(state: _State, old_offset: int, new_offset: int, tail_size: int, **values: Any) -> None:
    """Compare-and-set on the offset: a request that lost its lock cannot overwrite another's progress."""
    expires_at = utcnow() + timedelta(hours=get_settings().upload_expiry_hours)
    with _session() as session:
        result = session.execute(
            update(Upload)
            .where(col(Upload.id) == state.upload_id, col(Upload.offset) == old_offset,
                   col(Upload.status) == UploadStatus.receiving)
            .values(offset=new_offset, parts=list(state.parts), tail_size=tail_size,
                    s3_upload_id=state.s3_upload_id, expires_at=expires_at, **values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise UploadBusy("该上传已被另一连接改变，请刷新进度后继续。")
        session.commit()
    state.expires_at = expires_at


def _store_part(state: _State, store: ObjectStore, data: bytes, offset_before: int) -> None:
    """Upload one full part and commit the new offset (runs in a worker thread)."""
    if state.s3_upload_id is None:
        state.s3_upload_id = store.create_multipart(state.object_key)
    number = len(state.parts) + 1
    etag = store.upload_part(state.object_key, state.s3_upload_id, number, data)
    state.parts.append({"n": number, "etag": etag, "size": len(data)})
    state.stored += len(data)
    _commit_progress(state, offset_before, state.stored, 0)


def _store_tail(state: _State, store: ObjectStore, data: bytes, offset_before: int) -> None:
    """Keep bytes that do not fill a part yet, so a later request (on any process) can go on."""
    if data:
        store.put_bytes(tail_key_for(state.upload_id), data)
    if state.stored + len(data) != offset_before:
        _commit_progress(state, offset_before, state.stored + len(data), len(data))


def _store_final(state: _State, store: ObjectStore, data: bytes, offset_before: int) -> None:
    """Store the last bytes and record that every byte is in (offset == length), before completing."""
    length = state.stored + len(data)
    if state.s3_upload_id is None:
        # Everything fits in one request's buffer: a plain PUT, no multipart upload to complete.
        store.put_bytes(state.object_key, data, content_type="video/mp4")
    elif data:
        number = len(state.parts) + 1
        etag = store.upload_part(state.object_key, state.s3_upload_id, number, data)
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
    with _session() as session:
        upload = session.get(Upload, upload_id)
        if upload is None or upload.status != UploadStatus.receiving or upload.offset != upload.length:
            return None
        length = upload.length or 0
        if upload.s3_upload_id is not None:
            parts = [(int(p["n"]), str(p["etag"])) for p in upload.parts]
            try:
                store.complete_multipart(upload.object_key, upload.s3_upload_id, parts)
            except ObjectNotFound:
                pass  # completed by an earlier attempt that died before its commit: the size check decides
        info = store.head(upload.object_key)
        if info is None or info.size != length:
            log.error("upload %s: stored object %s is missing or has the wrong size", upload_id, upload.object_key)
            raise UploadGone("上传的文件在存储中不完整，请重新上传。")
        now = utcnow()
        result = session.execute(
            update(Upload)
            .where(col(Upload.id) == upload_id, col(Upload.status) == UploadStatus.receiving,
                   col(Upload.offset) == length)
            .values(status=UploadStatus.complete, completed_at=now, tail_size=0)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            return None
        work = session.get(Work, upload.work_id)
        user = session.get(User, upload.user_id)
        assert work is not None
        try:
            version = add_version(
                session, work, actor=user, object_key=upload.object_key, size_bytes=length,
                filename=upload.filename, upload_id=upload.id, upload_started_at=upload.created_at,
            )
        except AlreadySubmitted:
            session.rollback()
            _terminate(upload_id, store, delete_object=True)
            raise
        session.execute(update(Upload).where(col(Upload.id) == upload_id).values(version_id=version.id))
        session.commit()  # sends the validation job
    # A tail object may linger from any earlier request (its bytes have since gone into parts).
    _delete_quietly(store, tail_key_for(upload_id))
    return version.id


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
) -> int:
    """Stream a request body onto an upload at ``offset``; returns the new offset.

    ``whole_file`` (the raw PUT): the body is the entire file; a short or broken body stores nothing.
    Full parts go to S3 while the next one is being received (one part in flight), so the network
    from the client and to the store overlap; memory stays at about three parts per request.
    """
    store = get_store()
    part_size = store.part_size
    lock = UploadLock(upload_id)
    if not await _thread(lock.acquire):
        raise UploadBusy()
    pending: asyncio.Task[None] | None = None
    try:
        state = await _thread(_load, upload_id, user_id, offset, content_length, store)
        if state.length is not None and offset == state.length:
            # Every byte is already in but the completion did not happen (a crash): do it now.
            await _thread(finish, upload_id, store)
            return offset
        committed = offset  # what the row holds
        sent_end = state.stored  # end of the bytes handed to the store (committed or in flight)
        buffer = bytearray(state.tail)
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
                buffer += chunk
                received += len(chunk)
                # A part exactly at the end of the file is the last one: it waits for the end of the body.
                while len(buffer) > part_size or (
                    len(buffer) == part_size and state.length is not None and sent_end + part_size < state.length
                ):
                    data = bytes(buffer[:part_size])
                    del buffer[:part_size]
                    if pending is not None:
                        await pending
                        pending = None
                        committed = sent_end
                    if lock.due() and not await _thread(lock.refresh):
                        raise UploadBusy("上传锁已失效，请刷新进度后继续。")
                    pending = asyncio.ensure_future(_thread(_store_part, state, store, data, committed))
                    sent_end += len(data)
        except BodyInterrupted:
            disconnected = True
        if pending is not None:
            await pending
            pending = None
            committed = sent_end
        total = sent_end + len(buffer)
        if whole_file:
            if disconnected or (content_length is not None and received != content_length):
                raise IncompleteBody()
            if total == 0:
                raise EmptyUpload()
            if state.length is None:
                state.length = total
        if state.length is not None and total == state.length:
            await _thread(_store_final, state, store, bytes(buffer), committed)
            await _thread(finish, upload_id, store)
            return total
        if whole_file:
            raise IncompleteBody()
        if received:
            await _thread(_store_tail, state, store, bytes(buffer), committed)
        return total
    except BaseException:
        if pending is not None:  # never release the lock while a part is still being written
            with contextlib.suppress(BaseException):
                await pending
        if whole_file:
            await _thread(_terminate, upload_id, store, True)
        raise
    finally:
        await _thread(lock.release)


# -- recovery, termination, expiry -------------------------------------------------------------------

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


def _delete_quietly(store: ObjectStore, key: str) -> None:
    try:
        store.delete(key)
    except ObjectNotFound:
        pass


def _release_storage(store: ObjectStore, upload: Upload, *, delete_object: bool) -> None:
    """Abort every multipart upload of this upload's key (an orphan from a crash too), drop the tail."""
    if upload.s3_upload_id:
        store.abort_multipart(upload.object_key, upload.s3_upload_id)
    for key, other_id in store.list_multipart_uploads(prefix=upload.object_key):
        if key == upload.object_key:
            store.abort_multipart(key, other_id)
    _delete_quietly(store, tail_key_for(upload.id))
    if delete_object:
        _delete_quietly(store, upload.object_key)


def _terminate(upload_id: str, store: ObjectStore, delete_object: bool = False) -> None:
    with _session() as session:
        upload = session.get(Upload, upload_id)
        if upload is None or upload.status != UploadStatus.receiving:
            return
        _release_storage(store, upload, delete_object=delete_object)
        session.execute(
            update(Upload).where(col(Upload.id) == upload_id, col(Upload.status) == UploadStatus.receiving)
            .values(status=UploadStatus.terminated, s3_upload_id=None, tail_size=0)
        )
        session.commit()


def terminate(session: Session, user: User, upload_id: str) -> None:
    """tus termination: abort the multipart upload and drop the stored bytes now."""
    upload = get_own_upload(session, user, upload_id)
    if upload.status == UploadStatus.complete:
        raise UploadComplete()
    lock = UploadLock(upload_id)
    if not lock.acquire():
        raise UploadBusy()
    try:
        session.commit()  # end the read transaction: _terminate works in its own unit
        _terminate(upload_id, get_store(), delete_object=True)
    finally:
        lock.release()


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
                col(Upload.status).in_([UploadStatus.terminated, UploadStatus.expired])
                & (col(Upload.s3_upload_id).is_not(None) | (col(Upload.tail_size) > 0)),
            )
        )
    ))
    expired = 0
    for upload in rows:
        lock = UploadLock(upload.id)
        if not lock.acquire():
            continue
        try:
            _release_storage(store, upload, delete_object=True)
            was = upload.status  # read first: the UPDATE below also refreshes the loaded object
            new_status = UploadStatus.expired if was == UploadStatus.receiving else was
            result = session.execute(
                update(Upload).where(col(Upload.id) == upload.id, col(Upload.status) == was)
                .values(status=new_status, s3_upload_id=None, tail_size=0)
            )
            if was == UploadStatus.receiving and result.rowcount == 1:  # type: ignore[attr-defined]
                expired += 1
        finally:
            lock.release()
    session.flush()
    if expired:
        log.info("expired %d abandoned uploads", expired)
    return expired
