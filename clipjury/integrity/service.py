"""The integrity aids' rules: which works a fingerprint is compared with, when a pair counts as similar,
what each caller may learn about the other work, the screening's answer, the national office's list and
its "not a duplicate", and the per-campaign switches. Routes, pages and jobs call here; nothing here
decides about a work: reviewers do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, update
from sqlmodel import Session, col, select

from clipjury.accounts.models import Province, Role, User
from clipjury.accounts.policy import REVIEW_ROLES, require_role
from clipjury.audit.service import record
from clipjury.campaigns.models import Campaign
from clipjury.db import rowcount
from clipjury.errors import Conflict, Forbidden, Invalid, NotFound
from clipjury.integrity import matching
from clipjury.integrity.models import Fingerprint, IntegritySwitches, JobState, PairStatus, Screening, SimilarPair
from clipjury.reasons import required_reason
from clipjury.settings import Settings, get_settings
from clipjury.timeutil import as_utc, utcnow
from clipjury.works.models import Work, WorkStatus
from clipjury.works.policy import WorkNotFound
from clipjury.works.service import visible_works_query

KIND_LABELS = {"video": "画面相似", "audio": "声音相似", "both": "画面和声音均相似"}


class PairNotFound(NotFound):
    code = "pair_not_found"
    message = "找不到该相似作品记录。"


class PairAlreadyDismissed(Conflict):
    code = "pair_already_dismissed"
    message = "该组作品已被标记为“不是重复”。"


class NotNationalAdmin(Forbidden):
    code = "forbidden"
    message = "只有全国管理员可以处理相似作品和设置核查开关。"


def _ensure_national(user: User) -> None:
    if Role(user.role) != Role.national_admin:
        raise NotNationalAdmin()


# -- switches ---------------------------------------------------------------------------------------

def switches_of(session: Session, campaign_id: int) -> IntegritySwitches:
    """The campaign's switches; both on when never set (the default)."""
    return session.get(IntegritySwitches, campaign_id) or IntegritySwitches(campaign_id=campaign_id)


def set_switches(session: Session, user: User, campaign_id: int, *, fingerprints: bool, screening: bool) -> None:
    _ensure_national(user)
    if session.get(Campaign, campaign_id) is None:
        raise NotFound("找不到该征集活动。", code="campaign_not_found")
    row = session.get(IntegritySwitches, campaign_id)
    if row is None:
        row = IntegritySwitches(campaign_id=campaign_id)
        session.add(row)
    row.fingerprints, row.screening = fingerprints, screening
    row.updated_by_id, row.updated_at = user.id, utcnow()
    record(session, actor=user, action="integrity_switches",
           data={"campaign_id": campaign_id, "fingerprints": fingerprints, "screening": screening})
    session.flush()


# -- which version stands for a work ----------------------------------------------------------------

def version_of(work: Work) -> int | None:
    """The version a work is compared and screened by: the submitted one, else the current valid one."""
    return work.submitted_version_id or work.current_version_id


def _standing_version() -> Any:
    return func.coalesce(col(Work.submitted_version_id), col(Work.current_version_id))


# -- recording a fingerprint and comparing it ---------------------------------------------------------

@dataclass
class Thresholds:
    max_distance: int
    video: float
    possible: float
    audio_ber: float
    audio_min_overlap_s: float
    min_seconds: int
    common_works: int

    @classmethod
    def of(cls, settings: Settings) -> Thresholds:
        return cls(settings.integrity_max_distance, settings.integrity_video_score,
                   settings.integrity_possible_score, settings.integrity_audio_ber,
                   settings.integrity_audio_min_overlap_s, settings.integrity_min_seconds,
                   settings.integrity_common_works)


def print_of(row: Fingerprint) -> matching.Print:
    return matching.Print.from_bytes(row.frame_times, row.frame_hashes, row.mirror_hashes, row.audio, row.duration_s)


def _comparable(session: Session, work: Work, campaign: Campaign) -> list[Fingerprint]:
    """The fingerprints a new one is compared with: every other work of the campaign (by the version it
    stands for) and the winners of earlier campaigns (by their submitted version)."""
    same_campaign = and_(col(Work.campaign_id) == campaign.id,
                         col(Fingerprint.version_id) == _standing_version())
    earlier_winners = and_(
        col(Work.campaign_id) != campaign.id, col(Work.status) == WorkStatus.recommended.value,
        col(Fingerprint.version_id) == col(Work.submitted_version_id),
        col(Work.campaign_id).in_(select(Campaign.id).where(col(Campaign.year) <= campaign.year)),
    )
    query = (
        select(Fingerprint)
        .join(Work, col(Work.id) == col(Fingerprint.work_id))
        .where(col(Fingerprint.status) == JobState.done.value, col(Fingerprint.work_id) != work.id,
               or_(same_campaign, earlier_winners))
    )
    return list(session.exec(query))


