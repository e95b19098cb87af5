"""Judging: who judges which work (conflicts, the min-cost-flow proposal, applying it, "ensure N" top-ups),
blind scoring with a version check, submitting (locking) and unlocking, and the national office's progress.

Services flush, the request commits. Every conflict, assignment, submission and unlock is audited.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from clipjury.accounts.models import Role, User
from clipjury.accounts.policy import require_role
from clipjury.audit.service import record
from clipjury.campaigns.models import Campaign
from clipjury.campaigns.service import active_campaign
from clipjury.db import rowcount
from clipjury.judging import flow
from clipjury.judging.models import (
    CONFLICT_LABELS,
    ConflictKind,
    JudgeConflict,
    JudgeState,
    JudgingAssignment,
    JudgingRound,
)
from clipjury.judging.policy import (
    AlreadyApplied,
    Incomplete,
    JudgeNotFound,
    LikesNotFrozen,
    NotAssigned,
    NotLocked,
    ScoreOutOfRange,
    ScoresLocked,
    StaleScores,
    UnknownCriterion,
)
from clipjury.judging.settings import effective
from clipjury.reasons import REASON_MAX, required_reason
from clipjury.showcase import snapshots
from clipjury.showcase.models import ShowcaseEntry
from clipjury.timeutil import utcnow
from clipjury.works.models import Work, WorkStatus
from clipjury.works.playback import playback_for
from storage import get_store

AUTO_KINDS = (ConflictKind.province.value, ConflictKind.unit.value)
# Assignments a conflict ended: the judge no longer scores the work (a declared one counts as abstained).
ENDING_KINDS = (ConflictKind.declared.value, ConflictKind.admin.value)


def _national(user: User, what: str) -> None:
    require_role(user, (Role.national_admin,), what)


def _judge(user: User, what: str) -> None:
    require_role(user, (Role.judge,), what)


def _reason(reason: str) -> str:
    return required_reason(reason, what="原因")


def rubric_of(campaign: Campaign) -> list[dict[str, Any]]:
    return list(effective(campaign.judging)["rubric"])


def judges_per_work(campaign: Campaign) -> int:
    return int(effective(campaign.judging)["judges_per_work"])


# -- the works and the judges ----------------------------------------------------------------------------

def snapshot_works(session: Session, campaign: Campaign) -> tuple[int, list[Work]]:
    """The works judged: those of the frozen likes snapshot that are published, recommended and not
    disqualified (by id). 409 ``likes_not_frozen`` before the snapshot."""
    snapshot = snapshots.freeze_if_due(session, campaign)
    if snapshot is None:
        raise LikesNotFrozen()
    ids = [w.id for w in snapshot.works]
    if not ids:
        return snapshot.version, []
    works = session.exec(
        select(Work).join(ShowcaseEntry, col(ShowcaseEntry.work_id) == col(Work.id))
        .where(col(Work.id).in_(ids), col(Work.status) == WorkStatus.recommended.value,
               col(ShowcaseEntry.published_at).is_not(None))
        .order_by(col(Work.id))
    ).all()
    return snapshot.version, list(works)


def active_judges(session: Session) -> list[User]:
    return list(session.exec(
        select(User).where(User.role == Role.judge.value, col(User.is_active), col(User.deleted_at).is_(None))
        .order_by(col(User.id))
    ))


def _affiliation_conflict(judge: User, work: Work) -> str | None:
    """The automatic conflict of a judge's affiliation (the organisation tree): own unit, own province."""
    if judge.unit_id is not None and judge.unit_id == work.unit_id:
        return ConflictKind.unit.value
    if judge.province_id is not None and judge.province_id == work.province_id:
        return ConflictKind.province.value
    return None


def _stored_conflicts(session: Session, campaign_id: int, work_ids: list[int]) -> dict[tuple[int, int], set[str]]:
    found: dict[tuple[int, int], set[str]] = {}
    if not work_ids:
        return found
    for row in session.exec(select(JudgeConflict).where(
        JudgeConflict.campaign_id == campaign_id, col(JudgeConflict.work_id).in_(work_ids)
    )):
        found.setdefault((row.work_id, row.judge_id), set()).add(row.kind)
    return found


