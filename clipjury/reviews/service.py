"""The review rounds as a state machine on ``Work.status``.

    submitted --claim--> submitted (claimed_by set; compare-and-set, lapses after campaign.claim_ttl_hours)
    submitted --verdict pass | fail--> passed | failed            (reviewer or provincial admin)
    submitted --verdict return (before the submission deadline)--> returned --resubmit--> submitted
    passed --forward (provincial admin, before the forwarding deadline)--> forwarded
    forwarded --recommendation--> recommended | not_recommended   (national admin; hidden until published)
    any --disqualify (national admin, or provincial admin in scope)--> disqualified
    undo: the latest decision still in force is reverted to the status it came from.

Every write is ``UPDATE work ... WHERE status = :read AND review_rev = :read``: two reviewers, two tabs
or a stale page cannot both win, and nobody's decision is silently overwritten. Decisions go to
``review_decision`` (the work's ``decisions``), everything (claims too) to the audit log.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, func, select

from clipjury.accounts.models import Province, Role, Unit, User
from clipjury.accounts.policy import (
    ADMIN_ROLES,
    PRELIMINARY_ROLES,
    REVIEW_LIST_ROLES,
    REVIEW_ROLES,
    UNDO_ROLES,
    has_role,
    require_role,
)
from clipjury.audit.service import record
from clipjury.campaigns.models import Campaign, ChecklistItem
from clipjury.db import rowcount
from clipjury.errors import Conflict, Forbidden, Invalid, NotFound
from clipjury.notifications.service import notify
from clipjury.reviews.errors import (
    AlreadyDecided,
    AlreadyDisqualified,
    ChecklistIncomplete,
    Claimed,
    NotForwarded,
    NothingToUndo,
    NotPassed,
    ResultsPublished,
    TooLate,
    UnknownChecklistItem,
)
from clipjury.reviews.models import ACTION_LABELS, Action, ReviewDecision
from clipjury.reviews.policy import claim_lapsed, undo_refusal
from clipjury.timeutil import as_utc, fmt_local, utcnow
from clipjury.works.models import (
    FORWARDED_STATUSES,
    NATIONAL_DECISION_STATUSES,
    WORK_STATUS_LABELS,
    Work,
    WorkStatus,
    WorkVersion,
)
from clipjury.works.policy import WorkNotFound
from clipjury.works.service import (
    FILE_DRIVEN_STATUSES,
    StaleState,
    derived_status,
    visible_works_query,
)

REASON_MAX = 2000
RANK_MAX = 10000
DOCUMENT_MAX_BYTES = 20 * 1024 * 1024
DOCUMENT_TYPES = {
    ".pdf": "application/pdf",
    ".ofd": "application/ofd",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
}


def _reason(reason: str | None, *, required: bool, what: str) -> str:
    text = (reason or "").strip()
    if required and not text:
        raise Invalid(f"请填写{what}的理由，投稿人会看到它。", code="reason_required")
    if len(text) > REASON_MAX:
        raise Invalid(f"理由不能超过 {REASON_MAX} 个字。", code="reason_too_long")
    return text


# -- reading ---------------------------------------------------------------------------------------

def get_work_in_scope(session: Session, user: User, work_id: int) -> Work:
    """The work if the user's role and scope let them see it; otherwise 404 exactly like a missing one."""
    work = session.exec(visible_works_query(user).where(Work.id == work_id)).first()
    if work is None:
        raise WorkNotFound()
    return work


def campaign_of(session: Session, work: Work) -> Campaign:
    campaign = session.get(Campaign, work.campaign_id)
    assert campaign is not None
    return campaign


def checklist_of(session: Session, work: Work) -> list[ChecklistItem]:
    """The campaign's review checklist, with the work's province's opening line."""
    province = session.get(Province, work.province_id)
    return campaign_of(session, work).checklist_for(province.name if province else "本省")


def checklist_for(session: Session, user: User, campaign: Campaign, work_id: int | None = None) -> list[ChecklistItem]:
    """The checklist a reviewer ticks: for a work (in the caller's scope), or for the caller's province."""
    require_role(user, REVIEW_ROLES, "查看审核要点")
    if work_id is not None:
        return checklist_of(session, get_work_in_scope(session, user, work_id))
    province = session.get(Province, user.province_id) if user.province_id else None
    return campaign.checklist_for(province.name if province else "本省")


