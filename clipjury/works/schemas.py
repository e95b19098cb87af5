"""The public shape of a work (the fixed API contract) and the payloads that create one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlmodel import Session

from clipjury.works.models import Work
from clipjury.works.service import latest_rejection, media_of, shown_version


class WorkCreate(BaseModel):
    title: str = Field(max_length=10000)
    description: str = Field(default="", max_length=10000)
    # Submitters outside a unit choose their province (附件3 §2 "根据所属省上传").
    province: str | None = None


class Rejection(BaseModel):
    code: str
    message: str


class Media(BaseModel):
    duration_s: float | None
    width: int | None
    height: int | None
    size_bytes: int
    video_codec: str | None
    audio_codec: str | None
    major_brand: str | None


class WorkPublic(BaseModel):
    id: int
    title: str
    description: str
    status: str
    rejection: Rejection | None
    media: Media | None
    submitted_at: datetime | None
    created_at: datetime
    updated_at: datetime


def work_public(session: Session, work: Work) -> WorkPublic:
    rejection: dict[str, Any] | None = latest_rejection(session, work)
    media = media_of(shown_version(session, work))
    return WorkPublic(
        id=work.id or 0,
        title=work.title,
        description=work.description,
        status=work.status,
        rejection=Rejection(**rejection) if rejection else None,
        media=Media(**media) if media else None,
        submitted_at=work.submitted_at,
        created_at=work.created_at,
        updated_at=work.updated_at,
    )
