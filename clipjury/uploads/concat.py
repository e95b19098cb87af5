"""tus concatenation: several partial uploads sent in parallel, joined by a final upload into one file.

Like every upload, nothing lives in the API process: the final's row lists its partials in order, each
partial's row names its final (set once, by compare-and-set, so a partial joins one file only), S3 holds
the bytes and Redis locks keep two requests from changing the same rows at once.

Two ways the bytes reach the final object ``originals/{work}/{final}.mp4`` (one ordinary S3 object):

* **Straight** (no copy): when the final is created before any byte of its partials was sent (tus
  ``concatenation-unfinished``), the final's multipart upload is created at once and each partial writes
  its parts into it, under part numbers that follow the previous partials'. Completing the final is one
  ``CompleteMultipartUpload``. This is the fast path: the store receives every byte once.
* **Straight, final last**: tus-js-client and Uppy create the final only after the partials are done.
  Our web page therefore declares, in each partial's ``Upload-Metadata``, the file's layout
  (``concat_layout``: the lengths of all partials, in order, each but the last a whole number of S3
  parts and no two the same) and a random ``concat_group``. The first partial of a group creates its
  final (and the multipart upload) at once; each partial finds its place by its ``Upload-Length``. The
  final the client creates at the end is that one, and completes when its last partial does.
* **Copied**: when the partials already hold bytes (tus-js-client and Uppy create the final after the
  partials are done), each partial is completed into its own object ``uploads/{partial}/data`` and the
  final is assembled with ``UploadPartCopy`` (pieces under S3's 5 MiB minimum are read and re-sent), then
  the partial objects are deleted. Correct for any split, but the store writes every byte twice.

Either way the final completes exactly once: the request that stores the last byte of the last partial
(or creates the final, when its partials are already complete) completes the object and moves the final
``receiving -> complete`` by compare-and-set in the same transaction that adds the work version.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlmodel import Session, col, select

from clipjury.accounts.models import User
from clipjury.campaigns.models import Campaign
from clipjury.campaigns.service import SubmissionClosed, ensure_upload_may_continue
from clipjury.db import rowcount
from clipjury.errors import Conflict, DomainError, Gone, NotFound
from clipjury.numbers import ascii_digits
from clipjury.settings import get_settings
from clipjury.timeutil import as_utc, utcnow
from clipjury.uploads.completion import add_upload_version
from clipjury.uploads.locks import LockKeeper, UploadLock
from clipjury.uploads.models import Concat, Upload, UploadStatus
from clipjury.uploads.objects import (
    delete_quietly,
    delete_tails,
    end_upload,
    object_key_for,
    partial_key_for,
    release_storage,
    unit_session,
)
from clipjury.uploads.tus import (
    MIN_PART,
    BadUploadRequest,
    EmptyUpload,
    UploadBusy,
    UploadComplete,
    UploadGone,
    parse_work_id,
    sanitize_filename,
    too_large,
)
from clipjury.works.policy import AlreadySubmitted, Disqualified, UnderReview
from clipjury.works.service import (
    ensure_accepts_upload,
    ensure_may_submit,
    get_own_work,
)
from storage.s3 import ObjectNotFound, ObjectStore

log = logging.getLogger(__name__)

UPLOADS_PATH = "/api/v1/uploads"
MAX_PARTIALS = 100
# How long a request waits for another that holds a lock only briefly (claiming partials, completing).
LOCK_WAIT_S = 10.0
# Completing a final by copy takes about as long as the store writes the file: wait longer for it.
FINISH_WAIT_S = 120.0
COPY_THREADS = 4


class InvalidConcat(BadUploadRequest):
    code = "invalid_upload_concat"
    message = "Upload-Concat 格式有误：应为 partial，或 final; 后接以空格分隔的部分上传地址。"


class PartialNotFound(NotFound):
    code = "concat_partial_not_found"
    message = "要合并的部分上传不存在，或不属于您。请重新上传文件。"


class NotAPartial(BadUploadRequest):
    code = "concat_not_partial"
    message = "只能合并以 Upload-Concat: partial 创建的部分上传。"


class PartialGone(Gone):
    code = "concat_partial_gone"
    message = "要合并的部分上传已过期或已取消，请重新上传文件。"


class PartialUsed(Conflict):
    code = "concat_partial_used"
    message = "该部分上传已合并到另一个文件中，不能再次使用。请重新上传文件。"


class InvalidLayout(BadUploadRequest):
    code = "invalid_concat_layout"
    message = (
        "Upload-Metadata 中的 concat_layout 应为以逗号分隔的各部分字节数，concat_group 应为 8–64 位字母、数字、- 或 _。"
    )


class LayoutMismatch(Conflict):
    code = "concat_layout_mismatch"
    message = "合并请求列出的部分上传与它们创建时声明的分段（concat_layout）不一致：请按声明的顺序列出全部部分上传。"


class WorkMismatch(BadUploadRequest):
    code = "concat_work_mismatch"
    message = "部分上传所属的作品与合并请求中的作品不一致。"


# -- the header ----------------------------------------------------------------------------------------

def parse_header(value: str) -> list[str] | None:
    """``partial`` -> None; ``final;URL URL ...`` -> the partials' upload ids, in order."""
    value = value.strip()
    if value == "partial":
        return None
    kind, sep, rest = value.partition(";")
    if kind.strip() != "final" or not sep:
        raise InvalidConcat()
    ids: list[str] = []
    for url in rest.split():
        try:
            path = urlsplit(url).path.rstrip("/")
        except ValueError:  # e.g. "http://[x/..." (an unclosed IPv6 host)
            raise InvalidConcat(f"Upload-Concat 中的地址 {url[:80]!r} 不是有效的网址。") from None
        prefix, _, upload_id = path.rpartition("/")
        if not prefix.endswith(UPLOADS_PATH) or not upload_id or len(upload_id) > 64:
            raise InvalidConcat(f"Upload-Concat 中的地址 {url[:80]!r} 不是本服务的上传地址。")
        ids.append(upload_id)
    if not ids:
        raise InvalidConcat("Upload-Concat: final 必须列出至少一个部分上传的地址。")
    if len(ids) > MAX_PARTIALS:
        raise InvalidConcat(f"一次最多合并 {MAX_PARTIALS} 个部分上传。")
    if len(set(ids)) != len(ids):
        raise InvalidConcat("Upload-Concat 中同一个部分上传出现了不止一次。")
    return ids


