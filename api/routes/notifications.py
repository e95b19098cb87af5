"""The caller's in-app notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from api.deps import CurrentUser, SessionDep
from api.problems import AUTH_ERRORS, CHANGE_AUTH_ERRORS, VALIDATION_ERRORS, problem_responses
from clipjury.db import DB_ID_MAX
from clipjury.errors import NotFound
from clipjury.notifications import service

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])


class NotificationOut(BaseModel):
    id: int
    kind: str
    title: str
    body: str
    work_id: int | None
    created_at: datetime
    read: bool


class ReadOut(BaseModel):
    marked: int
    unread: int


@router.get("", response_model=list[NotificationOut], responses=problem_responses(*AUTH_ERRORS))
def list_notifications(user: CurrentUser, session: SessionDep) -> list[NotificationOut]:
    return [
        NotificationOut(id=n.id or 0, kind=n.kind, title=n.title, body=n.body, work_id=n.work_id,
                        created_at=n.created_at, read=n.read_at is not None)
        for n in service.notifications_of(session, user.id or 0)
    ]


@router.post("/{notification_id}/read", response_model=ReadOut, responses=problem_responses(
    *CHANGE_AUTH_ERRORS, *VALIDATION_ERRORS, (404, "notification_not_found"),
))
def mark_read(
    notification_id: Annotated[int, Path(ge=1, le=DB_ID_MAX)], user: CurrentUser, session: SessionDep
) -> ReadOut:
    if not service.owns(session, user.id or 0, notification_id):
        raise NotFound("找不到该消息。", code="notification_not_found")
    marked = service.mark_read(session, user.id or 0, notification_id)
    return ReadOut(marked=marked, unread=service.unread_count(session, user.id or 0))


@router.post("/read-all", response_model=ReadOut, responses=problem_responses(*CHANGE_AUTH_ERRORS))
def mark_all_read(user: CurrentUser, session: SessionDep) -> ReadOut:
    marked = service.mark_read(session, user.id or 0)
    return ReadOut(marked=marked, unread=0)
