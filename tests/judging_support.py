"""Builders for the judging tests: works of two provinces taken to recommended and published on the showcase,
the showcase window moved into the past and the likes snapshot frozen (what the awards and judging read)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import select

from clipjury.accounts.models import User
from clipjury.campaigns.service import active_campaign
from clipjury.db import session_scope
from clipjury.judging.settings import DEFAULT_RUBRIC
from clipjury.reviews import service as reviews
from clipjury.showcase import snapshots
from clipjury.showcase.models import CopyStatus, Like, ShowcaseEntry
from clipjury.timeutil import utcnow
from tests.likes_support import make_voters, set_window
from tests.review_support import ALL_ITEMS, headers_for, submitted_works

JUDGES = ("demo-judge", "demo-judge2", "demo-judge3", "demo-judge4", "demo-judge5")


def published_works(hebei: int, shanxi: int) -> dict[str, list[int]]:
    """``hebei`` works of demo-submitter (石家庄市) and ``shanxi`` of demo2-submitter (太原市), recommended,
    the national results published, each on the showcase with a ready public copy."""
    made = {"hebei": submitted_works("demo-submitter", hebei, title="河北作品"),
            "shanxi": submitted_works("demo2-submitter", shanxi, title="山西作品")}
    with session_scope() as session:
        user = {u.username: u for u in session.exec(select(User))}
        for province, prefix in (("hebei", "demo"), ("shanxi", "demo2")):
            for work_id in made[province]:
                reviews.verdict(session, user[f"{prefix}-reviewer"], work_id, "pass", "", checklist=ALL_ITEMS)
                reviews.forward(session, user[f"{prefix}-province-admin"], work_id)
                reviews.recommend(session, user["demo-admin"], work_id, True, "")
        reviews.publish_national_results(session, user["demo-admin"])
        campaign = active_campaign(session)
        for work_id in [*made["hebei"], *made["shanxi"]]:
            session.add(ShowcaseEntry(
                work_id=work_id, campaign_id=campaign.id or 0, published_at=utcnow() - timedelta(hours=3),
                copy_status=CopyStatus.ready.value, public_key=f"public/{work_id}.mp4",
                public_poster_key=f"public/{work_id}.jpg",
            ))
    return made


def freeze_likes() -> int:
    """The window closed an hour ago and the snapshot frozen; returns its version."""
    now = utcnow()
    set_window(now - timedelta(hours=2), now - timedelta(hours=1))
    with session_scope() as session:
        snapshot = snapshots.freeze_if_due(session, active_campaign(session))
        assert snapshot is not None
        return snapshot.version


def add_likes(counts: dict[int, int]) -> None:
    """Likes made inside the window (before freeze_likes closes it), as the like route would store them."""
    voters = make_voters(max(counts.values()))
    when = utcnow() - timedelta(minutes=90)  # inside freeze_likes' window [now-2h, now-1h)
    with session_scope() as session:
        campaign = active_campaign(session)
        for work_id, n in counts.items():
            for voter_id, _token in voters[:n]:
                session.add(Like(work_id=work_id, voter_id=voter_id, campaign_id=campaign.id or 0, created_at=when))


def score_and_submit(client: Any, *, skip: str | None = None) -> None:
    for n, username in enumerate(JUDGES):
        if username == skip:
            continue
        judge = headers_for(client, username)
        for work in client.get("/api/v1/judging/works", headers=judge).json():
            scores = {c["key"]: c["max"] - (n + work["id"]) % 4 for c in DEFAULT_RUBRIC}
            put = client.put(f"/api/v1/judging/works/{work['id']}/scores",
                             json={"scores": scores, "expected_rev": work["rev"]}, headers=judge)
            assert put.status_code == 200, put.text
        client.post("/api/v1/judging/submit", headers=judge)
