"""The tus 1.0.0 protocol's side of an upload: its errors (each a stable code and a Chinese message), the
headers it parses (``Upload-Metadata``, lengths, the work id, a raw PUT's ``Idempotency-Key``) and the
checks a declared length must pass. Pure: no database, store or Redis."""

from __future__ import annotations

import base64
import binascii
import hashlib
import unicodedata

from clipjury.errors import Conflict, DomainError, Gone, Invalid, Locked, NotFound, PayloadTooLarge
from clipjury.numbers import ascii_digits, db_id
from clipjury.works.policy import WorkNotFound

MIB = 1024 * 1024


# S3's smallest part (every part but the last of an object).
MIN_PART = 5 * MIB


FILENAME_MAX = 255


DEFAULT_FILENAME = "video.mp4"


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


def check_declared_length(length: int, limit: int) -> None:
    if length == 0:
        raise EmptyUpload()
    if length > limit:
        raise too_large(limit)
