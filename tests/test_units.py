"""Units, organisations, unit membership and the units' XLSX sheet, through the API, the pages and the
domain, on real databases. The bad sheets are built with openpyxl (and zipfile) here."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from tests.conftest import token_for
from tests.review_support import submitted_works
from tests.test_ui import login, page_token

HEADER = ["单位名称", "单位类型", "最低作品数", "排序"]


def bearer(client: Any, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(client, username)}"}


def xlsx(rows: list[list[object]], *, header: list[object] | None = None,
         edit: Callable[[Any], None] | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert isinstance(ws, Worksheet)
    ws.append(HEADER if header is None else header)
    for row in rows:
        ws.append(row)
    if edit is not None:
        edit(ws)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _user(session: Any, username: str) -> Any:
    from sqlmodel import select

    from clipjury.accounts.models import User

    return session.exec(select(User).where(User.username == username)).one()


def new_submitter(demo_hash: str, username: str, province: str = "hebei") -> int:
    from sqlmodel import select

    from clipjury.accounts.models import Province, Role, User
    from clipjury.db import session_scope

    with session_scope() as session:
        p = session.exec(select(Province).where(Province.code == province)).one()
        user = User(username=username, password_hash=demo_hash, role=Role.submitter.value, province_id=p.id)
        session.add(user)
        session.flush()
        return user.id or 0


# -- the API's scope per role -------------------------------------------------------------------------

def test_units_are_scoped_per_role(client: Any, demo: dict[str, int]) -> None:
    def names(username: str) -> set[tuple[str, str]]:
        response = client.get("/api/v1/units", headers=bearer(client, username))
        assert response.status_code == 200, response.text
        for row in response.json():
            assert set(row) == {"id", "province", "name", "kind", "quota"}
        return {(r["province"], r["name"]) for r in response.json()}

    national = names("demo-admin")
    assert ("hebei", "石家庄市") in national and ("shanxi", "太原市") in national
    hebei = names("demo-province-admin")
    assert ("hebei", "唐山市") in hebei and all(p == "hebei" for p, _ in hebei)
    assert names("demo-reviewer") == hebei
    assert names("demo-coordinator") == {("hebei", "石家庄市")}
    assert all(p == "shanxi" for p, _ in names("demo2-province-admin"))
    for username in ("demo-submitter", "demo-judge"):
        refused = client.get("/api/v1/units", headers=bearer(client, username))
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden_role"
    # The effective minimum for the current campaign: the kind's (city 10, county_city 2) from the settings.
    rows = {r["name"]: r for r in client.get("/api/v1/units", headers=bearer(client, "demo-admin")).json()}
    assert rows["唐山市"]["quota"] == 10 and rows["定州市"]["quota"] == 2


def test_provincial_admin_creates_updates_and_retires_units(client: Any, demo: dict[str, int]) -> None:
    admin = bearer(client, "demo-province-admin")
    created = client.post("/api/v1/units", json={"name": "省保密协会", "kind": "other", "quota": 3}, headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["province"] == "hebei" and body["kind"] == "other" and body["quota"] == 3
    assert set(body) == {"id", "province", "name", "kind", "quota"}

    def refused(response: Any, status: int, code: str) -> None:
        assert response.status_code == status, response.text
        assert response.json()["code"] == code

    refused(client.post("/api/v1/units", json={"name": " 省保密协会 ", "kind": "other", "quota": 1}, headers=admin),
            409, "unit_exists")
    refused(client.post("/api/v1/units", json={"name": "新单位", "kind": "planet", "quota": 1}, headers=admin),
            422, "unknown_unit_kind")
    refused(client.post("/api/v1/units", json={"name": "新单位", "kind": "city", "quota": -1}, headers=admin),
            422, "bad_quota")
    for username in ("demo-admin", "demo-reviewer", "demo-coordinator", "demo-submitter"):
        refused(client.post("/api/v1/units", json={"name": "越权单位", "kind": "city", "quota": 1},
                            headers=bearer(client, username)), 403, "forbidden_role")
    # Another province's admin cannot see it: 404 as for a unit that does not exist.
    refused(client.patch(f"/api/v1/units/{body['id']}", json={"quota": 1},
                         headers=bearer(client, "demo2-province-admin")), 404, "unit_not_found")

    patched = client.patch(f"/api/v1/units/{body['id']}", json={"quota": None, "kind": "provincial_unit"},
                           headers=admin)
    assert patched.status_code == 200 and patched.json()["quota"] == 1  # back to the kind's minimum
    # A unit with works is archived, never deleted.
    refused(client.delete(f"/api/v1/units/{demo_unit_id(client)}", headers=admin), 409, "unit_has_works")
    assert client.delete(f"/api/v1/units/{body['id']}", headers=admin).status_code == 204
    shijiazhuang = demo_unit_id(client)
    archived = client.patch(f"/api/v1/units/{shijiazhuang}", json={"archived": True}, headers=admin)
    assert archived.status_code == 200
    listed = {r["name"] for r in client.get("/api/v1/units", headers=admin).json()}
    assert "石家庄市" not in listed and "省保密协会" not in listed


def demo_unit_id(client: Any, name: str = "石家庄市") -> int:
    rows = client.get("/api/v1/units", headers=bearer(client, "demo-admin")).json()
    return int(next(r["id"] for r in rows if r["name"] == name))


def test_organisations_departments_after_provinces_with_minimums(client: Any, demo: dict[str, int]) -> None:
    admin = bearer(client, "demo-admin")
    made = client.post("/api/v1/organisations", json={"code": "dept-media", "name": "中央某部门",
                                                      "kind": "department", "minimum": 5}, headers=admin)
    assert made.status_code == 201, made.text
    assert made.json()["kind"] == "department" and made.json()["minimum"] == 5
    moved = client.patch("/api/v1/organisations", json={"code": "hebei", "sort_order": 5, "minimum": 30,
                                                        "name": "河北省"}, headers=admin)
    assert moved.status_code == 200 and moved.json()["minimum"] == 30 and moved.json()["sort_order"] == 5
    codes = [o["code"] for o in client.get("/api/v1/organisations", headers=admin).json()]
    assert codes[-1] == "dept-media" and codes.index("shanxi") < codes.index("hebei")
    assert client.post("/api/v1/organisations", json={"code": "dept-media", "name": "另一个"},
                       headers=admin).json()["code"] == "org_exists"
    assert client.patch("/api/v1/organisations", json={"code": "nowhere"}, headers=admin).json()["code"] == \
        "unknown_organisation"
    for username in ("demo-province-admin", "demo-reviewer"):
        response = client.get("/api/v1/organisations", headers=bearer(client, username))
        assert response.status_code == 403


# -- membership ---------------------------------------------------------------------------------------

def test_join_approve_reject_rotate_and_quota_counting(client: Any, demo: dict[str, int], demo_hash: str) -> None:
    from sqlmodel import select

    from clipjury.accounts.models import Unit, User
    from clipjury.campaigns.service import active_campaign
    from clipjury.db import session_scope
    from clipjury.reviews.quotas import quota_rows
    from clipjury.units import membership

    coordinator = bearer(client, "demo-coordinator")
    unit_id = demo_unit_id(client)
    code = client.post(f"/api/v1/units/{unit_id}/join-code", headers=coordinator).json()["join_code"]
    alice, bob = new_submitter(demo_hash, "alice"), new_submitter(demo_hash, "bob")
    with session_scope() as session:
        membership.join_with_code(session, _user(session, "alice"), code.lower())
        membership.join_with_code(session, _user(session, "bob"), f" {code[:4]}-{code[4:]} ")

    def counted() -> int:
        with session_scope() as session:
            rows = quota_rows(session, _user(session, "demo-admin"), active_campaign(session))
            return next(r.submitted for r in rows if r.unit_id == unit_id)

    base = counted()
    submitted_works("alice", 2, title="待批准成员作品")  # pending: an individual of the province
    assert counted() == base
    members = client.get(f"/api/v1/units/{unit_id}/members", headers=coordinator).json()
    assert members["join_code"] == code
    assert {m["username"]: m["status"] for m in members["members"]} == {"alice": "pending", "bob": "pending"}

    approved = client.post(f"/api/v1/units/{unit_id}/members/approve", json={"user_id": alice}, headers=coordinator)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    rejected = client.post(f"/api/v1/units/{unit_id}/members/reject", json={"user_id": bob}, headers=coordinator)
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    again = client.post(f"/api/v1/units/{unit_id}/members/approve", json={"user_id": bob}, headers=coordinator)
    assert again.status_code == 409 and again.json()["code"] == "not_pending"
    submitted_works("alice", 1, title="成员作品")
    submitted_works("bob", 1, title="个人作品")
    assert counted() == base + 1  # only the approved member's work after approval
    with session_scope() as session:
        assert session.get(User, alice).unit_id == unit_id  # type: ignore[union-attr]  # the row exists: the test made it
        assert session.get(User, bob).unit_id is None  # type: ignore[union-attr]  # the row exists: the test made it

    # Another unit's coordinator may not manage this one (404 as for a missing unit).
    other = client.get(f"/api/v1/units/{demo_unit_id(client, '唐山市')}/members", headers=coordinator)
    assert other.status_code == 404
    # Rotating ends the old code at once.
    new_code = client.post(f"/api/v1/units/{unit_id}/join-code", headers=coordinator).json()["join_code"]
    assert new_code != code
    carol = new_submitter(demo_hash, "carol")
    with session_scope() as session, pytest.raises(membership.BadJoinCode):
        membership.join_with_code(session, _user(session, "carol"), code)
    with session_scope() as session:
        assert membership.join_with_code(session, _user(session, "carol"), new_code).status == "pending"
        assert session.exec(select(Unit).where(Unit.join_code == new_code)).one().id == unit_id
    assert carol
    actions = audit_actions()
    assert {"unit_join_request", "unit_member_approve", "unit_member_reject", "unit_join_code_rotate"} <= actions


def audit_actions() -> set[str]:
    from sqlmodel import select

    from clipjury.audit.models import AuditEvent
    from clipjury.db import session_scope

    with session_scope() as session:
        return set(session.exec(select(AuditEvent.action)))


# -- the XLSX sheet -----------------------------------------------------------------------------------

def _merged(ws: Any) -> None:
    ws.merge_cells("A2:B2")


def _formula(ws: Any) -> None:
    ws["C3"] = "=1+1"


BAD_SHEETS: dict[str, tuple[bytes, list[str]]] = {
    "wrong header": (xlsx([["甲单位", "设区市", 1, 1]], header=["名称", "类型", "配额", "排序"]),
                     ["第1行A列：表头应为“单位名称”", "第1行C列：表头应为“最低作品数”"]),
    "merged cells": (xlsx([["甲单位", "设区市", 1, 1]], edit=_merged), ["第2行A列：不能使用合并单元格（A2:B2）"]),
    "formula": (xlsx([["甲单位", "设区市", 1, 1], ["乙单位", "设区市", None, 2]], edit=_formula),
                ["第3行C列：不能使用公式"]),
    "text quota": (xlsx([["甲单位", "设区市", "十", 1], ["乙单位", "设区市", 2.5, 2]]),
                   ["第2行C列：最低作品数必须是非负整数", "第3行C列：最低作品数必须是非负整数"]),
    "duplicate in file": (xlsx([["甲单位", "设区市", 1, 1], ["甲单位", "省直单位", 1, 2]]),
                          ["第3行A列：单位“甲单位”与第2行重复"]),
    "duplicate of an existing unit": (xlsx([["唐山市", "设区市", None, None]]),
                                      ["第2行A列：单位“唐山市”已存在"]),
    "unknown kind": (xlsx([["甲单位", "街道", 1, 1]]), ["第2行B列：单位类型“街道”不存在"]),
}


@pytest.mark.parametrize("case", list(BAD_SHEETS))
def test_bad_sheets_report_every_cell_and_import_nothing(client: Any, demo: dict[str, int], case: str) -> None:
    data, expected = BAD_SHEETS[case]
    before = unit_count()
    assert login(client, "demo-province-admin").status_code == 303
    response = client.post("/units/import", files={"file": ("units.xlsx", data, "application/octet-stream")},
                           data={"csrf_token": page_token(client, "/units")})
    assert response.status_code == 422, response.text[:300]
    errors = re.findall(r'<li class="sheet-error">(.*?)</li>', response.text)
    for message in expected:
        assert any(e.startswith(message.replace("“", "&#34;").replace("”", "&#34;")) or e.startswith(message)
                   for e in errors), (message, errors)
    assert unit_count() == before


def zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (64 * 1024 * 1024))
    return out.getvalue()


@pytest.mark.parametrize(("data", "code"), [
    ("name,kind\n甲,city\n".encode(), "not_xlsx"),
    (b"", "not_xlsx"),
    (b"PK\x03\x04" + b"\0" * 100, "not_xlsx"),
    (b"x" * (2 * 1024 * 1024 + 1), "sheet_too_large"),
    (None, "sheet_too_large"),
    (xlsx([]), "sheet_empty"),
    (xlsx([], header=[]), "sheet_empty"),
])
def test_not_a_sheet_is_refused_with_its_code(demo: dict[str, int], data: bytes | None, code: str) -> None:
    from clipjury.db import session_scope
    from clipjury.errors import DomainError
    from clipjury.units import sheet

    before = unit_count()
    with session_scope() as session, pytest.raises(DomainError) as raised:
        sheet.import_units(session, _user(session, "demo-province-admin"), zip_bomb() if data is None else data)
    assert raised.value.code == code
    assert unit_count() == before


def test_too_many_rows_is_refused(demo: dict[str, int]) -> None:
    from clipjury.db import session_scope
    from clipjury.errors import DomainError
    from clipjury.units import sheet

    data = xlsx([[f"单位{i}", "其他单位", None, None] for i in range(sheet.MAX_ROWS + 1)])
    with session_scope() as session, pytest.raises(DomainError) as raised:
        sheet.import_units(session, _user(session, "demo-province-admin"), data)
    assert raised.value.code == "sheet_too_many_rows"


def unit_count() -> int:
    from sqlalchemy import func
    from sqlmodel import select

    from clipjury.accounts.models import Unit
    from clipjury.db import session_scope

    with session_scope() as session:
        return int(session.exec(select(func.count()).select_from(Unit)).one())


def test_valid_sheet_imports_and_exports_back(client: Any, demo: dict[str, int]) -> None:
    from sqlmodel import select

    from clipjury.accounts.models import Province, Unit
    from clipjury.db import session_scope

    # 山西省's admin imports into a province whose units are then exactly the sheet.
    with session_scope() as session:
        shanxi = session.exec(select(Province).where(Province.code == "shanxi")).one()
        for unit in session.exec(select(Unit).where(Unit.province_id == shanxi.id)):
            unit.name = f"旧{unit.name}"
            session.add(unit)
    rows: list[list[object]] = [
        ["太原市", "设区市", None, 1], ["大同市", "city", 12, 2], ["省委宣传部", "省直单位", 0, 3],
    ]
    assert login(client, "demo2-province-admin").status_code == 303
    template = client.get("/units/template.xlsx")
    assert template.status_code == 200
    assert [c.value for c in load_workbook(io.BytesIO(template.content)).worksheets[0][1]] == HEADER
    done = client.post("/units/import", files={"file": ("u.xlsx", xlsx(rows), "application/octet-stream")},
                       data={"csrf_token": page_token(client, "/units")}, follow_redirects=False)
    assert done.status_code == 303, done.text[:300]
    api = {r["name"]: r for r in client.get("/api/v1/units", headers=bearer(client, "demo2-province-admin")).json()}
    assert api["太原市"]["quota"] == 10 and api["大同市"]["quota"] == 12 and api["省委宣传部"]["quota"] == 0
    assert api["省委宣传部"]["kind"] == "provincial_unit"

    exported = client.get("/units/export.xlsx")
    assert exported.status_code == 200
    ws = load_workbook(io.BytesIO(exported.content)).worksheets[0]
    got = [[c.value for c in row] for row in ws.iter_rows(min_row=1)]
    assert got[0] == HEADER
    new_rows = [r for r in got[1:] if not str(r[0]).startswith("旧")]
    assert new_rows == [["太原市", "设区市", None, 1], ["大同市", "设区市", 12, 2], ["省委宣传部", "省直单位", 0, 3]]
    # The exported sheet, imported again, names only units that exist: refused cell by cell, nothing added.
    before = unit_count()
    again = client.post("/units/import", files={"file": ("u.xlsx", exported.content, "application/octet-stream")},
                        data={"csrf_token": page_token(client, "/units")})
    assert again.status_code == 422 and "已存在" in again.text
    assert unit_count() == before
    assert "unit_import" in audit_actions()
