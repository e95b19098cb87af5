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

Partial uploads (tus concatenation) use the same machinery; ``clipjury.uploads.concat`` decides where
their bytes go and joins them into the final upload.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import secrets
import threading
import time
import unicodedata
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

import anyio.to_thread
from sqlalchemy import or_, true, update
from sqlmodel import Session, col, select

from clipjury.accounts.models import User
from clipjury.campaigns.models import Campaign
from clipjury.campaigns.service import active_campaign, ensure_open_for_new_upload, ensure_upload_may_continue
from clipjury.db import get_engine, relaxed_commit
from clipjury.errors import Conflict, DomainError, Gone, Invalid, Locked, NotFound, PayloadTooLarge
from clipjury.jobs import get_redis
from clipjury.numbers import ascii_digits, db_id
from clipjury.settings import get_settings
from clipjury.timeutil import as_utc, utcnow
from clipjury.uploads.limits import check_new_upload
from clipjury.uploads.models import Concat, Upload, UploadStatus
from clipjury.works.models import Work
from clipjury.works.policy import AlreadySubmitted, Disqualified, UnderReview, WorkNotFound
from clipjury.works.service import (
    add_version,
    ensure_accepts_upload,
    ensure_editable,
    ensure_may_submit,
    get_own_work,
)
from storage.s3 import ObjectNotFound, ObjectStore, get_store

log = logging.getLogger(__name__)

T = TypeVar("T")
MIB = 1024 * 1024
# S3's smallest part (every part but the last of an object).
MIN_PART = 5 * MIB
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


class TailRewound(OffsetMismatch):
    """The bytes after the last stored part are not what the row recorded (a request that lost its lock
    wrote over them, or their object is gone): they are dropped and the client sends them again."""

    code = "upload_rewound"
    message = "服务器上最后一段数据未能确认，已退回到上一个完整分块：请从该位置继续上传（tus 客户端会自动续传）。"


class UploadNotFound(NotFound):
    code = "upload_not_found"
    message = "找不到该上传，或您无权访问。"


class UploadGone(Gone):
    code = "upload_gone"
    message = "该上传已过期或已取消，请重新上传文件。"


class UploadBusy(Locked):
    code = "upload_busy"


class FinalNotPatchable(TusError):
    status_code = 403
    code = "concat_final_patch"
    message = "合并后的上传不能再追加数据，请向各个部分上传发送数据。"


class UploadComplete(Conflict):
    code = "upload_complete"
    message = "该上传已完成，不能再取消。"


class InvalidIdempotencyKey(BadUploadRequest):
    code = "invalid_idempotency_key"
    message = "Idempotency-Key 必须是 1 到 255 个可见的 ASCII 字符（如一个 UUID）。"


class UploadInProgress(Conflict):
    code = "upload_in_progress"
    message = "带同一 Idempotency-Key 的上传正在进行：请等它结束后查询作品状态，不必重复发送。"


class IncompleteBody(BadUploadRequest):
    code = "incomplete_body"
    message = "文件没有完整收到（连接中断），请重新上传。"


def too_large(limit: int) -> TooLarge:
    return TooLarge(f"文件超过大小上限（{limit / MIB:.0f} MB），请压缩或剪短后再上传。", limit=limit)


# -- small pure helpers ----------------------------------------------------------------------------

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
    if not ascii_digits(value) or len(value) > 18:
        raise BadUploadRequest(f"{header} 必须是非负整数。", code=f"invalid_{header.lower().replace('-', '_')}")
    return int(value)


def parse_work_id(raw: str) -> int:
    """The ``work_id`` of ``Upload-Metadata`` (stripped, not empty). A number no database id can be
    (ids are 32-bit on PostgreSQL) names no work: answered like an unknown one, never sent to the database."""
    if not ascii_digits(raw):
        raise BadUploadRequest("Upload-Metadata 中的作品编号 work_id 必须是数字。", code="work_id_required")
    work_id = db_id(raw)
    if work_id is None:
        raise WorkNotFound()
    return work_id