@dataclass
class Found:
    other_work_id: int
    other_version_id: int
    video: matching.VideoMatch
    audio: matching.AudioMatch
    kind: str
    score: float
    matched_s: float
    # [this work's second, the other's second]
    moments: list[list[float]] = field(default_factory=list)


def _audio_score(ber: float) -> float:
    # 0 bit errors -> 1.0, chance (0.5) -> 0.0.
    return max(0.0, 1.0 - 2.0 * ber)


def compare(query: matching.Print, others: dict[int, tuple[int, matching.Print]], t: Thresholds) -> list[Found]:
    """Compare one print with others ({work id: (version id, print)}); the similar ones, best first."""
    index = matching.Index.build({w: p.hashes for w, (_v, p) in others.items()})
    coarse = matching.candidates(query, index, max_distance=t.max_distance, min_hits=t.min_seconds)
    weights = matching.frame_weights(coarse.works_per_frame, t.common_works)
    audio_hits = matching.audio_candidates(
        query.audio, {w: p.audio for w, (_v, p) in others.items()},
        min_hits=int(t.audio_min_overlap_s / matching.AUDIO_ITEM_S / 4),
    )
    found: list[Found] = []
    for work_id in sorted(set(coarse.hits) | set(audio_hits)):
        version_id, other = others[work_id]
        video = matching.compare_video(query, other, max_distance=t.max_distance, min_frames=t.min_seconds,
                                       weights=weights)
        audio = matching.compare_audio(query.audio, other.audio, min_overlap_s=t.audio_min_overlap_s)
        video_hit = video.score >= t.possible
        audio_hit = audio.ber <= t.audio_ber and audio.overlap_s >= t.audio_min_overlap_s
        if not video_hit and not audio_hit:
            continue
        kind = "both" if video_hit and audio_hit else "video" if video_hit else "audio"
        score = round(max(video.score if video_hit else 0.0, _audio_score(audio.ber) if audio_hit else 0.0), 3)
        matched = max(video.matched_s if video_hit else 0.0, audio.overlap_s if audio_hit else 0.0)
        moments = video.moments if video_hit else [[audio.query_at_s, audio.other_at_s]]
        found.append(Found(work_id, version_id, video, audio, kind, score, matched, moments))
    found.sort(key=lambda f: -f.score)
    return found


def record_fingerprint(
    session: Session, version_id: int, *, times: bytes, hashes: bytes, mirrored: bytes, audio: bytes,
    duration_s: float,
) -> bool:
    """Store a computed fingerprint (compare-and-set on pending: a second run changes nothing)."""
    result = session.execute(
        update(Fingerprint)
        .where(col(Fingerprint.version_id) == version_id, col(Fingerprint.status) == JobState.pending.value)
        .values(status=JobState.done.value, frame_times=times, frame_hashes=hashes, mirror_hashes=mirrored,
                audio=audio, duration_s=duration_s, error=None, done_at=utcnow())
    )
    return rowcount(result) == 1


def match_version(session: Session, version_id: int, settings: Settings | None = None) -> list[SimilarPair]:
    """Compare a done fingerprint with the works it may duplicate and record the similar pairs. Open pairs
    of this work that no longer match are removed; pairs marked "not a duplicate" stay so."""
    t = Thresholds.of(settings or get_settings())
    row = session.get(Fingerprint, version_id)
    work = session.get(Work, row.work_id) if row is not None else None
    if row is None or work is None or row.status != JobState.done:
        return []
    campaign = session.get(Campaign, work.campaign_id)
    assert campaign is not None
    others = {f.work_id: (f.version_id, print_of(f)) for f in _comparable(session, work, campaign)}
    found = compare(print_of(row), others, t)
    now = utcnow()
    kept: list[SimilarPair] = []
    for hit in found:
        a, b = sorted((work.id or 0, hit.other_work_id))
        this_is_a = a == work.id
        pair = session.exec(select(SimilarPair).where(SimilarPair.work_a_id == a, SimilarPair.work_b_id == b)).first()
        if pair is None:
            pair = SimilarPair(work_a_id=a, work_b_id=b, version_a_id=0, version_b_id=0, kind=hit.kind)
            session.add(pair)
        pair.version_a_id = version_id if this_is_a else hit.other_version_id
        pair.version_b_id = hit.other_version_id if this_is_a else version_id
        pair.kind, pair.score, pair.matched_seconds = hit.kind, hit.score, hit.matched_s
        pair.video_score, pair.audio_ber = hit.video.score, hit.audio.ber
        pair.speed, pair.flipped = hit.video.speed, hit.video.flipped
        pair.moments = [m if this_is_a else [m[1], m[0]] for m in hit.moments]
        pair.updated_at = now
        kept.append(pair)
    session.flush()
    kept_ids = {p.id for p in kept}
    stale = session.exec(select(SimilarPair).where(
        or_(col(SimilarPair.work_a_id) == work.id, col(SimilarPair.work_b_id) == work.id),
        col(SimilarPair.status) == PairStatus.open.value,
    ))
    for pair in stale:
        if pair.id not in kept_ids:
            session.delete(pair)
    session.flush()
    return kept