def conflicts_of(session: Session, campaign_id: int, works: list[Work],
                 judges: list[User]) -> dict[tuple[int, int], set[str]]:
    """Every conflict of these works and judges: the stored rows and those the affiliations imply."""
    found = _stored_conflicts(session, campaign_id, [w.id or 0 for w in works])
    for work in works:
        for judge in judges:
            kind = _affiliation_conflict(judge, work)
            if kind is not None:
                found.setdefault((work.id or 0, judge.id or 0), set()).add(kind)
    return found


def _record_auto_conflicts(session: Session, campaign_id: int, works: list[Work], judges: list[User],
                           actor: User | None) -> int:
    """Stores (and audits) the automatic conflicts not stored yet; returns how many were added."""
    stored = _stored_conflicts(session, campaign_id, [w.id or 0 for w in works])
    added = 0
    for work in works:
        for judge in judges:
            kind = _affiliation_conflict(judge, work)
            if kind is None or kind in stored.get((work.id or 0, judge.id or 0), set()):
                continue
            session.add(JudgeConflict(campaign_id=campaign_id, work_id=work.id or 0, judge_id=judge.id or 0,
                                      kind=kind, reason=CONFLICT_LABELS[kind], created_by_id=None))
            record(session, actor=actor, action="judging_conflict", work_id=work.id,
                   data={"judge": judge.username, "kind": kind})
            added += 1
    session.flush()
    return added


# -- the proposal ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProposedPair:
    work_id: int
    judge: str
    why: str


@dataclass(frozen=True)
class Unfilled:
    work_id: int
    why: str


@dataclass(frozen=True)
class Proposal:
    seed: int
    judges_per_work: int
    snapshot_version: int
    pairs: list[ProposedPair]
    unfilled: list[Unfilled]


def _conflict_summary(kinds: Counter[str]) -> str:
    parts = [f"{CONFLICT_LABELS[k]} {kinds[k]} 名" for k in ConflictKind if kinds.get(k.value)]
    return "、".join(parts)


def _unfilled_why(need: int, got: int, judges: int, excluded: Counter[str], busy: int = 0) -> str:
    if judges == 0:
        return f"需要 {need} 名专家，目前没有可用的评审专家账号。"
    text = f"需要 {need} 名专家，只能分配 {got} 名：共 {judges} 名专家"
    if excluded:
        text += f"，其中与该作品回避的有 {sum(excluded.values())} 名（{_conflict_summary(excluded)}）"
    if busy:
        text += f"，已提交评分（锁定）的 {busy} 名不再补充分配"
    return text + "。"


def _plan(works: list[Work], judges: list[User], conflicts: dict[tuple[int, int], set[str]], need: int,
          seed: int) -> tuple[list[ProposedPair], list[Unfilled]]:
    names = {j.id or 0: j.username for j in judges}
    allowed = {w.id or 0: {j for j in names if not conflicts.get((w.id or 0, j))} for w in works}
    pairs = flow.assign({w.id or 0: need for w in works}, list(names), allowed, seed=seed)
    loads = Counter(p.judge_id for p in pairs)
    mean = len(pairs) / len(names) if names else 0.0
    proposed: list[ProposedPair] = []
    for p in pairs:
        left_out = len(names) - len(allowed[p.work_id])
        why = (f"无回避冲突；按负载均衡分配，该专家共评 {loads[p.judge_id]} 件（人均 {mean:.1f} 件）"
               + (f"；该作品有 {left_out} 名专家因回避被排除" if left_out else "") + "。")
        proposed.append(ProposedPair(p.work_id, names[p.judge_id], why))
    got = Counter(p.work_id for p in pairs)
    unfilled: list[Unfilled] = []
    for w in works:
        wid = w.id or 0
        if got[wid] < need:
            excluded = Counter(k for j in names if j not in allowed[wid] for k in conflicts.get((wid, j), set()))
            unfilled.append(Unfilled(wid, _unfilled_why(need, got[wid], len(names), excluded)))
    return proposed, unfilled


def propose(session: Session, user: User, seed: int) -> Proposal:
    """The min-cost-flow assignment of the snapshot's works to the active judges for ``seed``: each pair with
    why it was chosen, each work that cannot get N judges with why. Changes nothing; the same seed (and the
    same judges, works and conflicts) gives the same pairs."""
    _national(user, "分配评审作品")
    campaign = active_campaign(session)
    version, works = snapshot_works(session, campaign)
    judges = active_judges(session)
    need = judges_per_work(campaign)
    conflicts = conflicts_of(session, campaign.id or 0, works, judges)
    pairs, unfilled = _plan(works, judges, conflicts, need, seed)
    return Proposal(seed, need, version, pairs, unfilled)


