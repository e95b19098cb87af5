"""Issue 16's pages and exports on both databases: the national office's 评奖结果 page (compute refused then
done, the breakdown, an adjustment with a reason, publication), the XLSX/CSV exports (pseudonyms, hashes,
formula-safe titles), the public results and certificate check pages, and the submitter's certificate link."""

from __future__ import annotations

import io
import re
from typing import Any

from python_calamine import CalamineWorkbook
from sqlmodel import col, select

from clipjury.awards.models import AwardCertificate
from clipjury.db import session_scope
from clipjury.works.models import Work
from tests.judging_support import add_likes, freeze_likes, published_works, score_and_submit
from tests.likes_support import open_window
from tests.review_support import headers_for
from tests.test_reports import csv_rows, csv_section

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _page_login(client: Any, username: str) -> str:
    token = CSRF.search(client.get("/login").text)
    assert token
    done = client.post("/login", data={"username": username, "password": "demo", "csrf_token": token.group(1)},
                       follow_redirects=False)
    assert done.status_code == 303, done.text
    found = CSRF.search(client.get("/works" if "submitter" in username else "/awards").text)
    assert found
    return found.group(1)


def _contest(client: Any) -> dict[str, list[int]]:
    made = published_works(2, 2)
    with session_scope() as session:  # a title a spreadsheet would run as a formula
        work = session.get(Work, made["hebei"][0])
        assert work is not None
        work.title = "=HYPERLINK(\"http://evil\")"
    open_window()
    add_likes({w: 1 + i for i, w in enumerate(made["hebei"] + made["shanxi"])})
    return made


def test_the_awards_page_computes_adjusts_and_publishes(client: Any, demo: dict[str, int]) -> None:
    made = _contest(client)
    csrf = _page_login(client, "demo-admin")
    page = client.get("/awards")
    assert page.status_code == 200 and "尚未冻结" in page.text and "尚未计算" in page.text
    refused = client.post("/awards/compute", data={"csrf_token": csrf}, follow_redirects=True)
    assert "点赞尚未截止" in refused.text  # the refusal, in Chinese, and nothing stored
    assert 'id="ranking"' not in refused.text
    freeze_likes()
    admin = headers_for(client, "demo-admin")
    assert client.post("/api/v1/judging/assignments/apply", json={"seed": 3}, headers=admin).status_code == 200
    waiting = client.get("/awards").text
    assert "尚未提交" in waiting and "demo-judge" in waiting
    score_and_submit(client)
    done = client.post("/awards/compute", data={"csrf_token": csrf}, follow_redirects=True)
    assert "已计算奖项：第 1 版" in done.text and 'id="ranking"' in done.text
    works = made["hebei"] + made["shanxi"]
    assert all(f'data-work-id="{w}"' in done.text for w in works)
    assert "细则总分 T" in done.text and "计入" in done.text  # the breakdown per work
    version = client.get("/api/v1/awards/versions/latest", headers=admin).json()
    target = max(version["rows"], key=lambda r: r["rank"])
    levels = [lv["name"] for lv in version["award_levels"]]
    # An adjustment without a reason is refused (flash), with one it makes version 2.
    blank = client.post("/awards/adjust", data={"csrf_token": csrf, "work_id": target["work_id"], "level": levels[0],
                                                "reason": " ", "expected_version": 1}, follow_redirects=True)
    assert "请填写理由" in blank.text
    adjusted = client.post("/awards/adjust", data={
        "csrf_token": csrf, "work_id": target["work_id"], "level": levels[0], "reason": "评委会复议",
        "expected_version": 1}, follow_redirects=True)
    assert "第 2 版" in adjusted.text and 'id="adjustments"' in adjusted.text and "评委会复议" in adjusted.text
    assert 'id="moves"' in adjusted.text  # what moved since version 1
    stale = client.post("/awards/adjust", data={"csrf_token": csrf, "work_id": target["work_id"], "level": "",
                                                "reason": "再议", "expected_version": 1}, follow_redirects=True)
    assert "刷新" in stale.text  # version 1 is no longer the latest: refused, nothing stored
    assert len(client.get("/api/v1/awards/versions", headers=admin).json()) == 2
    old = client.get("/awards?version=1")
    assert old.status_code == 200 and 'id="adjust"' not in old.text  # earlier versions are read only
    published = client.post("/awards/publish", data={"csrf_token": csrf, "confirm": "1"}, follow_redirects=True)
    assert "已发布第 2 版评奖结果" in published.text and 'id="certificates"' in published.text

    # The public pages: the results by level, a certificate check (valid, then unknown).
    public = client.get("/public/results")
    assert public.status_code == 200 and 'data-results="published"' in public.text
    assert f'data-level="{levels[0]}"' in public.text
    with session_scope() as session:
        cert = session.exec(select(AwardCertificate).where(col(AwardCertificate.work_id) == target["work_id"])).one()
    check = client.get("/public/certificates", params={"code": cert.code.lower()})
    assert 'data-cert="valid"' in check.text and cert.serial in check.text and levels[0] in check.text
    assert 'data-cert="invalid"' in client.get("/public/certificates", params={"code": "7M2QK-X4D9B"}).text


