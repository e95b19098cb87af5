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


class Upload(SQLModel, table=True):
    # A random id: it is the capability in the tus URL, together with the owner check.
    id: str = Field(primary_key=True, max_length=64)
    work_id: int = Field(foreign_key="work.id", index=True)
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
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    version_id: int | None = Field(default=None)
