"""Writing to the audit log. Services call ``record`` inside their unit of work; it only flushes."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from clipjury.accounts.models import User
from clipjury.audit.models import AuditEvent


def record(
    session: Session,
    *,
    actor: User | None,
    action: str,
    work_id: int | None = None,
    province_id: int | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        actor_name=actor.username if actor else "system",
        work_id=work_id,
        province_id=province_id,
        action=action,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        data=data or {},
    )
    session.add(event)
    session.flush()
    return event


def events_of_work(session: Session, work_id: int) -> list[AuditEvent]:
    from sqlmodel import col, select

    return list(
        session.exec(select(AuditEvent).where(AuditEvent.work_id == work_id).order_by(col(AuditEvent.id)))
    )