def check_checklist(items: list[ChecklistItem], ticked: Sequence[str] | None, decision: str) -> None:
    """A pass needs every required item ticked (by key). The missing items are reported first, so a list
    of nonsense reads as "not every item ticked"; then any key the checklist does not have."""
    given = set(ticked or [])
    if decision == "pass":
        required = [i for i in items if i.required]
        done = sum(1 for i in required if i.key in given)
        if done < len(required):
            missing = [i.key for i in required if i.key not in given]
            raise ChecklistIncomplete(
                f"判定通过前，请逐项核对并勾选全部 {len(required)} 项审核要点（已勾选 {done} 项）。", missing=missing
            )
    unknown = sorted(given - {i.key for i in items})
    if unknown:
        raise UnknownChecklistItem(unknown=unknown[:20])


def sees_national_decisions(user: User | None, campaign: Campaign) -> bool:
    return campaign.national_results_published_at is not None or (
        user is not None and Role(user.role) == Role.national_admin
    )


def shown_status(work: Work, user: User | None, campaign: Campaign) -> str:
    """The status as this viewer may see it: an unpublished national decision reads as ``forwarded``."""
    if work.status in NATIONAL_DECISION_STATUSES and not sees_national_decisions(user, campaign):
        return WorkStatus.forwarded.value
    return work.status


def status_filter(user: User, campaign: Campaign, status: str) -> list[str]:
    """The stored statuses a ``?status=`` filter means for this viewer (see ``shown_status``)."""
    if status not in WORK_STATUS_LABELS:
        raise Invalid(f"未知的作品状态：{status}", code="unknown_status")
    if sees_national_decisions(user, campaign):
        return [status]
    if status == WorkStatus.forwarded:
        return sorted(FORWARDED_STATUSES)
    if status in NATIONAL_DECISION_STATUSES:
        return []
    return [status]


@dataclass(frozen=True)
class QueueFilter:
    status: str | None = None
    province_code: str | None = None
    unit_id: int | None = None
    # "me": claimed by the caller, "none": unclaimed, otherwise a username.
    reviewer: str | None = None
    q: str | None = None


# The default queue: everything in the review; disqualified works leave it (they stay reachable
# through ?status=disqualified for those who may see them).
DEFAULT_QUEUE = sorted({
    "submitted", "returned", "passed", "failed", "forwarded", "recommended", "not_recommended",
})


def review_queue_query(session: Session, user: User, campaign: Campaign, flt: QueueFilter) -> Any:
    """Works in the caller's scope for a review list, oldest submission first."""
    query = visible_works_query(user).where(Work.campaign_id == campaign.id)
    if Role(user.role) not in REVIEW_LIST_ROLES:
        raise Forbidden("只有评审人员和管理员可以查看评审列表。", code="forbidden_role")
    if flt.status:
        query = query.where(col(Work.status).in_(status_filter(user, campaign, flt.status)))
    else:
        query = query.where(col(Work.status).in_(DEFAULT_QUEUE))
    if flt.province_code:
        province = session.exec(select(Province).where(Province.code == flt.province_code)).first()
        query = query.where(Work.province_id == (province.id if province else -1))
    if flt.unit_id is not None:
        query = query.where(Work.unit_id == flt.unit_id)
    if flt.reviewer == "me":
        query = query.where(Work.claimed_by_id == user.id)
    elif flt.reviewer == "none":
        query = query.where(col(Work.claimed_by_id).is_(None))
    elif flt.reviewer:
        reviewer = session.exec(select(User).where(User.username == flt.reviewer)).first()
        query = query.where(Work.claimed_by_id == (reviewer.id if reviewer else -1))
    if flt.q:
        query = query.where(col(Work.title).contains(flt.q.strip()))
    # NULLs (a work disqualified before it was ever submitted) last on every database.
    return query.order_by(col(Work.submitted_at).asc().nulls_last(), col(Work.id))


def decisions_of(session: Session, work_ids: list[int]) -> dict[int, list[ReviewDecision]]:
    """Every decision of these works (one query), oldest first."""
    result: dict[int, list[ReviewDecision]] = {i: [] for i in work_ids}
    if not work_ids:
        return result
    rows = session.exec(
        select(ReviewDecision).where(col(ReviewDecision.work_id).in_(work_ids)).order_by(col(ReviewDecision.id))
    )
    for decision in rows:
        result[decision.work_id].append(decision)
    return result


def count_rows(session: Session, query: Any) -> int:
    """How many rows a list query (e.g. ``review_queue_query``) has, for a pager or ``X-Total-Count``."""
    return int(session.exec(select(func.count()).select_from(query.order_by(None).subquery())).one())


def all_of(session: Session, query: Any) -> list[Any]:
    return list(session.exec(query))


def page_of(session: Session, query: Any, *, offset: int, limit: int) -> list[Any]:
    return list(session.exec(query.offset(offset).limit(limit)))


