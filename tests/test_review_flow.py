"""The review rounds end to end through the API: submit, claim, verdict, forward, recommend, publish,
disqualify, quotas; the fixed contract of issue 4."""

from __future__ import annotations

from typing import Any

from tests.review_support import PASS, headers_for, submitted_works, uploaded_and_submitted


def test_full_path_through_both_rounds(client: Any, demo: dict[str, int]) -> None:
    submitter = headers_for(client, "demo-submitter")
    reviewer = headers_for(client, "demo-reviewer")
    padmin = headers_for(client, "demo-province-admin")
    nadmin = headers_for(client, "demo-admin")
    work_id = uploaded_and_submitted(client, submitter)

    queue = client.get("/api/v1/review/works?status=submitted", headers=reviewer)
    assert queue.status_code == 200, queue.text
    [row] = queue.json()
    assert (row["id"], row["province"], row["unit"], row["claimed_by"], row["decisions"]) == (
        work_id, "河北省", "石家庄市", None, []
    )
    claimed = client.post(f"/api/v1/works/{work_id}/claim", headers=reviewer)
    assert claimed.status_code == 200 and claimed.json()["claimed_by"] == "demo-reviewer"
    passed = client.post(f"/api/v1/works/{work_id}/verdict", json={**PASS, "reason": "开头语规范"},
                         headers=reviewer)
    assert passed.status_code == 200 and passed.json()["status"] == "passed", passed.text
    again = client.post(f"/api/v1/works/{work_id}/verdict", json={"decision": "fail", "reason": "x"}, headers=padmin)
    assert again.status_code == 409 and again.json()["code"] == "already_decided"

    forwarded = client.post(f"/api/v1/works/{work_id}/forward", headers=padmin)
    assert forwarded.status_code == 200 and forwarded.json()["status"] == "forwarded", forwarded.text
    rec = client.post(f"/api/v1/works/{work_id}/recommendation", json={"recommended": True, "reason": "主题突出"},
                      headers=nadmin)
    assert rec.status_code == 200 and rec.json()["status"] == "recommended"
    # Unpublished: the province and the submitter still read "forwarded" and no national decision.
    for viewer in (padmin, submitter):
        seen = client.get(f"/api/v1/works/{work_id}", headers=viewer).json()
        assert seen["status"] == "forwarded"
        assert [d["action"] for d in seen["decisions"]] == ["pass", "forward"]
    assert client.get("/api/v1/review/works?status=recommended", headers=padmin).json() == []
    assert client.post("/api/v1/review/publish", headers=nadmin).status_code == 200
    seen = client.get(f"/api/v1/works/{work_id}", headers=submitter).json()
    assert seen["status"] == "recommended"
    assert [(d["action"], d["by"]) for d in seen["decisions"]] == [
        ("pass", "reviewer"), ("forward", "provincial_admin"), ("recommend", "national_admin")
    ]

    no_reason = client.post(f"/api/v1/works/{work_id}/disqualify", json={}, headers=nadmin)
    assert no_reason.status_code == 422 and no_reason.json()["code"] == "reason_required"
    dq = client.post(f"/api/v1/works/{work_id}/disqualify", json={"reason": "版权纠纷"}, headers=nadmin)
    assert dq.status_code == 200 and dq.json()["status"] == "disqualified"
    mine = client.get(f"/api/v1/works/{work_id}", headers=submitter).json()
    assert mine["decisions"][-1] == {**mine["decisions"][-1], "action": "disqualify", "reason": "版权纠纷"}
    assert client.get(f"/api/v1/works/{work_id}", headers=reviewer).status_code == 404
    assert client.get("/api/v1/review/works", headers=padmin).json() == []
    notes = client.get("/api/v1/notifications", headers=submitter).json()
    assert {n["kind"] for n in notes} >= {"pass", "forward", "recommend", "disqualify"}


def test_claims_and_scope(client: Any, demo: dict[str, int]) -> None:
    [work_id] = submitted_works("demo-submitter", 1)
    reviewer = headers_for(client, "demo-reviewer")
    padmin = headers_for(client, "demo-province-admin")
    other = headers_for(client, "demo2-reviewer")
    assert client.post(f"/api/v1/works/{work_id}/claim", headers=reviewer).status_code == 200
    taken = client.post(f"/api/v1/works/{work_id}/claim", headers=padmin)
    assert taken.status_code == 409 and taken.json()["code"] == "claimed"
    for path, body in (("claim", None), ("verdict", PASS), ("disqualify", {"reason": "x"})):
        response = client.post(f"/api/v1/works/{work_id}/{path}", json=body, headers=other)
        assert response.status_code == 404 and response.json()["code"] == "work_not_found"
    assert client.get("/api/v1/review/works", headers=other).json() == []


def test_quotas_move(client: Any, demo: dict[str, int]) -> None:
    submitted_works("demo-submitter", 3)
    coordinator = headers_for(client, "demo-coordinator")
    rows = client.get("/api/v1/quotas", headers=coordinator).json()
    assert rows == [{"province": "河北省", "unit": "石家庄市", "required": 10, "submitted": 3, "passed": 0,
                     "forwarded": 0}]
    padmin_rows = client.get("/api/v1/quotas", headers=headers_for(client, "demo-province-admin")).json()
    assert len(padmin_rows) == 24 and {r["province"] for r in padmin_rows} == {"河北省"}
    all_rows = client.get("/api/v1/quotas", headers=headers_for(client, "demo-admin")).json()
    assert len(all_rows) == 25
    assert client.get("/api/v1/quotas", headers=headers_for(client, "demo-submitter")).status_code == 403