IDEMPOTENCY_KEY_MAX = 255


def idempotency_digest(user_id: int, work_id: int, key: str) -> str:
    """What a raw PUT's ``Idempotency-Key`` names: this user's upload of a file to this work."""
    key = key.strip()
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX or not all("!" <= ch <= "~" for ch in key):
        raise InvalidIdempotencyKey()
    return hashlib.sha256(f"{user_id}\0{work_id}\0{key}".encode()).hexdigest()


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
            _terminate(upload.id, store or get_store(), True)
        finally:
            lock.release()
    session.execute(update(Upload).where(col(Upload.id) == upload.id).values(idempotency_digest=None))
    session.commit()
    return None


def _lock_key(upload_id: str) -> str:
    return f"{get_settings().queue_prefix}:upload-lock:{upload_id}"


_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_REFRESH = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)


class UploadLock:
    """One writer per upload across every API process (SET NX PX with a token, refreshed while streaming)."""

    def __init__(self, upload_id: str) -> None:
        self.upload_id = upload_id
        self.key = _lock_key(upload_id)
        self.token = secrets.token_hex(16)
        self.ttl_ms = get_settings().upload_lock_ttl_s * 1000
        self.refreshed_at = 0.0

    def acquire(self) -> bool:
        ok = bool(get_redis().set(self.key, self.token, nx=True, px=self.ttl_ms))
        self.refreshed_at = time.monotonic()
        return ok

    def acquire_wait(self, timeout_s: float) -> bool:
        """Acquire, waiting up to ``timeout_s`` for a short holder (e.g. the completion of a final upload)."""
        deadline = time.monotonic() + timeout_s
        while not self.acquire():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

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

    @contextlib.contextmanager
    def kept(self) -> Iterator[LockKeeper]:
        """Renew the held lock from a thread while the block runs (work that makes no progress a caller
        can see, such as server-side copies on a slow store, would otherwise outlive the TTL and let a
        second caller take the lock and undo it). The block checks ``keeper.check()`` before it commits."""
        keeper = LockKeeper(self)
        keeper.start()
        try:
            yield keeper
        finally:
            keeper.stop()


class LockKeeper(threading.Thread):
    def __init__(self, lock: UploadLock) -> None:
        super().__init__(name=f"keep-{lock.key}", daemon=True)
        self.lock = lock
        self.lost = False
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.lock.ttl_ms / 3000):
            try:
                held = self.lock.refresh()
            except Exception:  # Redis away for a moment: try again at the next beat, the TTL still runs
                log.warning("could not renew %s", self.lock.key, exc_info=True)
                continue
            if not held:
                self.lost = True
                return

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def check(self) -> None:
        """Raise if the lock was lost (expired and maybe taken): what was done under it must not be committed."""
        if self.lost:
            raise UploadBusy("上传锁已失效，请刷新进度后继续。")


def _session() -> Session:
    return Session(get_engine(), expire_on_commit=False)