def concat_header(upload: Upload) -> str | None:
    if upload.concat == Concat.final:
        return "final;" + " ".join(f"{UPLOADS_PATH}/{pid}" for pid in upload.partial_ids)
    return upload.concat


# -- creating the final ----------------------------------------------------------------------------------

def _load_partials(session: Session, user: User, ids: list[str], now: datetime) -> list[Upload]:
    partials: list[Upload] = []
    for upload_id in ids:
        upload = session.get(Upload, upload_id)
        if upload is None or upload.user_id != user.id:
            raise PartialNotFound()
        if upload.concat != Concat.partial:
            raise NotAPartial()
        gone = upload.status in (UploadStatus.terminated, UploadStatus.expired) or (
            upload.final_id is None and as_utc(upload.expires_at) < now
        )
        if gone:
            raise PartialGone()
        partials.append(upload)
    return partials


def _check_work(session: Session, user: User, work_id: int, started_at: datetime, now: datetime) -> Campaign:
    """The checks of a new upload; after the deadline, those of an upload that started before it."""
    try:
        _work, campaign = ensure_accepts_upload(session, user, work_id)
    except SubmissionClosed:
        # The file started with its first partial: within the grace period it may still be joined.
        work = get_own_work(session, user, work_id)
        found = session.get(Campaign, work.campaign_id)
        assert found is not None
        campaign = found
        ensure_upload_may_continue(campaign, started_at, now)
    return campaign


