"""Likes: one per voter and work, counted exactly once whatever the concurrency.

The database decides. Likes are added by one ``INSERT … SELECT … ON CONFLICT (work_id, voter_id) DO NOTHING
RETURNING`` per batch (``like_many``; the like route's group commit in ``batcher`` hands it every request
waiting, a lone like is a batch of one): the SELECT yields a row only while the work is on the showcase
(``catalog``), the voter is not blocked and the server's clock is inside the campaign's window, so
publication, blocking and the window are checked in the same statement that adds the rows, and its
RETURNING says which (work, voter) pairs it added. Two devices of one voter liking at once: in one batch the
first request adds the like and the others are told it was there; in two batches (or two processes) one
insert adds the row, the other finds the conflict (on PostgreSQL it waits for the first to commit). No
counter column is touched: a hot work would serialise every like on it.

**The cut at the close.** A like counts when its transaction is about to commit before
``showcase_ends_at``: the INSERT checks the window with the server's clock, and ``like_many`` checks the clock
again right before it hands the transaction back to be committed, refusing (``window_closed``, rolled
back) what reached that point at or after the close. The snapshot counts likes created in
``[starts, ends)`` and is frozen no sooner than ``likes_settle_s`` after the close, by when every
transaction that passed the check has committed.

A like cannot be taken back (there is no DELETE): a count that can go down invites like/unlike churn,
and the snapshot the awards use would depend on when it was taken.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import FromClause, Integer, String, bindparam, column, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from clipjury.campaigns.models import Campaign
from clipjury.db import UTCDateTime
from clipjury.errors import DomainError
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


@dataclass(frozen=True)
class LikeRequest:
    voter_id: int
    work_id: int
    address: str


# What one request of a batch gets: its result, or the refusal to answer it with.
Outcome = LikeResult | DomainError


def _rows_source(dialect: str, requests: Sequence[LikeRequest]) -> tuple[FromClause, dict[str, Any]]:
    """The batch as a derived table (work_id, voter_id, address, network) with one bound parameter per column
    (PostgreSQL ``unnest`` of arrays) or one in all (SQLite ``json_each``), so the statement's text is the same
    whatever the batch's size and is compiled once."""
    works = [r.work_id for r in requests]
    voters_ = [r.voter_id for r in requests]
    addresses: list[str | None] = []
    networks: list[str | None] = []
    for r in requests:
        address = canonical_address(r.address)[:ADDRESS_MAX]
        addresses.append(address or None)
        networks.append(network_of(address)[:ADDRESS_MAX] if address else None)
    if dialect == "postgresql":
        table = func.unnest(
            bindparam("like_works", type_=postgresql.ARRAY(Integer)),
            bindparam("like_voters", type_=postgresql.ARRAY(Integer)),
            bindparam("like_addresses", type_=postgresql.ARRAY(String)),
            bindparam("like_networks", type_=postgresql.ARRAY(String)),
        ).table_valued(
            column("work_id", Integer), column("voter_id", Integer), column("address", String),
            column("network", String),
        ).render_derived(name="batch")
        return table, {"like_works": works, "like_voters": voters_, "like_addresses": addresses,
                       "like_networks": networks}
    each = func.json_each(bindparam("like_rows", type_=String)).table_valued("value").alias("batch")
    rows = select(
        func.json_extract(each.c.value, "$[0]").label("work_id"),
        func.json_extract(each.c.value, "$[1]").label("voter_id"),
        func.json_extract(each.c.value, "$[2]").label("address"),
        func.json_extract(each.c.value, "$[3]").label("network"),
    ).subquery("rows")
    return rows, {"like_rows": json.dumps([list(t) for t in zip(works, voters_, addresses, networks, strict=True)])}


def _insert_many(session: Session, campaign: Campaign, requests: Sequence[LikeRequest],
                 now: datetime) -> set[tuple[int, int]]:
    """One ``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING`` for the batch (distinct pairs): the SELECT
    yields a row only for a work on the showcase, a voter not blocked and the server's clock inside the
    window; returns the (work, voter) pairs it added."""
    dialect = session.get_bind().dialect.name
    rows, params = _rows_source(dialect, requests)
    source = (
        catalog.public_works_query(campaign.id or 0)
        .join(rows, rows.c.work_id == col(Work.id))
        .join(Campaign, col(Campaign.id) == col(Work.campaign_id))
        .join(Voter, col(Voter.id) == rows.c.voter_id)
        .where(
            col(Campaign.showcase_starts_at) <= bindparam("like_now", type_=UTCDateTime()),
            col(Campaign.showcase_ends_at) > bindparam("like_now", type_=UTCDateTime()),
            col(Voter.blocked_at).is_(None),
        )
        .with_only_columns(
            col(Work.id), rows.c.voter_id, col(Work.campaign_id), bindparam("like_now", type_=UTCDateTime()),
            rows.c.address, rows.c.network,
        )
    )
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(Like)
        .from_select(["work_id", "voter_id", "campaign_id", "created_at", "client_address", "client_network"],
                     source)
        .on_conflict_do_nothing(index_elements=["work_id", "voter_id"])
        .returning(col(Like.work_id), col(Like.voter_id))
    )
    # Core execution: the ORM would take a parameter dict with an INSERT for a bulk insert of rows.
    added = session.connection().execute(statement, {**params, "like_now": now}).all()
    return {(int(w), int(v)) for w, v in added}