def documents_of(session: Session, user: User, work_id: int) -> list[ReviewDecision]:
    """The work's decisions that carry a document (e.g. a copyright complaint): for the organisers only."""
    work = get_work_in_scope(session, user, work_id)
    require_role(user, ADMIN_ROLES, "查看决定的附件")
    return list(session.exec(
        select(ReviewDecision).where(ReviewDecision.work_id == work.id, col(ReviewDecision.document_key).is_not(None))
        .order_by(col(ReviewDecision.id))
    ))


def decision_document_url(session: Session, user: User, work_id: int, decision_id: int) -> str:
    """A short-lived link to one decision's document; 404 ``document_not_found`` when it has none."""
    require_role(user, ADMIN_ROLES, "查看决定的附件")
    work = get_work_in_scope(session, user, work_id)
    decision = session.get(ReviewDecision, decision_id)
    url = document_url(decision) if decision is not None and decision.work_id == work.id else None
    if url is None:
        raise NotFound("找不到该附件。", code="document_not_found")
    return url


@dataclass(frozen=True)
class QueueLookups:
    """What a page of the queue shows around its works, by id, one query each. Holding the rows keeps
    them in the session's identity map (it holds its objects weakly), so ``session.get`` and
    ``shown_version`` answer from it instead of one query a row."""

    units: dict[int, Unit]
    holders: dict[int, User]
    versions: dict[int, WorkVersion]


def _by_id(session: Session, model: Any, ids: set[int]) -> dict[int, Any]:
    if not ids:
        return {}
    return {row.id: row for row in session.exec(select(model).where(col(model.id).in_(ids)))}


def queue_lookups(session: Session, works: list[Work]) -> QueueLookups:
    return QueueLookups(
        units=_by_id(session, Unit, {w.unit_id for w in works if w.unit_id}),
        holders=_by_id(session, User, {w.claimed_by_id for w in works if w.claimed_by_id}),
        versions=_by_id(session, WorkVersion, {
            v for w in works for v in (w.submitted_version_id, w.current_version_id, w.latest_version_id) if v
        }),
    )


def province_units(session: Session, province_id: int | None) -> list[Unit]:
    """A province's units in their listed order (the queue's unit filter)."""
    return list(session.exec(
        select(Unit).where(Unit.province_id == province_id).order_by(col(Unit.sort_order), col(Unit.id))
    ))


def province_reviewers(session: Session, province_id: int | None) -> list[User]:
    """Who may hold a claim in a province (the queue's reviewer filter)."""
    return list(session.exec(
        select(User).where(User.province_id == province_id, col(User.role).in_([r.value for r in PRELIMINARY_ROLES]))
        .order_by(col(User.username))
    ))


def work_titles(session: Session, user: User, work_ids: set[int]) -> dict[int, str]:
    """Titles of the works among these that the user may open (one query)."""
    if not work_ids:
        return {}
    return {w.id or 0: w.title for w in session.exec(visible_works_query(user).where(col(Work.id).in_(work_ids)))}


def is_staff(user: User | None) -> bool:
    return has_role(user, REVIEW_ROLES)


def visible_decisions(
    decisions: list[ReviewDecision], user: User | None, campaign: Campaign
) -> list[ReviewDecision]:
    national_ok = sees_national_decisions(user, campaign)
    visible: list[ReviewDecision] = []
    hidden_ids: set[int] = set()
    for d in decisions:
        hide = d.national and not national_ok
        if d.action == Action.undo and d.undoes_id in hidden_ids:
            hide = True
        if hide:
            hidden_ids.add(d.id or 0)
            continue
        visible.append(d)
    return visible


def decision_by(decision: ReviewDecision, user: User | None) -> str:
    """Reviewers' account names are for the organisers; submitters and units see the role."""
    return decision.actor_name if is_staff(user) else decision.actor_role


# -- the national round's lists ------------------------------------------------------------------------

def forwarded_scope() -> Any:
    """Works that reached the national round: forwarded or decided there, or taken out after forwarding."""
    return or_(
        col(Work.status).in_(FORWARDED_STATUSES),
        and_(col(Work.status) == WorkStatus.disqualified.value, col(Work.forwarded_at).is_not(None)),
    )


def ranked(query: Any) -> Any:
    """Forwarded works in the order the province ranked them (unranked last), then by submission."""
    return query.order_by(None).order_by(
        col(Work.province_id), col(Work.forward_rank).is_(None), col(Work.forward_rank),
        col(Work.submitted_at), col(Work.id),
    )


