"""The policies on their own (issue 13 §1): role sets and ``require_role`` (clipjury.accounts.policy), what a
user may do to a work in the review (clipjury.reviews.policy). Pure functions of in-memory rows: no
database, so every role and state is cheap to cover; the API and page tests check they are what runs."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from clipjury.accounts.models import Role, User
from clipjury.accounts.policy import ADMIN_ROLES, PRELIMINARY_ROLES, has_role, require_role
from clipjury.campaigns.models import Campaign
from clipjury.errors import Forbidden
from clipjury.reviews.models import ReviewDecision
from clipjury.reviews.policy import review_actions, undo_refusal
from clipjury.timeutil import utcnow
from clipjury.works.models import Work

NOW = utcnow()


def user(role: Role, user_id: int = 1) -> User:
    return User(id=user_id, username=f"u{user_id}", password_hash="", role=role.value, province_id=1)


def campaign(
    forward_deadline: datetime | None = None, national_results_published_at: datetime | None = None
) -> Campaign:
    return Campaign(slug="c", name="c", year=2026, submission_opens_at=NOW - timedelta(days=30),
                    submission_deadline=NOW + timedelta(days=1), forward_deadline=forward_deadline,
                    national_results_published_at=national_results_published_at)


def work(status: str = "submitted", holder: int | None = None, claimed_ago: timedelta = timedelta(0)) -> Work:
    return Work(id=7, title="w", status=status, province_id=1, owner_id=99, campaign_id=1,
                claimed_by_id=holder, claimed_at=NOW - claimed_ago if holder else None)


def decision(action: str, actor: User, *, national: bool = False) -> ReviewDecision:
    return ReviewDecision(id=5, work_id=7, campaign_id=1, province_id=1, action=action, actor_id=actor.id,
                          actor_name=actor.username, actor_role=actor.role, reason="", from_status="submitted",
                          to_status="passed", national=national)


def test_require_role_names_the_roles_that_may() -> None:
    require_role(user(Role.reviewer), PRELIMINARY_ROLES, "认领作品")
    with pytest.raises(Forbidden) as refused:
        require_role(user(Role.submitter), PRELIMINARY_ROLES, "认领作品")
    assert refused.value.code == "forbidden_role"
    assert refused.value.message == "只有省级评审员、省级管理员可以认领作品。"
    assert has_role(user(Role.national_admin), ADMIN_ROLES) and not has_role(None, ADMIN_ROLES)


def test_claim_release_decide() -> None:
    me, other = user(Role.reviewer, 1), user(Role.reviewer, 2)
    admin = user(Role.provincial_admin, 3)
    free = review_actions(me, work(), campaign(), undo_target=None, now=NOW)
    assert free.claim.allowed and not free.release.allowed and free.release.code == "not_claimed"
    assert free.decide.code == "claim_first"
    mine = review_actions(me, work(holder=1), campaign(), undo_target=None, now=NOW)
    assert mine.claim.code == "claimed_by_you" and mine.release.allowed and mine.decide.allowed
    held = review_actions(other, work(holder=1), campaign(), undo_target=None, now=NOW)
    assert (held.claim.code, held.release.code, held.decide.code) == ("claimed", "claimed", "claimed")
    # A lapsed claim may be taken over; a provincial admin may free anyone's.
    lapsed = review_actions(other, work(holder=1, claimed_ago=timedelta(hours=49)), campaign(),
                            undo_target=None, now=NOW)
    assert lapsed.claim.allowed
    assert review_actions(admin, work(holder=1), campaign(), undo_target=None, now=NOW).release.allowed
    # Decided works, and roles outside the preliminary review.
    done = review_actions(me, work("passed", holder=1), campaign(), undo_target=None, now=NOW)
    assert {done.claim.code, done.release.code, done.decide.code} == {"already_decided"}
    national = review_actions(user(Role.national_admin), work(), campaign(), undo_target=None, now=NOW)
    assert national.claim.code == "forbidden_role" and "省级评审员、省级管理员" in national.claim.message


def test_disqualify() -> None:
    assert not review_actions(user(Role.reviewer), work(), campaign(), undo_target=None, now=NOW).disqualify.allowed
    assert review_actions(user(Role.national_admin), work(), campaign(), undo_target=None, now=NOW).disqualify.allowed
    gone = review_actions(user(Role.provincial_admin), work("disqualified"), campaign(), undo_target=None, now=NOW)
    assert gone.disqualify.code == "already_disqualified"


def test_undo_is_the_services_rule() -> None:
    reviewer, other = user(Role.reviewer, 1), user(Role.reviewer, 2)
    padmin, national = user(Role.provincial_admin, 3), user(Role.national_admin, 4)
    verdict = decision("pass", reviewer)
    assert undo_refusal(reviewer, verdict, campaign(), NOW) is None
    assert undo_refusal(padmin, verdict, campaign(), NOW) is None
    refused = undo_refusal(other, verdict, campaign(), NOW)
    assert refused is not None and refused.code == "forbidden_role"
    forward = decision("forward", padmin)
    assert undo_refusal(padmin, forward, campaign(), NOW) is None
    late = undo_refusal(padmin, forward, campaign(forward_deadline=NOW - timedelta(hours=1)), NOW)
    assert late is not None and late.code == "too_late"
    recommend = decision("recommend", national, national=True)
    published = undo_refusal(national, recommend, campaign(national_results_published_at=NOW), NOW)
    assert published is not None and published.code == "results_published"
    by_national = decision("disqualify", national)
    assert undo_refusal(national, by_national, campaign(), NOW) is None
    assert undo_refusal(padmin, by_national, campaign(), NOW) is not None
    # The page offers undo exactly when the service would do it.
    actions = review_actions(padmin, work("passed"), campaign(), undo_target=verdict, now=NOW)
    assert actions.undo.allowed and actions.undo_target is verdict
    denied = review_actions(other, work("passed"), campaign(), undo_target=verdict, now=NOW)
    assert not denied.undo.allowed and denied.undo_target is None
    nothing = review_actions(reviewer, work("passed"), campaign(), undo_target=None, now=NOW)
    assert nothing.undo.code == "nothing_to_undo"
