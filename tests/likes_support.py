"""Builders for the likes tests: works on the showcase (recommended through the review services, then a
published ``ShowcaseEntry`` with a ready copy, as part A's publish will write it), the window moved, and
voters with their tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select

from clipjury.accounts.models import User
from clipjury.campaigns.models import Campaign
from clipjury.campaigns.service import active_campaign
from clipjury.db import session_scope
from clipjury.reviews import service as reviews
from clipjury.showcase import voters
from clipjury.showcase.models import CopyStatus, ShowcaseEntry, Voter
from clipjury.timeutil import utcnow
from tests.review_support import ALL_ITEMS, submitted_works


def showcase_works(count: int, *, publish_results: bool = True) -> list[int]:
    """``count`` works of demo-submitter taken to recommended and put on the showcase."""
    ids = submitted_works("demo-submitter", count, title="展播作品")
    with session_scope() as session:
        user = {u.username: u for u in session.exec(select(User))}
        for work_id in ids:
            reviews.verdict(session, user["demo-reviewer"], work_id, "pass", "", checklist=ALL_ITEMS)
            reviews.forward(session, user["demo-province-admin"], work_id)
            reviews.recommend(session, user["demo-admin"], work_id, True, "")
        if publish_results:
            reviews.publish_national_results(session, user["demo-admin"])
        campaign = active_campaign(session)
        for work_id in ids:
            session.add(ShowcaseEntry(work_id=work_id, campaign_id=campaign.id or 0, published_at=utcnow(),
                                      copy_status=CopyStatus.ready.value, public_key=f"public/{work_id}.mp4"))
    return ids


def set_window(starts: datetime | None, ends: datetime | None) -> None:
    with session_scope() as session:
        campaign = active_campaign(session)
        session.execute(update(Campaign).where(col(Campaign.id) == campaign.id)
                        .values(showcase_starts_at=starts, showcase_ends_at=ends))


def open_window(hours: float = 1) -> None:
    now = utcnow()
    set_window(now - timedelta(hours=hours), now + timedelta(hours=hours))


def make_voters(count: int, *, created_at: datetime | None = None) -> list[tuple[int, str]]:
    """``count`` voters (as a sign-in makes them, without the SMS round trip) and their tokens."""
    made: list[tuple[int, str]] = []
    with session_scope() as session:
        for i in range(count):
            when = created_at or utcnow()
            voter = Voter(phone_hmac=f"test-voter-{i}-{when.timestamp()}", nickname=f"观众{i}",
                          consent_digest=voters.consent_digest(), created_at=when, last_active_at=when)
            session.add(voter)
            session.flush()
            made.append((voter.id or 0, voters.create_token(voter.id or 0)[0]))
    return made


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