@dataclass
class ProvinceCount:
    province: str
    code: str
    total: int = 0
    forwarded: int = 0
    recommended: int = 0
    not_recommended: int = 0
    disqualified: int = 0


def national_counts(session: Session, campaign: Campaign) -> list[ProvinceCount]:
    """Per province, how many works reached the national round and where they stand (one query)."""
    rows = session.exec(
        select(Work.province_id, Work.status, func.count())
        .where(Work.campaign_id == campaign.id, forwarded_scope())
        .group_by(col(Work.province_id), col(Work.status))
    )
    provinces = {p.id: p for p in all_provinces(session)}
    by: dict[int, ProvinceCount] = {}
    for province_id, status, n in rows:
        p = provinces.get(province_id)
        count = by.setdefault(province_id, ProvinceCount(p.name if p else "", p.code if p else ""))
        count.total += n
        setattr(count, status, getattr(count, status) + n)
    return [by[pid] for pid in provinces if pid in by]


def all_provinces(session: Session) -> list[Province]:
    return list(session.exec(select(Province).order_by(col(Province.id))))


def find_province(session: Session, code: str) -> Province | None:
    return session.exec(select(Province).where(Province.code == code)).first()


def province_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Province names by id, one query."""
    wanted = {i for i in ids if i is not None}
    rows: Iterable[Province] = session.exec(select(Province).where(col(Province.id).in_(wanted))) if wanted else []
    return {p.id or 0: p.name for p in rows}


def unit_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Unit names by id, one query."""
    wanted = {i for i in ids if i is not None}
    rows: Iterable[Unit] = session.exec(select(Unit).where(col(Unit.id).in_(wanted))) if wanted else []
    return {u.id or 0: u.name for u in rows}


# -- writing ---------------------------------------------------------------------------------------

def _cas(session: Session, work: Work, *, extra: Any = None, national: bool = False, **values: Any) -> bool:
    """Write ``values`` only if the work's status and both revisions are still what we read.

    ``national``: an unpublished national decision, counted in ``national_rev``/``national_updated_at``
    so that nothing a province reads (``review_rev``, ``updated_at``) moves with it."""
    stmt = update(Work).where(
        col(Work.id) == work.id, col(Work.status) == work.status, col(Work.review_rev) == work.review_rev,
        col(Work.national_rev) == work.national_rev,
    )
    if extra is not None:
        stmt = stmt.where(extra)
    if national:
        values = {"national_updated_at": utcnow(), **values}
        if "status" in values:
            values["national_rev"] = work.national_rev + 1
    else:
        values = {"updated_at": utcnow(), **values}
        if "status" in values:
            values["review_rev"] = work.review_rev + 1
    # synchronize_session=False: SQLAlchemy would otherwise write the new values into the loaded object
    # even when no row matched, and the caller could not tell what it had read from what it wished.
    result = session.execute(stmt.values(**values).execution_options(synchronize_session=False))
    return bool(rowcount(result) == 1)


def shown_rev(work: Work, user: User | None, campaign: Campaign) -> int:
    """The review revision as this viewer reads it (and sends back as ``expected_rev``): the national
    re-review's decisions count only for those who may see them."""
    return work.review_rev + (work.national_rev if sees_national_decisions(user, campaign) else 0)


def shown_updated_at(work: Work, user: User | None, campaign: Campaign) -> datetime:
    national = work.national_updated_at
    if national is not None and sees_national_decisions(user, campaign):
        return max(as_utc(work.updated_at), as_utc(national))
    return work.updated_at


def _check_rev(work: Work, expected_rev: int | None, user: User, campaign: Campaign) -> None:
    if expected_rev is not None and expected_rev != shown_rev(work, user, campaign):
        raise StaleState("该作品在您打开页面后已被他人处理，请刷新页面查看最新状态后再操作。")


def _decide(
    session: Session,
    user: User,
    work: Work,
    action: Action,
    to_status: str,
    reason: str,
    *,
    national: bool = False,
    undoes: ReviewDecision | None = None,
    document: tuple[str, str] | None = None,
    from_status: str | None = None,
) -> ReviewDecision:
    from_status = from_status or work.status
    decision = ReviewDecision(
        work_id=work.id or 0, campaign_id=work.campaign_id, province_id=work.province_id,
        action=action.value, actor_id=user.id, actor_name=user.username, actor_role=user.role,
        reason=reason, from_status=from_status, to_status=to_status, national=national,
        undoes_id=undoes.id if undoes else None,
        document_key=document[0] if document else None, document_name=document[1] if document else None,
    )
    session.add(decision)
    session.flush()
    record(
        session, actor=user, action=action.value, work_id=work.id, province_id=work.province_id,
        from_status=from_status, to_status=to_status, reason=reason,
        data={"decision_id": decision.id, **({"undoes": undoes.id} if undoes else {})},
    )
    return decision


