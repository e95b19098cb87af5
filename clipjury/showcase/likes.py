"""Likes: one per voter and work, counted exactly once whatever the concurrency.

The database decides. A like is one ``INSERT … SELECT … ON CONFLICT (work_id, voter_id) DO NOTHING
RETURNING``: the SELECT yields a row only while the work is on the showcase (``catalog``), the voter is not
blocked and the server's clock is inside the campaign's window, so publication, blocking and the window
are checked in the same statement that adds the row, and its RETURNING says whether a row was added.
Two devices of one voter liking at once: one insert adds the row, the other finds the conflict (on
PostgreSQL it waits for the first to commit). No counter column is touched: a hot work would serialise
every like on it.

**The cut at the close.** A like counts when its transaction is about to commit before
``showcase_ends_at``: the INSERT checks the window with the server's clock, and ``like`` checks the clock
again right before it hands the transaction back to be committed, refusing (``window_closed``, rolled
back) what reached that point at or after the close. The snapshot counts likes created in
``[starts, ends)`` and is frozen no sooner than ``likes_settle_s`` after the close, by when every
transaction that passed the check has committed.

A like cannot be taken back (there is no DELETE): a count that can go down invites like/unlike churn,
and the snapshot the awards use would depend on when it was taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Executable, exists, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from clipjury.campaigns.models import Campaign
from clipjury.db import UTCDateTime
from clipjury.phones.limits import canonical_address, network_of
from clipjury.showcase import catalog, counts, limits
from clipjury.showcase.models import Like, Voter
from clipjury.showcase.policy import NotOnShowcase, VoterBlocked, VoterTokenInvalid, WindowClosed, may_like
from clipjury.timeutil import as_utc, utcnow
from clipjury.works.models import Work

ADDRESS_MAX = 64


@dataclass(frozen=True)
class LikeResult:
    work_id: int
    created: bool  # this request added the like (201); False: the voter had liked it before (200)


def _insert_statement(session: Session, campaign: Campaign, work_id: int, voter_id: int, now: datetime,
                      address: str) -> Executable:
    address = canonical_address(address)[:ADDRESS_MAX]
    network = network_of(address)[:ADDRESS_MAX] if address else None
    # The voter exists (a token outlives no voter, but a missing row must not become a foreign-key error)
    # and is not blocked.
    may_vote = exists().where(col(Voter.id) == voter_id, col(Voter.blocked_at).is_(None))
    source = (
        catalog.public_works_query(campaign.id or 0)
        .join(Campaign, col(Campaign.id) == col(Work.campaign_id))
        .where(
            col(Work.id) == work_id,
            col(Campaign.showcase_starts_at) <= now,
            col(Campaign.showcase_ends_at) > now,
            may_vote,
        )
        .with_only_columns(
            literal(work_id), literal(voter_id), literal(campaign.id), literal(now, UTCDateTime()),
            literal(address or None), literal(network),
        )
    )
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    return (
        insert(Like)
        .from_select(["work_id", "voter_id", "campaign_id", "created_at", "client_address", "client_network"],
                     source)
        .on_conflict_do_nothing(index_elements=["work_id", "voter_id"])
        .returning(col(Like.work_id))
    )


def like(session: Session, campaign: Campaign, voter_id: int, work_id: int, *, address: str,
         now: datetime | None = None) -> LikeResult:
    """Like a work on the showcase for a voter. ``NotOnShowcase`` (404), ``WindowClosed`` (409),
    ``VoterBlocked`` (403), ``TooManyLikes`` (429). The caller commits at once, then calls
    ``displayed_count``."""
    now = now or utcnow()
    may_like(campaign, now).ensure()
    limits.check_and_count(voter_id, address)
    added = session.execute(_insert_statement(session, campaign, work_id, voter_id, now, address)).first()
    if added is None:
        return LikeResult(work_id=work_id, created=_already_liked(session, campaign, voter_id, work_id))
    # The cut: a like whose transaction reaches its commit at or after the close does not count.
    ends = campaign.showcase_ends_at
    if ends is not None and utcnow() >= as_utc(ends):
        raise WindowClosed(may_like(campaign, utcnow()).message)
    return LikeResult(work_id=work_id, created=True)


def _already_liked(session: Session, campaign: Campaign, voter_id: int, work_id: int) -> bool:
    """Why the insert added nothing: the answer for a work that is not public, a window that moved, a
    blocked voter; else the voter had liked it (returns False: not created)."""
    if catalog.public_work(session, work_id) is None:
        raise NotOnShowcase()
    session.refresh(campaign)
    may_like(campaign, utcnow()).ensure()
    voter = session.get(Voter, voter_id)
    if voter is None or voter.erased_at is not None:
        raise VoterTokenInvalid()
    if voter.blocked_at is not None:
        raise VoterBlocked()
    if session.get(Like, (work_id, voter_id)) is not None:
        return False
    # The window closed between the two reads: the same answer as outside it.
    raise WindowClosed()


def has_liked(session: Session, voter_id: int, work_id: int) -> bool:
    return session.exec(
        select(Like.work_id).where(col(Like.work_id) == work_id, col(Like.voter_id) == voter_id)
    ).first() is not None


def displayed_count(session: Session, result: LikeResult) -> int:
    """After the commit: the count to show (the Redis display cache, bumped for a new like)."""
    if result.created:
        return counts.bump_after_commit(session, result.work_id)
    return counts.cached_like_counts(session, [result.work_id])[result.work_id]


def like_state(session: Session, voter_id: int, work_id: int) -> tuple[bool, int]:
    """What the like button shows for a voter (liked?, the displayed count): ``NotOnShowcase`` for a work not
    on the showcase."""
    if catalog.public_work(session, work_id) is None:
        raise NotOnShowcase()
    return has_liked(session, voter_id, work_id), counts.cached_like_counts(session, [work_id])[work_id]


@dataclass(frozen=True)
class PublicLikeView:
    work: Work
    likes: int


def public_like_view(session: Session, work_id: int) -> PublicLikeView | None:
    """A work on the showcase and its displayed count (the vote page); None when it is not on it."""
    found = catalog.public_work(session, work_id)
    if found is None:
        return None
    return PublicLikeView(work=found[0], likes=counts.cached_like_counts(session, [work_id])[work_id])
