"""Is a work on the showcase? The one answer the gallery, the likes and the snapshot all use."""

from __future__ import annotations

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from clipjury.showcase.models import CopyStatus, ShowcaseEntry
from clipjury.works.models import Work, WorkStatus


def is_public(entry: ShowcaseEntry | None, work: Work) -> bool:
    """Published, not withdrawn since, still recommended (not disqualified) and its public copy ready."""
    return (
        entry is not None
        and entry.published_at is not None
        and work.status == WorkStatus.recommended.value
        and entry.copy_status == CopyStatus.ready.value
    )


def public_works_query(campaign_id: int) -> SelectOfScalar[Work]:
    """The works on the showcase of a campaign, unordered (callers order: 报送 order is ``forwarded_at``, ``id``)."""
    return (
        select(Work)
        .join(ShowcaseEntry, col(ShowcaseEntry.work_id) == col(Work.id))
        .where(
            col(Work.campaign_id) == campaign_id,
            col(Work.status) == WorkStatus.recommended.value,
            col(ShowcaseEntry.published_at).is_not(None),
            col(ShowcaseEntry.copy_status) == CopyStatus.ready.value,
        )
    )


def public_work(session: Session, work_id: int) -> tuple[Work, ShowcaseEntry] | None:
    """The work and its entry when it is on the showcase now, else None (the caller answers 404)."""
    work = session.get(Work, work_id)
    if work is None:
        return None
    entry = session.get(ShowcaseEntry, work_id)
    if entry is None or not is_public(entry, work):
        return None
    return work, entry