def _tell_owner(session: Session, work: Work, kind: str, title: str, body: str) -> None:
    notify(session, work.owner_id, kind=kind, title=title, body=body, work_id=work.id)


def _conflict_after_lost_race(session: Session, work: Work, user: User, campaign: Campaign, now: datetime) -> Conflict:
    """Explain why a compare-and-set did not apply, from the work as it is now (the failed UPDATE waited
    for the winner's commit, so this transaction reads it)."""
    was = work.status
    session.refresh(work)
    current = work
    if current.status == WorkStatus.submitted and current.claimed_by_id not in (None, user.id) and not claim_lapsed(
        current, campaign, now
    ):
        return _claimed_error(session, current)
    if was == WorkStatus.submitted and current.status != WorkStatus.submitted:
        label = WORK_STATUS_LABELS.get(shown_status(current, user, campaign), current.status)
        return AlreadyDecided(f"该作品已有结论（{label}），您的决定没有保存。请刷新页面查看。")
    return StaleState("该作品在您操作的同时被他人处理，您的决定没有保存。请刷新页面后重试。")


def _claimed_error(session: Session, work: Work) -> Claimed:
    holder = session.get(User, work.claimed_by_id) if work.claimed_by_id else None
    name = (holder.display_name or holder.username) if holder else "其他评审员"
    return Claimed(f"该作品已由{name}认领评审，请选择其他作品。", holder=holder.username if holder else None)


def claim(session: Session, user: User, work_id: int, *, now: datetime | None = None) -> Work:
    now = now or utcnow()
    work = get_work_in_scope(session, user, work_id)
    require_role(user, PRELIMINARY_ROLES, "认领作品")
    campaign = campaign_of(session, work)
    if work.status != WorkStatus.submitted:
        raise AlreadyDecided(
            f"该作品当前状态为“{WORK_STATUS_LABELS.get(shown_status(work, user, campaign))}”，无需认领。"
        )
    if work.claimed_by_id == user.id:
        return work
    if work.claimed_by_id is not None and not claim_lapsed(work, campaign, now):
        raise _claimed_error(session, work)
    lapsed_holder = work.claimed_by_id
    free = or_(
        col(Work.claimed_by_id).is_(None),
        col(Work.claimed_at) < now - timedelta(hours=campaign.claim_ttl_hours),
    )
    if not _cas(session, work, extra=free, claimed_by_id=user.id, claimed_at=now):
        raise _conflict_after_lost_race(session, work, user, campaign, now)
    session.refresh(work)
    record(
        session, actor=user, action="claim", work_id=work.id, province_id=work.province_id,
        from_status=work.status, to_status=work.status,
        data={"took_over_from": lapsed_holder} if lapsed_holder else None,
    )
    return work


def release(session: Session, user: User, work_id: int) -> Work:
    """The holder gives a claim back; a provincial admin may free anyone's."""
    work = get_work_in_scope(session, user, work_id)
    require_role(user, PRELIMINARY_ROLES, "释放认领")
    if work.status != WorkStatus.submitted or work.claimed_by_id is None:
        return work
    if work.claimed_by_id != user.id and Role(user.role) != Role.provincial_admin:
        raise _claimed_error(session, work)
    holder = work.claimed_by_id
    if not _cas(session, work, extra=col(Work.claimed_by_id) == holder, claimed_by_id=None, claimed_at=None):
        raise StaleState()
    session.refresh(work)
    record(
        session, actor=user, action="release", work_id=work.id, province_id=work.province_id,
        from_status=work.status, to_status=work.status, data={"holder": holder},
    )
    return work


VERDICTS = {"pass": (Action.pass_, WorkStatus.passed), "fail": (Action.fail, WorkStatus.failed),
            "return": (Action.return_, WorkStatus.returned)}