def current_round(session: Session, campaign: Campaign) -> JudgingRound | None:
    return session.get(JudgingRound, campaign.id)


def apply(session: Session, user: User, seed: int) -> Proposal:
    """Applies the proposal for ``seed`` all at once, storing the seed and the automatic conflicts. Applying
    the same seed again changes nothing; another seed once applied is 409 ``already_applied``."""
    proposal = propose(session, user, seed)
    campaign = active_campaign(session)
    existing = current_round(session, campaign)
    if existing is not None:
        if existing.seed != seed:
            raise AlreadyApplied()
        return proposal
    campaign_id = campaign.id or 0
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    made = session.execute(
        insert(JudgingRound).values(
            campaign_id=campaign_id, seed=seed, judges_per_work=proposal.judges_per_work,
            snapshot_version=proposal.snapshot_version, applied_at=utcnow(), applied_by_id=user.id,
        ).on_conflict_do_nothing(index_elements=["campaign_id"]).returning(col(JudgingRound.campaign_id))
    ).scalar_one_or_none()
    if made is None:
        raise AlreadyApplied()  # another admin applied at the same moment
    _, works = snapshot_works(session, campaign)
    judges = active_judges(session)
    _record_auto_conflicts(session, campaign_id, works, judges, user)
    ids = {j.username: j.id or 0 for j in judges}
    for pair in proposal.pairs:
        session.add(JudgingAssignment(campaign_id=campaign_id, work_id=pair.work_id, judge_id=ids[pair.judge],
                                      why=pair.why, source="proposal"))
    session.flush()
    record(session, actor=user, action="judging_apply", data={
        "campaign_id": campaign_id, "seed": seed, "judges_per_work": proposal.judges_per_work,
        "snapshot_version": proposal.snapshot_version, "pairs": len(proposal.pairs),
        "unfilled": [u.work_id for u in proposal.unfilled],
    })
    return proposal


# -- conflicts after the assignment and the "ensure N" top-up ------------------------------------------

def _states(session: Session, campaign_id: int) -> dict[int, JudgeState]:
    return {s.judge_id: s for s in session.exec(select(JudgeState).where(JudgeState.campaign_id == campaign_id))}


def ensure_n(session: Session, campaign: Campaign, work: Work, actor: User | None) -> list[JudgingAssignment]:
    """Tops the work up to N active judges from those free for it (no conflict, never assigned it, not
    locked), the least loaded first (the flow's costs, the stored seed's tie-break). Audited."""
    round_ = current_round(session, campaign)
    if round_ is None:
        return []
    campaign_id = campaign.id or 0
    wid = work.id or 0
    need = judges_per_work(campaign)
    rows = session.exec(select(JudgingAssignment).where(JudgingAssignment.campaign_id == campaign_id)).all()
    active = [r for r in rows if r.ended_at is None]
    missing = need - sum(1 for r in active if r.work_id == wid)
    if missing <= 0:
        return []
    judges = active_judges(session)
    _record_auto_conflicts(session, campaign_id, [work], judges, actor)
    conflicts = conflicts_of(session, campaign_id, [work], judges)
    states = _states(session, campaign_id)
    ever = {r.judge_id for r in rows if r.work_id == wid}
    locked = {j for j, s in states.items() if s.submitted_at is not None}
    free = {j.id or 0 for j in judges if not conflicts.get((wid, j.id or 0)) and (j.id or 0) not in ever} - locked
    loads = Counter(r.judge_id for r in active)
    pairs = flow.assign({wid: missing}, [j.id or 0 for j in judges], {wid: free}, seed=round_.seed,
                        loads=dict(loads))
    names = {j.id or 0: j.username for j in judges}
    made: list[JudgingAssignment] = []
    for p in pairs:
        assignment = JudgingAssignment(
            campaign_id=campaign_id, work_id=wid, judge_id=p.judge_id, source="topup",
            why=f"补足 {need} 名：原专家回避后，在无冲突的专家中选负载最轻者（分配后共 {p.load_after} 件）。",
        )
        session.add(assignment)
        made.append(assignment)
    session.flush()
    if pairs:
        record(session, actor=actor, action="judging_topup", work_id=wid,
               data={"judges": [names[p.judge_id] for p in pairs]})
    if len(pairs) < missing:
        excluded = Counter(k for j in names for k in conflicts.get((wid, j), set()))
        record(session, actor=actor, action="judging_unfilled", work_id=wid, data={
            "why": _unfilled_why(need, need - missing + len(pairs), len(names), excluded, len(locked & set(names))),
        })
    return made