async def _thread(func: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(func, *args)


# -- creating and reading ----------------------------------------------------------------------------

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


def check_declared_length(length: int, limit: int) -> None:
    if length == 0:
        raise EmptyUpload()
    if length > limit:
        raise too_large(limit)


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
    # A partial written straight into its final's multipart upload: its part numbers follow the
    # previous partials', and unless it is the final's last piece its last part must be a valid S3 part.
    part_base: int = 0
    min_last_part: int = 0


def _load(upload_id: str, user_id: int, offset: int, content_length: int | None, store: ObjectStore) -> _State:
    now = utcnow()
    with _session() as session:
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
    with _session() as session:
        upload = session.get(Upload, upload_id)
        if upload is None or upload.status != UploadStatus.receiving or upload.offset != upload.length:
            return None
        if upload.concat == Concat.partial:
            final_id = _finish_partial(session, upload, store)
        else:
            return _finish_upload(session, upload, store)
    if final_id is not None:
        from clipjury.uploads import concat  # builds on this module

        concat.finish_after_partial(final_id, store)
    return None


def _finish_partial(session: Session, upload: Upload, store: ObjectStore) -> str | None:
    """A partial is complete once its bytes are stored: in its own object, or as parts of its final's
    multipart upload (which the final completes). Returns the final to try completing, if any."""
    length = upload.length or 0
    if upload.part_base is None:
        if upload.s3_upload_id is not None:
            parts = [(int(p["n"]), str(p["etag"])) for p in upload.parts]
            try:
                store.complete_multipart(upload.object_key, upload.s3_upload_id, parts)
            except ObjectNotFound:
                pass  # completed by an earlier attempt that died before its commit: the size check decides
        info = store.head(upload.object_key)
        if info is None or info.size != length:
            log.error("partial upload %s: stored object is missing or has the wrong size", upload.id)
            raise UploadGone("上传的文件在存储中不完整，请重新上传。")
    result = session.execute(
        update(Upload)
        .where(col(Upload.id) == upload.id, col(Upload.status) == UploadStatus.receiving,
               col(Upload.offset) == length)
        .values(status=UploadStatus.complete, completed_at=utcnow(), tail_size=0)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return None
    session.commit()
    delete_tails(store, upload.id)
    return upload.final_id


def _finish_upload(session: Session, upload: Upload, store: ObjectStore) -> int | None:
    upload_id = upload.id
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
    try:
        version_id = add_upload_version(session, upload, length)
    except (AlreadySubmitted, UnderReview, Disqualified):  # the work moved on while the bytes arrived
        session.rollback()
        _terminate(upload_id, store, delete_object=True)
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


class _BlockPool:
    """A few part-sized blocks kept for the next request: a fresh 8 MiB block costs 2,048 page faults
    (and zeroing) before the first byte lands in it, more than the copy into it. Bounded: at most
    ``keep`` blocks stay allocated while the process is idle."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._free: list[bytearray] = []
        self._lock = threading.Lock()

    def get(self, size: int) -> bytearray:
        with self._lock:
            while self._free:
                block = self._free.pop()
                if len(block) == size:
                    return block
        return bytearray(size)

    def put(self, block: bytearray) -> None:
        with self._lock:
            if len(self._free) < self.keep:
                self._free.append(block)


BLOCK_POOL = _BlockPool(keep=4)
# Parts of one raw PUT sent to the store at once: one stream keeps the store busy only while it waits on
# several parts (tus gets the same from its parallel partials). Each is a part-sized block of memory.
PUT_PARTS_IN_FLIGHT = 4


class PartBuffer:
    """Bytes received but not stored yet, in blocks of one S3 part each.

    Each block is allocated once at its final size (or taken from ``BLOCK_POOL``) and filled in place,
    and a full block goes to the store as it is. (Growing one ``bytearray`` with ``+=`` reallocates it
    again and again: the heap copies an 8 MiB part about eight times over while it fills, which was most
    of the API's CPU per byte.) ``expected`` is how many bytes are still coming, when the request says
    so (Content-Length): a small request then gets a small block, not a whole part.
    """

    def __init__(self, part_size: int, expected: int | None = None) -> None:
        self.part_size = part_size
        self.expected = expected
        self.blocks: list[bytearray] = []
        self.fill = 0  # bytes used in the last block
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def _new_block(self) -> None:
        capacity = self.part_size
        if self.expected is not None:
            capacity = max(1, min(capacity, self.expected))
        self.blocks.append(BLOCK_POOL.get(capacity) if capacity == self.part_size else bytearray(capacity))
        self.fill = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            if not self.blocks or self.fill == self.part_size:
                self._new_block()
            block = self.blocks[-1]
            if self.fill == len(block):  # more than the request announced: grow this block up to a part
                block.extend(bytes(min(self.part_size, self.fill + len(view)) - self.fill))
            n = min(len(view), len(block) - self.fill)
            block[self.fill:self.fill + n] = view[:n]
            self.fill += n
            self.size += n
            if self.expected is not None:
                self.expected = max(0, self.expected - n)
            view = view[n:]

    def pop_part(self) -> bytearray:
        """The first ``part_size`` bytes, without copying them (the caller checked there are that many)."""
        block = self.blocks.pop(0)
        if not self.blocks:
            self.fill = 0
        self.size -= len(block)
        return block

    def recycle(self, block: bytearray) -> None:
        """Give a block back once the store has it (never while a request may still send it)."""
        if len(block) == self.part_size:
            BLOCK_POOL.put(block)

    def take_all(self) -> bytearray:
        """Everything buffered, as one bytearray (one copy only when it spans several blocks)."""
        if not self.blocks:
            return bytearray()
        del self.blocks[-1][self.fill:]
        data = self.blocks[0] if len(self.blocks) == 1 else bytearray().join(self.blocks)
        self.blocks, self.fill, self.size = [], 0, 0
        return data


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


def abort_orphan_multiparts(store: ObjectStore, key: str) -> None:
    """Multipart uploads left on a finished object's key (no row records them any more)."""
    for other_key, other_id in store.list_multipart_uploads(prefix=key):
        if other_key == key:
            store.abort_multipart(key, other_id)


def delete_tails(store: ObjectStore, upload_id: str) -> None:
    """Every tail object of an upload (the current one and any a lost commit or a dead request left)."""
    for key in store.list_keys(tail_prefix(upload_id)):
        _delete_quietly(store, key)


def _release_storage(store: ObjectStore, upload: Upload, *, delete_object: bool) -> None:
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
        _delete_quietly(store, upload.object_key)


def _terminate(
    upload_id: str, store: ObjectStore, delete_object: bool = False, *, status: str = UploadStatus.receiving
) -> None:
    """End an upload in ``status`` (a finished partial no final joined may be ended too)."""
    with _session() as session:
        upload = session.get(Upload, upload_id)
        if upload is None or upload.status != status:
            return
        _release_storage(store, upload, delete_object=delete_object)
        session.execute(
            update(Upload).where(col(Upload.id) == upload_id, col(Upload.status) == status,
                                 col(Upload.final_id).is_(None) if upload.concat == Concat.partial else true())
            .values(status=UploadStatus.terminated, s3_upload_id=None, tail_size=0, tail_crc=None)
        )
        session.commit()


def terminate(session: Session, user: User, upload_id: str) -> None:
    """tus termination: abort the multipart upload and drop the stored bytes now.

    A final upload and its partials end together: ending one piece of a file being joined ends the file.
    """
    upload = get_own_upload(session, user, upload_id)
    group = upload.id if upload.concat == Concat.final else upload.final_id
    if group is not None:
        from clipjury.uploads import concat  # builds on this module

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
        session.commit()  # end the read transaction: _terminate works in its own unit
        _terminate(upload_id, get_store(), delete_object=True, status=upload.status)
    finally:
        lock.release()


def cleanup_expired_uploads(session: Session, now: datetime) -> int:
    """Expire abandoned uploads and free their storage; returns how many were expired.

    Also finishes freeing terminated or expired uploads whose storage could not be released before.
    Busy uploads (a request holds the lock) are left for the next run. The caller commits.
    """
    from clipjury.uploads import concat  # builds on this module

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
                if claimed.rowcount != 1:  # type: ignore[attr-defined]
                    continue
                was = new_status
            _release_storage(store, upload, delete_object=True)
            result = session.execute(
                update(Upload).where(col(Upload.id) == upload.id, col(Upload.status) == was)
                .values(status=new_status, s3_upload_id=None, tail_size=0)
            )
            if abandoned and result.rowcount == 1:  # type: ignore[attr-defined]
                expired += 1
        finally:
            lock.release()
    session.flush()
    if expired:
        log.info("expired %d abandoned uploads", expired)
    return expired