def verdict(
    session: Session,
    user: User,
    work_id: int,
    decision: str,
    reason: str | None,
    *,
    checklist: Sequence[str] | None = None,
    expected_rev: int | None = None,
    now: datetime | None = None,
) -> Work:
    """A preliminary verdict. ``checklist``: the keys of the checklist items the reviewer ticked; a pass
    needs every required one (``checklist_incomplete``), and none may be unknown."""
    now = now or utcnow()
    work = get_work_in_scope(session, user, work_id)
    require_role(user, PRELIMINARY_ROLES, "作出初评结论")
    if decision not in VERDICTS:
        raise Invalid("初评结论只能是通过（pass）、不通过（fail）或退回修改（return）。", code="invalid_decision")
    action, to_status = VERDICTS[decision]
    text = _reason(reason, required=action != Action.pass_, what=ACTION_LABELS[action.value])
    check_checklist(checklist_of(session, work), checklist, decision)
    campaign = campaign_of(session, work)
    if work.status != WorkStatus.submitted:
        label = WORK_STATUS_LABELS.get(shown_status(work, user, campaign), work.status)
        raise AlreadyDecided(f"该作品已有结论（{label}），不能再次作出初评结论。")
    _check_rev(work, expected_rev, user, campaign)
    if work.claimed_by_id not in (None, user.id) and not claim_lapsed(work, campaign, now):
        raise _claimed_error(session, work)
    if action == Action.return_ and now > as_utc(campaign.submission_deadline):
        raise TooLate(
            f"作品提交已于 {fmt_local(campaign.submission_deadline)} 截止，投稿人无法再修改，"
            "不能退回；请作出通过或不通过的结论。"
        )
    free = or_(
        col(Work.claimed_by_id).is_(None),
        col(Work.claimed_by_id) == user.id,
        col(Work.claimed_at) < now - timedelta(hours=campaign.claim_ttl_hours),
    )
    decided = _decide(session, user, work, action, to_status.value, text)
    claim_values: dict[str, Any] = (
        {"claimed_by_id": None, "claimed_at": None} if action == Action.return_
        else {"claimed_by_id": user.id, "claimed_at": work.claimed_at or now}
    )
    if not _cas(session, work, extra=free, status=to_status.value, **claim_values):
        raise _conflict_after_lost_race(session, work, user, campaign, now)
    session.refresh(work)
    titles = {
        Action.pass_: ("初评通过", f"您的作品《{work.title}》已通过初评。"),
        Action.fail: ("初评未通过", f"您的作品《{work.title}》未通过初评。理由：{text}"),
        Action.return_: (
            "作品被退回修改",
            f"您的作品《{work.title}》被退回修改。理由：{text}\n"
            f"请在 {fmt_local(campaign.submission_deadline)}（北京时间）前修改后重新提交。",
        ),
    }
    title, body = titles[action]
    if action == Action.pass_ and text:
        body += f"意见：{text}"
    _tell_owner(session, work, action.value, title, body)
    del decided
    return work


def forward(
    session: Session,
    user: User,
    work_id: int,
    *,
    rank: int | None = None,
    expected_rev: int | None = None,
    now: datetime | None = None,
) -> Work:
    now = now or utcnow()
    work = get_work_in_scope(session, user, work_id)
    require_role(user, (Role.provincial_admin,), "报送作品至全国复评")
    campaign = campaign_of(session, work)
    deadline = campaign.effective_forward_deadline()
    if now > deadline:
        raise TooLate(f"报送全国复评已于 {fmt_local(deadline)}（北京时间）截止。")
    if work.status in FORWARDED_STATUSES:
        raise Conflict("该作品已报送全国复评。", code="already_forwarded")
    if work.status != WorkStatus.passed:
        raise NotPassed()
    if rank is not None and not 1 <= rank <= RANK_MAX:
        raise Invalid(f"排序号应为 1 到 {RANK_MAX} 之间的整数。", code="invalid_rank")
    _check_rev(work, expected_rev, user, campaign)
    _decide(session, user, work, Action.forward, WorkStatus.forwarded.value, "")
    if not _cas(session, work, status=WorkStatus.forwarded.value, forward_rank=rank, forwarded_at=now):
        raise _conflict_after_lost_race(session, work, user, campaign, now)
    session.refresh(work)
    _tell_owner(session, work, "forward", "已报送全国复评", f"您的作品《{work.title}》已由省级保密部门报送全国复评。")
    return work


def forward_many(
    session: Session,
    user: User,
    *,
    work_ids: list[int] | None,
    ranks: dict[int, int] | None = None,
    now: datetime | None = None,
) -> list[Work]:
    """Forward a selection (or, with ``work_ids=None``, every passed work of the admin's province).

    All or nothing: the first refusal names its work and nothing of the batch is kept.
    """
    now = now or utcnow()
    require_role(user, (Role.provincial_admin,), "报送作品至全国复评")
    if work_ids is None:
        work_ids = [
            w.id or 0 for w in session.exec(
                visible_works_query(user).where(Work.status == WorkStatus.passed).order_by(col(Work.submitted_at))
            )
        ]
        if not work_ids:
            raise Conflict("本省没有待报送的初评通过作品。", code="nothing_to_forward")
    if len(set(work_ids)) != len(work_ids):
        raise Invalid("报送列表中有重复的作品。", code="duplicate_work")
    done = []
    for work_id in work_ids:
        try:
            done.append(forward(session, user, work_id, rank=(ranks or {}).get(work_id), now=now))
        except Conflict as exc:
            raise type(exc)(f"作品 {work_id}：{exc.message}（本次报送未生效）", code=exc.code) from None
    return done