def _add_conflict(session: Session, campaign: Campaign, work_id: int, judge: User, kind: str, reason: str,
                  actor: User) -> JudgeConflict:
    existing = session.exec(select(JudgeConflict).where(
        JudgeConflict.work_id == work_id, JudgeConflict.judge_id == judge.id, JudgeConflict.kind == kind
    )).first()
    conflict = existing or JudgeConflict(campaign_id=campaign.id or 0, work_id=work_id, judge_id=judge.id or 0,
                                         kind=kind, reason=reason, created_by_id=actor.id)
    if existing is None:
        session.add(conflict)
    now = utcnow()
    session.execute(
        update(JudgingAssignment)
        .where(col(JudgingAssignment.work_id) == work_id, col(JudgingAssignment.judge_id) == judge.id,
               col(JudgingAssignment.ended_at).is_(None))
        .values(ended_at=now, ended_kind=kind)
    )
    session.flush()
    record(session, actor=actor, action="judging_conflict", work_id=work_id, reason=reason,
           data={"judge": judge.username, "kind": kind})
    return conflict


def declare_conflict(session: Session, judge: User, work_id: int, reason: str) -> JudgeConflict:
    """A judge declares a conflict with a work assigned to them (at any time): an abstention. The work is
    then topped up from another free judge."""
    _judge(judge, "声明回避")
    campaign = active_campaign(session)
    assignment = _assignment(session, campaign, judge, work_id)
    conflict = _add_conflict(session, campaign, work_id, judge, ConflictKind.declared.value,
                             (reason or "").strip()[:REASON_MAX], judge)
    _touch(session, campaign, judge)
    work = session.get(Work, assignment.work_id)
    if work is not None:
        ensure_n(session, campaign, work, judge)
    return conflict


def recuse(session: Session, user: User, work_id: int, username: str, reason: str) -> JudgeConflict:
    """The national office recuses a judge from a work, silently (the judge just no longer has it)."""
    _national(user, "指定专家回避")
    text = _reason(reason)
    campaign = active_campaign(session)
    judge = _judge_named(session, username)
    work = session.get(Work, work_id)
    if work is None or work.campaign_id != campaign.id:
        raise NotAssigned("找不到该作品。")
    conflict = _add_conflict(session, campaign, work_id, judge, ConflictKind.admin.value, text, user)
    ensure_n(session, campaign, work, user)
    return conflict


# -- blind scoring ---------------------------------------------------------------------------------------

def _assignment(session: Session, campaign: Campaign, judge: User, work_id: int) -> JudgingAssignment:
    row = session.exec(select(JudgingAssignment).where(
        JudgingAssignment.campaign_id == campaign.id, JudgingAssignment.work_id == work_id,
        JudgingAssignment.judge_id == judge.id, col(JudgingAssignment.ended_at).is_(None),
    )).first()
    if row is None:
        raise NotAssigned()
    return row


def _state(session: Session, campaign: Campaign, judge: User) -> JudgeState | None:
    return session.get(JudgeState, (campaign.id, judge.id))


