"""``clipjury seed-demo --works N``: generated videos through the real store, worker jobs and review
services, one of every state, idempotent, and never in production."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlmodel import col, select

from tests.conftest import scratch_database
from tests.test_cli import PRODUCTION_ENV, _counts, clipjury

# 17 works cover every state once; two more start the repeating list (submitted, passed).
WORKS = 19
EXPECTED = {
    "submitted": 3, "passed": 2, "forwarded": 2, "recommended": 1, "not_recommended": 1, "returned": 1,
    "failed": 1, "disqualified": 1, "draft": 1, "ready": 1, "rejected": 5,
}
REJECTION_CODES = {"empty", "not_mp4", "no_video_stream", "too_long", "corrupt"}


def _snapshot() -> dict[str, object]:
    from clipjury.db import session_scope
    from clipjury.reviews.models import ReviewDecision
    from clipjury.works.models import Work, WorkVersion

    with session_scope() as session:
        works = list(session.exec(select(Work).order_by(col(Work.id))))
        versions = list(session.exec(select(WorkVersion).order_by(col(WorkVersion.id))))
        decisions = list(session.exec(select(ReviewDecision)))
        return {
            "works": [(w.id, w.title, w.status, w.owner_id, w.unit_id, w.province_id) for w in works],
            "versions": [(v.id, v.work_id, v.status, v.rejection_code, v.poster_key, v.rendition_status)
                         for v in versions],
            "decisions": len(decisions),
        }


def test_seed_demo_works_walks_every_state_and_is_idempotent(demo: dict[str, int]) -> None:
    from clipjury.accounts.models import Province
    from clipjury.db import session_scope
    from clipjury.works.models import Work, WorkVersion
    from clipjury_cli.demo import seed_demo_works
    from storage import get_store

    first = seed_demo_works(WORKS)
    assert first.created == WORKS
    assert first.by_status == EXPECTED
    # The recommended work is on the public showcase, from its stripped public copy.
    assert first.published == 1
    from clipjury.showcase.models import ShowcaseEntry

    with session_scope() as session:
        [entry] = session.exec(select(ShowcaseEntry)).all()
        assert entry.published_at is not None and entry.copy_status == "ready" and entry.public_key

    store = get_store()
    with session_scope() as session:
        works = list(session.exec(select(Work)))
        assert Counter(w.status for w in works) == EXPECTED
        versions = list(session.exec(select(WorkVersion)))
        rejected = {v.rejection_code for v in versions if v.status == "rejected"}
        assert rejected == REJECTION_CODES
        good = [v for v in versions if v.status == "ready"]
        assert len(good) == WORKS - 1 - 5  # all but the draft and the rejected
        for version in good:
            # The media job ran: a poster in the store, and a rendition where the original does not play.
            assert version.poster_key and store.head(version.poster_key) is not None, version
            assert store.head(version.object_key) is not None
        assert [v.rendition_status for v in good if v.playback == "rendition"] == ["ready"]
        # Spread over units of both provinces, and someone without a unit.
        provinces = {session.get(Province, w.province_id).code for w in works}  # type: ignore[union-attr]  # the row exists: the test made it
        assert provinces == {"hebei", "shanxi"}
        assert len({w.unit_id for w in works if w.unit_id is not None}) >= 5
        assert any(w.unit_id is None for w in works)

    # A newcomer returns a work the demo left submitted: the next run leaves it so, and fails nothing.
    from clipjury.accounts.models import User
    from clipjury.reviews import service as reviews
    from clipjury_cli.demo import title_for

    with session_scope() as session:
        work = session.exec(select(Work).where(Work.title == title_for(0))).one()
        assert work.status == "submitted"
        reviewer = session.exec(select(User).where(User.username == "demo-reviewer")).one()
        reviews.verdict(session, reviewer, work.id or 0, "return", "请补上开头语。")
    expected = {**EXPECTED, "submitted": EXPECTED["submitted"] - 1, "returned": EXPECTED["returned"] + 1}

    before = _snapshot()
    assert before["decisions"]  # the states came from review decisions, not written statuses
    second = seed_demo_works(WORKS)
    assert (second.created, second.advanced, second.published) == (0, 0, 1)
    assert second.by_status == expected
    assert _snapshot() == before


def test_seed_demo_works_refuses_production() -> None:
    with scratch_database("demo_prod") as url:
        env = {"CLIPJURY_DATABASE_URL": url, **PRODUCTION_ENV}
        assert clipjury("migrate", env=env).returncode == 0
        refused = clipjury("seed-demo", "--works", "3", env=env)
        assert refused.returncode == 2, refused.stderr
        assert "refuses to run in production" in refused.stderr and "Traceback" not in refused.stderr
        assert _counts(url) == {"Campaign": 0, "Unit": 0, "UnitQuota": 0, "User": 0}


def test_seed_demo_works_refuses_production_on_its_own(demo: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """Called without ``seed_demo`` first (as run-local could), it refuses before making anything."""
    from clipjury.seed import SeedRefused
    from clipjury.settings import Environment, get_settings
    from clipjury_cli.demo import seed_demo_works

    monkeypatch.setattr(get_settings(), "env", Environment.production)
    with pytest.raises(SeedRefused, match="refuses to run in production"):
        seed_demo_works(3)
    assert _snapshot()["works"] == []