def like_many(session: Session, campaign: Campaign, requests: Sequence[LikeRequest], *,
              now: datetime | None = None) -> list[Outcome]:
    """Likes of many requests in one statement (the group commit of ``batcher``), each answered as if alone:
    ``NotOnShowcase`` (404), ``WindowClosed`` (409), ``VoterBlocked`` (403), ``TooManyLikes`` (429),
    ``VoterTokenInvalid`` (401). Two requests of one voter for one work in the same batch: the first adds
    the like (201), the others find it (200). Raises ``WindowClosed`` for the whole batch when the
    transaction would commit at or after the close (the caller rolls back). The caller commits at once,
    then calls ``displayed_counts``."""
    now = now or utcnow()
    outcomes: list[Outcome | None] = [None] * len(requests)
    window = may_like(campaign, now)
    if not window.allowed:
        return [may_like(campaign, now).refusal or WindowClosed() for _ in requests]
    refused = limits.check_and_count_many([(r.voter_id, r.address) for r in requests])
    first: dict[tuple[int, int], int] = {}
    for i, (r, refusal) in enumerate(zip(requests, refused, strict=True)):
        if refusal is not None:
            outcomes[i] = refusal
        else:
            first.setdefault((r.work_id, r.voter_id), i)
    added = _insert_many(session, campaign, [requests[i] for i in first.values()], now) if first else set()
    # The cut: likes whose transaction reaches its commit at or after the close do not count.
    ends = campaign.showcase_ends_at
    if added and ends is not None and utcnow() >= as_utc(ends):
        raise WindowClosed(may_like(campaign, utcnow()).message)
    missing = [pair for pair in first if pair not in added]
    existing = _existing(session, missing)
    why: dict[tuple[int, int], Outcome] = {}
    for pair in missing:
        if pair in existing:
            why[pair] = LikeResult(work_id=pair[0], created=False)
            continue
        try:
            why[pair] = LikeResult(work_id=pair[0], created=_already_liked(session, campaign, pair[1], pair[0]))
        except DomainError as refusal:
            why[pair] = refusal
    for i, r in enumerate(requests):
        if outcomes[i] is not None:
            continue
        pair = (r.work_id, r.voter_id)
        if pair in added:
            outcomes[i] = LikeResult(work_id=r.work_id, created=first[pair] == i)
        else:
            outcomes[i] = why[pair]
    return [o for o in outcomes if o is not None]


def _existing(session: Session, pairs: Sequence[tuple[int, int]]) -> set[tuple[int, int]]:
    """Which of these (work, voter) pairs are liked already: one query for the batch's duplicates."""
    if not pairs:
        return set()
    rows = session.exec(
        select(Like.work_id, Like.voter_id).where(
            col(Like.voter_id).in_({v for _w, v in pairs}), col(Like.work_id).in_({w for w, _v in pairs}))
    ).all()
    wanted = set(pairs)
    return {(int(w), int(v)) for w, v in rows if (int(w), int(v)) in wanted}


def like(session: Session, campaign: Campaign, voter_id: int, work_id: int, *, address: str,
         now: datetime | None = None) -> LikeResult:
    """Like a work on the showcase for a voter (a batch of one): ``NotOnShowcase`` (404), ``WindowClosed``
    (409), ``VoterBlocked`` (403), ``TooManyLikes`` (429). The caller commits at once, then calls
    ``displayed_count``."""
    [outcome] = like_many(session, campaign, [LikeRequest(voter_id, work_id, address)], now=now)
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


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
    return displayed_counts(session, [result])[0]


def displayed_counts(session: Session, results: Sequence[LikeResult]) -> list[int]:
    """After the commit, for a batch: each result's count to show, the new likes bumped in the display cache
    (one Redis round trip for the batch), the others read from it."""
    bumped = iter(counts.bump_many_after_commit(session, [r.work_id for r in results if r.created]))
    shown = counts.cached_like_counts(session, [r.work_id for r in results if not r.created])
    return [next(bumped) if r.created else shown[r.work_id] for r in results]


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
