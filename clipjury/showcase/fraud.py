"""Evidence for the national office: suspicious patterns among the counted likes, voiding the likes of
voters it judges fraudulent (visibly: a reason, the audit log, a new snapshot version), and the likes over
time for the chart.

Three patterns, each with its threshold as a setting: bursts (one work receiving more than
``likes_burst_per_minute`` likes within a minute), crowded networks (more than ``likes_network_voters``
voters liking from one IPv4 /24 or IPv6 /64; mobile carriers put many people behind one, so this is a lead
to look at, never a refusal), and single-purpose voters (voters whose only like came within
``likes_single_purpose_minutes`` of their creation, at least ``likes_single_purpose_voters`` of them for
one work).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from clipjury.accounts.models import Role, User
from clipjury.accounts.policy import require_role
from clipjury.audit.models import AuditEvent
from clipjury.audit.service import record
from clipjury.campaigns.models import Campaign
from clipjury.db import rowcount
from clipjury.errors import Invalid
from clipjury.settings import get_settings
from clipjury.showcase import snapshots
from clipjury.showcase.models import Like, Voter
from clipjury.timeutil import as_utc, utcnow
from clipjury.works.models import Work

REASON_MAX = 500
VOID_MAX_VOTERS = 5000
# How many voter ids a report row carries for the void form.
ROW_VOTERS_MAX = 500
BUCKETS = ("minute", "hour")


@dataclass(frozen=True)
class Burst:
    work_id: int
    title: str
    minute: datetime
    likes: int


@dataclass(frozen=True)
class CrowdedNetwork:
    network: str
    voters: int
    likes: int
    first_at: datetime
    last_at: datetime
    voter_ids: list[int]


@dataclass(frozen=True)
class SinglePurpose:
    work_id: int
    title: str
    voters: int
    voter_ids: list[int]


@dataclass(frozen=True)
class Totals:
    likes: int
    voided: int
    voters: int
    blocked_voters: int
    works: int


@dataclass
class Report:
    totals: Totals
    bursts: list[Burst] = field(default_factory=list)
    networks: list[CrowdedNetwork] = field(default_factory=list)
    single_purpose: list[SinglePurpose] = field(default_factory=list)
    thresholds: dict[str, int] = field(default_factory=dict)


def _bucket(session: Session, size: str) -> Any:
    """The SQL expression of a like's minute or hour (UTC)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc(size, func.timezone("UTC", col(Like.created_at)))
    return func.strftime("%Y-%m-%d %H:%M:00" if size == "minute" else "%Y-%m-%d %H:00:00", col(Like.created_at))


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def _titles(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.exec(select(col(Work.id), col(Work.title)).where(col(Work.id).in_(wanted))).all()
    return {int(i or 0): t for i, t in rows}


def totals(session: Session, campaign_id: int) -> Totals:
    counted = col(Like.voided_at).is_(None)
    likes = session.exec(select(func.count()).select_from(Like).where(col(Like.campaign_id) == campaign_id,
                                                                      counted)).one()
    voided = session.exec(select(func.count()).select_from(Like).where(
        col(Like.campaign_id) == campaign_id, col(Like.voided_at).is_not(None))).one()
    voters = session.exec(select(func.count(func.distinct(Like.voter_id))).where(
        col(Like.campaign_id) == campaign_id)).one()
    works = session.exec(select(func.count(func.distinct(Like.work_id))).where(
        col(Like.campaign_id) == campaign_id)).one()
    blocked = session.exec(select(func.count()).select_from(Voter).where(col(Voter.blocked_at).is_not(None))).one()
    return Totals(likes=int(likes), voided=int(voided), voters=int(voters), blocked_voters=int(blocked),
                  works=int(works))


def report(session: Session, user: User, campaign: Campaign) -> Report:
    require_role(user, (Role.national_admin,), "查看点赞异常报告")
    settings = get_settings()
    campaign_id = campaign.id or 0
    counted = (col(Like.campaign_id) == campaign_id, col(Like.voided_at).is_(None))
    minute = _bucket(session, "minute").label("minute")
    burst_rows = session.exec(
        select(Like.work_id, minute, func.count().label("n")).where(*counted)
        .group_by(col(Like.work_id), minute)
        .having(func.count() > settings.likes_burst_per_minute)
        .order_by(func.count().desc()).limit(200)
    ).all()
    net_rows = session.execute(
        sa_select(col(Like.client_network), func.count(func.distinct(Like.voter_id)), func.count(),
               func.min(Like.created_at), func.max(Like.created_at))
        .where(*counted, col(Like.client_network).is_not(None))
        .group_by(col(Like.client_network))
        .having(func.count(func.distinct(Like.voter_id)) > settings.likes_network_voters)
        .order_by(func.count(func.distinct(Like.voter_id)).desc()).limit(100)
    ).all()
    networks = []
    for network, voters, likes, first_at, last_at in net_rows:
        ids = session.exec(
            select(Like.voter_id).distinct().where(*counted, col(Like.client_network) == network)
            .order_by(col(Like.voter_id)).limit(ROW_VOTERS_MAX)
        ).all()
        networks.append(CrowdedNetwork(str(network), int(voters), int(likes), _as_datetime(first_at),
                                       _as_datetime(last_at), [int(i) for i in ids]))
    # Voters with exactly one counted like, and when they were created: the short gaps are the lead.
    single = (
        select(Like.voter_id, func.min(Like.work_id).label("work_id"), func.min(Like.created_at).label("at"))
        .where(*counted).group_by(col(Like.voter_id)).having(func.count() == 1).subquery()
    )
    gap = timedelta(minutes=settings.likes_single_purpose_minutes)
    per_work: dict[int, list[int]] = {}
    for voter_id, work_id, at, created_at in session.exec(
        select(single.c.voter_id, single.c.work_id, single.c.at, Voter.created_at)
        .join(Voter, col(Voter.id) == single.c.voter_id)
    ).all():
        if _as_datetime(at) - as_utc(created_at) <= gap:
            per_work.setdefault(int(work_id), []).append(int(voter_id))
    flagged = {w: v for w, v in per_work.items() if len(v) >= settings.likes_single_purpose_voters}
    titles = _titles(session, [r[0] for r in burst_rows] + list(flagged))
    return Report(
        totals=totals(session, campaign_id),
        bursts=[Burst(int(w), titles.get(int(w), ""), _as_datetime(m), int(n)) for w, m, n in burst_rows],
        networks=networks,
        single_purpose=sorted(
            (SinglePurpose(w, titles.get(w, ""), len(v), sorted(v)[:ROW_VOTERS_MAX]) for w, v in flagged.items()),
            key=lambda s: -s.voters,
        ),
        thresholds={
            "burst_per_minute": settings.likes_burst_per_minute,
            "network_voters": settings.likes_network_voters,
            "single_purpose_voters": settings.likes_single_purpose_voters,
            "single_purpose_minutes": settings.likes_single_purpose_minutes,
        },
    )


def likes_of_voters(session: Session, campaign_id: int, voter_ids: Iterable[int]) -> dict[int, int]:
    """For a voter list: the counted likes of each voter in the campaign (a void form shows them)."""
    ids = sorted(set(voter_ids))
    if not ids:
        return {}
    rows = session.exec(
        select(Like.voter_id, func.count()).where(
            col(Like.campaign_id) == campaign_id, col(Like.voter_id).in_(ids), col(Like.voided_at).is_(None)
        ).group_by(col(Like.voter_id))
    ).all()
    return {int(v): int(n) for v, n in rows}


@dataclass(frozen=True)
class VoidResult:
    voters: int
    likes: int
    works: dict[int, int]
    snapshot_version: int | None


class VoidInvalid(Invalid):
    code = "invalid_void"
    message = "请填写要作废的投票人编号和作废理由。"


def clean_void_request(voter_ids: Iterable[Any], reason: Any) -> tuple[list[int], str]:
    ids: list[int] = []
    for value in voter_ids:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2_147_483_647:
            raise VoidInvalid("投票人编号须为正整数。", code="invalid_voter_ids")
        if value not in ids:
            ids.append(value)
    if not ids:
        raise VoidInvalid("请至少选择一个投票人。", code="invalid_voter_ids")
    if len(ids) > VOID_MAX_VOTERS:
        raise VoidInvalid(f"一次最多作废 {VOID_MAX_VOTERS} 个投票人的点赞。", code="invalid_voter_ids")
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise VoidInvalid("请填写作废理由（将记入审计日志和点赞数快照）。", code="reason_required")
    if len(text) > REASON_MAX or "\x00" in text:
        raise VoidInvalid(f"作废理由不能超过 {REASON_MAX} 个字。", code="reason_too_long")
    return ids, text


def void_voters(session: Session, user: User, campaign: Campaign, voter_ids: Iterable[Any], reason: Any,
                *, now: datetime | None = None) -> VoidResult:
    """Void every counted like of these voters in the campaign and block their further likes, with the
    reason; audited (``likes_void``), and after the freeze a new snapshot version. The caller commits,
    then refreshes the display counts of ``works``."""
    require_role(user, (Role.national_admin,), "作废点赞")
    ids, text = clean_void_request(voter_ids, reason)
    now = now or utcnow()
    campaign_id = campaign.id or 0
    mine = (col(Like.campaign_id) == campaign_id, col(Like.voter_id).in_(ids), col(Like.voided_at).is_(None))
    works = {int(w): int(n) for w, n in session.exec(
        select(Like.work_id, func.count()).where(*mine).group_by(col(Like.work_id))
    ).all()}
    voided = rowcount(session.execute(
        update(Like).where(*mine).values(voided_at=now, voided_by_id=user.id, void_reason=text)
        .execution_options(synchronize_session=False)
    ))
    blocked = rowcount(session.execute(
        update(Voter).where(col(Voter.id).in_(ids), col(Voter.blocked_at).is_(None)).values(blocked_at=now)
        .execution_options(synchronize_session=False)
    ))
    record(
        session, actor=user, action="likes_void", reason=text,
        data={"campaign_id": campaign_id, "voter_ids": ids, "likes": voided, "voters_blocked": blocked,
              "works": {str(w): n for w, n in sorted(works.items())}},
    )
    snapshot = snapshots.after_voiding(session, campaign, user)
    return VoidResult(voters=len(ids), likes=voided, works=works,
                      snapshot_version=snapshot.version if snapshot else None)


@dataclass(frozen=True)
class Timeline:
    bucket: str
    rows: list[tuple[datetime, int, int]]  # (the bucket's start, counted likes, voided likes)

    def as_json(self) -> list[dict[str, object]]:
        return [{"at": at.isoformat(), "likes": likes, "voided": voided} for at, likes, voided in self.rows]


def timeline(session: Session, user: User, campaign: Campaign, bucket: str = "hour", *,
             now: datetime | None = None) -> Timeline:
    """Likes per hour over the window, or per minute over the last 24 hours (the chart)."""
    require_role(user, (Role.national_admin,), "查看点赞趋势")
    if bucket not in BUCKETS:
        raise Invalid("时间粒度只能是 minute 或 hour。", code="invalid_bucket")
    now = now or utcnow()
    expr = _bucket(session, bucket).label("bucket")
    where = [col(Like.campaign_id) == campaign.id]
    if bucket == "minute":
        where.append(col(Like.created_at) >= now - timedelta(hours=24))
    rows = session.exec(
        select(expr, func.count(), func.count(col(Like.voided_at))).where(*where).group_by(expr).order_by(expr)
    ).all()
    return Timeline(bucket=bucket, rows=[(_as_datetime(b), int(n) - int(v), int(v)) for b, n, v in rows])


def parse_voter_ids(text: str) -> list[int]:
    """Voter ids as a form sends them: numbers separated by commas, spaces or new lines."""
    ids: list[int] = []
    for part in text.replace("，", ",").replace(",", " ").split():
        if not part.isascii() or not part.isdigit() or len(part) > 10:
            raise VoidInvalid(f"投票人编号“{part[:20]}”不是正整数。", code="invalid_voter_ids")
        ids.append(int(part))
    return ids


@dataclass(frozen=True)
class VoidRecord:
    at: datetime
    actor: str
    reason: str
    voters: int
    likes: int


def recent_voids(session: Session, user: User, campaign: Campaign, limit: int = 50) -> list[VoidRecord]:
    """The voidings of the campaign, newest first (the page shows them: voiding is never silent)."""
    require_role(user, (Role.national_admin,), "查看点赞作废记录")
    events = session.exec(
        select(AuditEvent).where(col(AuditEvent.action) == "likes_void").order_by(col(AuditEvent.id).desc())
        .limit(limit * 4)
    ).all()
    records = [
        VoidRecord(at=as_utc(e.at), actor=e.actor_name, reason=e.reason, voters=len(e.data.get("voter_ids", [])),
                   likes=int(e.data.get("likes", 0)))
        for e in events if e.data.get("campaign_id") == campaign.id
    ]
    return records[:limit]
