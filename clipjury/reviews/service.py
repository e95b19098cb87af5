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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from clipjury.accounts.models import ROLE_LABELS, Province, Role, User
from clipjury.audit.service import record
from clipjury.campaigns.models import Campaign
from clipjury.errors import Conflict, Forbidden, Invalid
from clipjury.notifications.service import notify
from clipjury.reviews.models import ACTION_LABELS, NATIONAL_ACTIONS, Action, ReviewDecision
from clipjury.timeutil import as_utc, fmt_local, utcnow
from clipjury.works.models import (
    FORWARDED_STATUSES,
    NATIONAL_DECISION_STATUSES,
    WORK_STATUS_LABELS,
    Work,
    WorkStatus,
)
from clipjury.works.service import (
    FILE_DRIVEN_STATUSES,
    StaleState,
    WorkNotFound,
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

PRELIMINARY_ROLES = (Role.reviewer, Role.provincial_admin)


# -- errors ----------------------------------------------------------------------------------------

class Claimed(Conflict):
    code = "claimed"
    message = "该作品正由其他评审员评审。"


class AlreadyDecided(Conflict):
    code = "already_decided"
    message = "该作品已有评审结论。"


class TooLate(Conflict):
    code = "too_late"
    message = "已过截止时间，不能再执行此操作。"


class NotPassed(Conflict):
    code = "not_passed"
    message = "只有初评通过的作品才能报送全国复评。"


class NotForwarded(Conflict):
    code = "not_forwarded"
    message = "只有已报送全国复评的作品才能作出复评决定。"


class AlreadyDisqualified(Conflict):
    code = "already_disqualified"
    message = "该作品已被取消参选资格。"


class NothingToUndo(Conflict):
    code = "nothing_to_undo"
    message = "该作品没有可以撤销的决定。"


class ResultsPublished(Conflict):
    code = "results_published"
    message = "全国复评结果已发布，不能再更改。"


class NotInReview(Conflict):
    code = "not_in_review"
    message = "该作品尚未提交评审。"


def _reason(reason: str | None, *, required: bool, what: str) -> str:
    text = (reason or "").strip()
    if required and not text:
        raise Invalid(f"请填写{what}的理由，投稿人会看到它。", code="reason_required")
    if len(text) > REASON_MAX:
        raise Invalid(f"理由不能超过 {REASON_MAX} 个字。", code="reason_too_long")
    return text


def _require_role(user: User, *roles: Role, what: str) -> None:
    if Role(user.role) not in roles:
        names = "、".join(ROLE_LABELS[r] for r in roles)
        raise Forbidden(f"只有{names}可以{what}。", code="forbidden_role")


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


def claim_lapsed(work: Work, campaign: Campaign, now: datetime) -> bool:
    return work.claimed_at is None or as_utc(work.claimed_at) + timedelta(hours=campaign.claim_ttl_hours) < now


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
    if Role(user.role) in (Role.submitter, Role.judge):
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


def is_staff(user: User | None) -> bool:
    return user is not None and Role(user.role) in (Role.national_admin, Role.provincial_admin, Role.reviewer)


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
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


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
    _require_role(user, *PRELIMINARY_ROLES, what="认领作品")
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
    _require_role(user, *PRELIMINARY_ROLES, what="释放认领")
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
    expected_rev: int | None = None,
    now: datetime | None = None,
) -> Work:
    now = now or utcnow()
    work = get_work_in_scope(session, user, work_id)
    _require_role(user, *PRELIMINARY_ROLES, what="作出初评结论")
    if decision not in VERDICTS:
        raise Invalid("初评结论只能是通过（pass）、不通过（fail）或退回修改（return）。", code="invalid_decision")
    action, to_status = VERDICTS[decision]
    text = _reason(reason, required=action != Action.pass_, what=ACTION_LABELS[action.value])
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
    _require_role(user, Role.provincial_admin, what="报送作品至全国复评")
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
    _require_role(user, Role.provincial_admin, what="报送作品至全国复评")
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
    _require_role(user, Role.national_admin, what="作出全国复评决定")
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
    _require_role(user, Role.national_admin, what="发布全国复评结果")
    campaign = active_campaign(session)
    result = session.execute(
        update(Campaign)
        .where(col(Campaign.id) == campaign.id, col(Campaign.national_results_published_at).is_(None))
        .values(national_results_published_at=now)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
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
    _require_role(user, Role.national_admin, Role.provincial_admin, what="取消作品参选资格")
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


# Who may undo what, and until when.
def _may_undo(user: User, decision: ReviewDecision, campaign: Campaign, now: datetime) -> None:
    role = Role(user.role)
    action = decision.action
    if action in ("pass", "fail", "return"):
        if role != Role.provincial_admin and decision.actor_id != user.id:
            raise Forbidden("只有作出该结论的评审员或省级管理员可以撤销初评结论。", code="forbidden_role")
        if role not in PRELIMINARY_ROLES:
            raise Forbidden(code="forbidden_role")
    elif action == "forward":
        if role != Role.provincial_admin:
            raise Forbidden("只有省级管理员可以撤销报送。", code="forbidden_role")
        if now > campaign.effective_forward_deadline():
            raise TooLate("报送截止后不能再撤销报送。")
    elif action in NATIONAL_ACTIONS:
        if role != Role.national_admin:
            raise Forbidden("只有全国管理员可以撤销复评决定。", code="forbidden_role")
        if campaign.national_results_published_at is not None:
            raise ResultsPublished()
    elif action == "disqualify":
        if role == Role.national_admin:
            return
        if role != Role.provincial_admin or decision.actor_role == Role.national_admin:
            raise Forbidden("全国管理员作出的取消资格决定只能由全国管理员撤销。", code="forbidden_role")


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
    _require_role(user, Role.national_admin, Role.provincial_admin, Role.reviewer, what="撤销决定")
    text = _reason(reason, required=True, what="撤销决定")
    campaign = campaign_of(session, work)
    last, hidden = undo_target(session, user, work, campaign)
    if last is None:
        raise NothingToUndo()
    _may_undo(user, last, campaign, now)
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