def _straight(partials: list[Upload]) -> bool:
    """Whether every partial can still write straight into the final object (none has a byte yet)."""
    for index, upload in enumerate(partials):
        length = upload.length or 0
        empty = upload.offset == 0 and upload.tail_size == 0 and upload.s3_upload_id is None
        unsent = upload.status == UploadStatus.receiving or length == 0
        if not (empty and unsent and (length >= MIN_PART or index == len(partials) - 1)):
            return False
    return True


def create_final(
    session: Session, user: User, ids: list[str], metadata: dict[str, str], store: ObjectStore,
    now: datetime | None = None,
) -> Upload:
    """tus ``Upload-Concat: final``: join the user's partials, in order, into the file of a work.

    Returns the final upload (complete already when its partials were). A repeated request for the
    same partials answers with the final the first one made, so a retry never makes a second file.
    """
    now = now or utcnow()
    ensure_may_submit(user)
    partials = _load_partials(session, user, ids, now)
    raw_work_id = metadata.get("work_id", "").strip()
    claimed_by = {p.final_id for p in partials if p.final_id is not None}
    if claimed_by:
        # Joined already (a retried final, or a group made when its partials were created): the same
        # answer, for the same work only.
        if raw_work_id and {str(p.work_id) for p in partials if p.final_id is not None} != {raw_work_id}:
            raise WorkMismatch()
        return _existing_final(user, ids, claimed_by, store)

    piece_works = {p.work_id for p in partials if p.work_id is not None}
    if raw_work_id:
        work_id = parse_work_id(raw_work_id)
    elif len(piece_works) == 1:
        work_id = next(iter(piece_works))
    else:
        raise BadUploadRequest("Upload-Metadata 必须包含作品编号 work_id。", code="work_id_required")
    if piece_works - {work_id}:
        raise WorkMismatch()
    started_at = min(as_utc(p.created_at) for p in partials)
    campaign = _check_work(session, user, work_id, started_at, now)
    total = sum(p.length or 0 for p in partials)
    if total == 0:
        raise EmptyUpload()
    if total > campaign.max_size_bytes:
        session.commit()
        _free_partials(ids, store)  # nothing of a file over the limit stays stored
        raise too_large(campaign.max_size_bytes)
    filename = metadata.get("filename") or next((p.filename for p in partials if p.filename), "")
    session.commit()  # end the read transaction: the claim below is its own unit

    locks = [UploadLock(pid) for pid in sorted(ids)]
    held: list[UploadLock] = []
    try:
        for lock in locks:
            if not lock.acquire_wait(LOCK_WAIT_S):
                raise UploadBusy("部分上传正在写入，请稍后重试合并。")
            held.append(lock)
        final = _claim(user, ids, work_id, filename, started_at, store)
    finally:
        for lock in held:
            lock.release()
    if final is None:  # another request claimed them between our read and our locks
        with unit_session() as fresh:
            rows = [fresh.get(Upload, pid) for pid in ids]
            owners = {p.final_id for p in rows if p is not None and p.final_id is not None}
        return _existing_final(user, ids, owners, store)
    # Partials already complete (the usual tus-js-client order): the file is joined in this request.
    finish_final_if_ready(final.id, store, FINISH_WAIT_S, raise_errors=True)
    with unit_session() as fresh:
        reloaded = fresh.get(Upload, final.id)
        assert reloaded is not None
        return reloaded


def _existing_final(user: User, ids: list[str], owners: set[str], store: ObjectStore) -> Upload:
    """A retried or concurrent request for a final that already exists: the same answer, once done."""
    if len(owners) == 1:
        owner_id = next(iter(owners))
        finish_final_if_ready(owner_id, store, FINISH_WAIT_S, raise_errors=True)
        with unit_session() as session:
            final = session.get(Upload, owner_id)
            if final is not None and final.user_id == user.id and list(final.partial_ids) == ids:
                if final.status in (UploadStatus.terminated, UploadStatus.expired):
                    raise PartialGone()
                return final
            if final is not None and final.concat_group is not None:
                raise LayoutMismatch()
    raise PartialUsed()


