"""Reports and exports: the activity report due June 1, the units' activity entries, and the review lists
and quota table as XLSX (read back with python-calamine) and CSV (read back with csv), after real review
decisions, in every role's scope."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from python_calamine import CalamineWorkbook

from tests.review_support import ALL_ITEMS, headers_for, submitted_works
from tests.test_ui import csrf_of, login

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NOT_RECOMMENDED_REASON = "国家复评内部意见：画面与主题关系不大"
EVIL_TITLE = '=HYPERLINK("http://evil.example/","点我领奖")'


# -- reading the files back ------------------------------------------------------------------------

def xlsx_sheets(content: bytes) -> dict[str, list[list[Any]]]:
    book = CalamineWorkbook.from_filelike(io.BytesIO(content))
    return {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}


def csv_rows(content: bytes) -> list[list[str]]:
    assert content.startswith("\ufeff".encode()), "Excel needs the BOM to read UTF-8 Chinese"
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def csv_section(rows: list[list[str]], name: str) -> list[list[str]]:
    """The rows under a 【name】 line, up to the next section."""
    start = rows.index([f"【{name}】"]) + 1
    out = []
    for row in rows[start:]:
        if len(row) == 1 and row[0].startswith("【") and row[0].endswith("】"):
            break
        out.append(row)
    return out


def table(rows: list[list[Any]], first: str) -> list[dict[str, Any]]:
    """Rows as dicts under the header row that starts with ``first``, up to the first blank row."""
    header_at = next(  # a title line such as "省份, 河北省" is not a header
        i for i, r in enumerate(rows) if r and r[0] == first and sum(bool(str(c).strip()) for c in r) > 2
    )
    header = [str(h) for h in rows[header_at]]
    out = []
    for r in rows[header_at + 1:]:
        if not any(str(c).strip() for c in r):
            break
        out.append(dict(zip(header, r, strict=False)))
    return out


def by_unit(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(r["单位"]): r for r in rows}


def number(value: Any) -> int:
    return int(float(value))


# -- data ------------------------------------------------------------------------------------------

def _ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture()
def reviewed(client: Any, demo: dict[str, int]) -> dict[str, Any]:
    """石家庄市: six submitted works taken through the review with the real API, and one of 太原市.

    w0 pass → forward → recommend (unpublished), w1 pass → forward → not recommended (unpublished),
    w2 pass → disqualified, w3 fail, w4 returned, w5 still waiting.
    """
    from clipjury.accounts.security import create_access_token

    ids = submitted_works("demo-submitter", 6, title="我在河北省话保密")
    shanxi = submitted_works("demo2-submitter", 1, title="我在山西省话保密")

    def bearer(username: str) -> dict[str, str]:
        # Tokens minted directly: logging nine accounts in costs nine argon2 checks (the login is tested elsewhere).
        return {"Authorization": f"Bearer {create_access_token(demo[username], 0)}"}

    reviewer = bearer("demo-reviewer")
    admin = bearer("demo-province-admin")
    national = bearer("demo-admin")
    for work_id, decision in zip(ids[:5], ["pass", "pass", "pass", "fail", "return"], strict=True):
        _ok(client.post(f"/api/v1/works/{work_id}/claim", headers=reviewer))
        _ok(client.post(f"/api/v1/works/{work_id}/verdict", headers=reviewer,
                        json={"decision": decision, "checklist": ALL_ITEMS,
                              "reason": "" if decision == "pass" else "=1+1 开头语不规范"}))
    _ok(client.post("/api/v1/review/forward", headers=admin, json={"work_ids": ids[:2], "ranks": {ids[0]: 1}}))
    _ok(client.post(f"/api/v1/works/{ids[2]}/disqualify", headers=admin, json={"reason": "涉嫌侵权"}))
    _ok(client.post(f"/api/v1/works/{ids[0]}/recommendation", headers=national,
                    json={"recommended": True, "reason": ""}))
    _ok(client.post(f"/api/v1/works/{ids[1]}/recommendation", headers=national,
                    json={"recommended": False, "reason": NOT_RECOMMENDED_REASON}))
    return {"ids": ids, "shanxi": shanxi, "reviewer": reviewer, "admin": admin, "national": national,
            "coordinator": bearer("demo-coordinator"), "submitter": bearer("demo-submitter"),
            "judge": bearer("demo-judge"), "reviewer2": bearer("demo2-reviewer")}


def _user(username: str) -> Any:
    from sqlmodel import select

    from clipjury.accounts.models import User
    from clipjury.db import session_scope

    with session_scope() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        session.expunge(user)
        return user


def _quota_rows(username: str, province: str | None = None) -> dict[str, Any]:
    from clipjury.campaigns.service import active_campaign
    from clipjury.db import session_scope
    from clipjury.reviews.quotas import quota_rows

    with session_scope() as session:
        user = session.merge(_user(username))
        return {r.unit: r for r in quota_rows(session, user, active_campaign(session), province_code=province)}


def _unit_id(name: str) -> int:
    from sqlmodel import select

    from clipjury.accounts.models import Unit
    from clipjury.db import session_scope

    with session_scope() as session:
        return session.exec(select(Unit).where(Unit.name == name)).one().id or 0


def _campaign() -> Any:
    from clipjury.campaigns.service import active_campaign
    from clipjury.db import session_scope

    with session_scope() as session:
        campaign = active_campaign(session)
        session.expunge(campaign)
        return campaign


# -- the activity report ---------------------------------------------------------------------------

def test_activity_report_counts_match_the_quota_rows_in_xlsx_and_csv(client: Any, reviewed: dict[str, Any]) -> None:
    from clipjury.timeutil import fmt_local

    response = client.get("/api/v1/reports/activity?format=xlsx", headers=reviewed["admin"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="activity-report-hebei-')
    assert "河北省" in unquote(disposition.split("filename*=UTF-8''", 1)[1])
    sheets = xlsx_sheets(response.content)
    assert list(sheets) == ["微视频征集", "活动开展情况", "获奖提名"]

    videos = sheets["微视频征集"]
    campaign = _campaign()
    assert campaign.name in str(videos[0][0])
    title = {str(r[0]): str(r[1]) for r in videos[1:6] if len(r) > 1}
    assert title["省份"] == "河北省"
    assert title["报送截止"].startswith(fmt_local(campaign.report_due_at))
    assert "（北京时间）" in title["生成时间"]

    rows = by_unit(table(videos, "单位"))
    quota = _quota_rows("demo-province-admin")
    sjz = rows["石家庄市"]
    # What the review above did, counted by hand: the test fails if either side drifts.
    expected = {"最低报送数": 10, "已提交": 4, "初评通过": 2, "已报送复评": 2, "退回": 1, "未通过": 1, "取消资格": 1}
    assert {k: number(sjz[k]) for k in expected} == expected
    assert sjz["是否达标"] == "否（差 6 件）"
    for unit, row in quota.items():
        line = rows[unit]
        assert (number(line["最低报送数"]), number(line["已提交"]), number(line["初评通过"]),
                number(line["已报送复评"]), number(line["退回"]), number(line["未通过"]),
                number(line["取消资格"])) == (row.required, row.submitted, row.passed, row.forwarded,
                                              row.returned, row.failed, row.disqualified), unit
    assert "复评推荐" not in table(videos, "单位")[0], "no national outcome before it is published"
    assert "太原市" not in rows, "another province's unit"
    total = next(r for r in table(videos, "单位") if r["单位"] == "合计")
    assert number(total["已提交"]) == sum(r.submitted for r in quota.values()) == 4
    assert number(total["最低报送数"]) == sum(r.required for r in quota.values())

    activities = sheets["活动开展情况"]
    entries = table(activities, "单位")
    assert {(r["单位"], r["说明"]) for r in entries if r["单位"] == "石家庄市" and r["说明"] == "（未填报）"}
    assert any("已提交 4 件" in str(r["说明"]) for r in entries if r["单位"] == "石家庄市")
    missing_at = next(i for i, r in enumerate(activities) if str(r[0]).startswith("未填报的单位"))
    assert "石家庄市" in [r[0] for r in activities[missing_at + 1:]]

    awards = sheets["获奖提名"]
    assert awards[-1][0] == "评奖尚未开始"
    assert len([r for r in awards if any(str(c).strip() for c in r)]) == 7, "title block, header, one note"

    csv_response = client.get("/api/v1/reports/activity?format=csv", headers=reviewed["admin"])
    assert csv_response.status_code == 200
    assert csv_response.headers["content-type"].startswith("text/csv")
    assert ".csv" in csv_response.headers["content-disposition"]
    lines = csv_rows(csv_response.content)
    assert lines[0][0] == f"{campaign.name} 活动开展情况报表"
    section = by_unit(table(csv_section(lines, "微视频征集"), "单位"))
    for unit, row in quota.items():
        assert int(section[unit]["已提交"]) == row.submitted and int(section[unit]["初评通过"]) == row.passed
    assert csv_section(lines, "获奖提名")[-1] == ["评奖尚未开始"]
    assert NOT_RECOMMENDED_REASON not in csv_response.content.decode("utf-8-sig")


def test_recommended_counts_appear_only_once_the_national_results_are_published(
    client: Any, reviewed: dict[str, Any]
) -> None:
    national = client.get("/api/v1/reports/activity?format=csv&province=hebei", headers=reviewed["national"])
    assert national.status_code == 200
    assert "复评推荐" not in table(csv_section(csv_rows(national.content), "微视频征集"), "单位")[0]

    _ok(client.post("/api/v1/review/publish", headers=reviewed["national"]))
    after = client.get("/api/v1/reports/activity?format=xlsx", headers=reviewed["admin"])
    rows = by_unit(table(xlsx_sheets(after.content)["微视频征集"], "单位"))
    assert number(rows["石家庄市"]["复评推荐"]) == 1
    assert number(rows["唐山市"]["复评推荐"]) == 0


def test_national_admin_report_of_every_province_has_a_province_column(client: Any, reviewed: dict[str, Any]) -> None:
    response = client.get("/api/v1/reports/activity?format=xlsx", headers=reviewed["national"])
    assert response.status_code == 200
    assert 'filename="activity-report-all-' in response.headers["content-disposition"]
    rows = table(xlsx_sheets(response.content)["微视频征集"], "省份")
    units = {(r["省份"], r["单位"]): r for r in rows}
    assert number(units[("河北省", "石家庄市")]["已提交"]) == 4
    assert number(units[("山西省", "太原市")]["已提交"]) == 1


# -- the review list and quota exports -------------------------------------------------------------

def test_review_list_export_hides_unpublished_national_decisions_outside_the_national_office(
    client: Any, reviewed: dict[str, Any]
) -> None:
    ids = reviewed["ids"]
    provincial = client.get("/api/v1/review/works/export?format=xlsx", headers=reviewed["admin"])
    assert provincial.status_code == 200, provincial.text
    rows = {number(r["作品编号"]): r for r in table(xlsx_sheets(provincial.content)["作品列表"], "作品编号")}
    listed = _ok(client.get("/api/v1/review/works?limit=5000", headers=reviewed["admin"]))
    assert set(rows) == {w["id"] for w in listed}, "the same works as the review list, all of them"
    assert rows[ids[0]]["状态"] == rows[ids[1]]["状态"] == "已报送全国复评"
    assert rows[ids[0]]["最近决定"] == "报送全国复评"
    assert number(rows[ids[0]]["报送排序"]) == 1
    assert rows[ids[3]]["状态"] == "初评未通过" and rows[ids[3]]["认领人"] == "demo-reviewer"
    assert rows[ids[0]]["投稿人"] == "演示投稿人（石家庄市）"
    assert rows[ids[0]]["省份"] == "河北省" and rows[ids[0]]["单位"] == "石家庄市"
    assert float(rows[ids[5]]["时长（秒）"]) == 30.0
    assert ids[2] not in rows, "disqualified works leave the default list"
    csv_text = client.get("/api/v1/review/works/export?format=csv",
                          headers=reviewed["admin"]).content.decode("utf-8-sig")
    for hidden in ("复评推荐展播", "复评未推荐", "复评不推荐", NOT_RECOMMENDED_REASON):
        assert hidden not in csv_text
    assert client.get("/api/v1/review/works/export?format=csv&status=recommended",
                      headers=reviewed["admin"]).content.decode("utf-8-sig").count("\n") == 1, "header only"

    national = client.get("/api/v1/review/works/export?format=csv&status=not_recommended", headers=reviewed["national"])
    nrows = table(csv_rows(national.content), "作品编号")
    assert [(int(r["作品编号"]), r["状态"], r["理由"]) for r in nrows] == [
        (ids[1], "复评未推荐", NOT_RECOMMENDED_REASON)]


def test_review_list_export_applies_the_list_filters(client: Any, reviewed: dict[str, Any]) -> None:
    ids = reviewed["ids"]
    passed = client.get("/api/v1/review/works/export?format=csv&status=passed", headers=reviewed["reviewer"])
    assert [int(r["作品编号"]) for r in table(csv_rows(passed.content), "作品编号")] == []
    failed = table(csv_rows(client.get("/api/v1/review/works/export?format=csv&status=failed&reviewer=demo-reviewer",
                                       headers=reviewed["reviewer"]).content), "作品编号")
    assert [int(r["作品编号"]) for r in failed] == [ids[3]]
    waiting = table(csv_rows(client.get("/api/v1/review/works/export?format=csv&reviewer=none&q=河北",
                                        headers=reviewed["reviewer"]).content), "作品编号")
    assert [int(r["作品编号"]) for r in waiting] == [ids[4], ids[5]], "returned and waiting, nobody holds them"
    disq = table(csv_rows(client.get("/api/v1/review/works/export?format=csv&status=disqualified",
                                     headers=reviewed["admin"]).content), "作品编号")
    assert [(int(r["作品编号"]), r["理由"]) for r in disq] == [(ids[2], "涉嫌侵权")]


def test_exports_keep_every_role_in_its_scope(client: Any, reviewed: dict[str, Any]) -> None:
    # Another province's reviewer sees only its own province's works.
    shanxi = table(csv_rows(client.get("/api/v1/review/works/export?format=csv",
                                       headers=reviewed["reviewer2"]).content), "作品编号")
    assert [int(r["作品编号"]) for r in shanxi] == reviewed["shanxi"]
    # ... even when it asks for another province.
    assert table(csv_rows(client.get("/api/v1/review/works/export?format=csv&province=hebei",
                                     headers=reviewed["reviewer2"]).content), "作品编号") == []
    # A coordinator: its unit's works, without the staff-only columns.
    coord = csv_rows(client.get("/api/v1/review/works/export?format=csv", headers=reviewed["coordinator"]).content)
    assert "投稿人" not in coord[0] and "认领人" not in coord[0]
    assert all(r["单位"] == "石家庄市" for r in table(coord, "作品编号"))
    assert all("复评" not in r["状态"] or r["状态"] == "已报送全国复评" for r in table(coord, "作品编号"))
    # Quotas: the coordinator's own unit only; a provincial admin its province only.
    coord_q = table(csv_rows(client.get("/api/v1/quotas/export?format=csv", headers=reviewed["coordinator"]).content),
                    "省份")
    assert [r["单位"] for r in coord_q if r["省份"] != "合计"] == ["石家庄市"]
    admin_q = table(csv_rows(client.get("/api/v1/quotas/export?format=csv", headers=reviewed["admin"]).content), "省份")
    assert {r["省份"] for r in admin_q} == {"河北省", "合计"}
    assert int(next(r for r in admin_q if r["单位"] == "石家庄市")["已提交"]) == 4
    # Roles that have no such list.
    for who in ("submitter", "judge"):
        for url in ("/api/v1/review/works/export", "/api/v1/quotas/export", "/api/v1/reports/activity",
                    "/api/v1/reports/activities"):
            response = client.get(url, headers=reviewed[who])
            assert response.status_code == 403, (who, url, response.text)
            assert response.json()["code"] == "forbidden_role"
    for who in ("reviewer", "coordinator"):
        assert client.get("/api/v1/reports/activity", headers=reviewed[who]).status_code == 403
    assert client.get("/api/v1/reports/activities", headers=reviewed["reviewer"]).status_code == 403
    # Another province's report answers like one that does not exist.
    other = client.get("/api/v1/reports/activity?province=shanxi", headers=reviewed["admin"])
    assert other.status_code == 404 and other.json()["code"] == "province_not_found"
    assert client.get("/api/v1/reports/activity?province=nowhere", headers=reviewed["national"]).status_code == 404
    assert client.get("/api/v1/reports/activities?province=shanxi", headers=reviewed["admin"]).status_code == 404
    assert client.get("/api/v1/reports/activity").status_code == 401


def test_quota_export_matches_the_quota_api(client: Any, reviewed: dict[str, Any]) -> None:
    api = {r["unit"]: r for r in _ok(client.get("/api/v1/quotas", headers=reviewed["national"]))}
    sheets = xlsx_sheets(client.get("/api/v1/quotas/export?format=xlsx", headers=reviewed["national"]).content)
    rows = table(sheets["配额统计"], "省份")
    assert rows[-1]["省份"] == "合计"
    data = {r["单位"]: r for r in rows[:-1]}
    assert set(data) == set(api)
    for unit, row in api.items():
        assert (number(data[unit]["最低报送数"]), number(data[unit]["已提交"]), number(data[unit]["初评通过"]),
                number(data[unit]["已报送复评"])) == (
                    row["required"], row["submitted"], row["passed"], row["forwarded"])
    assert number(rows[-1]["已提交"]) == sum(r["submitted"] for r in api.values()) == 5


def test_bad_formats_are_refused(client: Any, reviewed: dict[str, Any]) -> None:
    for url in ("/api/v1/review/works/export", "/api/v1/quotas/export", "/api/v1/reports/activity"):
        response = client.get(f"{url}?format=pdf", headers=reviewed["admin"])
        assert response.status_code == 422, url
        assert response.json()["code"] == "unknown_format"
        assert "xlsx" in response.json()["detail"]
    status = client.get("/api/v1/review/works/export?status=nonsense", headers=reviewed["admin"])
    assert status.status_code == 422 and status.json()["code"] == "unknown_status"


# -- CSV injection ---------------------------------------------------------------------------------

def test_formula_looking_titles_and_reasons_arrive_as_text(client: Any, demo: dict[str, int]) -> None:
    titles = [EVIL_TITLE, "+86 保密热线", "-1 保密", "@SUM(A1:A9)", "普通标题",
              # after leading blanks, and the full-width signs a Chinese input method types
              "  =1+1", "\u3000=HYPERLINK(\"http://x\")", "＝HYPERLINK(\"http://x\")", "＋86 热线", "－1 保密",
              "＠SUM(A1:A9)", " \t+1"]
    ids = []
    for title in titles:
        ids.extend(submitted_works("demo-submitter", 1, title=title))
    from clipjury.db import session_scope
    from clipjury.works.models import Work

    with session_scope() as session:  # submitted_works numbers its titles; give them back their exact text
        for work_id, title in zip(ids, titles, strict=True):
            work = session.get(Work, work_id)
            assert work is not None
            work.title = title
            session.add(work)
    reviewer = headers_for(client, "demo-reviewer")
    _ok(client.post(f"/api/v1/works/{ids[4]}/verdict", headers=reviewer,
                    json={"decision": "fail", "reason": "=cmd|' /C calc'!A0"}))

    csv_out = {int(r["作品编号"]): r for r in table(csv_rows(
        client.get("/api/v1/review/works/export?format=csv", headers=reviewer).content), "作品编号")}
    assert csv_out[ids[0]]["标题"] == "'" + EVIL_TITLE
    assert csv_out[ids[1]]["标题"] == "'+86 保密热线"
    assert csv_out[ids[2]]["标题"] == "'-1 保密"
    assert csv_out[ids[3]]["标题"] == "'@SUM(A1:A9)"
    assert csv_out[ids[4]]["标题"] == "普通标题"
    assert csv_out[ids[4]]["理由"] == "'=cmd|' /C calc'!A0"
    for work_id, title in zip(ids[5:], titles[5:], strict=True):
        assert csv_out[work_id]["标题"] == "'" + title, title

    xlsx = xlsx_sheets(client.get("/api/v1/review/works/export?format=xlsx", headers=reviewer).content)
    xrows = {number(r["作品编号"]): r for r in table(xlsx["作品列表"], "作品编号")}
    # A formula cell would read back as its (absent) cached value: an empty string.
    assert xrows[ids[0]]["标题"] == "'" + EVIL_TITLE
    assert xrows[ids[4]]["理由"] == "'=cmd|' /C calc'!A0"
    for work_id, title in zip(ids[5:], titles[5:], strict=True):
        assert xrows[work_id]["标题"] == "'" + title, title


# -- activity entries ------------------------------------------------------------------------------

def test_activity_entries_are_saved_updated_listed_and_audited(client: Any, reviewed: dict[str, Any]) -> None:
    coord = reviewed["coordinator"]
    sjz = _unit_id("石家庄市")
    listed = _ok(client.get("/api/v1/reports/activities", headers=coord))
    assert {(r["unit"], r["activity_key"], r["reported"]) for r in listed} == {
        ("石家庄市", "day_415", False), ("石家庄市", "grassroots", False)}

    first = client.put(f"/api/v1/reports/activities/{sjz}/day_415", headers=coord,
                       json={"sessions": 12, "participants": 3400, "note": "全市开展“4·15”宣传"})
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["sessions"], body["participants"], body["reported"], body["updated_by"]) == (
        12, 3400, True, "demo-coordinator")
    second = client.put(f"/api/v1/reports/activities/{sjz}/day_415", headers=reviewed["admin"],
                        json={"sessions": 13, "participants": 3500, "note": "省级管理员核对后更正",
                              "expected_updated_at": body["updated_at"]})
    assert second.status_code == 200, second.text
    # The coordinator's page still shows the first version: its save is refused, not silently applied.
    stale = client.put(f"/api/v1/reports/activities/{sjz}/day_415", headers=coord,
                       json={"sessions": 1, "participants": 1, "expected_updated_at": body["updated_at"]})
    assert stale.status_code == 409 and stale.json()["code"] == "stale_state"
    assert "修改" in stale.json()["detail"]
    _ok(client.put(f"/api/v1/reports/activities/{sjz}/grassroots", headers=coord,
                   json={"sessions": 0, "participants": 0, "note": ""}))

    rows = {r["activity_key"]: r for r in _ok(client.get(f"/api/v1/reports/activities?unit={sjz}",
                                                          headers=reviewed["admin"]))}
    assert (rows["day_415"]["sessions"], rows["day_415"]["participants"]) == (13, 3500)
    assert rows["day_415"]["updated_by"] == "demo-province-admin"
    assert rows["grassroots"]["reported"] is True

    audit = _ok(client.get("/api/v1/audit?action=activity_report", headers=reviewed["admin"]))
    assert len(audit) == 3
    from sqlmodel import col, select

    from clipjury.audit.models import AuditEvent
    from clipjury.db import session_scope

    with session_scope() as session:
        events = list(session.exec(select(AuditEvent).where(AuditEvent.action == "activity_report")
                                   .order_by(col(AuditEvent.id))))
        assert events[0].data["before"] is None and events[0].data["after"]["sessions"] == 12
        assert events[1].data["before"]["sessions"] == 12 and events[1].data["after"]["sessions"] == 13
        assert events[1].actor_name == "demo-province-admin"

    report = xlsx_sheets(client.get("/api/v1/reports/activity?format=xlsx", headers=reviewed["admin"]).content)
    sheet = report["活动开展情况"]
    entries = [r for r in table(sheet, "单位") if r["单位"] == "石家庄市"]
    day = next(r for r in entries if "4·15" in str(r["活动"]))
    assert (number(day["场次"]), number(day["参与人次"]), day["说明"]) == (13, 3500, "省级管理员核对后更正")
    missing_at = next(i for i, r in enumerate(sheet) if str(r[0]).startswith("未填报的单位"))
    missing = [r[0] for r in sheet[missing_at + 1:] if r and r[0]]
    assert "石家庄市" not in missing and "唐山市" in missing
    totals = [r for r in sheet if r and r[0] == "合计" and "4·15" in str(r[1])]
    assert number(totals[0][2]) == 13 and totals[0][4] == f"1/{len(_quota_rows('demo-province-admin')) - 0}"


def test_activity_entries_refuse_bad_input_with_specific_errors(client: Any, reviewed: dict[str, Any]) -> None:
    coord = reviewed["coordinator"]
    sjz = _unit_id("石家庄市")
    taiyuan = _unit_id("太原市")
    tangshan = _unit_id("唐山市")
    url = f"/api/v1/reports/activities/{sjz}"
    cases = [
        (f"{url}/day_415", {"sessions": -1, "participants": 5}, 422, "negative_sessions"),
        (f"{url}/day_415", {"sessions": 1, "participants": -5}, 422, "negative_participants"),
        (f"{url}/day_415", {"sessions": 10_001, "participants": 5}, 422, "sessions_too_large"),
        (f"{url}/day_415", {"sessions": 1, "participants": 100_000_001}, 422, "participants_too_large"),
        (f"{url}/day_415", {"sessions": 1, "participants": 1, "note": "说" * 2001}, 422, "note_too_long"),
        (f"{url}/day_415", {"sessions": "很多", "participants": 1}, 422, "invalid"),
        (f"{url}/moon_landing", {"sessions": 1, "participants": 1}, 422, "unknown_activity"),
        (f"{url}/microvideo", {"sessions": 1, "participants": 1}, 422, "activity_from_platform"),
        (f"/api/v1/reports/activities/{tangshan}/day_415", {"sessions": 1, "participants": 1}, 404, "unit_not_found"),
        (f"/api/v1/reports/activities/{taiyuan}/day_415", {"sessions": 1, "participants": 1}, 404, "unit_not_found"),
        ("/api/v1/reports/activities/999999/day_415", {"sessions": 1, "participants": 1}, 404, "unit_not_found"),
    ]
    for path, body, status, code in cases:
        response = client.put(path, headers=coord, json=body)
        assert response.status_code == status, (path, body, response.text)
        assert response.json()["code"] == code, (path, body, response.text)
        assert response.json()["detail"]
    # Provincial admin: any unit of its province, none of another; reviewers and the national office: none.
    assert client.put(f"/api/v1/reports/activities/{tangshan}/grassroots", headers=reviewed["admin"],
                      json={"sessions": 2, "participants": 40}).status_code == 200
    assert client.put(f"/api/v1/reports/activities/{taiyuan}/grassroots", headers=reviewed["admin"],
                      json={"sessions": 2, "participants": 40}).status_code == 404
    for who in ("reviewer", "national", "submitter"):
        response = client.put(f"/api/v1/reports/activities/{sjz}/grassroots", headers=reviewed[who],
                              json={"sessions": 2, "participants": 40})
        assert response.status_code == 403, who
    assert client.get(f"/api/v1/reports/activities?unit={tangshan}", headers=coord).status_code == 404
    # Nothing of the refused saves was kept.
    rows = _ok(client.get("/api/v1/reports/activities", headers=coord))
    assert not any(r["reported"] for r in rows)


def test_a_save_that_loses_the_insert_race_updates_instead_of_failing(reviewed: dict[str, Any]) -> None:
    """Another request inserts the same unit and activity between our read and our insert (a real second
    connection, committed): ours must become an update of theirs, not a unique-constraint 500."""
    from sqlalchemy import event, insert
    from sqlmodel import select

    from clipjury.audit.models import AuditEvent
    from clipjury.campaigns.service import active_campaign
    from clipjury.db import get_engine, session_scope
    from clipjury.reports import service
    from clipjury.reports.models import ActivityEntry
    from clipjury.timeutil import utcnow

    sjz = _unit_id("石家庄市")
    campaign_id = _campaign().id
    admin_id = _user("demo-province-admin").id
    engine = get_engine()
    fired: list[bool] = []

    def other_request_first(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if fired or not statement.lstrip().upper().startswith("INSERT INTO ACTIVITY_ENTRY"):
            return
        fired.append(True)
        with engine.begin() as other:
            other.execute(insert(ActivityEntry).values(
                campaign_id=campaign_id, unit_id=sjz, activity_key="grassroots", sessions=7, participants=70,
                note="先保存的", updated_by_id=admin_id, updated_at=utcnow() - timedelta(seconds=5)))

    event.listen(engine, "before_cursor_execute", other_request_first)
    try:
        with session_scope() as session:
            user = session.merge(_user("demo-coordinator"))
            entry = service.save_entry(session, user, active_campaign(session), sjz, "grassroots",
                                       sessions=9, participants=90, note="后保存的")
            assert (entry.sessions, entry.note) == (9, "后保存的")
    finally:
        event.remove(engine, "before_cursor_execute", other_request_first)
    assert fired, "the competing insert did not run"
    with session_scope() as session:
        rows = list(session.exec(select(ActivityEntry).where(ActivityEntry.unit_id == sjz)))
        assert [(r.sessions, r.participants, r.note) for r in rows] == [(9, 90, "后保存的")]
        audit = session.exec(select(AuditEvent).where(AuditEvent.action == "activity_report")).one()
        assert audit.data["before"] == {"sessions": 7, "participants": 70, "note": "先保存的"}


# -- the web UI ------------------------------------------------------------------------------------

def _form_fields(client: Any, path: str) -> dict[str, str]:
    import re

    html = client.get(path).text
    fields = dict(re.findall(r'name="(rev__\w+)" value="([^"]*)"', html))
    fields["csrf_token"] = csrf_of(html)
    return fields


def test_coordinator_enters_the_units_figures_in_the_web_ui(client: Any, reviewed: dict[str, Any]) -> None:
    assert login(client, "demo-coordinator").status_code == 303
    page = client.get("/reports")
    assert page.status_code == 200
    assert "活动开展情况报送：石家庄市" in page.text and "报送截止" in page.text
    assert 'id="platform-counts"' in page.text and "<dd>4</dd>" in page.text  # the platform's figures
    fields = _form_fields(client, "/reports")
    sjz = _unit_id("石家庄市")
    # One bad figure: nothing of the form is kept, every input comes back with the error beside it.
    bad = client.post(f"/reports/units/{sjz}", data={
        **fields, "sessions__day_415": "3", "participants__day_415": "300", "note__day_415": "好",
        "sessions__grassroots": "-2", "participants__grassroots": "10", "note__grassroots": "",
    }, follow_redirects=False)
    assert bad.status_code == 422
    assert "场次不能为负数。" in bad.text and 'value="300"' in bad.text and 'id="form-errors"' in bad.text
    saved = _ok(client.get("/api/v1/reports/activities", headers=reviewed["coordinator"]))
    assert not any(r["reported"] for r in saved)

    done = client.post(f"/reports/units/{sjz}", data={
        **fields, "sessions__day_415": "3", "participants__day_415": "300", "note__day_415": "好",
        "sessions__grassroots": "2", "participants__grassroots": "1,200", "note__grassroots": "进社区",
    }, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/reports"
    after = client.get("/reports")
    assert "石家庄市的活动开展情况已保存。" in after.text and 'value="1200"' in after.text
    # Without the CSRF token nothing is saved.
    forged = client.post(f"/reports/units/{sjz}", data={"sessions__day_415": "99"}, follow_redirects=False)
    assert forged.status_code == 403
    # Another unit's form is a 404 page, the exports of the organisers a 403 page.
    assert client.get(f"/reports/units/{_unit_id('唐山市')}").status_code == 404
    assert client.get("/reports/export/activity?format=xlsx").status_code == 403


def test_stale_form_is_refused_in_the_web_ui(client: Any, reviewed: dict[str, Any]) -> None:
    assert login(client, "demo-coordinator").status_code == 303
    fields = _form_fields(client, "/reports")
    sjz = _unit_id("石家庄市")
    values = {"sessions__day_415": "1", "participants__day_415": "1", "sessions__grassroots": "1",
              "participants__grassroots": "1"}
    assert client.post(f"/reports/units/{sjz}", data={**fields, **values}, follow_redirects=False).status_code == 303
    # The provincial admin corrects the figures; the coordinator then sends its old page again.
    _ok(client.put(f"/api/v1/reports/activities/{sjz}/day_415", headers=reviewed["admin"],
                   json={"sessions": 5, "participants": 50}))
    fresh = _form_fields(client, "/reports")
    stale = client.post(f"/reports/units/{sjz}", data={**fresh, **values, "sessions__day_415": "2"},
                        follow_redirects=False)
    assert stale.status_code == 303, "the page read after the correction is current"
    old = client.post(f"/reports/units/{sjz}", data={**fields, **values}, follow_redirects=False)
    assert old.status_code == 422 and "您的修改没有保存" in old.text
    rows = {r["activity_key"]: r for r in _ok(client.get("/api/v1/reports/activities", headers=reviewed["admin"]))
            if r["unit"] == "石家庄市"}
    assert rows["day_415"]["sessions"] == 2


def test_provincial_and_national_admins_report_pages_and_downloads(client: Any, reviewed: dict[str, Any]) -> None:
    _ok(client.put(f"/api/v1/reports/activities/{_unit_id('石家庄市')}/day_415", headers=reviewed["admin"],
                   json={"sessions": 4, "participants": 400}))
    assert login(client, "demo-province-admin").status_code == 303
    page = client.get("/reports")
    assert page.status_code == 200
    assert 'id="entries-table"' in page.text and "尚未填报完整的单位" in page.text
    assert f'href="/reports/units/{_unit_id("石家庄市")}">修改' in page.text
    assert 'href="/reports/export/activity?format=xlsx"' in page.text
    assert 'href="/reports/export/review-works?format=csv"' in page.text
    download = client.get("/reports/export/activity?format=csv")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert "filename*=UTF-8''" in download.headers["content-disposition"]
    assert csv_section(csv_rows(download.content), "获奖提名")[-1] == ["评奖尚未开始"]
    quotas = client.get("/reports/export/quotas?format=xlsx")
    assert quotas.status_code == 200 and quotas.headers["content-type"] == XLSX
    works = client.get("/reports/export/review-works?format=xlsx&status=failed")
    failed = table(xlsx_sheets(works.content)["作品列表"], "作品编号")
    assert [number(r["作品编号"]) for r in failed] == [reviewed["ids"][3]]
    assert client.get("/reports?province=shanxi").status_code == 404
    assert client.get(f"/reports/units/{_unit_id('太原市')}").status_code == 404
    bad = client.get("/reports/export/quotas?format=doc")
    assert bad.status_code == 422 and "xlsx 或 csv" in bad.text and bad.headers["content-type"].startswith("text/html")
    client.post("/logout", data={"csrf_token": csrf_of(page.text)})

    assert login(client, "demo-admin").status_code == 303
    national = client.get("/reports")
    assert national.status_code == 200 and 'name="province"' in national.text and "entries-table" not in national.text
    chosen = client.get("/reports?province=hebei")
    assert 'id="entries-table"' in chosen.text
    assert 'href="/reports/export/activity?province=hebei&amp;format=xlsx"' in chosen.text
    assert "/reports/units/" not in chosen.text, "the national office reads, it does not edit"
    assert client.get("/reports?province=nowhere").status_code == 404
    client.post("/logout", data={"csrf_token": csrf_of(chosen.text)})

    assert login(client, "demo-reviewer").status_code == 303
    assert client.get("/reports").status_code == 403


def test_export_buttons_partial_keeps_the_filters() -> None:
    from review_ui.core.render import templates

    source = '{% from "reports/export_buttons.html" import export_buttons %}{{ export_buttons("review-works", q) }}'
    html = templates.env.from_string(source).render(q="status=passed&unit=3")
    assert 'href="/reports/export/review-works?status=passed&amp;unit=3&amp;format=xlsx"' in html
    assert 'href="/reports/export/review-works?status=passed&amp;unit=3&amp;format=csv"' in html
    bare = templates.env.from_string(source).render(q="")
    assert 'href="/reports/export/review-works?format=csv"' in bare


# -- scale and a real spreadsheet program ----------------------------------------------------------

@pytest.mark.slow
def test_a_national_export_of_12400_works_takes_seconds(client: Any, demo: dict[str, int]) -> None:
    from sqlalchemy import insert
    from sqlmodel import select

    from clipjury.accounts.models import Unit
    from clipjury.campaigns.service import active_campaign
    from clipjury.db import session_scope
    from clipjury.reviews.models import ReviewDecision
    from clipjury.timeutil import utcnow
    from clipjury.works.models import Work

    total = 12_400
    with session_scope() as session:
        campaign = active_campaign(session)
        unit = session.exec(select(Unit).where(Unit.name == "石家庄市")).one()
        now = utcnow()
        session.execute(insert(Work), [
            {"campaign_id": campaign.id, "owner_id": demo["demo-submitter"], "province_id": unit.province_id,
             "unit_id": unit.id, "title": f"批量作品 {i}", "status": "passed" if i % 2 else "submitted",
             "submitted_at": now - timedelta(seconds=i), "review_rev": 1 if i % 2 else 0,
             "created_at": now, "updated_at": now}
            for i in range(total)
        ])
        ids = list(session.exec(select(Work.id).where(Work.status == "passed")))
        session.execute(insert(ReviewDecision), [
            {"work_id": wid, "campaign_id": campaign.id, "province_id": unit.province_id, "action": "pass",
             "actor_id": demo["demo-reviewer"], "actor_name": "demo-reviewer", "actor_role": "reviewer",
             "at": now, "reason": "", "from_status": "submitted", "to_status": "passed", "national": False}
            for wid in ids
        ])
    headers = headers_for(client, "demo-admin")
    started = time.perf_counter()
    response = client.get("/api/v1/review/works/export?format=xlsx", headers=headers)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    rows = xlsx_sheets(response.content)["作品列表"]
    assert len(rows) == total + 1
    print(f"XLSX export of {total} works: {elapsed:.2f} s")
    assert elapsed < 15, f"XLSX export of {total} works took {elapsed:.1f} s"
    started = time.perf_counter()
    csv_response = client.get("/api/v1/review/works/export?format=csv", headers=headers)
    assert len(csv_rows(csv_response.content)) == total + 1
    assert time.perf_counter() - started < 10


def test_the_export_opens_in_a_spreadsheet_program(client: Any, reviewed: dict[str, Any], tmp_path: Path) -> None:
    office = shutil.which("soffice") or shutil.which("libreoffice")
    if office is None:
        pytest.skip("LibreOffice (soffice) is not installed on this machine; the XLSX was read back with "
                    "python-calamine instead. Install libreoffice-calc to run this check.")
    content = client.get("/api/v1/quotas/export?format=xlsx", headers=reviewed["admin"]).content
    source = tmp_path / "quotas.xlsx"
    source.write_bytes(content)
    subprocess.run([office, "--headless", "--norestore", f"-env:UserInstallation=file://{tmp_path / 'profile'}",
                    "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76", "--outdir", str(tmp_path), str(source)],
                   check=True, timeout=120, capture_output=True)
    converted = list(csv.reader(io.StringIO((tmp_path / "quotas.csv").read_text("utf-8-sig"))))
    ours = csv_rows(client.get("/api/v1/quotas/export?format=csv", headers=reviewed["admin"]).content)
    assert converted == ours


def test_the_review_lists_and_dashboards_offer_their_exports(client: Any, reviewed: dict[str, Any]) -> None:
    """The buttons on the lists download what the list shows, with its filters."""
    import re

    for username, page in (("demo-province-admin", "/review?status=passed"), ("demo-province-admin", "/dashboard"),
                           ("demo-admin", "/review/national"), ("demo-admin", "/dashboard?province=hebei")):
        login(client, username)
        html = client.get(page).text
        links = re.findall(r'href="(/reports/export/[^"]+)"', html)
        assert {link.rsplit("format=", 1)[1] for link in links} == {"xlsx", "csv"}, (page, links)
        for link in links:
            got = client.get(link.replace("&amp;", "&"))
            assert got.status_code == 200, (page, link, got.text[:200])
            assert "attachment" in got.headers["content-disposition"]
        if "status=passed" in page:
            assert any("status=passed" in link for link in links)
        client.post("/logout", data={"csrf_token": csrf_of(client.get("/notifications").text)})


def test_counts_typed_into_the_form_are_ascii_whole_numbers() -> None:
    from clipjury.errors import Invalid
    from clipjury.reports.service import parse_count

    def code_of(text: str) -> str:
        with pytest.raises(Invalid) as refused:
            parse_count(text, field="sessions", label="场次", maximum=10_000)
        return refused.value.code

    assert parse_count(" 1，234 ", field="sessions", label="场次", maximum=10_000) == 1234
    assert code_of("²") == "invalid_sessions"  # str.isdigit says yes, int() says no
    assert code_of("٣") == "invalid_sessions"  # an Arabic-Indic 3 is not what the form asks for
    assert code_of("9" * 5000) == "sessions_too_large"  # int() refuses more than 4,300 digits
    assert code_of("-3") == "negative_sessions"


def _xlsx_parts(content: bytes) -> dict[str, bytes]:
    """An XLSX's parts without docProps/core.xml, which stamps the second the file was written."""
    import zipfile

    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist() if name != "docProps/core.xml"}


