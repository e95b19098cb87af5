"""A review decision together with what it changes in the stages after the review. The review domain knows
nothing of the awards (they read its tables, never the other way), so a disqualification and its undo go
through here: the decision (``clipjury.reviews.service``), then, in the same transaction, the awards
(``clipjury.awards.service``): a disqualified work leaves the latest awards version, an undone
disqualification brings it back. The API, the pages and the demo call these, never the two halves apart."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from clipjury.accounts.models import User
from clipjury.awards import service as awards
from clipjury.reviews import service as reviews
from clipjury.works.models import Work, WorkStatus


def disqualify(session: Session, user: User, work_id: int, reason: str | None, *,
               document: tuple[str, bytes] | None = None, expected_rev: int | None = None,
               now: datetime | None = None) -> Work:
    """``reviews.service.disqualify``, then a new awards version without the work when awards were computed."""
    work = reviews.disqualify(session, user, work_id, reason, document=document, expected_rev=expected_rev,
                              now=now)
    campaign = reviews.campaign_of(session, work)
    awards.on_disqualified(session, user, campaign, work.id or 0, (reason or "").strip(), now)
    return work


def undo(session: Session, user: User, work_id: int, reason: str | None, *, expected_rev: int | None = None,
         now: datetime | None = None) -> Work:
    """``reviews.service.undo``; when what it undid was a disqualification, the awards get the work back."""
    before = reviews.get_work_in_scope(session, user, work_id).status
    work = reviews.undo(session, user, work_id, reason, expected_rev=expected_rev, now=now)
    if before == WorkStatus.disqualified.value and work.status != WorkStatus.disqualified.value:
        awards.on_reinstated(session, user, reviews.campaign_of(session, work), work.id or 0)
    return work