def _claim(
    user: User, ids: list[str], work_id: int, filename: str, started_at: datetime, store: ObjectStore
) -> Upload | None:
    """Record the final and mark its partials as joined, by compare-and-set, in one transaction.
    Runs under the partials' locks, so no byte reaches them meanwhile. None if any was taken."""
    now = utcnow()
    final_id = secrets.token_urlsafe(24)
    object_key = object_key_for(work_id, final_id)
    part_size = store.part_size
    with unit_session() as session:
        partials = [session.get(Upload, pid) for pid in ids]
        if any(p is None or p.final_id is not None for p in partials):
            return None
        pieces = [p for p in partials if p is not None]
        straight = _straight(pieces)
        s3_upload_id = store.create_multipart(object_key) if straight else None
        final = Upload(
            id=final_id, work_id=work_id, user_id=user.id or 0, filename=sanitize_filename(filename),
            length=sum(p.length or 0 for p in pieces), object_key=object_key, s3_upload_id=s3_upload_id,
            # The file started with its first partial (the deadline's grace period counts from there).
            created_at=started_at, expires_at=now + timedelta(hours=get_settings().upload_expiry_hours),
            concat=Concat.final.value, partial_ids=list(ids), part_base=0 if straight else None,
        )
        session.add(final)
        session.flush()
        base = 0
        for piece in pieces:
            # The piece now belongs to the work: sending more of it is checked like any upload to it.
            values: dict[str, object] = {"final_id": final_id, "work_id": work_id}
            if straight:
                values.update(object_key=object_key, s3_upload_id=s3_upload_id, part_base=base)
                base += -(-(piece.length or 0) // part_size)
            result = session.execute(
                update(Upload).where(
                    col(Upload.id) == piece.id, col(Upload.final_id).is_(None), col(Upload.user_id) == user.id,
                    col(Upload.status).in_([UploadStatus.receiving, UploadStatus.complete]),
                ).values(**values)
            )
            if rowcount(result) != 1:
                session.rollback()
                if s3_upload_id is not None:
                    store.abort_multipart(object_key, s3_upload_id)
                return None
        session.commit()
        return final


# -- finals made from the layout the partials declare ------------------------------------------------------

GROUP_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
MAX_GROUP_PARTIALS = 16


@dataclass(frozen=True)
class Group:
    """Where a new partial goes in the file its group makes."""

    key: str  # digest of the owner, the group id and the layout: one final per key
    lengths: tuple[int, ...]
    index: int
    part_base: int  # the S3 part numbers of the partials before it

    @property
    def total(self) -> int:
        return sum(self.lengths)


def declared_group(metadata: dict[str, str], user_id: int, length: int, part_size: int) -> Group | None:
    """The group a new partial declares in its metadata (``concat_group``, ``concat_layout``, ``work_id``).

    Malformed values are refused; a layout that cannot be written straight (too many pieces, a piece
    that is not a whole number of parts, this partial's length not found exactly once) is no error:
    the partial is then an ordinary one, joined by copy at the end.
    """
    raw_group, raw_layout = metadata.get("concat_group"), metadata.get("concat_layout")
    if raw_group is None and raw_layout is None:
        return None
    pieces = (raw_layout or "").replace(" ", ",").split(",")
    if (raw_group is None or not GROUP_ID.fullmatch(raw_group) or not raw_layout
            or not all(ascii_digits(p) and len(p) <= 18 for p in pieces if p)):
        raise InvalidLayout()
    lengths = tuple(int(p) for p in pieces if p)
    if not metadata.get("work_id", "").strip() or not 2 <= len(lengths) <= MAX_GROUP_PARTIALS:
        return None
    if any(n <= 0 for n in lengths) or any(n % part_size for n in lengths[:-1]) or lengths.count(length) != 1:
        return None
    index = lengths.index(length)
    material = f"{user_id}\n{raw_group}\n{','.join(map(str, lengths))}"
    return Group(key=hashlib.sha256(material.encode()).hexdigest(), lengths=lengths, index=index,
                 part_base=sum(lengths[:index]) // part_size)


def join_group(upload_id: str, group: Group, store: ObjectStore) -> bool:
    """Put a new partial (no byte yet) at its place in its group's final, creating the final and its
    multipart upload with the group's first partial. False when it stays an ordinary partial (the final
    ended, or its place holds a partial with bytes). When the group or its place is busy, the new partial
    ends and ``UploadBusy`` (423) tells the client to create it again: half a group cannot be joined."""
    lock = UploadLock(f"group-{group.key}")
    if not lock.acquire_wait(LOCK_WAIT_S):
        _end_unplaced(upload_id)
        raise UploadBusy("同一文件的其他部分上传正在创建，请稍后重试。")
    try:
        with unit_session() as session:
            upload = session.get(Upload, upload_id)
            if upload is None or upload.work_id is None or upload.status != UploadStatus.receiving:
                return False
            final = session.exec(select(Upload).where(col(Upload.concat_group) == group.key)).first()
            created = final is None
            if final is None:
                final = _group_final(upload, group, store)
                session.add(final)
            elif final.status != UploadStatus.receiving or final.work_id != upload.work_id:
                return False
            taken = final.partial_ids[group.index]  # never this new partial's own id
            if taken:
                freed = _free_slot(session, taken)
                if freed is None:
                    session.rollback()
                    _end_unplaced(upload_id)
                    raise UploadBusy("该位置的部分上传正在写入，请稍后重试。")
                if not freed:
                    return False
            ids = list(final.partial_ids)
            ids[group.index] = upload.id
            final.partial_ids = ids
            upload.final_id, upload.part_base = final.id, group.part_base
            upload.object_key, upload.s3_upload_id = final.object_key, final.s3_upload_id
            session.add(upload)
            try:
                session.commit()
            except Exception:
                if created and final.s3_upload_id is not None:
                    store.abort_multipart(final.object_key, final.s3_upload_id)
                raise
            return True
    finally:
        lock.release()


def _group_final(first: Upload, group: Group, store: ObjectStore) -> Upload:
    final_id = secrets.token_urlsafe(24)
    object_key = object_key_for(first.work_id or 0, final_id)
    return Upload(
        id=final_id, work_id=first.work_id, user_id=first.user_id, filename=first.filename,
        length=group.total, object_key=object_key, s3_upload_id=store.create_multipart(object_key),
        created_at=first.created_at, expires_at=first.expires_at, concat=Concat.final.value,
        partial_ids=[""] * len(group.lengths), part_base=0, concat_group=group.key,
    )


def _free_slot(session: Session, upload_id: str) -> bool | None:
    """A place taken by a partial that never got a byte (its creation was retried after a lost answer)
    goes to the new one; the old one ends. False if it holds bytes, None if it is being written."""
    lock = UploadLock(upload_id)
    if not lock.acquire():
        return None
    try:
        result = session.execute(
            update(Upload).where(col(Upload.id) == upload_id, col(Upload.status) == UploadStatus.receiving,
                                 col(Upload.offset) == 0, col(Upload.tail_size) == 0)
            .values(status=UploadStatus.terminated, final_id=None, part_base=None, s3_upload_id=None,
                    object_key=partial_key_for(upload_id))
        )
        return rowcount(result) == 1
    finally:
        lock.release()


def _end_unplaced(upload_id: str) -> None:
    with unit_session() as session:
        session.execute(update(Upload).where(col(Upload.id) == upload_id, col(Upload.final_id).is_(None))
                        .values(status=UploadStatus.terminated))
        session.commit()


# -- completing the final --------------------------------------------------------------------------------

def finish_after_partial(final_id: str, store: ObjectStore) -> None:
    """Called when a partial is complete: the last one completes its final. A failure here is the
    final's, not the partial's (whose bytes are safe): it is logged and retried on the final's HEAD."""
    try:
        finish_final_if_ready(final_id, store, FINISH_WAIT_S, raise_errors=False)
    except DomainError:
        log.warning("final upload %s could not be completed yet", final_id, exc_info=True)


def finish_final_if_ready(final_id: str, store: ObjectStore, wait_s: float, *, raise_errors: bool) -> bool:
    """Complete the final if every partial is complete; True if it is (now) complete. Under the final's
    lock, waiting for a holder (two partials finishing together both get here; one does the work)."""
    lock = UploadLock(final_id)
    if not lock.acquire_wait(wait_s):
        if raise_errors:
            raise UploadBusy("文件正在合并，请稍后查询。")
        return False
    try:
        with lock.kept() as keeper:
            return _finish_final(final_id, store, keeper)
    except (AlreadySubmitted, UnderReview, Disqualified):
        _end_group(final_id, store, UploadStatus.terminated)
        if raise_errors:
            raise
        return False
    finally:
        lock.release()


@dataclass
class _Piece:
    key: str
    size: int


def _finish_final(final_id: str, store: ObjectStore, keeper: LockKeeper) -> bool:
    with unit_session() as session:
        final = session.get(Upload, final_id)
        if final is None or final.status != UploadStatus.receiving:
            return final is not None and final.status == UploadStatus.complete
        partials = [session.get(Upload, pid) for pid in final.partial_ids]
        if any(p is None or p.status != UploadStatus.complete or p.final_id != final_id for p in partials):
            return False
        pieces = [p for p in partials if p is not None]
        length = final.length or 0
        if final.part_base is not None:
            assert final.s3_upload_id is not None
            parts = [(int(part["n"]), str(part["etag"])) for p in pieces for part in p.parts]
            try:
                store.complete_multipart(final.object_key, final.s3_upload_id, parts)
            except ObjectNotFound:
                pass  # completed by an earlier attempt that died before its commit: the size check decides
        else:
            built = store.head(final.object_key)  # an earlier attempt may have built it and died
            if built is None or built.size != length:
                _assemble(session, final, [_Piece(p.object_key, p.length or 0) for p in pieces], store, keeper)
        info = store.head(final.object_key)
        if info is None or info.size != length:
            log.error("final upload %s: object %s is missing or has the wrong size", final_id, final.object_key)
            raise UploadGone("上传的文件在存储中不完整，请重新上传。")
        keeper.check()
        result = session.execute(
            update(Upload).where(col(Upload.id) == final_id, col(Upload.status) == UploadStatus.receiving)
            .values(status=UploadStatus.complete, offset=length, completed_at=utcnow(), s3_upload_id=None)
        )
        if rowcount(result) != 1:
            session.rollback()
            return False
        try:
            add_upload_version(session, final, length)
        except (AlreadySubmitted, UnderReview, Disqualified):
            session.rollback()
            raise
        session.execute(
            update(Upload).where(col(Upload.final_id) == final_id).values(s3_upload_id=None, tail_size=0)
        )
        session.commit()  # sends the validation job
    for piece in pieces:
        delete_tails(store, piece.id)
        if piece.part_base is None and (piece.length or 0) > 0:
            delete_quietly(store, piece.object_key)
    return True


def _assemble(
    session: Session, final: Upload, pieces: list[_Piece], store: ObjectStore, keeper: LockKeeper
) -> None:
    """Build the final object from the partials' objects: server-side copies of the pieces of at least
    S3's minimum part, and what is smaller read and re-sent together with its neighbours."""
    if final.s3_upload_id is not None:  # an earlier attempt died: start over
        store.abort_multipart(final.object_key, final.s3_upload_id)
    s3_upload_id = store.create_multipart(final.object_key)
    # Recorded first, so the expiry can abort it if this process dies before completing.
    session.execute(update(Upload).where(col(Upload.id) == final.id).values(s3_upload_id=s3_upload_id))
    session.commit()
    key = final.object_key
    pending = bytearray()
    numbered: list[tuple[int, str]] = []
    copies: list[tuple[int, str, int, int]] = []
    sizes = [p.size for p in pieces]
    for index, piece in enumerate(pieces):
        position = 0
        if pending:
            take = min(MIN_PART - len(pending), piece.size)
            if take > 0:
                pending += store.get_bytes(piece.key, 0, take - 1)
                position = take
            if len(pending) >= MIN_PART:
                number = len(numbered) + len(copies) + 1
                numbered.append((number, store.upload_part(key, s3_upload_id, number, bytes(pending))))
                pending.clear()
        rest = piece.size - position
        if rest <= 0:
            continue
        last = index == len(pieces) - 1 or sum(sizes[index + 1:]) == 0
        if rest >= MIN_PART or (last and not pending):
            copies.append((len(numbered) + len(copies) + 1, piece.key, position, piece.size - 1))
        else:
            pending += store.get_bytes(piece.key, position, piece.size - 1)
    if pending:
        number = len(numbered) + len(copies) + 1
        numbered.append((number, store.upload_part(key, s3_upload_id, number, bytes(pending))))
    with ThreadPoolExecutor(COPY_THREADS) as pool:
        copied = list(pool.map(
            lambda c: (c[0], store.upload_part_copy(key, s3_upload_id, c[0], c[1], c[2], c[3])), copies
        ))
    keeper.check()  # a caller that took an expired lock may have aborted this multipart upload meanwhile
    store.complete_multipart(key, s3_upload_id, sorted(numbered + copied))


# -- ending it -------------------------------------------------------------------------------------------

def _end_group(final_id: str, store: ObjectStore, status: str) -> bool:
    """End an unfinished final and its partials and free their storage. Caller holds the final's lock."""
    with unit_session() as session:
        final = session.get(Upload, final_id)
        if final is None or final.status != UploadStatus.receiving:
            return False
        pieces = [p for p in (session.get(Upload, pid) for pid in final.partial_ids) if p is not None]
        result = session.execute(
            update(Upload).where(col(Upload.id) == final_id, col(Upload.status) == UploadStatus.receiving)
            .values(status=status)
        )
        if rowcount(result) != 1:
            session.rollback()
            return False
        session.commit()
        release_storage(store, final, delete_object=True)
        for piece in pieces:
            release_storage(store, piece, delete_object=piece.part_base is None)
        session.execute(update(Upload).where(col(Upload.id) == final_id).values(s3_upload_id=None))
        session.execute(
            update(Upload).where(col(Upload.final_id) == final_id,
                                 col(Upload.status).in_([UploadStatus.receiving, UploadStatus.complete]))
            .values(status=status, s3_upload_id=None, tail_size=0)
        )
        session.commit()
        return True


def terminate_final(final_id: str, store: ObjectStore) -> None:
    """tus termination of a final, or of one of its partials: the file being joined ends."""
    lock = UploadLock(final_id)
    if not lock.acquire_wait(LOCK_WAIT_S):
        raise UploadBusy()
    try:
        with unit_session() as session:
            final = session.get(Upload, final_id)
            if final is not None and final.status == UploadStatus.complete:
                raise UploadComplete()
        _end_group(final_id, store, UploadStatus.terminated)
    finally:
        lock.release()


def expire_final(final_id: str, store: ObjectStore, now: datetime) -> int:
    """Expire a final none of whose partials made progress within the expiry; 1 if it expired."""
    lock = UploadLock(final_id)
    if not lock.acquire():
        return 0
    try:
        with unit_session() as session:
            final = session.get(Upload, final_id)
            if final is None or final.status != UploadStatus.receiving or as_utc(final.expires_at) >= now:
                return 0
            latest = session.exec(
                select(Upload.expires_at).where(col(Upload.final_id) == final_id)
            ).all()
            if any(as_utc(moment) >= now for moment in latest):
                return 0  # a partial is still being sent
        return 1 if _end_group(final_id, store, UploadStatus.expired) else 0
    finally:
        lock.release()


def _free_partials(ids: list[str], store: ObjectStore) -> None:
    """Free the partials of a refused final now (best effort: the expiry frees what is left)."""
    for upload_id in ids:
        lock = UploadLock(upload_id)
        if not lock.acquire():
            continue
        try:
            for status in (UploadStatus.receiving, UploadStatus.complete):
                end_upload(upload_id, store, delete_object=True, status=status)
        finally:
            lock.release()
