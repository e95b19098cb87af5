"""Issue 16 part B through the API, on both databases: compute, versions and their diff, adjustments,
disqualification and its undo as new versions, publication, the public results, certificates and their check
(the fixed contract of the issue, and every refusal)."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from clipjury.awards.models import AwardCertificate
from clipjury.db import session_scope
from tests.judging_support import JUDGES, add_likes, freeze_likes, published_works, score_and_submit
from tests.likes_support import open_window
from tests.review_support import headers_for

CONTRACT_KEYS = {"work_id", "raw_mean", "normalised", "likes", "likes_component", "final", "rank", "level",
                 "near_tie"}


def test_the_awards_contract_from_compute_to_certificate(client: Any, demo: dict[str, int]) -> None:
    made = published_works(3, 3)
    works = made["hebei"] + made["shanxi"]
    admin = headers_for(client, "demo-admin")
    province_admin = headers_for(client, "demo-province-admin")
    open_window()
    add_likes({w: i * 3 for i, w in enumerate(works)})
    # Before the snapshot: 409 likes_not_frozen; nothing to read, adjust or publish yet.
    refused = client.post("/api/v1/awards/compute", headers=admin)
    assert (refused.status_code, refused.json()["code"]) == (409, "likes_not_frozen")
    freeze_likes()
    assert client.post("/api/v1/judging/assignments/apply", json={"seed": 7}, headers=admin).status_code == 200
    unfinished = client.post("/api/v1/awards/compute", headers=admin)
    assert (unfinished.status_code, unfinished.json()["code"]) == (409, "judges_unfinished")
    assert set(unfinished.json()["judges"]) <= set(JUDGES) and unfinished.json()["judges"]
    assert client.get("/api/v1/awards/versions/latest", headers=admin).status_code == 404
    assert client.post("/api/v1/awards/publish", headers=admin).json()["code"] == "awards_not_computed"
    early = client.post("/api/v1/awards/adjustments", headers=admin,
                        json={"work_id": works[0], "level": None, "reason": "提前"})
    assert (early.status_code, early.json()["code"]) == (409, "awards_not_computed")
    score_and_submit(client)

    # Compute: 201, the contract's rows, a version 1 that GET reads back.
    computed = client.post("/api/v1/awards/compute", headers=admin)
    assert computed.status_code == 201, computed.text
    body = computed.json()
    assert body["version"] == 1 and set(body) == {"version", "rows"}
    assert all(set(r) == CONTRACT_KEYS for r in body["rows"])
    assert sorted(r["work_id"] for r in body["rows"]) == sorted(works)
    assert sorted(r["rank"] for r in body["rows"]) == list(range(1, 7))
    assert {r["work_id"]: r["likes"] for r in body["rows"]} == {w: i * 3 for i, w in enumerate(works)}
    latest = client.get("/api/v1/awards/versions/latest", headers=admin).json()
    assert latest["rows"] == body["rows"] and latest["cause"] == "computed" and latest["parameters"]["rubric"]
    assert latest["likes_snapshot"]["version"] == 1 and len(latest["likes_snapshot"]["sha256"]) == 64
    assert all(b["scores"] for b in latest["breakdown"])  # each judge's total, z and use per work
    assert client.get("/api/v1/awards/versions/1", headers=admin).json()["rows"] == body["rows"]
    assert client.get("/api/v1/awards/versions/99", headers=admin).status_code == 404
    assert client.get("/api/v1/awards/versions/first", headers=admin).status_code == 422
    for path in ("/api/v1/awards/versions", "/api/v1/awards/versions/latest"):
        assert client.get(path, headers=province_admin).status_code == 403
    assert client.post("/api/v1/awards/compute", headers=province_admin).status_code == 403

    # Adjustments: each refusal, then one recorded change that moves nobody else.
    rows = {r["work_id"]: r for r in body["rows"]}
    top = next(r for r in body["rows"] if r["rank"] == 1)
    last = next(r for r in body["rows"] if r["rank"] == 6)
    levels = [lv["name"] for lv in latest["award_levels"]]
    for change, status, code in (
        ({"work_id": last["work_id"], "level": levels[0], "reason": "  "}, 422, "reason_required"),
        ({"work_id": last["work_id"], "level": "特等奖", "reason": "评委会复议"}, 422, "unknown_level"),
        ({"work_id": top["work_id"], "level": top["level"], "reason": "评委会复议"}, 409, "no_change"),
        ({"work_id": 987654, "level": levels[0], "reason": "评委会复议"}, 404, "not_found"),
        ({"work_id": last["work_id"], "level": levels[0], "reason": "评委会复议", "expected_version": 9}, 409,
         "stale_state"),
    ):
        refused = client.post("/api/v1/awards/adjustments", headers=admin, json=change)
        assert (refused.status_code, refused.json()["code"]) == (status, code), (change, refused.text)
    assert len(client.get("/api/v1/awards/versions", headers=admin).json()) == 1  # nothing was stored
    adjusted = client.post("/api/v1/awards/adjustments", headers=admin, json={
        "work_id": last["work_id"], "level": levels[0], "reason": "评委会复议：创意突出", "expected_version": 1})
    assert adjusted.status_code == 201, adjusted.text
    v2 = adjusted.json()
    assert v2["version"] == 2 and v2["cause"] == "adjusted" and v2["based_on"] == 1
    [row] = [r for r in v2["rows"] if r["work_id"] == last["work_id"]]
    assert row["level"] == levels[0] and row["final"] == last["final"]
    assert [r for r in v2["rows"] if r["work_id"] != last["work_id"]] == \
        [r for r in body["rows"] if r["work_id"] != last["work_id"]]
    [adjustment] = v2["adjustments"]
    assert (adjustment["work_id"], adjustment["from"], adjustment["to"], adjustment["by"]) == \
        (last["work_id"], last["level"], levels[0], "demo-admin")
    moves = client.get("/api/v1/awards/versions/2/diff?against=1", headers=admin).json()["moves"]
    assert moves == [{"work_id": last["work_id"], "from": {"rank": 6, "level": last["level"]},
                      "to": {"rank": 6, "level": levels[0]}}]
    assert client.get("/api/v1/awards/versions/2/diff?against=42", headers=admin).status_code == 404

    # Nothing public before publication; then the published version's awarded works, by level.
    assert client.get("/api/v1/public/results").json() == []
    assert client.get(f"/api/v1/awards/certificates/{top['work_id']}.pdf", headers=admin).json()["code"] == \
        "awards_not_published"
    published = client.post("/api/v1/awards/publish", headers=admin)
    assert published.status_code == 200 and published.json()["version"] == 2
    results = client.get("/api/v1/public/results")
    assert results.status_code == 200 and "set-cookie" not in results.headers
    assert results.headers["cache-control"].startswith("public")
    public = results.json()
    awarded = [r for r in v2["rows"] if r["level"] is not None]
    assert sorted(p["work_id"] for p in public) == sorted(r["work_id"] for r in awarded)
    assert all({"work_id", "title", "province", "unit", "level"} <= set(p) for p in public)
    assert [levels.index(p["level"]) for p in public] == sorted(levels.index(p["level"]) for p in public)
    hebei_top = next(p for p in public if p["work_id"] in made["hebei"])
    assert hebei_top["province"] == "河北省" and hebei_top["unit"] == "石家庄市" and hebei_top["title"]

    # Certificates: the national admin and the work's submitter; another submitter 404, a reviewer 403.
    pdf = client.get(f"/api/v1/awards/certificates/{hebei_top['work_id']}.pdf", headers=admin)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    # The issuer is the campaign's organiser setting (the notice's 中央保密办（国家保密局） by default).
    import io

    from pypdf import PdfReader
    assert "中央保密办（国家保密局）" in "".join(PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text().split())
    own = client.get(f"/api/v1/awards/certificates/{hebei_top['work_id']}.pdf",
                     headers=headers_for(client, "demo-submitter"))
    assert own.status_code == 200 and own.content.startswith(b"%PDF")
    assert client.get(f"/api/v1/awards/certificates/{hebei_top['work_id']}.pdf",
                      headers=headers_for(client, "demo2-submitter")).status_code == 404
    assert client.get(f"/api/v1/awards/certificates/{hebei_top['work_id']}.pdf",
                      headers=headers_for(client, "demo-reviewer")).status_code == 403
    unawarded = [w for w in works if rows[w]["level"] is None and w != last["work_id"]]
    if unawarded:
        answer = client.get(f"/api/v1/awards/certificates/{unawarded[0]}.pdf", headers=admin)
        assert (answer.status_code, answer.json()["code"]) == (404, "not_awarded")
    with session_scope() as session:
        cert = session.exec(select(AwardCertificate).where(
            col(AwardCertificate.work_id) == hebei_top["work_id"])).one()
    typed = cert.code.replace("-", " ").lower().replace("0", "o")
    checked = client.get(f"/api/v1/public/certificates/{typed}")
    assert checked.status_code == 200, checked.text
    assert checked.json() == {"serial": cert.serial, "title": hebei_top["title"], "level": hebei_top["level"]}
    for bogus in ("7M2QK-X4D9B", "not-a-code"):
        missing = client.get(f"/api/v1/public/certificates/{bogus}")
        assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


def test_a_disqualification_after_computing_makes_a_version_without_the_work(client: Any,
                                                                              demo: dict[str, int]) -> None:
    made = published_works(3, 2)
    works = made["hebei"] + made["shanxi"]
    admin = headers_for(client, "demo-admin")
    open_window()
    add_likes({w: 2 + i for i, w in enumerate(works)})
    freeze_likes()
    assert client.post("/api/v1/judging/assignments/apply", json={"seed": 5}, headers=admin).status_code == 200
    score_and_submit(client)
    first = client.post("/api/v1/awards/compute", headers=admin).json()
    assert client.post("/api/v1/awards/publish", headers=admin).status_code == 200
    out = sorted(first["rows"], key=lambda r: r["rank"])[1]["work_id"]  # the runner-up
    gone = client.post(f"/api/v1/works/{out}/disqualify", headers=admin, json={"reason": "经核实存在侵权"})
    assert gone.status_code == 200, gone.text
    v2 = client.get("/api/v1/awards/versions/latest", headers=admin).json()
    assert v2["version"] == 2 and v2["cause"] == "disqualified"
    assert out not in {r["work_id"] for r in v2["rows"]}
    assert [r["work_id"] for r in v2["removed"]] == [out] and v2["removed"][0]["reason"] == "经核实存在侵权"
    # No other work's score was recomputed; the others' order is unchanged, the ranks close up.
    before = {r["work_id"]: r for r in first["rows"] if r["work_id"] != out}
    after = {r["work_id"]: r for r in v2["rows"]}
    assert {w: (r["final"], r["normalised"], r["raw_mean"], r["likes_component"]) for w, r in after.items()} == \
        {w: (r["final"], r["normalised"], r["raw_mean"], r["likes_component"]) for w, r in before.items()}
    assert sorted(after, key=lambda w: after[w]["rank"]) == sorted(before, key=lambda w: before[w]["rank"])
    assert sorted(r["rank"] for r in v2["rows"]) == list(range(1, len(works)))
    moves = client.get("/api/v1/awards/versions/2/diff", headers=admin).json()
    out_level = next(r["level"] for r in first["rows"] if r["work_id"] == out)
    assert moves["against"] == 1
    assert {"work_id": out, "from": {"rank": 2, "level": out_level}, "to": None} in moves["moves"]
    # Published again: the disqualified work's certificate no longer verifies.
    with session_scope() as session:
        cert = session.exec(select(AwardCertificate).where(col(AwardCertificate.work_id) == out)).first()
    assert client.post("/api/v1/awards/publish", headers=admin).json()["version"] == 2
    if cert is not None:
        assert client.get(f"/api/v1/public/certificates/{cert.code}").status_code == 404
    assert out not in {p["work_id"] for p in client.get("/api/v1/public/results").json()}
    # The undo of the disqualification puts the stored row back, as version 3.
    undone = client.post(f"/api/v1/works/{out}/undo", headers=admin, json={"reason": "侵权投诉已撤回"})
    assert undone.status_code == 200, undone.text
    v3 = client.get("/api/v1/awards/versions/latest", headers=admin).json()
    assert v3["version"] == 3 and v3["cause"] == "reinstated" and v3["removed"] == []
    assert sorted(v3["rows"], key=lambda r: r["work_id"]) == sorted(first["rows"], key=lambda r: r["work_id"])
