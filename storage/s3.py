"""S3-compatible object storage (SeaweedFS locally, MinIO, Ceph RGW or a cloud store in production).

Callers never see botocore exceptions: every failure is a ``StorageError`` (the store is down or
refused) or an ``ObjectNotFound``.
"""

from __future__ import annotations

import base64
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from clipjury.errors import Unavailable
from clipjury.settings import Settings, get_settings

log = logging.getLogger(__name__)


class StorageError(Unavailable):
    code = "storage_unavailable"
    message = "文件存储服务暂时不可用，请稍后重试，已上传的内容不会丢失。"


class ObjectNotFound(StorageError):
    status_code = 404
    code = "object_not_found"
    message = "找不到存储的文件。"


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    content_type: str | None


def crc32_b64(data: bytes | bytearray) -> str:
    """S3's ``x-amz-checksum-crc32`` value: the big-endian CRC32, base64."""
    return base64.b64encode((zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")).decode()


def _not_found(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}


class ObjectStore:
    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.s3_bucket
        self.part_size = settings.s3_part_size
        self.presign_expiry_s = settings.s3_presign_expiry_s
        common: dict[str, Any] = {
            "aws_access_key_id": settings.s3_access_key_id,
            "aws_secret_access_key": settings.s3_secret_access_key.get_secret_value(),
            "region_name": settings.s3_region,
        }
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": settings.s3_addressing_style,
                "payload_signing_enabled": settings.s3_sign_payload},
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=32,
            connect_timeout=5,
            read_timeout=120,
        )
        self._client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url or None, config=config, **common)
        public = settings.s3_public_endpoint_url or settings.s3_endpoint_url or None
        # Presigned URLs must be signed for the host the browser uses.
        self._presign_client = boto3.client("s3", endpoint_url=public, config=config, **common)
        self._transfer = TransferConfig(
            multipart_threshold=self.part_size, multipart_chunksize=self.part_size, max_concurrency=4
        )

    def _call(self, op: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, op)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            if _not_found(exc):
                raise ObjectNotFound(key=kwargs.get("Key")) from exc
            log.warning("s3 %s failed: %s", op, exc)
            raise StorageError() from exc
        except BotoCoreError as exc:
            log.warning("s3 %s failed: %s", op, exc)
            raise StorageError() from exc

    # -- bucket and health ---------------------------------------------------------------------
    def ensure_bucket(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError:
            try:
                self._client.create_bucket(Bucket=self.bucket)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                    raise StorageError() from exc
        except BotoCoreError as exc:
            raise StorageError() from exc

    def ping(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError() from exc

    def delete_bucket(self) -> None:
        """Empty and remove the bucket (the test runner drops its per-run bucket; nothing else should)."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError:
            return  # never created, or already gone
        except BotoCoreError as exc:
            raise StorageError() from exc
        for key, upload_id in self.list_multipart_uploads():
            self.abort_multipart(key, upload_id)
        for key in self.list_keys(""):
            self.delete(key)
        try:
            self._client.delete_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if not _not_found(exc) and exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
                raise StorageError() from exc
        except BotoCoreError as exc:
            raise StorageError() from exc

    # -- whole objects -------------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._call("put_object", Key=key, Body=data, ContentType=content_type)

    def upload_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        try:
            self._client.upload_file(
                str(path), self.bucket, key, ExtraArgs={"ContentType": content_type}, Config=self._transfer
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageError() from exc

    def download_file(self, key: str, path: Path) -> None:
        try:
            self._client.download_file(self.bucket, key, str(path), Config=self._transfer)
        except ClientError as exc:
            if _not_found(exc):
                raise ObjectNotFound(key=key) from exc
            raise StorageError() from exc
        except BotoCoreError as exc:
            raise StorageError() from exc

    def iter_chunks(self, key: str, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        body = self._call("get_object", Key=key)["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def get_bytes(self, key: str, start: int | None = None, end: int | None = None) -> bytes:
        kwargs: dict[str, Any] = {"Key": key}
        if start is not None:
            kwargs["Range"] = f"bytes={start}-{'' if end is None else end}"
        data: bytes = self._call("get_object", **kwargs)["Body"].read()
        return data

    def head(self, key: str) -> ObjectInfo | None:
        try:
            meta = self._call("head_object", Key=key)
        except ObjectNotFound:
            return None
        return ObjectInfo(key, int(meta["ContentLength"]), meta.get("ETag", ""), meta.get("ContentType"))

    def delete(self, key: str) -> None:
        self._call("delete_object", Key=key)

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("list_objects_v2", **kwargs)
            keys.extend(item["Key"] for item in page.get("Contents", []))
            if not page.get("IsTruncated"):
                return keys
            token = page.get("NextContinuationToken")

    def presigned_get(
        self, key: str, *, filename: str | None = None, content_type: str | None = None, expires_s: int | None = None,
        attachment: bool = False,
    ) -> str:
        """A GET URL for browsers; ``attachment``: saved as ``filename`` rather than shown (the ``download``
        attribute of a link does not apply across origins, and the store is another origin)."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if content_type:
            params["ResponseContentType"] = content_type
        if filename:
            kind = "attachment" if attachment else "inline"
            params["ResponseContentDisposition"] = f"{kind}; filename*=UTF-8''{quote(filename)}"
        try:
            url: str = self._presign_client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires_s or self.presign_expiry_s
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageError() from exc
        return url

    # -- multipart, for resumable uploads ------------------------------------------------------
    def create_multipart(self, key: str, content_type: str = "video/mp4") -> str:
        upload_id: str = self._call("create_multipart_upload", Key=key, ContentType=content_type)["UploadId"]
        return upload_id

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        # The CRC32 the store verifies, computed here with zlib (which lets go of the GIL, so the event
        # loop keeps receiving meanwhile) instead of by botocore (binascii, which holds it).
        etag: str = self._call(
            "upload_part", Key=key, UploadId=upload_id, PartNumber=number, Body=data, ChecksumCRC32=crc32_b64(data)
        )["ETag"]
        return etag

    def upload_part_copy(
        self, key: str, upload_id: str, number: int, source_key: str, start: int, end: int
    ) -> str:
        """A part made by the store from bytes ``start..end`` (inclusive) of another object of the bucket."""
        result = self._call(
            "upload_part_copy", Key=key, UploadId=upload_id, PartNumber=number,
            CopySource={"Bucket": self.bucket, "Key": source_key}, CopySourceRange=f"bytes={start}-{end}",
        )
        etag: str = result["CopyPartResult"]["ETag"]
        return etag

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        self._call(
            "complete_multipart_upload",
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
        )

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self._call("abort_multipart_upload", Key=key, UploadId=upload_id)
        except ObjectNotFound:
            pass  # already aborted or completed: aborting is idempotent for us

    def list_multipart_uploads(self, prefix: str = "") -> list[tuple[str, str]]:
        page = self._call("list_multipart_uploads", Prefix=prefix)
        return [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]


@lru_cache(maxsize=1)
def get_store() -> ObjectStore:
    return ObjectStore(get_settings())
