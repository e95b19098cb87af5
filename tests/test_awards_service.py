"""Issue 16 part B against the real databases, first step: the awards service reads the frozen likes
snapshot and the submitted scores, refuses before the freeze and while judges are unfinished."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from clipjury.accounts.models import User
from clipjury.audit.models import AuditEvent
from clipjury.awards import service as awards
from clipjury.awards.policy import JudgesUnfinished, LikesNotFrozen
from clipjury.campaigns.service import active_campaign
from clipjury.db import session_scope
from clipjury.judging.settings import DEFAULT_RUBRIC
from tests.judging_support import JUDGES, freeze_likes, published_works
from tests.review_support import headers_for


def test_compute_reads_the_snapshot_and_the_submitted_scores(client: Any, demo: dict[str, int]) -> None:
    made = published_works(2, 1)
    with session_scope() as session, pytest.raises(LikesNotFrozen):
        awards.compute(session, active_campaign(session))
    freeze_likes()
    admin = headers_for(client, "demo-admin")
    assert client.post("/api/v1/judging/assignments/apply", json={"seed": 3}, headers=admin).status_code == 200
    with session_scope() as session, pytest.raises(JudgesUnfinished) as unfinished:
        awards.compute(session, active_campaign(session))
    assert unfinished.value.code == "judges_unfinished" and unfinished.value.extra["judges"]
    for n, username in enumerate(JUDGES):
        judge = headers_for(client, username)
        works = client.get("/api/v1/judging/works", headers=judge).json()
        if not works:
            continue
        for work in works:
            scores = {c["key"]: c["max"] - (n + work["id"]) % 3 for c in DEFAULT_RUBRIC}
            put = client.put(f"/api/v1/judging/works/{work['id']}/scores",
                             json={"scores": scores, "expected_rev": work["rev"]}, headers=judge)
            assert put.status_code == 200, put.text
        assert client.post("/api/v1/judging/submit", headers=judge).status_code == 200
    with session_scope() as session:
        inputs, result = awards.compute(session, active_campaign(session))
    assert sorted(w.work_id for w in inputs.works) == sorted(made["hebei"] + made["shanxi"])
    assert inputs.snapshot_version == 1 and len(inputs.snapshot_sha256) == 64
    rows = [r.contract() for r in result.rows]
    assert sorted(r["work_id"] for r in rows) == sorted(made["hebei"] + made["shanxi"])
    assert all(r["rank"] is not None and r["final"] is not None for r in rows)
    with session_scope() as session:
        admin_user = session.exec(select(User).where(User.username == "demo-admin")).one()
        first = awards.compute_and_store(session, admin_user, active_campaign(session))
        assert first.number == 1 and first.snapshot_sha256 == inputs.snapshot_sha256 and first.parameters
    with session_scope() as session:
        campaign = active_campaign(session)
        admin_user = session.exec(select(User).where(User.username == "demo-admin")).one()
        second = awards.compute_and_store(session, admin_user, campaign)
        assert second.number == 2 and second.body["based_on"] == 1
        latest = awards.latest_record(session, campaign)
        assert latest is not None and latest.number == 2
        assert awards.record_of(session, campaign, 1).body["rows"] == second.body["rows"]
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "awards_compute")).all()