def _touch(session: Session, campaign: Campaign, judge: User) -> None:
    """The judge's last activity (created on the first, one row however many tabs race to create it)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    now = utcnow()
    session.execute(
        insert(JudgeState).values(campaign_id=campaign.id, judge_id=judge.id, last_active_at=now)
        .on_conflict_do_update(index_elements=["campaign_id", "judge_id"], set_={"last_active_at": now})
    )


def is_locked(session: Session, campaign: Campaign, judge: User) -> bool:
    state = _state(session, campaign, judge)
    return state is not None and state.submitted_at is not None


def order_key(seed: int, judge_id: int, work_id: int) -> str:
    """A judge's own seeded random order: a digest of the round's seed, the judge and the work."""
    return hashlib.sha256(f"{seed}:{judge_id}:{work_id}".encode()).hexdigest()


@dataclass(frozen=True)
class JudgeWork:
    id: int
    title: str
    video_url: str | None
    poster_url: str | None
    scores: dict[str, float]
    rev: int
    locked: bool


def _media(session: Session, work: Work, entry: ShowcaseEntry | None) -> tuple[str | None, str | None]:
    """The public copy (metadata stripped) when the showcase has one, else the work's playback; presigned."""
    if entry is not None and entry.public_key:
        store = get_store()
        poster = store.presigned_get(entry.public_poster_key, content_type="image/jpeg") \
            if entry.public_poster_key else None
        return store.presigned_get(entry.public_key, content_type="video/mp4"), poster
    playback = playback_for(session, work)
    return playback.video_url, playback.poster_url


def judge_works(session: Session, judge: User) -> list[JudgeWork]:
    """The judge's works in their own order, with only what blind scoring needs."""
    _judge(judge, "查看评审作品")
    campaign = active_campaign(session)
    round_ = current_round(session, campaign)
    rows = session.exec(select(JudgingAssignment, Work, ShowcaseEntry)
                        .join(Work, col(Work.id) == col(JudgingAssignment.work_id))
                        .outerjoin(ShowcaseEntry, col(ShowcaseEntry.work_id) == col(Work.id))
                        .where(JudgingAssignment.campaign_id == campaign.id, JudgingAssignment.judge_id == judge.id,
                               col(JudgingAssignment.ended_at).is_(None))).all()
    locked = is_locked(session, campaign, judge)
    seed = round_.seed if round_ else 0
    ordered = sorted(rows, key=lambda r: order_key(seed, judge.id or 0, r[1].id or 0))
    result: list[JudgeWork] = []
    for assignment, work, entry in ordered:
        video, poster = _media(session, work, entry)
        result.append(JudgeWork(work.id or 0, work.title, video, poster, dict(assignment.scores), assignment.rev,
                                locked))
    return result


def judge_work(session: Session, judge: User, work_id: int) -> JudgeWork:
    for item in judge_works(session, judge):
        if item.id == work_id:
            return item
    raise NotAssigned()


