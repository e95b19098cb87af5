"""The review API against issue 4's fixed contract, its bad inputs, and who sees what before the national
office publishes. The happy path is tests/test_review_flow.py; this file is the edges: every refusal is a
specific problem+json code (never a 500), nothing is lost or silently overwritten, and a work outside the
caller's scope reads exactly like one that does not exist."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from clipjury.accounts.models import Province, Role, User
from clipjury.accounts.security import create_access_token
from clipjury.audit.models import AuditEvent
from clipjury.campaigns.models import Campaign
from clipjury.db import session_scope
from clipjury.notifications.models import Notification
from clipjury.reviews.models import ReviewDecision
from clipjury.timeutil import utcnow
from clipjury.works.models import Work
from tests.review_support import ALL_ITEMS, PASS, submitted_works, uploaded_and_submitted

PROBLEM = "application/problem+json"
MISSING = 987654


# -- helpers ---------------------------------------------------------------------------------------

class Api:
    """The demo accounts' bearer headers (tokens minted directly: no argon2 per login) and short calls."""

    def __init__(self, client: Any, ids: dict[str, int]) -> None:
        self.client = client
        self.ids = ids

    def h(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {create_access_token(self.ids[username], 0)}"}

    def post(self, username: str, path: str, body: Any = None) -> Any:
        return self.client.post(path, json=body, headers=self.h(username))

    def get(self, username: str, path: str) -> Any:
        return self.client.get(path, headers=self.h(username))

    def work(self, username: str, work_id: int) -> dict[str, Any]:
        response = self.get(username, f"/api/v1/works/{work_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def do(self, username: str, work_id: int, action: str, body: Any = None) -> dict[str, Any]:
        """A decision that must succeed."""
        response = self.post(username, f"/api/v1/works/{work_id}/{action}", body)
        assert response.status_code == 200, (action, response.text)
        return dict(response.json())

    def queue(self, username: str, query: str = "") -> list[dict[str, Any]]:
        response = self.get(username, f"/api/v1/review/works{query}")
        assert response.status_code == 200, response.text
        return list(response.json())


def add_user(username: str, role: Role, province_code: str) -> int:
    with session_scope() as session:
        province = session.exec(select(Province).where(Province.code == province_code)).one()
        user = User(username=username, display_name=username, password_hash="!", role=role.value,
                    province_id=province.id)
        session.add(user)
        session.flush()
        return user.id or 0


@pytest.fixture()
def api(client: Any, demo: dict[str, int]) -> Api:
    ids = dict(demo)
    ids["reviewer-2"] = add_user("reviewer-2", Role.reviewer, "hebei")
    return Api(client, ids)


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (status, code, response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
    body = dict(response.json())
    assert body["code"] == code and body["status"] == status, body
    return body


def set_campaign(**values: Any) -> None:
    with session_scope() as session:
        session.execute(update(Campaign).values(**values))


def set_work(work_id: int, **values: Any) -> None:
    with session_scope() as session:
        session.execute(update(Work).where(col(Work.id) == work_id).values(**values))


def db_work(work_id: int) -> Work:
    with session_scope() as session:
        work = session.get(Work, work_id)
        assert work is not None
        return work


def decision_rows(work_id: int) -> list[tuple[str, str]]:
    with session_scope() as session:
        rows = session.exec(select(ReviewDecision).where(ReviewDecision.work_id == work_id)
                            .order_by(col(ReviewDecision.id)))
        return [(d.action, d.actor_name) for d in rows]


def notification_kinds(user_id: int) -> list[str]:
    with session_scope() as session:
        return [n.kind for n in session.exec(select(Notification).where(Notification.user_id == user_id)
                                             .order_by(col(Notification.id)))]


def actions(work: dict[str, Any]) -> list[str]:
    return [d["action"] for d in work["decisions"]]


HEBEI_VIEWERS = ("demo-province-admin", "demo-reviewer", "demo-coordinator", "demo-submitter")


# -- the contract ----------------------------------------------------------------------------------

def test_queue_shape_scope_and_order(api: Api) -> None:
    hebei = submitted_works("demo-submitter", 3)
    [shanxi] = submitted_works("demo2-submitter", 1)
    # Submitted out of id order: the queue follows submitted_at, newest submission last.
    now = utcnow()
    for work_id, minutes in zip(hebei, (5, 30, 10), strict=True):
        set_work(work_id, submitted_at=now - timedelta(minutes=minutes))
    expected = [hebei[1], hebei[2], hebei[0]]

    for viewer in ("demo-reviewer", "demo-province-admin", "demo-coordinator"):
        response = api.get(viewer, "/api/v1/review/works?status=submitted")
        assert response.status_code == 200 and response.headers["X-Total-Count"] == "3", response.text
        rows = response.json()
        assert [r["id"] for r in rows] == expected, viewer
        for row in rows:
            assert (row["status"], row["province"], row["unit"], row["claimed_by"], row["decisions"]) == (
                "submitted", "河北省", "石家庄市", None, []
            )
    assert [r["id"] for r in api.queue("demo-admin", "?status=submitted")] == [*expected, shanxi]
    assert [r["id"] for r in api.queue("demo2-reviewer", "?status=submitted")] == [shanxi]
    assert api.queue("demo-admin", "?status=submitted&province=shanxi")[0]["province"] == "山西省"
    # Paging keeps the order and the total.
    page = api.get("demo-reviewer", "/api/v1/review/works?status=submitted&limit=1&offset=1")
    assert [r["id"] for r in page.json()] == [expected[1]] and page.headers["X-Total-Count"] == "3"

    for outsider in ("demo-submitter", "demo-judge"):
        problem(api.get(outsider, "/api/v1/review/works"), 403, "forbidden_role")
    problem(api.get("demo-reviewer", "/api/v1/review/works?status=approved"), 422, "unknown_status")

    api.do("demo-reviewer", hebei[1], "claim")
    [row] = api.queue("demo-reviewer", "?reviewer=me")
    assert row["id"] == hebei[1] and row["claimed_by"] == "demo-reviewer"
    assert [r["id"] for r in api.queue("demo-reviewer", "?reviewer=none&status=submitted")] == [hebei[2], hebei[0]]
    # The submitter sees the review's progress, not who holds the work.
    assert api.work("demo-submitter", hebei[1])["claimed_by"] is None


def test_claim_contract_and_lapse(api: Api, demo: dict[str, int]) -> None:
    work_id, other_id = submitted_works("demo-submitter", 2)
    first = api.do("demo-reviewer", work_id, "claim")
    assert first["claimed_by"] == "demo-reviewer" and first["status"] == "submitted"
    assert api.do("demo-reviewer", work_id, "claim")["claimed_by"] == "demo-reviewer"  # idempotent
    for rival in ("reviewer-2", "demo-province-admin"):
        body = problem(api.post(rival, f"/api/v1/works/{work_id}/claim"), 409, "claimed")
        assert body["holder"] == "demo-reviewer"
        problem(api.post(rival, f"/api/v1/works/{work_id}/verdict", PASS), 409, "claimed")
    assert decision_rows(work_id) == []
    # Roles that do not review preliminarily.
    problem(api.post("demo-admin", f"/api/v1/works/{work_id}/claim"), 403, "forbidden_role")
    problem(api.post("demo-coordinator", f"/api/v1/works/{work_id}/claim"), 403, "forbidden_role")
    problem(api.post("demo-submitter", f"/api/v1/works/{work_id}/claim"), 403, "forbidden_role")

    # Not yet lapsed (an hour short of the TTL): still held.
    set_work(work_id, claimed_at=utcnow() - timedelta(hours=47))
    problem(api.post("reviewer-2", f"/api/v1/works/{work_id}/claim"), 409, "claimed")
    # Lapsed after campaign.claim_ttl_hours: another reviewer takes it over, the first one is now refused.
    set_work(work_id, claimed_at=utcnow() - timedelta(hours=49))
    assert api.do("reviewer-2", work_id, "claim")["claimed_by"] == "reviewer-2"
    problem(api.post("demo-reviewer", f"/api/v1/works/{work_id}/verdict", {"decision": "fail", "reason": "x"}),
            409, "claimed")
    # A lapsed claim needs no claim first: a verdict takes it over.
    set_campaign(claim_ttl_hours=1)
    api.do("demo-reviewer", other_id, "claim")
    set_work(other_id, claimed_at=utcnow() - timedelta(minutes=61))
    passed = api.do("reviewer-2", other_id, "verdict", PASS)
    assert (passed["status"], passed["claimed_by"]) == ("passed", "reviewer-2")
    problem(api.post("demo-reviewer", f"/api/v1/works/{other_id}/claim"), 409, "already_decided")
    with session_scope() as session:
        claims = session.exec(select(AuditEvent).where(AuditEvent.work_id == work_id, AuditEvent.action == "claim")
                              .order_by(col(AuditEvent.id))).all()
        assert [(e.actor_name, e.data.get("took_over_from")) for e in claims] == [
            ("demo-reviewer", None), ("reviewer-2", demo["demo-reviewer"])
        ]


def test_verdicts(api: Api, demo: dict[str, int]) -> None:
    a, b, c, d = submitted_works("demo-submitter", 4)
    passed = api.do("demo-reviewer", a, "verdict", {**PASS, "reason": "  开头语规范  "})
    assert passed["status"] == "passed"
    [decision] = passed["decisions"]
    assert {k: decision[k] for k in ("action", "by", "reason")} == {
        "action": "pass", "by": "demo-reviewer", "reason": "开头语规范"
    }
    assert decision["at"]
    # A second verdict from anyone, of any kind, is refused and leaves the first in place.
    for who, body in (("demo-reviewer", PASS), ("reviewer-2", {"decision": "fail", "reason": "x"}),
                      ("demo-province-admin", {"decision": "return", "reason": "x"})):
        problem(api.post(who, f"/api/v1/works/{a}/verdict", body), 409, "already_decided")
    assert decision_rows(a) == [("pass", "demo-reviewer")]

    problem(api.post("demo-reviewer", f"/api/v1/works/{b}/verdict", {"decision": "fail"}), 422, "reason_required")
    problem(api.post("demo-reviewer", f"/api/v1/works/{b}/verdict", {"decision": "return", "reason": " "}),
            422, "reason_required")
    failed = api.do("demo-province-admin", b, "verdict", {"decision": "fail", "reason": "时长超过 2 分钟"})
    assert failed["status"] == "failed" and failed["decisions"][0]["by"] == "demo-province-admin"
    returned = api.do("demo-reviewer", c, "verdict", {"decision": "return", "reason": "开头语缺失"})
    assert returned["status"] == "returned" and returned["claimed_by"] is None
    mine = api.work("demo-submitter", c)
    assert mine["status"] == "returned"
    assert [(x["action"], x["by"], x["reason"]) for x in mine["decisions"]] == [("return", "reviewer", "开头语缺失")]
    assert notification_kinds(demo["demo-submitter"]) == ["pass", "fail", "return"]

    [e] = submitted_works("demo-submitter", 1)
    # Return only before the submission deadline; pass and fail still work after it.
    set_campaign(submission_deadline=utcnow() - timedelta(minutes=1))
    problem(api.post("demo-reviewer", f"/api/v1/works/{d}/verdict", {"decision": "return", "reason": "x"}),
            409, "too_late")
    assert decision_rows(d) == []
    assert api.do("demo-reviewer", d, "verdict", {"decision": "fail", "reason": "x"})["status"] == "failed"
    # Other roles.
    for who, code in (("demo-admin", "forbidden_role"), ("demo-coordinator", "forbidden_role"),
                      ("demo-submitter", "forbidden_role")):
        problem(api.post(who, f"/api/v1/works/{e}/verdict", PASS), 403, code)
    problem(api.post("demo2-reviewer", f"/api/v1/works/{e}/verdict", PASS), 404, "work_not_found")
    assert decision_rows(e) == []


def test_forwarding(api: Api, demo: dict[str, int]) -> None:
    a, b, c, d, e = submitted_works("demo-submitter", 5)
    for work_id in (a, b, e):
        api.do("demo-reviewer", work_id, "verdict", PASS)
    api.do("demo-reviewer", c, "verdict", {"decision": "fail", "reason": "x"})

    problem(api.post("demo-province-admin", f"/api/v1/works/{d}/forward"), 409, "not_passed")  # unreviewed
    problem(api.post("demo-province-admin", f"/api/v1/works/{c}/forward"), 409, "not_passed")  # failed
    problem(api.post("demo-reviewer", f"/api/v1/works/{a}/forward"), 403, "forbidden_role")
    problem(api.post("demo-admin", f"/api/v1/works/{a}/forward"), 403, "forbidden_role")
    problem(api.post("demo-province-admin", f"/api/v1/works/{a}/forward", {"rank": 0}), 422, "invalid_rank")
    forwarded = api.do("demo-province-admin", a, "forward", {"rank": 1})
    assert forwarded["status"] == "forwarded" and actions(forwarded) == ["pass", "forward"]
    problem(api.post("demo-province-admin", f"/api/v1/works/{a}/forward"), 409, "already_forwarded")

    # The batch is all or nothing: one unreviewed work in it and the passed one stays passed.
    batch = api.post("demo-province-admin", "/api/v1/review/forward", {"work_ids": [b, d]})
    problem(batch, 409, "not_passed")
    assert db_work(b).status == "passed" and decision_rows(b) == [("pass", "demo-reviewer")]
    problem(api.post("demo-province-admin", "/api/v1/review/forward", {"work_ids": [b, b]}), 422, "duplicate_work")

    # After the forwarding deadline: too late, single or batch; nothing changes.
    set_campaign(forward_deadline=utcnow() - timedelta(seconds=1))
    problem(api.post("demo-province-admin", f"/api/v1/works/{b}/forward"), 409, "too_late")
    problem(api.post("demo-province-admin", "/api/v1/review/forward", {"work_ids": None}), 409, "too_late")
    assert db_work(b).status == "passed" and db_work(e).status == "passed"
    set_campaign(forward_deadline=utcnow() + timedelta(days=1))
    done = api.post("demo-province-admin", "/api/v1/review/forward", {"work_ids": None, "ranks": {str(e): 2}})
    assert done.status_code == 200 and sorted(w["id"] for w in done.json()) == sorted([b, e]), done.text
    assert db_work(e).forward_rank == 2
    rows = {r["unit"]: r for r in api.get("demo-province-admin", "/api/v1/quotas").json()}
    assert {k: rows["石家庄市"][k] for k in ("submitted", "passed", "forwarded")} == {
        "submitted": 5, "passed": 3, "forwarded": 3
    }


def test_quotas_scope(api: Api) -> None:
    hebei = submitted_works("demo-submitter", 2)
    submitted_works("demo2-submitter", 1)
    api.do("demo-reviewer", hebei[0], "verdict", PASS)
    keys = {"province", "unit", "required", "submitted", "passed", "forwarded"}
    for viewer, provinces, units in (("demo-province-admin", {"河北省"}, 24), ("demo-reviewer", {"河北省"}, 24),
                                     ("demo2-reviewer", {"山西省"}, 1), ("demo-coordinator", {"河北省"}, 1),
                                     ("demo-admin", {"河北省", "山西省"}, 25)):
        rows = api.get(viewer, "/api/v1/quotas").json()
        assert all(set(r) == keys for r in rows), rows[0]
        assert {r["province"] for r in rows} == provinces and len(rows) == units, viewer
    [taiyuan] = api.get("demo2-reviewer", "/api/v1/quotas").json()
    assert taiyuan == {"province": "山西省", "unit": "太原市", "required": 10, "submitted": 1, "passed": 0,
                       "forwarded": 0}
    sjz = [r for r in api.get("demo-coordinator", "/api/v1/quotas").json()]
    assert sjz == [{"province": "河北省", "unit": "石家庄市", "required": 10, "submitted": 2, "passed": 1,
                    "forwarded": 0}]
    for outsider in ("demo-submitter", "demo-judge"):
        problem(api.get(outsider, "/api/v1/quotas"), 403, "forbidden_role")


def test_disqualify_at_any_stage(api: Api, demo: dict[str, int]) -> None:
    ids = submitted_works("demo-submitter", 8)
    submitted, claimed, returned, passed, failed, forwarded, recommended, by_padmin = ids
    api.do("demo-reviewer", claimed, "claim")
    api.do("demo-reviewer", returned, "verdict", {"decision": "return", "reason": "x"})
    for work_id in (passed, forwarded, recommended):
        api.do("demo-reviewer", work_id, "verdict", PASS)
    api.do("demo-reviewer", failed, "verdict", {"decision": "fail", "reason": "x"})
    for work_id in (forwarded, recommended):
        api.do("demo-province-admin", work_id, "forward")
    api.do("demo-admin", recommended, "recommendation", {"recommended": True})
    # A work the submitter never submitted: only the national office sees it.
    with session_scope() as session:
        user = session.get(User, demo["demo-submitter"])
        assert user is not None
        from clipjury.works import service as works_service

        draft = works_service.create_work(session, user, title="未提交").id or 0
    problem(api.post("demo-province-admin", f"/api/v1/works/{draft}/disqualify", {"reason": "x"}),
            404, "work_not_found")

    for body in (None, {}, {"reason": ""}, {"reason": "   "}, {"reason": "\n\t　"}, {"reason": None}):
        response = api.post("demo-admin", f"/api/v1/works/{submitted}/disqualify", body)
        assert response.status_code == 422 and response.headers["content-type"].startswith(PROBLEM), body
        assert response.json()["code"] in ("reason_required", "invalid"), response.text
    assert decision_rows(submitted) == []
    problem(api.post("demo-admin", f"/api/v1/works/{submitted}/disqualify", {}), 422, "reason_required")

    for work_id in (submitted, claimed, returned, passed, failed, forwarded, recommended, draft):
        out = api.do("demo-admin", work_id, "disqualify", {"reason": "版权纠纷"})
        assert (out["status"], out["claimed_by"], out["decisions"][-1]["reason"]) == (
            "disqualified", None, "版权纠纷"
        ), work_id
    out = api.do("demo-province-admin", by_padmin, "disqualify", {"reason": "侵权"})
    assert out["status"] == "disqualified" and out["decisions"][-1]["by"] == "demo-province-admin"
    problem(api.post("demo-admin", f"/api/v1/works/{by_padmin}/disqualify", {"reason": "again"}),
            409, "already_disqualified")
    for who in ("demo-reviewer", "demo-coordinator", "demo-submitter"):
        code = "work_not_found" if who == "demo-reviewer" else "forbidden_role"
        problem(api.post(who, f"/api/v1/works/{submitted}/disqualify", {"reason": "x"}),
                404 if who == "demo-reviewer" else 403, code)

    # It leaves every queue; admins still find it; the submitter is told why.
    assert api.queue("demo-province-admin") == [] and api.queue("demo-reviewer") == []
    # (all but the never-submitted one: a work not yet submitted is nothing a province may know of,
    # even once the national office disqualified it; the national office finds all nine)
    shown = api.queue("demo-province-admin", "?status=disqualified")
    assert len(shown) == 8 and draft not in {w["id"] for w in shown}
    assert len(api.queue("demo-admin", "?status=disqualified")) == 9
    mine = api.work("demo-submitter", submitted)
    assert mine["status"] == "disqualified" and mine["decisions"][-1]["reason"] == "版权纠纷"
    assert notification_kinds(demo["demo-submitter"]).count("disqualify") == 9
    # The submitter cannot change or pull it back.
    problem(api.post("demo-submitter", f"/api/v1/works/{returned}/submit"), 409, "disqualified")
    problem(api.post("demo-submitter", f"/api/v1/works/{returned}/withdraw"), 409, "under_review")
    put = api.client.put(f"/api/v1/works/{returned}/video", content=b"x" * 100,
                         headers={**api.h("demo-submitter"), "Content-Type": "video/mp4"})
    problem(put, 409, "disqualified")


def test_submitter_locked_out_once_decided(api: Api) -> None:
    passed, failed, forwarded, submitted = submitted_works("demo-submitter", 4)
    api.do("demo-reviewer", passed, "verdict", PASS)
    api.do("demo-reviewer", forwarded, "verdict", PASS)
    api.do("demo-province-admin", forwarded, "forward")
    api.do("demo-reviewer", failed, "verdict", {"decision": "fail", "reason": "x"})
    for work_id in (passed, failed, forwarded):
        before = db_work(work_id)
        problem(api.post("demo-submitter", f"/api/v1/works/{work_id}/withdraw"), 409, "under_review")
        problem(api.post("demo-submitter", f"/api/v1/works/{work_id}/submit"), 409, "under_review")
        put = api.client.put(f"/api/v1/works/{work_id}/video", content=b"x" * 100,
                             headers={**api.h("demo-submitter"), "Content-Type": "video/mp4"})
        problem(put, 409, "under_review")
        after = db_work(work_id)
        assert (after.status, after.review_rev, after.latest_version_id) == (
            before.status, before.review_rev, before.latest_version_id
        )
    # A submitted work that nobody decided yet may still be withdrawn (the ingest rule).
    assert api.do("demo-submitter", submitted, "withdraw")["status"] == "ready"


def test_return_resubmit_review_again(api: Api, demo: dict[str, int]) -> None:
    """The real upload path: returned, the submitter replaces the file and submits again, reviewed again."""
    submitter = api.h("demo-submitter")
    work_id = uploaded_and_submitted(api.client, submitter)
    [later] = submitted_works("demo-submitter", 1)
    first_version = db_work(work_id).submitted_version_id
    stale_rev = api.work("demo-reviewer", work_id)["review_rev"]
    api.do("demo-reviewer", work_id, "claim")
    api.do("demo-reviewer", work_id, "verdict", {"decision": "return", "reason": "开头语缺失，请补录"})
    mine = api.work("demo-submitter", work_id)
    assert mine["status"] == "returned" and mine["decisions"][-1]["reason"] == "开头语缺失，请补录"
    # Still visible to the province while it is with the submitter.
    assert [w["id"] for w in api.queue("demo-reviewer", "?status=returned")] == [work_id]

    from tests import media
    from tests.conftest import run_jobs

    put = api.client.put(f"/api/v1/works/{work_id}/video", content=media.valid_mp4(1).read_bytes(),
                         headers={**submitter, "Content-Type": "video/mp4",
                                  "Content-Disposition": "attachment; filename=b.mp4"})
    assert put.status_code in (200, 201, 202), put.text
    run_jobs()
    resubmitted = api.do("demo-submitter", work_id, "submit")
    assert resubmitted["status"] == "submitted"
    assert db_work(work_id).submitted_version_id not in (None, first_version)
    # Newest submission last: the resubmitted work now comes after the one submitted meanwhile.
    assert [w["id"] for w in api.queue("demo-reviewer", "?status=submitted")] == [later, work_id]
    # A page rendered before the return cannot decide on what it showed.
    stale = api.post("demo-reviewer", f"/api/v1/works/{work_id}/verdict",
                     {**PASS, "expected_rev": stale_rev})
    problem(stale, 409, "stale_state")
    fresh = api.work("demo-reviewer", work_id)
    assert fresh["claimed_by"] is None
    api.do("reviewer-2", work_id, "claim")
    out = api.do("reviewer-2", work_id, "verdict", {**PASS, "expected_rev": fresh["review_rev"]})
    assert out["status"] == "passed" and actions(out) == ["return", "pass"]
    # Under review again: no more uploads.
    put = api.client.put(f"/api/v1/works/{work_id}/video", content=b"x" * 100,
                         headers={**submitter, "Content-Type": "video/mp4"})
    problem(put, 409, "under_review")


def test_stale_pages(api: Api) -> None:
    a, b, c = submitted_works("demo-submitter", 3)
    rev = api.work("demo-reviewer", a)["review_rev"]
    api.do("demo-reviewer", a, "verdict", PASS)
    api.do("demo-reviewer", a, "undo", {"reason": "点错了"})
    # Same status as the page showed (submitted), but decided and undone meanwhile.
    problem(api.post("reviewer-2", f"/api/v1/works/{a}/verdict", {"decision": "fail", "reason": "x",
                                                                 "expected_rev": rev}), 409, "stale_state")
    problem(api.post("demo-admin", f"/api/v1/works/{a}/disqualify", {"reason": "x", "expected_rev": rev}),
            409, "stale_state")
    assert [x for x, _ in decision_rows(a)] == ["pass", "undo"]

    api.do("demo-reviewer", b, "verdict", PASS)
    rev_b = api.work("demo-province-admin", b)["review_rev"]
    api.do("demo-province-admin", b, "forward")
    api.do("demo-province-admin", b, "undo", {"reason": "排序有误"})
    problem(api.post("demo-province-admin", f"/api/v1/works/{b}/forward", {"expected_rev": rev_b}),
            409, "stale_state")
    problem(api.post("demo-province-admin", f"/api/v1/works/{b}/undo", {"reason": "x", "expected_rev": rev_b}),
            409, "stale_state")
    assert db_work(b).status == "passed"

    api.do("demo-reviewer", c, "verdict", PASS)
    api.do("demo-province-admin", c, "forward")
    rev_c = api.work("demo-admin", c)["review_rev"]
    api.do("demo-admin", c, "recommendation", {"recommended": True})
    api.do("demo-admin", c, "undo", {"reason": "再议"})
    problem(api.post("demo-admin", f"/api/v1/works/{c}/recommendation",
                     {"recommended": False, "reason": "x", "expected_rev": rev_c}), 409, "stale_state")
    assert db_work(c).status == "forwarded"


def test_undo_rules(api: Api, demo: dict[str, int]) -> None:
    a, b, c, d, e = submitted_works("demo-submitter", 5)
    problem(api.post("demo-reviewer", f"/api/v1/works/{a}/undo", {"reason": "x"}), 409, "nothing_to_undo")
    api.do("demo-reviewer", a, "verdict", PASS)
    for body in (None, {}, {"reason": ""}, {"reason": "  "}):
        response = api.post("demo-reviewer", f"/api/v1/works/{a}/undo", body)
        assert response.status_code == 422 and response.json()["code"] in ("reason_required", "invalid"), body
    problem(api.post("demo-reviewer", f"/api/v1/works/{a}/undo", {"reason": "x" * 2001}), 422, "reason_too_long")
    # Another reviewer may not undo a colleague's verdict; the national admin does not run the 初评.
    problem(api.post("reviewer-2", f"/api/v1/works/{a}/undo", {"reason": "x"}), 403, "forbidden_role")
    problem(api.post("demo-admin", f"/api/v1/works/{a}/undo", {"reason": "x"}), 403, "forbidden_role")
    problem(api.post("demo-submitter", f"/api/v1/works/{a}/undo", {"reason": "x"}), 403, "forbidden_role")
    problem(api.post("demo2-reviewer", f"/api/v1/works/{a}/undo", {"reason": "x"}), 404, "work_not_found")
    undone = api.do("demo-reviewer", a, "undo", {"reason": "看错了作品"})
    assert (undone["status"], undone["claimed_by"], actions(undone)) == ("submitted", None, ["pass", "undo"])
    assert undone["decisions"][-1]["reason"] == "看错了作品"
    problem(api.post("demo-reviewer", f"/api/v1/works/{a}/undo", {"reason": "x"}), 409, "nothing_to_undo")
    # The provincial admin may undo a reviewer's verdict; a return is undone back into the review.
    api.do("demo-reviewer", b, "verdict", {"decision": "return", "reason": "x"})
    assert api.do("demo-province-admin", b, "undo", {"reason": "误退"})["status"] == "submitted"

    # Forwarding: the provincial admin only, and not after the forwarding deadline. Undo walks back one step.
    api.do("demo-reviewer", c, "verdict", PASS)
    api.do("demo-province-admin", c, "forward")
    problem(api.post("demo-reviewer", f"/api/v1/works/{c}/undo", {"reason": "x"}), 403, "forbidden_role")
    set_campaign(forward_deadline=utcnow() - timedelta(seconds=1))
    problem(api.post("demo-province-admin", f"/api/v1/works/{c}/undo", {"reason": "x"}), 409, "too_late")
    set_campaign(forward_deadline=utcnow() + timedelta(days=1))
    assert api.do("demo-province-admin", c, "undo", {"reason": "x"})["status"] == "passed"
    assert api.do("demo-province-admin", c, "undo", {"reason": "x"})["status"] == "submitted"

    # National decisions: the national admin only, and not after publication.
    api.do("demo-reviewer", d, "verdict", PASS)
    api.do("demo-province-admin", d, "forward")
    api.do("demo-admin", d, "recommendation", {"recommended": False, "reason": "主题不突出"})
    # For the province the work is simply forwarded: undoing the forwarding answers exactly as for c (too
    # late after the deadline, else back to passed), and takes the unpublished decision with it.
    set_campaign(forward_deadline=utcnow() - timedelta(seconds=1))
    problem(api.post("demo-province-admin", f"/api/v1/works/{d}/undo", {"reason": "x"}), 409, "too_late")
    set_campaign(forward_deadline=utcnow() + timedelta(days=1))
    seen = api.do("demo-province-admin", d, "undo", {"reason": "撤回报送"})
    assert (seen["status"], actions(seen)) == ("passed", ["pass", "forward", "undo"])
    national = api.work("demo-admin", d)
    assert (national["status"], actions(national)) == (
        "passed", ["pass", "forward", "not_recommend", "undo", "undo"]
    )
    with session_scope() as session:
        hidden = session.exec(select(ReviewDecision).where(
            ReviewDecision.work_id == d, ReviewDecision.action == "not_recommend")).one()
        assert hidden.undone_at is not None
    api.do("demo-province-admin", d, "forward")
    api.do("demo-admin", d, "recommendation", {"recommended": False, "reason": "主题不突出"})
    assert api.do("demo-admin", d, "undo", {"reason": "复议"})["status"] == "forwarded"
    api.do("demo-admin", d, "recommendation", {"recommended": True, "reason": "复议后推荐"})

    # Disqualification: a provincial admin may undo its own, not the national office's.
    api.do("demo-admin", e, "disqualify", {"reason": "版权"})
    problem(api.post("demo-province-admin", f"/api/v1/works/{e}/undo", {"reason": "x"}), 403, "forbidden_role")
    assert api.do("demo-admin", e, "undo", {"reason": "投诉撤回"})["status"] == "submitted"
    api.do("demo-province-admin", e, "disqualify", {"reason": "版权"})
    assert api.do("demo-province-admin", e, "undo", {"reason": "投诉撤回"})["status"] == "submitted"

    # After publication national decisions are final; a disqualification may still be undone.
    assert api.post("demo-admin", "/api/v1/review/publish").status_code == 200
    problem(api.post("demo-admin", "/api/v1/review/publish"), 409, "results_published")
    problem(api.post("demo-admin", f"/api/v1/works/{d}/undo", {"reason": "x"}), 409, "results_published")
    problem(api.post("demo-admin", f"/api/v1/works/{d}/recommendation", {"recommended": False, "reason": "x"}),
            409, "results_published")
    api.do("demo-admin", d, "disqualify", {"reason": "发布后发现侵权"})
    assert api.do("demo-admin", d, "undo", {"reason": "误判"})["status"] == "recommended"
    assert db_work(d).status == "recommended"
    # Every undo is a row of its own and points at what it reverted.
    with session_scope() as session:
        undos = session.exec(select(ReviewDecision).where(ReviewDecision.action == "undo")).all()
        assert undos and all(u.undoes_id for u in undos)
        undone_ids = {u.undoes_id for u in undos}
        reverted = session.exec(select(ReviewDecision).where(col(ReviewDecision.id).in_(undone_ids))).all()
        assert all(r.undone_at is not None for r in reverted)


def test_recommendation_contract(api: Api) -> None:
    a, b, c = submitted_works("demo-submitter", 3)
    for work_id in (a, b):
        api.do("demo-reviewer", work_id, "verdict", PASS)
        api.do("demo-province-admin", work_id, "forward")
    problem(api.post("demo-admin", f"/api/v1/works/{c}/recommendation", {"recommended": True}), 409, "not_forwarded")
    problem(api.post("demo-province-admin", f"/api/v1/works/{a}/recommendation", {"recommended": True}),
            403, "forbidden_role")
    problem(api.post("demo-admin", f"/api/v1/works/{a}/recommendation", {"recommended": False}),
            422, "reason_required")
    out = api.do("demo-admin", a, "recommendation", {"recommended": True, "reason": "主题突出"})
    assert out["status"] == "recommended"
    assert out["decisions"][-1] == {**out["decisions"][-1], "action": "recommend", "by": "demo-admin",
                                    "reason": "主题突出"}
    problem(api.post("demo-admin", f"/api/v1/works/{a}/recommendation", {"recommended": False, "reason": "x"}),
            409, "already_decided")
    assert api.do("demo-admin", b, "recommendation",
                  {"recommended": False, "reason": "画面不清晰"})["status"] == "not_recommended"
    assert [w["id"] for w in api.queue("demo-admin", "?status=recommended")] == [a]
    assert [w["id"] for w in api.queue("demo-admin", "?status=not_recommended")] == [b]


# -- bad input -------------------------------------------------------------------------------------

BAD_BODIES: list[tuple[str, Any]] = [
    ("verdict", None),
    ("verdict", []),
    ("verdict", "pass"),
    ("verdict", {}),
    ("verdict", {"decision": None}),
    ("verdict", {"decision": 1}),
    ("verdict", {"decision": ["pass"]}),
    ("verdict", {"decision": "approve"}),
    ("verdict", {"decision": "PASS"}),
    ("verdict", {"decision": "pass" * 10}),
    ("verdict", {**PASS, "checklist": "opening_line"}),
    ("verdict", {**PASS, "checklist": [1]}),
    ("verdict", {**PASS, "checklist": ["x" * 65]}),
    ("verdict", {**PASS, "checklist": ALL_ITEMS * 20}),
    ("verdict", {**PASS, "checklist": ALL_ITEMS[:6]}),
    ("verdict", {**PASS, "checklist": [*ALL_ITEMS, "no_such_item"]}),
    ("verdict", {**PASS, "reason": 5}),
    ("verdict", {**PASS, "reason": {"text": "x"}}),
    ("verdict", {"decision": "fail", "reason": "理" * 2001}),
    ("verdict", {"decision": "fail", "reason": "x" * 10001}),
    ("verdict", {**PASS, "expected_rev": "abc"}),
    ("verdict", {**PASS, "expected_rev": 1.5}),
    ("recommendation", None),
    ("recommendation", {}),
    ("recommendation", {"recommended": None}),
    ("recommendation", {"recommended": "maybe"}),
    ("recommendation", {"recommended": [True]}),
    ("recommendation", {"recommended": False, "reason": "x" * 2001}),
    ("disqualify", None),
    ("disqualify", {"reason": 5}),
    ("disqualify", {"reason": ["x"]}),
    ("disqualify", {"reason": "x" * 2001}),
    ("undo", None),
    ("undo", {"reason": 5}),
    ("forward", {"rank": "first"}),
    ("forward", {"rank": -1}),
    ("forward", {"rank": 10**6}),
    ("forward", {"rank": 2**70}),
]


def test_bad_bodies_are_422_problems_and_change_nothing(api: Api) -> None:
    [work_id] = submitted_works("demo-submitter", 1)
    api.do("demo-reviewer", work_id, "verdict", PASS)
    forwarded_id = submitted_works("demo-submitter", 1)[0]
    api.do("demo-reviewer", forwarded_id, "verdict", PASS)
    api.do("demo-province-admin", forwarded_id, "forward")
    [fresh] = submitted_works("demo-submitter", 1)
    who = {"verdict": "demo-reviewer", "recommendation": "demo-admin", "disqualify": "demo-admin",
           "undo": "demo-reviewer", "forward": "demo-province-admin"}
    target = {"verdict": fresh, "recommendation": forwarded_id, "disqualify": fresh, "undo": work_id,
              "forward": work_id}
    before = {w: (db_work(w).status, db_work(w).review_rev, len(decision_rows(w)))
              for w in (work_id, forwarded_id, fresh)}
    failures = []
    for action, body in BAD_BODIES:
        response = api.post(who[action], f"/api/v1/works/{target[action]}/{action}", body)
        ok = (response.status_code == 422 and response.headers["content-type"].startswith(PROBLEM)
              and isinstance(response.json().get("code"), str))
        if not ok:
            failures.append((action, str(body)[:40], response.status_code, response.text[:200]))
    # A body that is not JSON at all.
    raw = api.client.post(f"/api/v1/works/{fresh}/verdict", content=b"{decision: pass",
                          headers={**api.h("demo-reviewer"), "Content-Type": "application/json"})
    if raw.status_code != 422 or raw.json().get("code") != "invalid":
        failures.append(("verdict", "not json", raw.status_code, raw.text[:200]))
    for bad in ({"work_ids": "all"}, {"work_ids": [work_id, "x"]}, {"work_ids": [work_id], "ranks": {"a": 1}},
                {"work_ids": [work_id], "ranks": {str(work_id): 0}}):
        response = api.post("demo-province-admin", "/api/v1/review/forward", bad)
        if response.status_code != 422 or not response.headers["content-type"].startswith(PROBLEM):
            failures.append(("batch", str(bad), response.status_code, response.text[:200]))
    assert failures == []
    after = {w: (db_work(w).status, db_work(w).review_rev, len(decision_rows(w)))
             for w in (work_id, forwarded_id, fresh)}
    assert after == before
    # The reason limit is 2000 characters: exactly 2000 is fine.
    out = api.do("demo-reviewer", fresh, "verdict", {"decision": "fail", "reason": "理" * 2000})
    assert len(out["decisions"][0]["reason"]) == 2000


HUGE_PATHS = [
    "/api/v1/works/{big}/claim", "/api/v1/works/{big}", "/api/v1/works/{big}/events",
    "/api/v1/review/works?unit={big}", "/api/v1/review/works?offset={big}", "/api/v1/audit?work_id={big}",
    "/api/v1/audit?before_id={big}",
]


@pytest.mark.parametrize("big", [
    # 2**31 fits SQLite's 64-bit integers but not PostgreSQL's integer (the id columns); 2**64 fits neither.
    pytest.param(2**31),
    pytest.param(2**64),
])
def test_huge_numbers_are_not_500(api: Api, big: int) -> None:
    """Ids beyond any integer column: a 404/422 or an empty page, never a 500."""
    failures = []
    for path in HUGE_PATHS:
        url = path.format(big=big)
        try:
            response = api.post("demo-province-admin", url) if url.endswith("/claim") else api.get(
                "demo-province-admin", url)
        except Exception as exc:  # the test client re-raises what the server answered 500 for
            failures.append((url, type(exc).__name__))
            continue
        if response.status_code not in (200, 404, 422) or (
            response.status_code != 200 and not response.headers["content-type"].startswith(PROBLEM)
        ):
            failures.append((url, response.status_code))
    assert failures == []


def test_path_and_query_type_errors(api: Api) -> None:
    for url in ("/api/v1/works/abc/claim", "/api/v1/works/1.5/verdict"):
        problem(api.post("demo-reviewer", url, PASS), 422, "invalid")
    for query in ("?limit=0", "?limit=5001", "?offset=-1", "?unit=x", "?q=" + "x" * 101):
        problem(api.get("demo-reviewer", "/api/v1/review/works" + query), 422, "invalid")
    problem(api.get("demo-admin", "/api/v1/audit?province=nowhere"), 422, "unknown_province")
    # Unknown filters narrow to nothing rather than widening the scope.
    submitted_works("demo-submitter", 1)
    assert api.queue("demo-reviewer", "?province=shanxi") == []
    assert api.queue("demo-reviewer", "?reviewer=nobody") == []
    assert api.get("demo-reviewer", "/api/v1/quotas?province=shanxi").json() == []


# -- scope: outside reads exactly like missing -----------------------------------------------------

SCOPED_CALLS: list[tuple[str, str, Any]] = [
    ("GET", "/api/v1/works/{id}", None),
    ("GET", "/api/v1/works/{id}/events", None),
    ("GET", "/api/v1/works/{id}/playback", None),
    ("GET", "/api/v1/works/{id}/documents", None),
    ("GET", "/api/v1/audit?work_id={id}", None),
    ("POST", "/api/v1/works/{id}/claim", None),
    ("POST", "/api/v1/works/{id}/release", None),
    ("POST", "/api/v1/works/{id}/verdict", PASS),
    ("POST", "/api/v1/works/{id}/verdict", {"decision": "fail", "reason": "x"}),
    ("POST", "/api/v1/works/{id}/forward", None),
    ("POST", "/api/v1/works/{id}/recommendation", {"recommended": True}),
    ("POST", "/api/v1/works/{id}/disqualify", {"reason": "x"}),
    ("POST", "/api/v1/works/{id}/undo", {"reason": "x"}),
    ("POST", "/api/v1/works/{id}/submit", None),
    ("POST", "/api/v1/works/{id}/withdraw", None),
    ("POST", "/api/v1/review/forward", {"work_ids": ["{id}"]}),
]


def _call(api: Api, who: str, method: str, path: str, body: Any, work_id: int) -> Any:
    url = path.replace("{id}", str(work_id))
    if body is not None and "work_ids" in body:
        body = {"work_ids": [work_id]}
    if method == "GET":
        return api.get(who, url)
    return api.post(who, url, body)


def test_out_of_scope_is_exactly_missing(api: Api) -> None:
    [hebei] = submitted_works("demo-submitter", 1)
    [shanxi] = submitted_works("demo2-submitter", 1)
    [dq] = submitted_works("demo-submitter", 1)
    api.do("demo-admin", dq, "disqualify", {"reason": "版权"})
    [passed_shanxi] = submitted_works("demo2-submitter", 1)
    api.do("demo2-reviewer", passed_shanxi, "verdict", PASS)
    cases = [
        ("demo2-reviewer", hebei), ("demo-reviewer", shanxi), ("demo-province-admin", shanxi),
        ("demo-province-admin", passed_shanxi), ("demo-coordinator", shanxi), ("demo2-submitter", hebei),
        ("demo-submitter", shanxi), ("demo-judge", hebei), ("demo-reviewer", dq),
    ]
    diffs = []
    for who, work_id in cases:
        for method, path, body in SCOPED_CALLS:
            outside = _call(api, who, method, path, body, work_id)
            missing = _call(api, who, method, path, body, MISSING)
            same = (outside.status_code, outside.headers.get("content-type"), outside.content) == (
                missing.status_code, missing.headers.get("content-type"), missing.content
            )
            if not same or outside.status_code not in (403, 404):
                diffs.append((who, method, path, outside.status_code, outside.text[:120], missing.text[:120]))
            elif outside.status_code == 403:
                # Only where the role alone is refused before any work is read.
                assert "audit" in path or path == "/api/v1/review/forward", (who, path, outside.text)
    assert diffs == []
    # Nothing was decided by any of that.
    for work_id in (hebei, shanxi, passed_shanxi):
        assert db_work(work_id).status in ("submitted", "passed")
    assert [a for a, _ in decision_rows(hebei)] == []


# -- unpublished national decisions ----------------------------------------------------------------

def _national_setup(api: Api) -> tuple[int, int, int]:
    rec, notrec, plain = submitted_works("demo-submitter", 3)
    for work_id in (rec, notrec, plain):
        api.do("demo-reviewer", work_id, "verdict", {**PASS, "reason": "好"})
        api.do("demo-province-admin", work_id, "forward")
    api.do("demo-admin", rec, "recommendation", {"recommended": True, "reason": "主题突出"})
    api.do("demo-admin", notrec, "recommendation", {"recommended": False, "reason": "画面模糊"})
    return rec, notrec, plain


def test_unpublished_national_decisions_are_invisible(api: Api, demo: dict[str, int]) -> None:
    rec, notrec, plain = _national_setup(api)
    # And one decided then undone: not even the undo shows.
    api.do("demo-admin", plain, "recommendation", {"recommended": True})
    api.do("demo-admin", plain, "undo", {"reason": "再议"})
    hidden = {"recommended", "not_recommended"}
    for viewer in HEBEI_VIEWERS:
        for work_id in (rec, notrec, plain):
            seen = api.work(viewer, work_id)
            assert seen["status"] == "forwarded", (viewer, work_id)
            assert actions(seen) == ["pass", "forward"], (viewer, seen["decisions"])
            events = api.get(viewer, f"/api/v1/works/{work_id}/events").json()
            assert not {e["action"] for e in events} & {"recommend", "not_recommend", "undo"}, (viewer, events)
            assert not {e["from_status"] for e in events} & hidden and not {e["to_status"] for e in events} & hidden
    for viewer in ("demo-province-admin", "demo-reviewer", "demo-coordinator"):
        assert api.queue(viewer, "?status=recommended") == []
        assert api.queue(viewer, "?status=not_recommended") == []
        assert sorted(w["id"] for w in api.queue(viewer, "?status=forwarded")) == sorted([rec, notrec, plain])
        assert {w["status"] for w in api.queue(viewer)} == {"forwarded"}
    for viewer in ("demo-province-admin", "demo-coordinator"):
        [row] = [r for r in api.get(viewer, "/api/v1/quotas").json() if r["unit"] == "石家庄市"]
        assert row["forwarded"] == 3 and row["passed"] == 3
    assert notification_kinds(demo["demo-submitter"]).count("recommend") == 0
    assert "not_recommend" not in notification_kinds(demo["demo-submitter"])
    assert "undo" not in notification_kinds(demo["demo-submitter"])
    # The national office sees its own decisions.
    assert api.work("demo-admin", rec)["status"] == "recommended"
    assert actions(api.work("demo-admin", plain)) == ["pass", "forward", "recommend", "undo"]

    published = api.post("demo-admin", "/api/v1/review/publish")
    assert published.status_code == 200 and published.json()["works"] == 2, published.text
    for viewer in HEBEI_VIEWERS:
        assert api.work(viewer, rec)["status"] == "recommended"
        assert api.work(viewer, notrec)["status"] == "not_recommended"
        assert actions(api.work(viewer, notrec)) == ["pass", "forward", "not_recommend"]
    assert [w["id"] for w in api.queue("demo-province-admin", "?status=recommended")] == [rec]
    mine = api.work("demo-submitter", notrec)
    assert mine["decisions"][-1]["reason"] == "画面模糊" and mine["decisions"][-1]["by"] == "national_admin"
    kinds = notification_kinds(demo["demo-submitter"])
    assert kinds.count("recommend") == 1 and kinds.count("not_recommend") == 1


def test_audit_log_hides_unpublished_national_decisions(api: Api) -> None:
    _national_setup(api)
    log = api.get("demo-province-admin", "/api/v1/audit?province=hebei").json()
    leaked = [(e["action"], e["to_status"]) for e in log
              if e["action"] in ("recommend", "not_recommend")
              or {e["from_status"], e["to_status"]} & {"recommended", "not_recommended"}]
    assert leaked == []


def test_later_events_do_not_reveal_unpublished_status(api: Api) -> None:
    rec, _, _ = _national_setup(api)
    api.do("demo-province-admin", rec, "disqualify", {"reason": "版权"})
    for viewer in ("demo-province-admin", "demo-coordinator", "demo-submitter"):
        events = api.get(viewer, f"/api/v1/works/{rec}/events").json()
        statuses = {e["from_status"] for e in events} | {e["to_status"] for e in events}
        assert not statuses & {"recommended", "not_recommended"}, (viewer, events)


def test_undo_notification_does_not_reveal_unpublished_status(api: Api, demo: dict[str, int]) -> None:
    rec, _, _ = _national_setup(api)
    api.do("demo-province-admin", rec, "disqualify", {"reason": "版权"})
    api.do("demo-province-admin", rec, "undo", {"reason": "投诉撤回"})
    assert api.work("demo-submitter", rec)["status"] == "forwarded"
    with session_scope() as session:
        bodies = [n.title + n.body for n in session.exec(
            select(Notification).where(Notification.user_id == demo["demo-submitter"]))]
    assert not [b for b in bodies if "推荐" in b], bodies


def test_national_decisions_move_nothing_a_province_reads(api: Api) -> None:
    """Before publication a national decision (and its undoing) leaves review_rev and updated_at as the
    province, the unit and the submitter read them; the province's own decisions still go through with
    the revision it read, and only the national office sees its counter move."""
    _rec, _notrec, plain = _national_setup(api)
    viewers = ("demo-province-admin", "demo-reviewer", "demo-coordinator", "demo-submitter")

    def seen(viewer: str) -> tuple[int, str]:
        work = api.work(viewer, plain)
        return work["review_rev"], work["updated_at"]

    before = {viewer: seen(viewer) for viewer in viewers}
    national_before = seen("demo-admin")
    api.do("demo-admin", plain, "recommendation", {"recommended": True, "reason": "好"})
    api.do("demo-admin", plain, "undo", {"reason": "再议"})
    after = api.do("demo-admin", plain, "recommendation",
                   {"recommended": False, "reason": "主题不突出", "expected_rev": national_before[0] + 2})
    assert after["review_rev"] == national_before[0] + 3 and after["status"] == "not_recommended"
    assert {viewer: seen(viewer) for viewer in viewers} == before
    queue = {w["id"]: (w["review_rev"], w["updated_at"]) for w in api.queue("demo-province-admin")}
    assert queue[plain] == before["demo-province-admin"]
    # The province acts on what it read: no "someone else changed it" that would betray the decision.
    rev = before["demo-province-admin"][0]
    out = api.do("demo-province-admin", plain, "disqualify", {"reason": "版权", "expected_rev": rev})
    assert out["status"] == "disqualified" and out["review_rev"] == rev + 1
    # Once published the national office's revisions count for everyone (still one number, still rising).
    assert api.post("demo-admin", "/api/v1/review/publish").status_code == 200
    assert api.work("demo-province-admin", plain)["review_rev"] == api.work("demo-admin", plain)["review_rev"]


def test_national_decisions_leave_the_province_pages_unchanged(api: Api, demo: dict[str, int]) -> None:
    """Byte for byte: what the province's admin and reviewer, the unit's coordinator and the submitter read
    of a forwarded work is the same before and after the national office decides on it (and undoes)."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.test_ui import login

    _rec, _notrec, plain = _national_setup(api)
    pages = {
        "demo-province-admin": (f"/review/works/{plain}", "/review/forward", "/review?status=forwarded",
                                f"/works/{plain}", "/audit"),
        "demo-reviewer": (f"/review/works/{plain}", "/review?status=forwarded"),
        "demo-coordinator": (f"/works/{plain}",),
        "demo-submitter": (f"/works/{plain}", f"/works/{plain}/status"),
    }
    with TestClient(create_app()) as fresh:
        clients: dict[str, TestClient] = {}
        for username in pages:
            client = fresh if not clients else TestClient(fresh.app)
            client.cookies.clear()
            login(client, username)
            clients[username] = client

        def read() -> dict[tuple[str, str], str]:
            # Presigned URLs carry the time they were signed at: the same object, whenever it is read.
            return {(who, path): re.sub(r"X-Amz-(Date|Signature)=[^&\"]+", r"X-Amz-\1=", clients[who].get(path).text)
                    for who, paths in pages.items() for path in paths}

        before = read()
        api.do("demo-admin", plain, "recommendation", {"recommended": False, "reason": "主题不突出"})
        after_decision = read()
        api.do("demo-admin", plain, "undo", {"reason": "再议"})
        api.do("demo-admin", plain, "recommendation", {"recommended": True, "reason": "好"})
        after_more = read()
    for key, text in before.items():
        assert after_decision[key] == text, key
        assert after_more[key] == text, key


def test_province_audit_log_shows_only_submitted_works(api: Api, demo: dict[str, int]) -> None:
    """Drafts, works withdrawn before the review and works the national office disqualified before they
    were submitted are the submitter's (and the national office's) business: no event of theirs, no
    title, no account name reaches the provincial audit log, page or API."""
    [kept] = submitted_works("demo-submitter", 1, title="已提交")
    [withdrawn] = submitted_works("demo-submitter", 1, title="已撤回")
    with session_scope() as session:
        from clipjury.works import service as works_service

        submitter = session.get(User, demo["demo-submitter"])
        assert submitter is not None
        works_service.withdraw(session, submitter, withdrawn, reason="再改改")
        draft = works_service.create_work(session, submitter, title="草稿").id or 0
        never = works_service.create_work(session, submitter, title="未提交即取消").id or 0
    api.do("demo-admin", never, "disqualify", {"reason": "冒名"})
    hidden = {withdrawn, draft, never}
    log = api.get("demo-province-admin", "/api/v1/audit").json()
    assert kept in {e["work_id"] for e in log}
    assert not hidden & {e["work_id"] for e in log}, [e for e in log if e["work_id"] in hidden]
    for work_id in hidden:
        problem(api.get("demo-province-admin", f"/api/v1/audit?work_id={work_id}"), 404, "work_not_found")
    # The national office reads every event.
    national = {e["work_id"] for e in api.get("demo-admin", "/api/v1/audit").json()}
    assert hidden | {kept} <= national

    from tests.test_ui import login

    page_client = api.client
    login(page_client, "demo-province-admin")
    page = page_client.get("/audit")
    assert page.status_code == 200
    shown = {int(i) for i in re.findall(r'<td data-label="作品">(?:<a [^>]*>)?#(\d+)', page.text)}
    assert kept in shown and not hidden & shown, shown
    for work_id in hidden:
        assert 'id="audit-log"' not in page_client.get(f"/audit?work={work_id}").text
    for title in ("已撤回", "草稿", "未提交即取消"):
        assert title not in page.text


# -- audit ------------------------------------------------------------------------------------------

def test_every_decision_is_audited(api: Api, demo: dict[str, int]) -> None:
    a, b, c, d = submitted_works("demo-submitter", 4)
    api.do("demo-reviewer", a, "claim")
    api.do("demo-reviewer", a, "verdict", {**PASS, "reason": "规范"})
    api.do("demo-reviewer", b, "verdict", {"decision": "fail", "reason": "超时"})
    api.do("demo-reviewer", c, "verdict", {"decision": "return", "reason": "补开头语"})
    api.do("demo-province-admin", a, "forward")
    api.do("demo-admin", a, "recommendation", {"recommended": True, "reason": "推荐理由"})
    api.do("demo-province-admin", d, "disqualify", {"reason": "侵权投诉"})
    api.do("demo-province-admin", d, "undo", {"reason": "投诉撤回"})
    assert api.post("demo-admin", "/api/v1/review/publish").status_code == 200

    expected = {
        ("claim", a, "demo-reviewer", ""), ("pass", a, "demo-reviewer", "规范"),
        ("fail", b, "demo-reviewer", "超时"), ("return", c, "demo-reviewer", "补开头语"),
        ("forward", a, "demo-province-admin", ""), ("recommend", a, "demo-admin", "推荐理由"),
        ("disqualify", d, "demo-province-admin", "侵权投诉"), ("undo", d, "demo-province-admin", "投诉撤回"),
    }
    for viewer, query in (("demo-province-admin", "?province=hebei"), ("demo-province-admin", ""),
                          ("demo-admin", "?province=hebei")):
        response = api.get(viewer, "/api/v1/audit" + query)
        assert response.status_code == 200, response.text
        log = response.json()
        assert all(e["at"] for e in log)
        got = {(e["action"], e["work_id"], e["by"], e["reason"]) for e in log}
        assert expected <= got, (viewer, expected - got)
        ids = [e["id"] for e in log]
        assert ids == sorted(ids, reverse=True)  # newest first
    # One work's log, through the audit endpoint and the work's own events.
    work_log = api.get("demo-province-admin", f"/api/v1/audit?work_id={a}").json()
    assert {e["work_id"] for e in work_log} == {a}
    assert [e["action"] for e in reversed(work_log) if e["action"] in
            ("claim", "pass", "forward", "recommend")] == ["claim", "pass", "forward", "recommend"]
    trail = api.get("demo-province-admin", f"/api/v1/works/{d}/events").json()
    assert [(e["action"], e["by"], e["reason"], e["to_status"]) for e in trail][-2:] == [
        ("disqualify", "demo-province-admin", "侵权投诉", "disqualified"),
        ("undo", "demo-province-admin", "投诉撤回", "submitted"),
    ]
    # The submitter's trail names roles, and shows no claims.
    mine = api.get("demo-submitter", f"/api/v1/works/{a}/events").json()
    assert "claim" not in {e["action"] for e in mine}
    assert "demo-reviewer" not in {e["by"] for e in mine}
    # Paging.
    page = api.get("demo-province-admin", "/api/v1/audit?limit=2").json()
    older = api.get("demo-province-admin", f"/api/v1/audit?limit=2&before_id={page[-1]['id']}").json()
    assert len(page) == 2 and all(e["id"] < page[-1]["id"] for e in older)
    assert {e["action"] for e in api.get("demo-province-admin", "/api/v1/audit?action=fail").json()} == {"fail"}


def test_audit_scope(api: Api) -> None:
    [hebei] = submitted_works("demo-submitter", 1)
    [shanxi] = submitted_works("demo2-submitter", 1)
    api.do("demo-reviewer", hebei, "verdict", PASS)
    api.do("demo2-reviewer", shanxi, "verdict", PASS)
    problem(api.get("demo-province-admin", "/api/v1/audit?province=shanxi"), 403, "forbidden_scope")
    own = api.get("demo-province-admin", "/api/v1/audit").json()
    assert own and {e["work_id"] for e in own} == {hebei}
    for who in ("demo-reviewer", "demo2-reviewer", "demo-coordinator", "demo-submitter", "demo-judge"):
        for query in ("", "?province=hebei", f"?work_id={hebei}"):
            problem(api.get(who, "/api/v1/audit" + query), 403, "forbidden_role")
    national = api.get("demo-admin", "/api/v1/audit?province=shanxi").json()
    assert national and {e["work_id"] for e in national} == {shanxi}


# -- the checklist (issue 13: the API refuses a pass without it, like the page) ----------------------

def test_checklist_is_read_by_key_and_a_pass_needs_every_required_item(api: Api) -> None:
    items = api.get("demo-reviewer", "/api/v1/review/checklist").json()
    assert [set(i) for i in items] == [{"key", "label", "required"}] * len(items)
    assert [i["key"] for i in items] == ALL_ITEMS and all(i["required"] for i in items)
    assert items[0]["label"] == "开头语为“我在河北省话保密，今天我要讲的是……”"
    [hebei] = submitted_works("demo-submitter", 1)
    [shanxi] = submitted_works("demo2-submitter", 1)
    # For a work: its province's opening line (the national admin has no province of its own).
    of_work = api.get("demo-admin", f"/api/v1/review/checklist?work_id={shanxi}").json()
    assert of_work[0]["label"] == "开头语为“我在山西省话保密，今天我要讲的是……”"
    problem(api.get("demo-reviewer", f"/api/v1/review/checklist?work_id={shanxi}"), 404, "work_not_found")
    for who in ("demo-submitter", "demo-coordinator", "demo-judge"):
        problem(api.get(who, "/api/v1/review/checklist"), 403, "forbidden_role")

    # A pass without the checklist, with part of it, or with an unknown key changes nothing.
    for body, code in (({"decision": "pass"}, "checklist_incomplete"),
                       ({"decision": "pass", "checklist": []}, "checklist_incomplete"),
                       ({**PASS, "checklist": ALL_ITEMS[1:]}, "checklist_incomplete"),
                       ({**PASS, "checklist": [*ALL_ITEMS, "subtitles"]}, "checklist_unknown_item")):
        refused = problem(api.post("demo-reviewer", f"/api/v1/works/{hebei}/verdict", body), 422, code)
        if code == "checklist_incomplete":
            assert "请逐项核对并勾选全部 7 项审核要点" in refused["detail"]
        assert db_work(hebei).status == "submitted" and decision_rows(hebei) == []
    problem(api.post("demo-reviewer", f"/api/v1/works/{hebei}/verdict", {"decision": "fail", "reason": "x",
                                                                         "checklist": ["nope"]}),
            422, "checklist_unknown_item")
    assert api.do("demo-reviewer", hebei, "verdict", PASS)["status"] == "passed"
    # Other outcomes do not need it.
    [failed] = submitted_works("demo-submitter", 1)
    assert api.do("demo-reviewer", failed, "verdict", {"decision": "fail", "reason": "画面模糊"})["status"] == "failed"


def test_checklist_is_a_campaign_setting(api: Api) -> None:
    """An optional item need not be ticked; the keys come from the campaign, not from the code."""
    from clipjury.campaigns.models import Campaign

    with session_scope() as session:
        campaign = session.exec(select(Campaign)).one()
        campaign.review_checklist = [{"key": "opening_line", "label": "开头语为“{opening_line}”", "required": True},
                                     {"key": "subtitles", "label": "有字幕", "required": False}]
        session.add(campaign)
    items = api.get("demo-province-admin", "/api/v1/review/checklist").json()
    assert items == [{"key": "opening_line", "label": "开头语为“我在河北省话保密，今天我要讲的是……”", "required": True},
                     {"key": "subtitles", "label": "有字幕", "required": False}]
    [work_id] = submitted_works("demo-submitter", 1)
    problem(api.post("demo-reviewer", f"/api/v1/works/{work_id}/verdict", PASS), 422, "checklist_unknown_item")
    passed = api.do("demo-reviewer", work_id, "verdict", {"decision": "pass", "checklist": ["opening_line"]})
    assert passed["status"] == "passed"


# -- the audit log's refusals, the same on both surfaces (clipjury.audit.query) ------------------------

def test_audit_refusals_are_the_same_in_the_api_and_the_page(api: Api) -> None:
    from tests.test_ui import login

    [hebei] = submitted_works("demo-submitter", 1)
    [shanxi] = submitted_works("demo2-submitter", 1)
    api.do("demo-reviewer", hebei, "verdict", PASS)
    page_client = api.client
    login(page_client, "demo-province-admin")
    # Another province's log: 403 forbidden_scope (before, the page showed the admin's own instead).
    problem(api.get("demo-province-admin", "/api/v1/audit?province=shanxi"), 403, "forbidden_scope")
    page = page_client.get("/audit?province=shanxi")
    assert page.status_code == 403 and "省级管理员只能查看本省的日志" in page.text
    assert page_client.get("/audit?province=hebei").status_code == 200
    # An unknown action: 422 unknown_action (before, the API answered an empty log).
    problem(api.get("demo-province-admin", "/api/v1/audit?action=approve"), 422, "unknown_action")
    page = page_client.get("/audit?action=approve")
    assert page.status_code == 422 and "未知的操作类型" in page.text
    assert api.get("demo-province-admin", "/api/v1/audit?action=pass").status_code == 200
    # A work the admin may not see: 404 on both, like a missing one.
    problem(api.get("demo-province-admin", f"/api/v1/audit?work_id={shanxi}"), 404, "work_not_found")
    assert page_client.get(f"/audit?work={shanxi}").status_code == 404
    # An unknown province, for the national admin.
    problem(api.get("demo-admin", "/api/v1/audit?province=nowhere"), 422, "unknown_province")
    login(page_client, "demo-admin")
    assert page_client.get("/audit?province=nowhere").status_code == 422