# -- what a reviewer sees ----------------------------------------------------------------------------

def _work_for_staff(session: Session, user: User, work_id: int) -> Work:
    require_role(user, REVIEW_ROLES, "查看作品核查结果")
    work = session.exec(visible_works_query(user).where(Work.id == work_id)).first()
    if work is None:
        raise WorkNotFound()
    return work


@dataclass
class SimilarWork:
    work_id: int | None  # None: outside the caller's scope
    province: str
    score: float
    kind: str
    matched_seconds: float
    first: bool
    # Shown only when the caller may see the other work.
    title: str = ""
    pair_id: int = 0
    # [this work's second, the other's second]
    moments: list[list[float]] = field(default_factory=list)
    other_campaign: str = ""
    possible: bool = False  # under the similar threshold: "possible re-edit"

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


@dataclass
class SimilarAnswer:
    status: str  # pending, done, off, failed
    items: list[SimilarWork]


def _earlier(other: Work, other_campaign: Campaign | None, work: Work, campaign: Campaign | None) -> bool:
    if other_campaign is not None and campaign is not None and other_campaign.id != campaign.id:
        return other_campaign.year < campaign.year or (
            other_campaign.year == campaign.year and (other_campaign.id or 0) < (campaign.id or 0))
    mine = as_utc(work.submitted_at or work.created_at)
    theirs = as_utc(other.submitted_at or other.created_at)
    return theirs < mine or (theirs == mine and (other.id or 0) < (work.id or 0))


def similar_for(session: Session, user: User, work_id: int) -> SimilarAnswer:
    """The works similar to one the caller may see; another work outside the caller's scope is reduced
    to its province (or department) and which came first."""
    work = _work_for_staff(session, user, work_id)
    version_id = version_of(work)
    fingerprint = session.get(Fingerprint, version_id) if version_id else None
    if fingerprint is None or fingerprint.status == JobState.pending:
        if not switches_of(session, work.campaign_id).fingerprints:
            return SimilarAnswer(JobState.off.value, [])
        return SimilarAnswer(JobState.pending.value, [])
    if fingerprint.status != JobState.done:
        return SimilarAnswer(fingerprint.status, [])
    settings = get_settings()
    pairs = list(session.exec(select(SimilarPair).where(
        or_(col(SimilarPair.work_a_id) == work.id, col(SimilarPair.work_b_id) == work.id),
        col(SimilarPair.status) == PairStatus.open.value,
    ).order_by(col(SimilarPair.score).desc(), col(SimilarPair.id))))
    other_ids = [p.work_b_id if p.work_a_id == work.id else p.work_a_id for p in pairs]
    others = {w.id: w for w in session.exec(select(Work).where(col(Work.id).in_(other_ids)))} if other_ids else {}
    visible = set(session.exec(select(Work.id).where(
        col(Work.id).in_(other_ids), col(Work.id).in_(visible_works_query(user).with_only_columns(col(Work.id)))
    ))) if other_ids else set()
    campaign = session.get(Campaign, work.campaign_id)
    items: list[SimilarWork] = []
    for pair, other_id in zip(pairs, other_ids, strict=True):
        other = others.get(other_id)
        if other is None:
            continue
        province = session.get(Province, other.province_id)
        other_campaign = session.get(Campaign, other.campaign_id)
        shown = other_id in visible
        this_is_a = pair.work_a_id == work.id
        moments = [list(m) if this_is_a else [m[1], m[0]] for m in pair.moments]
        possible = pair.kind == "video" and pair.video_score < settings.integrity_video_score
        items.append(SimilarWork(
            work_id=other_id if shown else None,
            province=province.name if province else "",
            score=pair.score, kind=pair.kind, matched_seconds=pair.matched_seconds,
            first=_earlier(other, other_campaign, work, campaign),
            title=other.title if shown else "", pair_id=pair.id or 0,
            moments=moments if shown else [m[:1] for m in moments],
            other_campaign=other_campaign.name if other_campaign and other_campaign.id != work.campaign_id else "",
            possible=possible,
        ))
    return SimilarAnswer(JobState.done.value, items)


