"""Awards on the database (issue 16 part B), first step: gather the ranking's inputs from the judging tables
and the frozen likes snapshot, and compute a ranking. Storing versions, adjustments, publishing and the
routes come next; this module holds no rule of its own (they live in ranking.py / versions.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from clipjury.accounts.models import Role, User
from clipjury.accounts.policy import require_role
from clipjury.audit.service import record
from clipjury.awards import versions
from clipjury.awards.models import AwardsVersionRecord
from clipjury.awards.policy import JudgesUnfinished, LikesNotFrozen
from clipjury.awards.ranking import (
    LikesSnapshot,
    RankingParams,
    RankingResult,
    ScoreRow,
    WorkEntry,
    compute_ranking,
    rubric_from_settings,
)
from clipjury.campaigns.models import Campaign
from clipjury.errors import NotFound
from clipjury.judging.models import JudgeState, JudgingAssignment
from clipjury.judging.service import snapshot_works
from clipjury.judging.settings import effective
from clipjury.showcase import snapshots


@dataclass(frozen=True)
class Inputs:
    """Everything one computation reads: the snapshot it ranks on, the works, the submitted scores."""

    snapshot_version: int
    snapshot_sha256: str
    works: list[WorkEntry]
    scores: list[ScoreRow]
    likes: LikesSnapshot


def unfinished_judges(session: Session, campaign: Campaign) -> list[str]:
    """Usernames of judges holding a live assignment who have not submitted, sorted."""
    rows = session.exec(
        select(User.username).join(JudgingAssignment, col(JudgingAssignment.judge_id) == col(User.id))
        .outerjoin(JudgeState, (col(JudgeState.judge_id) == col(User.id))
                   & (col(JudgeState.campaign_id) == col(JudgingAssignment.campaign_id)))
        .where(col(JudgingAssignment.campaign_id) == campaign.id, col(JudgingAssignment.ended_at).is_(None),
               col(JudgeState.submitted_at).is_(None))
        .distinct()
    ).all()
    return sorted(str(u) for u in rows)


def gather(session: Session, campaign: Campaign) -> Inputs:
    """The ranking's inputs; 409 ``likes_not_frozen`` before the snapshot, 409 ``judges_unfinished``."""
    snapshot = snapshots.freeze_if_due(session, campaign)
    if snapshot is None:
        raise LikesNotFrozen()
    unfinished = unfinished_judges(session, campaign)
    if unfinished:
        raise JudgesUnfinished(unfinished)
    _, works = snapshot_works(session, campaign)
    ids = {w.id for w in works if w.id is not None}
    entries = [WorkEntry(w.id, w.submitted_at or w.created_at) for w in works if w.id is not None]
    scored = session.exec(
        select(JudgingAssignment, User.username).join(User, col(User.id) == col(JudgingAssignment.judge_id))
        .where(col(JudgingAssignment.campaign_id) == campaign.id, col(JudgingAssignment.ended_at).is_(None),
               col(JudgingAssignment.complete))
        .order_by(col(JudgingAssignment.id))
    ).all()
    scores = [ScoreRow(str(name), a.work_id, {k: float(v) for k, v in a.scores.items()})
              for a, name in scored if a.work_id in ids]
    counts = {w.id: w.likes for w in snapshot.works}
    # L_ref is the largest count of the whole frozen snapshot, disqualified works included.
    likes = LikesSnapshot({k: v for k, v in counts.items() if k in ids}, max(counts.values(), default=0))
    return Inputs(snapshot.version, snapshot.sha256, entries, scores, likes)


def compute(session: Session, campaign: Campaign) -> tuple[Inputs, RankingResult]:
    """Compute (not store) the ranking on the campaign's judging settings."""
    settings = effective(campaign.judging)
    inputs = gather(session, campaign)
    result = compute_ranking(inputs.works, inputs.scores, rubric_from_settings(settings["rubric"]), inputs.likes,
                             RankingParams.from_dict(settings))
    return inputs, result


def latest_record(session: Session, campaign: Campaign) -> AwardsVersionRecord | None:
    return session.exec(
        select(AwardsVersionRecord).where(col(AwardsVersionRecord.campaign_id) == campaign.id)
        .order_by(col(AwardsVersionRecord.number).desc())
    ).first()


def record_of(session: Session, campaign: Campaign, number: int) -> AwardsVersionRecord:
    found = session.exec(
        select(AwardsVersionRecord).where(col(AwardsVersionRecord.campaign_id) == campaign.id,
                                          col(AwardsVersionRecord.number) == number)
    ).first()
    if found is None:
        raise NotFound()
    return found


def compute_and_store(session: Session, user: User, campaign: Campaign) -> AwardsVersionRecord:
    """A new computation stored as the next version (rows, breakdown, parameters, the likes snapshot's
    version and sha256), audited. National admin only."""
    require_role(user, (Role.national_admin,), "计算奖项")
    inputs, result = compute(session, campaign)
    previous = latest_record(session, campaign)
    version = versions.from_result(result, versions.version_from_dict(previous.body) if previous else None)
    stored = AwardsVersionRecord(
        campaign_id=campaign.id or 0, number=version.number, cause=version.cause,
        body=versions.version_to_dict(version), parameters=result.parameters(),
        snapshot_version=inputs.snapshot_version, snapshot_sha256=inputs.snapshot_sha256, created_by_id=user.id,
    )
    session.add(stored)
    session.flush()
    record(session, actor=user, action="awards_compute", data={
        "version": version.number, "snapshot_version": inputs.snapshot_version, "works": len(version.rows),
    })
    return stored