def _checked_scores(rubric: list[dict[str, Any]], scores: dict[str, Any]) -> dict[str, float]:
    by_key = {c["key"]: c for c in rubric}
    checked: dict[str, float] = {}
    for key, value in scores.items():
        criterion = by_key.get(key)
        if criterion is None:
            raise UnknownCriterion(f"评分项“{key}”不在本届评分细则中。", field=key, criterion=key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                or not criterion["min"] <= value <= criterion["max"]:
            raise ScoreOutOfRange(
                f"“{criterion['name']}”的分值须在 {criterion['min']:g} 至 {criterion['max']:g} 之间。",
                field=key, criterion=key,
            )
        checked[key] = float(value)
    return checked


def save_scores(session: Session, judge: User, work_id: int, scores: dict[str, Any], expected_rev: int) -> int:
    """Saves the judge's scores of one work (those given; the others stay empty) on the rev the judge read:
    a second tab cannot overwrite (409 ``stale_state``). Returns the new rev."""
    _judge(judge, "评分")
    campaign = active_campaign(session)
    assignment = _assignment(session, campaign, judge, work_id)
    if is_locked(session, campaign, judge):
        raise ScoresLocked()
    rubric = rubric_of(campaign)
    checked = _checked_scores(rubric, scores)
    complete = all(c["key"] in checked for c in rubric)
    result = session.execute(
        update(JudgingAssignment)
        .where(col(JudgingAssignment.id) == assignment.id, col(JudgingAssignment.rev) == expected_rev,
               col(JudgingAssignment.ended_at).is_(None))
        .values(scores=checked, rev=expected_rev + 1, complete=complete, scored_at=utcnow())
    )
    if rowcount(result) != 1:
        session.refresh(assignment)
        raise StaleScores(current_rev=assignment.rev)
    _touch(session, campaign, judge)
    session.flush()
    return expected_rev + 1


def submit(session: Session, judge: User) -> int:
    """Locks all the judge's scores; 409 ``incomplete`` with the works still missing a criterion."""
    _judge(judge, "提交评分")
    campaign = active_campaign(session)
    rows = session.exec(select(JudgingAssignment).where(
        JudgingAssignment.campaign_id == campaign.id, JudgingAssignment.judge_id == judge.id,
        col(JudgingAssignment.ended_at).is_(None),
    ).order_by(col(JudgingAssignment.work_id))).all()
    rubric_keys = {c["key"] for c in rubric_of(campaign)}
    missing = [r.work_id for r in rows if not rubric_keys <= set(r.scores)]
    if missing:
        raise Incomplete(f"还有 {len(missing)} 件作品未完成全部评分项，不能提交。", work_ids=missing)
    if is_locked(session, campaign, judge):
        return len(rows)
    _touch(session, campaign, judge)
    session.execute(update(JudgeState).where(col(JudgeState.campaign_id) == campaign.id,
                                             col(JudgeState.judge_id) == judge.id).values(submitted_at=utcnow()))
    record(session, actor=judge, action="judging_submit", data={"campaign_id": campaign.id, "works": len(rows)})
    return len(rows)


def _judge_named(session: Session, username: str) -> User:
    judge = session.exec(select(User).where(User.username == username, User.role == Role.judge.value)).first()
    if judge is None:
        raise JudgeNotFound()
    return judge


def unlock(session: Session, user: User, username: str, reason: str) -> None:
    """The national office unlocks a judge's submitted scores, with a reason (audited)."""
    _national(user, "解锁专家评分")
    text = _reason(reason)
    campaign = active_campaign(session)
    judge = _judge_named(session, username)
    result = session.execute(
        update(JudgeState).where(col(JudgeState.campaign_id) == campaign.id, col(JudgeState.judge_id) == judge.id,
                                 col(JudgeState.submitted_at).is_not(None)).values(submitted_at=None)
    )
    if rowcount(result) != 1:
        raise NotLocked()
    record(session, actor=user, action="judging_unlock", reason=text, data={"judge": judge.username})


# -- progress --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class JudgeProgress:
    username: str
    display_name: str
    assigned: int
    done: int
    abstained: int
    last_active_at: datetime | None
    submitted_at: datetime | None


@dataclass(frozen=True)
class WorkProgress:
    work_id: int
    title: str
    judges: list[str]
    scores_in_hand: int
    needed: int


@dataclass(frozen=True)
class Progress:
    applied: JudgingRound | None
    judges: list[JudgeProgress]
    works: list[WorkProgress]


def progress(session: Session, user: User) -> Progress:
    """Per judge: assigned, done, abstained, last active, submitted; per work: complete scores of N."""
    _national(user, "查看评审进度")
    campaign = active_campaign(session)
    campaign_id = campaign.id or 0
    rows = session.exec(select(JudgingAssignment).where(JudgingAssignment.campaign_id == campaign_id)
                        .order_by(col(JudgingAssignment.work_id), col(JudgingAssignment.judge_id))).all()
    states = _states(session, campaign_id)
    judges = active_judges(session)
    names = {j.id or 0: j.username for j in judges}
    for extra in {r.judge_id for r in rows} - set(names):
        other = session.get(User, extra)
        names[extra] = other.username if other else str(extra)
    judge_rows = []
    for judge in judges:
        mine = [r for r in rows if r.judge_id == judge.id]
        state = states.get(judge.id or 0)
        judge_rows.append(JudgeProgress(
            judge.username, judge.display_name,
            assigned=sum(1 for r in mine if r.ended_kind != ConflictKind.admin.value),
            done=sum(1 for r in mine if r.ended_at is None and r.complete),
            abstained=sum(1 for r in mine if r.ended_kind == ConflictKind.declared.value),
            last_active_at=state.last_active_at if state else None,
            submitted_at=state.submitted_at if state else None,
        ))
    need = judges_per_work(campaign)
    work_ids = sorted({r.work_id for r in rows})
    titles = {w.id: w.title for w in session.exec(select(Work).where(col(Work.id).in_(work_ids)))} if work_ids else {}
    work_rows = [
        WorkProgress(
            wid, titles.get(wid, ""),
            [names[r.judge_id] for r in rows if r.work_id == wid and r.ended_at is None],
            sum(1 for r in rows if r.work_id == wid and r.ended_at is None and r.complete), need,
        )
        for wid in work_ids
    ]
    return Progress(current_round(session, campaign), judge_rows, work_rows)
