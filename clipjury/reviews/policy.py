"""What a user may do to a work in the review, and why not: one answer for the service (which enforces
it), the API and the pages (which offer only what it allows).

Pure functions of what was read (the user, the work, its campaign, the decision an undo would revert):
no queries, so the pages can ask for every action at once and the unit tests need no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from clipjury.accounts.models import Role, User
from clipjury.accounts.policy import ADMIN_ROLES, PRELIMINARY_ROLES, role_refusal
from clipjury.campaigns.models import Campaign
from clipjury.errors import Conflict, DomainError, Forbidden
from clipjury.options import Option
from clipjury.reviews.errors import (
    AlreadyDecided,
    AlreadyDisqualified,
    Claimed,
    NothingToUndo,
    ResultsPublished,
    TooLate,
)
from clipjury.reviews.models import NATIONAL_ACTIONS, ReviewDecision
from clipjury.timeutil import as_utc
from clipjury.works.models import Work, WorkStatus

PRELIMINARY_VERDICTS = ("pass", "fail", "return")






@dataclass(frozen=True)
class ReviewActions:
    claim: Option
    release: Option
    decide: Option
    undo: Option
    disqualify: Option
    # The decision an undo would revert (when ``undo`` is allowed).
    undo_target: ReviewDecision | None


def undo_refusal(user: User, decision: ReviewDecision, campaign: Campaign, now: datetime) -> DomainError | None:
    """Why this user may not undo this decision now (None: they may). Who may undo what, and until when."""
    role = Role(user.role)
    action = decision.action
    if action in PRELIMINARY_VERDICTS:
        if role != Role.provincial_admin and decision.actor_id != user.id:
            return Forbidden("只有作出该结论的评审员或省级管理员可以撤销初评结论。", code="forbidden_role")
        if role not in PRELIMINARY_ROLES:
            return Forbidden(code="forbidden_role")
    elif action == "forward":
        if role != Role.provincial_admin:
            return Forbidden("只有省级管理员可以撤销报送。", code="forbidden_role")
        if now > campaign.effective_forward_deadline():
            return TooLate("报送截止后不能再撤销报送。")
    elif action in NATIONAL_ACTIONS:
        if role != Role.national_admin:
            return Forbidden("只有全国管理员可以撤销复评决定。", code="forbidden_role")
        if campaign.national_results_published_at is not None:
            return ResultsPublished()
    elif action == "disqualify":
        if role == Role.national_admin:
            return None
        if role != Role.provincial_admin or decision.actor_role == Role.national_admin:
            return Forbidden("全国管理员作出的取消资格决定只能由全国管理员撤销。", code="forbidden_role")
    return None


def claim_lapsed(work: Work, campaign: Campaign, now: datetime) -> bool:
    return work.claimed_at is None or as_utc(work.claimed_at) + timedelta(hours=campaign.claim_ttl_hours) < now


def review_actions(
    user: User, work: Work, campaign: Campaign, *, undo_target: ReviewDecision | None, now: datetime
) -> ReviewActions:
    """What this user may do to the work now; ``undo_target`` is ``reviews.service.undo_target``'s answer
    (the one thing here that needs a query)."""
    role = Role(user.role)
    status = work.status
    claimed_by_id = work.claimed_by_id
    preliminary_role = role in PRELIMINARY_ROLES
    holder_active = claimed_by_id is not None and not claim_lapsed(work, campaign, now)
    mine = claimed_by_id is not None and claimed_by_id == user.id

    def preliminary(what: str) -> DomainError | None:
        if not preliminary_role:
            return role_refusal(PRELIMINARY_ROLES, what)
        if status != WorkStatus.submitted:
            return AlreadyDecided()
        return None

    claim = preliminary("认领作品")
    if claim is None and mine:
        claim = Conflict("您已认领该作品。", code="claimed_by_you")
    elif claim is None and holder_active:
        claim = Claimed()
    release = preliminary("释放认领")
    if release is None and claimed_by_id is None:
        release = Conflict("该作品没有被认领。", code="not_claimed")
    elif release is None and not mine and role != Role.provincial_admin:
        release = Claimed()
    decide = preliminary("作出初评结论")
    if decide is None and not mine:
        # The page decides on a claimed work only (the API may decide without claiming first).
        decide = Claimed() if holder_active else Conflict("请先认领该作品，再作出结论。", code="claim_first")
    undo: DomainError | None = NothingToUndo() if undo_target is None else undo_refusal(
        user, undo_target, campaign, now
    )
    disqualify: DomainError | None = None
    if role not in ADMIN_ROLES:
        disqualify = role_refusal(ADMIN_ROLES, "取消作品参选资格")
    elif status == WorkStatus.disqualified:
        disqualify = AlreadyDisqualified()
    return ReviewActions(
        claim=Option(claim), release=Option(release), decide=Option(decide), undo=Option(undo),
        disqualify=Option(disqualify), undo_target=undo_target if undo is None else None,
    )