def test_exports_hold_every_score_the_parameters_and_the_hashes(client: Any, demo: dict[str, int]) -> None:
    made = _contest(client)
    freeze_likes()
    admin = headers_for(client, "demo-admin")
    assert client.get("/api/v1/awards/versions/latest/export.xlsx", headers=admin).status_code == 404
    assert client.post("/api/v1/judging/assignments/apply", json={"seed": 4}, headers=admin).status_code == 200
    score_and_submit(client)
    assert client.post("/api/v1/awards/compute", headers=admin).status_code == 201
    version = client.get("/api/v1/awards/versions/latest", headers=admin).json()
    xlsx = client.get("/api/v1/awards/versions/1/export.xlsx", headers=admin)
    assert xlsx.status_code == 200 and "filename*=UTF-8''" in xlsx.headers["content-disposition"]
    book = CalamineWorkbook.from_filelike(io.BytesIO(xlsx.content))
    assert book.sheet_names == ["说明", "逐项评分", "标准化参数", "排名与奖项", "调整与移除"]
    scores = book.get_sheet_by_name("逐项评分").to_python()
    header, rows = scores[0], scores[1:]
    assert len(rows) == sum(len(b["scores"]) for b in version["breakdown"])  # every score of every judge
    assert all(str(r[2]).startswith("评委") for r in rows)  # pseudonyms, not usernames
    assert not any("demo-judge" in str(cell) for row in scores for cell in row)
    assert any("思想性" in str(h) for h in header)
    assert all(isinstance(r[3], float | int) for r in rows)  # the first criterion's score is there
    ranking = book.get_sheet_by_name("排名与奖项").to_python()
    formula = next(r for r in ranking if r[1] == made["hebei"][0])
    assert str(formula[2]).startswith("'=")  # the title arrives as text, not as a formula
    about = {r[0]: r[1] for r in book.get_sheet_by_name("说明").to_python()[1:]}
    assert about["点赞数快照 SHA-256"] == version["likes_snapshot"]["sha256"]
    assert len(str(about["本文件数据 SHA-256"])) == 64
    named = client.get("/api/v1/awards/versions/1/export.xlsx?names=true", headers=admin)
    named_scores = CalamineWorkbook.from_filelike(io.BytesIO(named.content)).get_sheet_by_name("逐项评分").to_python()
    assert any(str(r[2]).startswith("demo-judge") for r in named_scores[1:])
    csv = client.get("/api/v1/awards/versions/latest/export.csv", headers=admin)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv_rows(csv.content)
    assert len([r for r in csv_section(lines, "逐项评分") if r]) == len(rows) + 1  # header + every score
    csv_about = {r[0]: r[1] for r in csv_section(lines, "说明")[1:] if len(r) > 1}
    assert csv_about["本文件数据 SHA-256"] == about["本文件数据 SHA-256"]  # the same data in both formats
    assert client.get("/api/v1/awards/versions/1/export.csv",
                      headers=headers_for(client, "demo-province-admin")).status_code == 403


def test_a_submitter_sees_the_award_and_downloads_the_certificate(client: Any, demo: dict[str, int]) -> None:
    made = _contest(client)
    freeze_likes()
    admin = headers_for(client, "demo-admin")
    assert client.post("/api/v1/judging/assignments/apply", json={"seed": 2}, headers=admin).status_code == 200
    score_and_submit(client)
    rows = client.post("/api/v1/awards/compute", headers=admin).json()["rows"]
    mine = [r for r in rows if r["work_id"] in made["hebei"]]
    # Make sure one of demo-submitter's works has an award, then publish.
    top = next(r for r in mine if r["level"]) if any(r["level"] for r in mine) else None
    if top is None:
        top = mine[0]
        adjusted = client.post("/api/v1/awards/adjustments", headers=admin, json={
            "work_id": top["work_id"], "level": "优秀奖", "reason": "测试"})
        assert adjusted.status_code == 201, adjusted.text
    _page_login(client, "demo-submitter")
    assert 'class="certificate-link"' not in client.get("/works").text  # nothing before publication
    assert client.post("/api/v1/awards/publish", headers=admin).status_code == 200
    page = client.get("/works").text
    assert f'href="/api/v1/awards/certificates/{top["work_id"]}.pdf"' in page and 'data-award="' in page
    pdf = client.get(f"/api/v1/awards/certificates/{top['work_id']}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
