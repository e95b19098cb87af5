"""Issue 16 item 5 on both databases: 优秀组织奖 (the groups ranked with their breakdown, the setting, the national
office's decisions with a reason) and the 附件2 grassroots nominations (who may write them, the 1,500-character
limit, the deadline, who reads them) filling the activity report's 获奖提名 sheet."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from python_calamine import CalamineWorkbook

from clipjury.campaigns.service import active_campaign
from clipjury.db import session_scope
from clipjury.timeutil import utcnow
from tests.judging_support import add_likes, freeze_likes, published_works, score_and_submit
from tests.likes_support import open_window
from tests.review_support import headers_for
from tests.test_awards_pages import _page_login

ROW_KEYS = {"unit_id", "name", "quota", "submitted", "passed", "fulfilment", "pass_rate", "award_points",
            "award_share", "score", "rank", "proposed", "awards", "tie_broken", "decision"}


def test_organising_awards_rank_the_groups_and_record_decisions(client: Any, demo: dict[str, int]) -> None:
    made = published_works(3, 1)
    admin = headers_for(client, "demo-admin")
    open_window()
    add_likes({w: 1 + i for i, w in enumerate(made["hebei"] + made["shanxi"])})
    freeze_likes()
    assert client.post("/api/v1/judging/assignments/apply", json={"seed": 9}, headers=admin).status_code == 200
    score_and_submit(client)
    assert client.post("/api/v1/awards/compute", headers=admin).status_code == 201
    national = client.get("/api/v1/awards/organising", headers=admin)
    assert national.status_code == 200, national.text
    body = national.json()
    assert body["scope"] == "national" and body["awards_version"] == 1
    names = {r["name"]: r for r in body["rows"]}
    assert {"河北省", "山西省"} <= set(names) and all(set(r) == ROW_KEYS for r in body["rows"])
    hebei = names["河北省"]
    assert hebei["submitted"] >= 3 and hebei["passed"] >= 3 and 0 <= hebei["fulfilment"] <= 1
    assert sorted(r["rank"] for r in body["rows"]) == list(range(1, len(body["rows"]) + 1))
    assert [r["score"] for r in body["rows"]] == sorted((r["score"] for r in body["rows"]), reverse=True)
    awarded_total = sum(sum(r["awards"].values()) for r in body["rows"])
    version = client.get("/api/v1/awards/versions/latest", headers=admin).json()
    assert awarded_total == sum(1 for r in version["rows"] if r["level"])
    within = client.get("/api/v1/awards/organising?scope=province&province=hebei", headers=admin).json()
    assert within["province"] == "hebei" and "石家庄市" in {r["name"] for r in within["rows"]}
    assert client.get("/api/v1/awards/organising?scope=province&province=nowhere", headers=admin).status_code == 404
    assert client.get("/api/v1/awards/organising", headers=headers_for(client, "demo-province-admin")).status_code \
        == 403
    # Decisions: a reason is required; an organisation outside the group is 404; then it is recorded.
    decision = {"scope": "national", "organisation_id": hebei["unit_id"], "awarded": True, "reason": " "}
    refused = client.post("/api/v1/awards/organising/decisions", headers=admin, json=decision)
    assert (refused.status_code, refused.json()["code"]) == (422, "reason_required")
    missing = client.post("/api/v1/awards/organising/decisions", headers=admin,
                          json={**decision, "organisation_id": 987654, "reason": "组织有力"})
    assert missing.status_code == 404
    made_decision = client.post("/api/v1/awards/organising/decisions", headers=admin,
                                json={**decision, "reason": "组织有力，报送及时"})
    assert made_decision.status_code == 201, made_decision.text
    [row] = [r for r in made_decision.json()["rows"] if r["unit_id"] == hebei["unit_id"]]
    assert row["decision"]["awarded"] is True and row["decision"]["reason"] == "组织有力，报送及时"
    assert row["decision"]["decided_by"] == "demo-admin"
    # The setting: a count instead of a share changes how many are proposed; a bad one is refused.
    current = client.get("/api/v1/campaigns/current", headers=admin).json()
    organising = {**current["judging"]["organising"]}
    organising.pop("award_share", None)
    patched = client.patch("/api/v1/campaigns/current", headers=admin, json={
        "revision": current["revision"], "judging": {"organising": {**organising, "award_count": 1}}})
    assert patched.status_code == 200, patched.text
    again = client.get("/api/v1/awards/organising", headers=admin).json()
    assert [r["proposed"] for r in again["rows"]].count(True) == 1 and again["parameters"]["award_count"] == 1
    bad = client.patch("/api/v1/campaigns/current", headers=admin, json={
        "revision": patched.json()["revision"], "judging": {"organising": {**organising, "award_weight": -1,
                                                                            "award_count": 1}}})
    assert bad.status_code == 422 and bad.json()["field"] == "judging.organising"
    _page_login(client, "demo-admin")
    page = client.get("/awards/organising")
    assert page.status_code == 200 and "河北省" in page.text and "组织有力，报送及时" in page.text
    assert "石家庄市" in client.get("/awards/organising?province=hebei").text


def test_grassroots_nominations_fill_the_report(client: Any, demo: dict[str, int]) -> None:
    coordinator = headers_for(client, "demo-coordinator")
    province_admin = headers_for(client, "demo-province-admin")
    admin = headers_for(client, "demo-admin")
    before = client.get("/api/v1/nominations", headers=province_admin).json()
    assert before["nominations"] == [] and any("石家庄市" in c for c in before["missing_cities"])
    for body, code in (({"office": "", "write_up": "材料"}, "office_required"),
                       ({"office": "长安区保密办", "write_up": "  "}, "write_up_required"),
                       ({"office": "长安区保密办", "write_up": "字" * 1501}, "too_long")):
        refused = client.post("/api/v1/nominations", headers=coordinator, json=body)
        assert (refused.status_code, refused.json()["code"]) == (422, code), refused.text
    assert client.post("/api/v1/nominations", headers=province_admin,
                       json={"office": "x", "write_up": "y"}).status_code == 403
    made = client.post("/api/v1/nominations", headers=coordinator,
                       json={"office": "长安区保密办", "write_up": "保" * 1500})  # exactly the limit, in characters
    assert made.status_code == 201, made.text
    nomination = made.json()
    assert nomination["unit"] == "石家庄市" and nomination["mine"] and len(nomination["write_up"]) == 1500
    edited = client.put(f"/api/v1/nominations/{nomination['id']}", headers=coordinator,
                        json={"office": "长安区保密办（修改）", "write_up": "深入基层宣讲 12 场"})
    assert edited.status_code == 200 and edited.json()["office"] == "长安区保密办（修改）"
    read = client.get("/api/v1/nominations", headers=province_admin).json()
    assert [n["office"] for n in read["nominations"]] == ["长安区保密办（修改）"]
    assert not any("石家庄市" in c for c in read["missing_cities"])
    assert client.get("/api/v1/nominations?province=shanxi", headers=admin).json()["nominations"] == []
    # The activity report's 获奖提名 sheet lists it.
    report = client.get("/api/v1/reports/activity?format=xlsx", headers=province_admin)
    assert report.status_code == 200
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(report.content)).get_sheet_by_name("获奖提名").to_python()
    assert any("长安区保密办（修改）" in [str(c) for c in row] for row in sheet)
    assert any("评奖结果尚未发布" in [str(c) for c in row] for row in sheet)
    # After the report's due time nothing changes any more.
    with session_scope() as session:
        campaign = active_campaign(session)
        campaign.report_due_at = utcnow() - timedelta(minutes=1)
        session.add(campaign)
    closed = client.delete(f"/api/v1/nominations/{nomination['id']}", headers=coordinator)
    assert (closed.status_code, closed.json()["code"]) == (409, "nominations_closed")
    late = client.post("/api/v1/nominations", headers=coordinator, json={"office": "桥西区保密办", "write_up": "材料"})
    assert (late.status_code, late.json()["code"]) == (409, "nominations_closed")
    with session_scope() as session:  # reopened: a second one, then the first withdrawn
        campaign = active_campaign(session)
        campaign.report_due_at = utcnow() + timedelta(days=1)
        session.add(campaign)
    assert client.post("/api/v1/nominations", headers=coordinator,
                       json={"office": "桥西区保密办", "write_up": "材料"}).status_code == 201
    assert client.put(f"/api/v1/nominations/{nomination['id']}", headers=headers_for(client, "demo-submitter"),
                      json={"office": "x", "write_up": "y"}).status_code == 403
    assert client.delete(f"/api/v1/nominations/{nomination['id']}", headers=coordinator).status_code == 204
    assert client.post("/api/v1/nominations", headers=coordinator,
                       json={"office": "裕华区保密办", "write_up": "材料"}).status_code == 201
    assert len(client.get("/api/v1/nominations", headers=admin).json()["nominations"]) == 2


def test_a_coordinator_withdraws_a_nomination_on_the_page(client: Any, demo: dict[str, int]) -> None:
    csrf = _page_login(client, "demo-coordinator")
    page = client.get("/nominations")
    assert page.status_code == 200 and 'id="nomination-form"' in page.text
    made = client.post("/nominations", data={"csrf_token": csrf, "office": "新华区保密办", "write_up": "进社区 3 场"},
                       follow_redirects=True)
    assert "已提交推荐" in made.text and "新华区保密办" in made.text
    too_long = client.post("/nominations", data={"csrf_token": csrf, "office": "新华区保密办", "write_up": "字" * 1501},
                           follow_redirects=True)
    assert "不能超过 1500 个字" in too_long.text
    [nomination] = client.get("/api/v1/nominations", headers=headers_for(client, "demo-coordinator")).json()[
        "nominations"]
    gone = client.post(f"/nominations/{nomination['id']}/delete", data={"csrf_token": csrf}, follow_redirects=True)
    assert "已撤回推荐" in gone.text and "新华区保密办" not in gone.text.split('id="nominations"')[1]
