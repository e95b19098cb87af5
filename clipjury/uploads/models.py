"""The state of a resumable upload, kept in the database so any API process can continue it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from clipjury.db import UTCDateTime
from clipjury.timeutil import utcnow


class UploadStatus(StrEnum):
    receiving = "receiving"
    complete = "complete"
    terminated = "terminated"
    expired = "expired"


class Concat(StrEnum):
    """tus concatenation: a partial upload is a piece of a file, a final upload joins pieces in order."""

    partial = "partial"
    final = "final"


class Upload(SQLModel, table=True):
    # A random id: it is the capability in the tus URL, together with the owner check.
    id: str = Field(primary_key=True, max_length=64)
    # None only for a partial upload created without metadata (tus-js-client sends it on the final only).
    work_id: int | None = Field(default=None, foreign_key="work.id", index=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    filename: str = Field(default="", max_length=255)
    # The declared size; None only while a raw PUT without Content-Length is streaming (the limit
    # then bounds it and the end of the body fixes it).
    length: int | None = Field(default=None)
    offset: int = 0
    status: str = Field(default=UploadStatus.receiving.value, max_length=16, index=True)
    object_key: str = Field(max_length=512)
    # S3 multipart upload id and the parts stored so far ({"n", "etag", "size"}); the bytes past the
    # last full part wait in a small "tail" object until the next request brings enough for a part.
    s3_upload_id: str | None = Field(default=None, max_length=1024)
    parts: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    tail_size: int = 0
    # CRC32 (hex) of the tail the row records, checked when a request loads it; None on rows from before.
    tail_crc: str | None = Field(default=None, max_length=8)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    version_id: int | None = Field(default=None)
    # Concatenation (None: an ordinary upload). A final lists its partials in file order; a partial
    # names the final that claimed it, once one did (a partial joins at most one final).
    concat: str | None = Field(default=None, max_length=8)
    final_id: str | None = Field(default=None, max_length=64, index=True)
    partial_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Set when the partials write straight into the final's multipart upload (no copy at the end): on
    # a partial, the part numbers before its own; on the final, 0. None: each partial becomes its own
    # object and the final is assembled from them with server-side copies.
    part_base: int | None = Field(default=None)
    # A final made when the first of its partials was created, from the layout they declare (see
    # ``clipjury.uploads.concat``): a digest of the owner, the client's group id and the layout.
    concat_group: str | None = Field(default=None, max_length=64, unique=True, index=True)
    # A raw PUT sent with an ``Idempotency-Key``: a digest of the owner, the work and the key, so the same
    # request sent again (a retry after a lost answer) finds this upload instead of storing the file twice.
    idempotency_digest: str | None = Field(default=None, max_length=64, unique=True, index=True)