@dataclass
class Marking:
    text: str
    at_s: float
    thumb_key: str | None = None


@dataclass
class ScreeningAnswer:
    status: str
    opening_found: bool = False
    opening_text: str = ""
    opening_at_s: float | None = None
    expected: str = ""
    markings: list[Marking] = field(default_factory=list)


def screening_for(session: Session, user: User, work_id: int) -> ScreeningAnswer:
    work = _work_for_staff(session, user, work_id)
    version_id = version_of(work)
    row = session.get(Screening, version_id) if version_id else None
    campaign = session.get(Campaign, work.campaign_id)
    province = session.get(Province, work.province_id)
    expected = campaign.opening_line(province.name if province else "") if campaign else ""
    if row is None or row.status == JobState.pending:
        off = not switches_of(session, work.campaign_id).screening
        return ScreeningAnswer(JobState.off.value if off else JobState.pending.value, expected=expected)
    if row.status != JobState.done:
        return ScreeningAnswer(row.status, expected=expected)
    return ScreeningAnswer(
        JobState.done.value, row.opening_found, row.opening_text, row.opening_at_s, expected,
        [Marking(str(m.get("text", "")), float(m.get("at_s", 0.0)), m.get("thumb_key")) for m in row.markings],
    )


# -- the national office's list ----------------------------------------------------------------------

@dataclass
class PairRow:
    pair: SimilarPair
    work_a: Work
    work_b: Work
    province_a: str
    province_b: str
    first_id: int  # the work submitted first

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.pair.kind, self.pair.kind)


def _pair_status(user: User, status: str) -> str:
    _ensure_national(user)
    if status not in (PairStatus.open.value, PairStatus.dismissed.value):
        raise Invalid("未知的状态筛选条件。", code="unknown_status")
    return status


def pairs_count(session: Session, user: User, *, status: str = PairStatus.open.value) -> int:
    status = _pair_status(user, status)
    return int(session.exec(select(func.count()).select_from(SimilarPair).where(SimilarPair.status == status)).one())


def pairs_list(
    session: Session, user: User, *, status: str = PairStatus.open.value, offset: int = 0, limit: int | None = None,
) -> list[PairRow]:
    """The national office's list, most similar first; one page of it when ``limit`` is given."""
    status = _pair_status(user, status)
    pairs = list(session.exec(select(SimilarPair).where(SimilarPair.status == status).order_by(
        col(SimilarPair.score).desc(), col(SimilarPair.id)).offset(offset).limit(limit)))
    ids = {p.work_a_id for p in pairs} | {p.work_b_id for p in pairs}
    works = {w.id: w for w in session.exec(select(Work).where(col(Work.id).in_(ids)))} if ids else {}
    provinces = {p.id: p.name for p in session.exec(select(Province))}
    campaigns = {c.id: c for c in session.exec(select(Campaign))}
    rows = []
    for pair in pairs:
        a, b = works[pair.work_a_id], works[pair.work_b_id]
        first = a if _earlier(a, campaigns.get(a.campaign_id), b, campaigns.get(b.campaign_id)) else b
        rows.append(PairRow(pair, a, b, provinces.get(a.province_id, ""), provinces.get(b.province_id, ""),
                            first.id or 0))
    return rows


def dismiss_pair(session: Session, user: User, pair_id: int, reason: str) -> SimilarPair:
    """"Not a duplicate": recorded with its reason, and the pair is never raised again (compare-and-set,
    so two clicks record one)."""
    _ensure_national(user)
    reason = required_reason(reason)
    pair = session.get(SimilarPair, pair_id)
    if pair is None:
        raise PairNotFound()
    now = utcnow()
    result = session.execute(
        update(SimilarPair)
        .where(col(SimilarPair.id) == pair_id, col(SimilarPair.status) == PairStatus.open.value)
        .values(status=PairStatus.dismissed.value, reason=reason, dismissed_by_id=user.id, dismissed_at=now,
                updated_at=now)
    )
    if rowcount(result) != 1:
        raise PairAlreadyDismissed()
    record(session, actor=user, action="integrity_not_duplicate", reason=reason,
           data={"pair_id": pair_id, "work_ids": [pair.work_a_id, pair.work_b_id]})
    session.refresh(pair)
    return pair


def last_change(rows: list[PairRow]) -> datetime | None:
    return max((as_utc(r.pair.updated_at) for r in rows), default=None)
