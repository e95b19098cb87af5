"""A work's audit trail as a viewer may read it.

Admins read it whole. Everyone else who may see the work reads it without the organisers' internals:
no claims, no unpublished national decisions, and staff named by role rather than by account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, not_, or_
from sqlmodel import Session, col, select

from clipjury.accounts.models import Role, User
from clipjury.audit.models import AuditEvent
from clipjury.reviews.models import NATIONAL_ACTIONS
from clipjury.reviews.service import campaign_of, sees_national_decisions
from clipjury.works.models import NATIONAL_DECISION_STATUSES, Work
from clipjury.works.service import visible_works_query

INTERNAL_ACTIONS = frozenset({"claim", "release"})


@dataclass
class Event:
    at: datetime
    by: str
    action: str
    from_status: str | None
    to_status: str | None
    reason: str


def work_events(session: Session, user: User, work: Work) -> list[Event]:
    """The work's audit trail, oldest first, as this user may read it."""
    events = list(session.exec(
        select(AuditEvent).where(AuditEvent.work_id == work.id).order_by(col(AuditEvent.id))
    ))
    return visible_events(session, user, work, events)


def visible_events(session: Session, user: User, work: Work, events: list[AuditEvent]) -> list[Event]:
    role = Role(user.role)
    national_ok = sees_national_decisions(user, campaign_of(session, work))
    if role == Role.national_admin:
        return [_plain(e) for e in events]
    if role == Role.provincial_admin:
        return [hide_national(e, national_ok) for e in events if national_ok or not _touches_national(e)]
    staff_ids: dict[int, str] = {}
    out: list[Event] = []
    for e in events:
        if e.action in INTERNAL_ACTIONS or (_touches_national(e) and not national_ok):
            continue
        by = e.actor_name
        if e.actor_id is not None and e.actor_id != user.id:
            if e.actor_id not in staff_ids:
                actor = session.get(User, e.actor_id)
                staff_ids[e.actor_id] = actor.role if actor and actor.id != work.owner_id else e.actor_name
            by = staff_ids[e.actor_id]
        out.append(Event(at=e.at, by=by, action=e.action, from_status=_shown(e.from_status, national_ok),
                         to_status=_shown(e.to_status, national_ok), reason=e.reason))
    return out


def hide_national(e: AuditEvent, national_ok: bool) -> Event:
    """The event with an unpublished national decision's status shown as ``forwarded``."""
    return Event(at=e.at, by=e.actor_name, action=e.action, from_status=_shown(e.from_status, national_ok),
                 to_status=_shown(e.to_status, national_ok), reason=e.reason)


def touches_national(e: AuditEvent) -> bool:
    return _touches_national(e)


def _touches_national(e: AuditEvent) -> bool:
    return e.action in NATIONAL_ACTIONS or (e.action == "undo" and e.from_status in NATIONAL_DECISION_STATUSES)


def _shown(status: str | None, national_ok: bool) -> str | None:
    if status in NATIONAL_DECISION_STATUSES and not national_ok:
        return "forwarded"
    return status


def _plain(e: AuditEvent) -> Event:
    return Event(at=e.at, by=e.actor_name, action=e.action, from_status=e.from_status, to_status=e.to_status,
                 reason=e.reason)


def without_unpublished_national(query: Any) -> Any:
    """An audit-log query without the events of the national re-review (decisions and their undoing),
    for readers outside the national office before it publishes."""
    return query.where(
        col(AuditEvent.action).not_in(NATIONAL_ACTIONS),
        not_(and_(col(AuditEvent.action) == "undo", col(AuditEvent.from_status).in_(NATIONAL_DECISION_STATUSES))),
    )


def audit_log_query(user: User, *, national_ok: bool) -> Any:
    """The audit events an admin may read, before any filter of the reader's choosing.

    The national office reads everything. A provincial admin reads its province's events, of a work only
    while that work is one the admin may see (so in the review, hence submitted): a draft's or a withdrawn
    work's history (titles, submitters' account names) is the submitter's until the work is submitted.
    """
    query = select(AuditEvent)
    role = Role(user.role)
    if role == Role.provincial_admin:
        in_sight = visible_works_query(user).with_only_columns(col(Work.id))
        query = query.where(
            AuditEvent.province_id == user.province_id,
            or_(col(AuditEvent.work_id).is_(None), col(AuditEvent.work_id).in_(in_sight)),
        )
    elif role != Role.national_admin:
        query = query.where(AuditEvent.id == -1)
    if not national_ok:
        # Before publication the national re-review's decisions are not the province's to read.
        query = without_unpublished_national(query)
    return query
