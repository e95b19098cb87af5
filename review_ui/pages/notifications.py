"""消息: a user's notifications, marked read one by one or all at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from api.deps import CurrentUser, SessionDep
from clipjury.accounts.policy import REVIEW_ROLES, has_role
from clipjury.errors import NotFound
from clipjury.notifications import service as notes
from clipjury.timeutil import fmt_local
from review_ui.context import user_context
from review_ui.core.flash import flash
from review_ui.core.forms import see_other
from review_ui.core.render import render
from review_ui.core.routing import PageRoute, safe_next

router = APIRouter(route_class=PageRoute, include_in_schema=False)


# -- notifications ---------------------------------------------------------------------------------

@dataclass
class NoteView:
    id: int
    title: str
    body: str
    at: str
    unread: bool
    link: str


NOTES_SHOWN = 200


@router.get("/notifications")
def notifications(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    staff = has_role(user, REVIEW_ROLES)
    rows = [
        NoteView(
            id=n.id or 0, title=n.title, body=n.body, at=fmt_local(n.created_at), unread=n.read_at is None,
            link=(f"/review/works/{n.work_id}" if staff else f"/works/{n.work_id}") if n.work_id else "",
        )
        for n in notes.notifications_of(session, user.id or 0, limit=NOTES_SHOWN)
    ]
    return render(request, "notifications/index.html", {**user_context(user, session), "notes": rows})


@router.post("/notifications/read-all")
def notifications_read_all(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    marked = notes.mark_read(session, user.id or 0)
    flash(request, f"已将 {marked} 条消息标为已读。" if marked else "没有未读消息。", "info")
    return see_other("/notifications")


@router.post("/notifications/{notification_id}/read")
def notification_read(
    request: Request, notification_id: int, user: CurrentUser, session: SessionDep,
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if not notes.owns(session, user.id or 0, notification_id):
        raise NotFound("找不到该消息。", code="notification_not_found")
    notes.mark_read(session, user.id or 0, notification_id)
    return see_other(safe_next(next, "/notifications"))