def recommend(
    session: Session,
    user: User,
    work_id: int,
    recommended: bool,
    reason: str | None,
    *,
    expected_rev: int | None = None,
    now: datetime | None = None,
) -> Work:
    now = now or utcnow()
    work = get_work_in_scope(session, user, work_id)
    require_role(user, (Role.national_admin,), "作出全国复评决定")
    campaign = campaign_of(session, work)
    action = Action.recommend if recommended else Action.not_recommend
    text = _reason(reason, required=not recommended, what="不推荐")
    if campaign.national_results_published_at is not None:
        raise ResultsPublished()
    if work.status in NATIONAL_DECISION_STATUSES:
        raise AlreadyDecided(
            f"该作品已有复评决定（{WORK_STATUS_LABELS[work.status]}）；如需更改，请先撤销原决定。"
        )
    if work.status != WorkStatus.forwarded:
        raise NotForwarded()
    _check_rev(work, expected_rev, user, campaign)
    to_status = WorkStatus.recommended if recommended else WorkStatus.not_recommended
    _decide(session, user, work, action, to_status.value, text, national=True)
    if not _cas(session, work, national=True, status=to_status.value):
        raise _conflict_after_lost_race(session, work, user, campaign, now)
    session.refresh(work)
    # The submitter hears of it when the national office publishes the results.
    return work


def publish_national_results(session: Session, user: User, *, now: datetime | None = None) -> int:
    """Make the national re-review's decisions visible; tells every affected submitter. Returns how many."""
    from clipjury.campaigns.service import active_campaign

    now = now or utcnow()
    require_role(user, (Role.national_admin,), "发布全国复评结果")
    campaign = active_campaign(session)
    result = session.execute(
        update(Campaign)
        .where(col(Campaign.id) == campaign.id, col(Campaign.national_results_published_at).is_(None))
        .values(national_results_published_at=now)
    )
    if rowcount(result) != 1:
        raise ResultsPublished("全国复评结果已经发布过了。")
    session.refresh(campaign)
    works = list(session.exec(
        select(Work).where(Work.campaign_id == campaign.id, col(Work.status).in_(NATIONAL_DECISION_STATUSES))
    ))
    for work in works:
        if work.status == WorkStatus.recommended:
            _tell_owner(session, work, "recommend", "复评推荐展播",
                        f"您的作品《{work.title}》经全国复评，推荐参加展播网评。")
        else:
            latest = session.exec(
                select(ReviewDecision)
                .where(ReviewDecision.work_id == work.id, ReviewDecision.action == "not_recommend")
                .order_by(col(ReviewDecision.id).desc())
            ).first()
            _tell_owner(session, work, "not_recommend", "复评未推荐",
                        f"您的作品《{work.title}》经全国复评未获推荐。理由：{latest.reason if latest else ''}")
    record(session, actor=user, action="publish_national_results", data={"works": len(works)})
    return len(works)


_SAFE_NAME = re.compile(r"[^\w.\-\u4e00-\u9fff]+")


def disqualify(
    session: Session,
    user: User,
    work_id: int,
    reason: str | None,
    *,
    document: tuple[str, bytes] | None = None,
    expected_rev: int | None = None,
    now: datetime | None = None,
) -> Work:
    """Take a work out at any stage (e.g. a copyright dispute), with a reason and optionally a document."""
    now = now or utcnow()
    work = get_work_in_scope(session, user, work_id)
    require_role(user, ADMIN_ROLES, "取消作品参选资格")
    text = _reason(reason, required=True, what="取消参选资格")
    campaign = campaign_of(session, work)
    if work.status == WorkStatus.disqualified:
        raise AlreadyDisqualified()
    _check_rev(work, expected_rev, user, campaign)
    stored: tuple[str, str] | None = None
    if document is not None:
        stored = _store_document(work, *document)
    _decide(session, user, work, Action.disqualify, WorkStatus.disqualified.value, text, document=stored)
    if not _cas(session, work, status=WorkStatus.disqualified.value, claimed_by_id=None, claimed_at=None):
        raise _conflict_after_lost_race(session, work, user, campaign, now)
    session.refresh(work)
    _tell_owner(session, work, "disqualify", "作品被取消参选资格",
                f"您的作品《{work.title}》已被取消参选资格。理由：{text}")
    return work


