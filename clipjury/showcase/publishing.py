"""Publishing and withdrawing works on the showcase (national admin, audited), and their public copies.

Publishing is a column beside the work's status (``ShowcaseEntry.published_at``), never a new status: a
work is on the showcase while it is published, still ``recommended`` and its public copy is ready
(``catalog.is_public``), so a disqualification takes it off whatever the flag says.

A work is published only once its public copy is ready (409 ``not_playable`` before): the public must
never be served the original, with its phone's GPS and editor tags. A publish that finds no copy asks for
one (the entry and its job), and the caller commits that request before it answers the refusal, so the
national office can publish again once the copy is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from clipjury.accounts.models import Role, User
from clipjury.accounts.policy import require_role
from clipjury.audit.service import record
from clipjury.campaigns.models import Campaign
from clipjury.db import rowcount
from clipjury.errors import Conflict
from clipjury.reviews.service import campaign_of, get_work_in_scope
from clipjury.showcase.models import CopyStatus, ShowcaseEntry
from clipjury.showcase.tasks import defer_public_copy
from clipjury.timeutil import utcnow
from clipjury.works.models import Work, WorkStatus


class NotRecommended(Conflict):
    code = "not_recommended"
    message = "只有经全国复评推荐展播的作品才能公开展示。"


class ResultsNotPublished(Conflict):
    code = "results_not_published"
    message = "全国复评结果发布后才能公开展示作品。"


class NotPlayable(Conflict):
    code = "not_playable"
    message = "作品的公开播放版本尚未生成（已安排生成，通常几分钟内完成），生成后请再发布。"


COPY_STATUS_LABELS = {
    CopyStatus.pending.value: "公开版本生成中",
    CopyStatus.ready.value: "公开版本已就绪",
    CopyStatus.failed.value: "公开版本生成失败",
}


@dataclass(frozen=True)
class PublishOutcome:
    """What a publish did: the entry, and the refusal to answer once the copy request is committed."""

    entry: ShowcaseEntry
    refusal: NotPlayable | None = None

    def raise_refusal(self) -> None:
        if self.refusal is not None:
            raise self.refusal


def _source_version_id(work: Work) -> int | None:
    return work.submitted_version_id or work.current_version_id


def ensure_entry(session: Session, work: Work) -> ShowcaseEntry:
    """The work's showcase entry, made (copy pending, unpublished) when it has none."""
    entry = session.get(ShowcaseEntry, work.id)
    if entry is None:
        entry = ShowcaseEntry(work_id=work.id or 0, campaign_id=work.campaign_id, version_id=_source_version_id(work))
        session.add(entry)
        session.flush()
    return entry


def request_copy(session: Session, entry: ShowcaseEntry, *, retry_failed: bool = True) -> bool:
    """Ask the workers for the public copy when it is not ready (a failed one afresh, attempts reset,
    when ``retry_failed``). The job is sent after the commit; returns whether one was asked for."""
    if entry.copy_status == CopyStatus.ready.value:
        return False
    if entry.copy_status == CopyStatus.failed.value:
        if not retry_failed:
            return False
        session.execute(
            update(ShowcaseEntry)
            .where(col(ShowcaseEntry.work_id) == entry.work_id, col(ShowcaseEntry.copy_status) == CopyStatus.failed)
            .values(copy_status=CopyStatus.pending.value, copy_attempts=0, copy_error=None, updated_at=utcnow())
        )
        session.refresh(entry)
    defer_public_copy(session, entry.work_id)
    return True


def publish(session: Session, user: User, work_id: int, *, now: datetime | None = None) -> PublishOutcome:
    """Put a recommended work on the showcase (national admin). 409 ``not_recommended`` for any other
    status, ``results_not_published`` before the national results are, ``not_playable`` (in the outcome:
    the caller commits the copy request, then raises it) while the public copy is not ready. Publishing a
    published work again changes nothing."""
    now = now or utcnow()
    require_role(user, (Role.national_admin,), "公开展示作品")
    work = get_work_in_scope(session, user, work_id)
    if work.status != WorkStatus.recommended:
        raise NotRecommended()
    if campaign_of(session, work).national_results_published_at is None:
        raise ResultsNotPublished()
    entry = ensure_entry(session, work)
    if entry.copy_status != CopyStatus.ready.value:
        request_copy(session, entry)
        return PublishOutcome(entry, NotPlayable())
    if entry.published_at is None:
        result = session.execute(
            update(ShowcaseEntry)
            .where(col(ShowcaseEntry.work_id) == work_id, col(ShowcaseEntry.published_at).is_(None))
            .values(published_at=now, published_by_id=user.id, withdrawn_at=None, withdrawn_by_id=None,
                    updated_at=now)
        )
        session.refresh(entry)
        if rowcount(result) == 1:  # a concurrent publish that won has audited it already
            record(session, actor=user, action="showcase_publish", work_id=work_id,
                   province_id=work.province_id)
    return PublishOutcome(entry)


def withdraw(session: Session, user: User, work_id: int, *, now: datetime | None = None) -> ShowcaseEntry | None:
    """Take a work off the showcase (national admin); its likes stay. Withdrawing a work that is not
    published changes nothing. Returns the entry (None: the work never had one)."""
    now = now or utcnow()
    require_role(user, (Role.national_admin,), "撤下公开展示的作品")
    work = get_work_in_scope(session, user, work_id)
    entry = session.get(ShowcaseEntry, work_id)
    if entry is None:
        return None
    result = session.execute(
        update(ShowcaseEntry)
        .where(col(ShowcaseEntry.work_id) == work_id, col(ShowcaseEntry.published_at).is_not(None))
        .values(published_at=None, published_by_id=None, withdrawn_at=now, withdrawn_by_id=user.id, updated_at=now)
    )
    session.refresh(entry)
    if rowcount(result) == 1:
        record(session, actor=user, action="showcase_withdraw", work_id=work_id, province_id=work.province_id)
    return entry


# -- the national office's view, and the backfill -----------------------------------------------------

@dataclass(frozen=True)
class ShowcaseState:
    """A work's showcase column on the staff pages."""

    published: bool
    copy_status: str | None  # None: no copy asked for yet
    copy_label: str
    copy_error: str | None


def states(session: Session, work_ids: list[int]) -> dict[int, ShowcaseState]:
    """The showcase column of each work that has an entry."""
    if not work_ids:
        return {}
    entries = session.exec(select(ShowcaseEntry).where(col(ShowcaseEntry.work_id).in_(work_ids))).all()
    return {
        e.work_id: ShowcaseState(
            published=e.published_at is not None, copy_status=e.copy_status,
            copy_label=COPY_STATUS_LABELS.get(e.copy_status, e.copy_status), copy_error=e.copy_error,
        )
        for e in entries
    }


def backfill(session: Session, campaign: Campaign, *, retry_failed: bool = False) -> list[int]:
    """Ask for the public copy of every recommended work of the campaign that has none (and of those
    whose copy failed, with ``retry_failed``); returns the works asked for. The caller commits."""
    works = session.exec(
        select(Work).where(col(Work.campaign_id) == campaign.id, col(Work.status) == WorkStatus.recommended)
        .order_by(col(Work.id))
    ).all()
    asked: list[int] = []
    for work in works:
        entry = ensure_entry(session, work)
        if request_copy(session, entry, retry_failed=retry_failed):
            asked.append(work.id or 0)
    return asked
