"""``notify``: the one call every domain makes to tell a user something.

The in-app record is written in the caller's unit of work; other channels (see ``channels``) are sent
from it by a job after the commit, so a rolled-back decision never reaches anyone's phone.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from clipjury.db import rowcount
from clipjury.notifications.channels import external_channel_names
from clipjury.notifications.models import Notification
from clipjury.notifications.tasks import defer_notification
from clipjury.settings import get_settings
from clipjury.timeutil import utcnow


def notify(
    session: Session, user_id: int, *, kind: str, title: str, body: str = "", work_id: int | None = None
) -> Notification:
    note = Notification(user_id=user_id, work_id=work_id, kind=kind, title=title[:200], body=body[:4000])
    session.add(note)
    session.flush()
    # One job per notification, sent after the commit: the request never waits for a mail server.
    if external_channel_names(get_settings()) and note.id is not None:
        defer_notification(session, note.id)
    return note


def notifications_of(session: Session, user_id: int, *, limit: int = 100) -> list[Notification]:
    return list(
        session.exec(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(col(Notification.id).desc())
            .limit(limit)
        )
    )


def unread_count(session: Session, user_id: int) -> int:
    from sqlalchemy import func

    return int(
        session.exec(
            select(func.count()).select_from(Notification).where(
                Notification.user_id == user_id, col(Notification.read_at).is_(None)
            )
        ).one()
    )


def mark_read(session: Session, user_id: int, notification_id: int | None = None) -> int:
    """Mark one (or, with no id, every) notification of the user as read; returns how many changed."""
    from sqlalchemy import update

    stmt = update(Notification).where(
        col(Notification.user_id) == user_id, col(Notification.read_at).is_(None)
    )
    if notification_id is not None:
        stmt = stmt.where(col(Notification.id) == notification_id)
    result = session.execute(stmt.values(read_at=utcnow()))
    return int(rowcount(result))


def owns(session: Session, user_id: int, notification_id: int) -> bool:
    note = session.get(Notification, notification_id)
    return note is not None and note.user_id == user_id