def _store_document(work: Work, filename: str, content: bytes) -> tuple[str, str]:
    from storage.s3 import get_store

    name = _SAFE_NAME.sub("_", (filename or "").strip())[-120:] or "document"
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in DOCUMENT_TYPES:
        raise Invalid("附件只能是 PDF、OFD、Word 文档或 JPG/PNG 图片。", code="document_type")
    if not content:
        raise Invalid("附件是空文件，请重新选择。", code="document_empty")
    if len(content) > DOCUMENT_MAX_BYTES:
        raise Invalid(f"附件不能超过 {DOCUMENT_MAX_BYTES // (1024 * 1024)} MB。", code="document_too_large")
    digest = hashlib.sha256(content).hexdigest()
    key = f"documents/work-{work.id}/{digest[:32]}{ext}"
    get_store().put_bytes(key, content, content_type=DOCUMENT_TYPES[ext])
    return key, name


def document_url(decision: ReviewDecision) -> str | None:
    if not decision.document_key:
        return None
    from storage.s3 import get_store

    return get_store().presigned_get(decision.document_key, filename=decision.document_name or None)


def undo_target(
    session: Session, user: User, work: Work, campaign: Campaign
) -> tuple[ReviewDecision | None, list[ReviewDecision]]:
    """The decision an undo by this user would revert (None: nothing to undo), and the unpublished national
    decisions made on top of it that the user may not see (an undo of it reverts them too).

    Read through the viewer's eyes: for a province a work the national office has decided on unpublished
    is simply forwarded, and the forwarding is what an undo reverts, so no answer tells the difference."""
    active = session.exec(
        select(ReviewDecision)
        .where(ReviewDecision.work_id == work.id, ReviewDecision.action != Action.undo.value,
               col(ReviewDecision.undone_at).is_(None))
        .order_by(col(ReviewDecision.id).desc())
    ).all()
    national_ok = sees_national_decisions(user, campaign)
    status = work.status
    hidden: list[ReviewDecision] = []
    for decision in active:
        if decision.national and not national_ok:
            if decision.to_status != status:
                break
            hidden.append(decision)
            status = decision.from_status
            continue
        return (decision if decision.to_status == status else None), hidden
    return None, []


def undo(
    session: Session,
    user: User,
    work_id: int,
    reason: str | None,
    *,
    expected_rev: int | None = None,
    now: datetime | None = None,
) -> Work:
    now = now or utcnow()
    work = get_work_in_scope(session, user, work_id)
    require_role(user, UNDO_ROLES, "撤销决定")
    text = _reason(reason, required=True, what="撤销决定")
    campaign = campaign_of(session, work)
    last, hidden = undo_target(session, user, work, campaign)
    if last is None:
        raise NothingToUndo()
    refusal = undo_refusal(user, last, campaign, now)
    if refusal is not None:
        raise refusal
    _check_rev(work, expected_rev, user, campaign)
    back = last.from_status
    if back in FILE_DRIVEN_STATUSES:
        # Disqualified before it was submitted: its files may have moved on meanwhile (a verdict on a
        # pending upload), so the status comes from them, not from the record.
        back = derived_status(session, work).value
    values: dict[str, Any] = {"status": back}
    if back == WorkStatus.submitted:
        values.update(claimed_by_id=None, claimed_at=None)
    if last.action == Action.forward:
        values.update(forward_rank=None, forwarded_at=None)
    # A province undoing its forwarding takes the work out of the national re-review, and with it any
    # decision the national office made there and has not published: the province is told nothing of
    # it (answering otherwise would reveal it), the national office reads both undos in the work's log.
    for decision in hidden:
        _decide(session, user, work, Action.undo, decision.from_status, text, national=True, undoes=decision)
    _decide(session, user, work, Action.undo, back, text, national=last.national, undoes=last,
            from_status=hidden[-1].from_status if hidden else None)
    if not _cas(session, work, national=last.national and campaign.national_results_published_at is None,
                **values):
        raise _conflict_after_lost_race(session, work, user, campaign, now)
    for decision in (last, *hidden):
        decision.undone_at = now
        session.add(decision)
    session.flush()
    session.refresh(work)
    if not last.national or campaign.national_results_published_at is not None:
        label = ACTION_LABELS.get(last.action, last.action)
        _tell_owner(session, work, "undo", f"“{label}”决定已撤销",
                    f"您的作品《{work.title}》的“{label}”决定已撤销，"
                    f"当前状态：{WORK_STATUS_LABELS[shown_status(work, None, campaign)]}。理由：{text}")
    return work