@pytest.mark.parametrize("query", [
    "activity?format=csv", "activity?format=xlsx", "quotas?format=csv&province=", "quotas?format=xlsx",
    "review-works?format=csv&status=failed&reviewer=demo-reviewer", "review-works?format=xlsx&q=河北&status=",
])
def test_the_api_and_the_pages_download_the_same_file(client: Any, reviewed: dict[str, Any], query: str) -> None:
    """One builder (clipjury.reports.exports) behind both: the same request gives the same bytes."""
    api_paths = {"activity": "/api/v1/reports/activity", "quotas": "/api/v1/quotas/export",
                 "review-works": "/api/v1/review/works/export"}
    kind, _, params = query.partition("?")
    from_api = client.get(f"{api_paths[kind]}?{params}", headers=reviewed["admin"])
    assert login(client, "demo-province-admin").status_code == 303
    from_page = client.get(f"/reports/export/{query}")
    assert from_api.status_code == from_page.status_code == 200, (from_api.text, from_page.text)
    for header in ("content-type", "content-disposition", "cache-control"):
        assert from_api.headers[header] == from_page.headers[header], header
    if "xlsx" in params:
        assert _xlsx_parts(from_api.content) == _xlsx_parts(from_page.content)
    else:
        assert from_api.content == from_page.content
