"""Pages for units and organisations: a provincial admin's units (add, edit, retire, the XLSX template,
import and export), a unit's members and join code (its coordinator, or the admins), and the national
office's provinces and departments. Thin: every rule is in clipjury.units."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Path, Request, Response, UploadFile
from sqlmodel import Session

from api.deps import CurrentUser, SessionDep
from clipjury.accounts.models import ORG_KIND_LABELS, UNIT_KIND_LABELS, Role, User
from clipjury.db import DB_ID_MAX
from clipjury.errors import DomainError, Forbidden, Invalid
from clipjury.units import membership, service, sheet
from review_ui.context import user_context
from review_ui.core.flash import flash
from review_ui.core.forms import form_action, see_other
from review_ui.core.render import render
from review_ui.core.routing import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)
UnitId = Annotated[int, Path(ge=1, le=DB_ID_MAX)]
FIELD_MAX = 200


def _int_field(value: str, what: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise Invalid(f"{what}必须是非负整数。", code="bad_quota" if what == "最低作品数" else "bad_sort_order")
    return int(value)


def _units_page(request: Request, user: User, session: Session, *, sheet_errors: list[dict[str, object]] | None = None,
                status_code: int = 200) -> Response:
    role = Role(user.role)
    if role not in (Role.provincial_admin, Role.national_admin):
        raise Forbidden("只有省级管理员和全国管理员可以查看单位管理页面。", code="forbidden_role")
    units = service.list_units(session, user, include_archived=True)
    return render(request, "units/units.html", {
        **user_context(user, session),
        "units": units,
        "manage": role == Role.provincial_admin,
        "kinds": [(k.value, label) for k, label in UNIT_KIND_LABELS.items()],
        "sheet_errors": sheet_errors or [],
        "header": sheet.HEADER,
    }, status_code=status_code)


@router.get("/units")
def units_page(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    return _units_page(request, user, session)


@router.post("/units")
def create_unit(
    request: Request, user: CurrentUser, session: SessionDep,
    name: Annotated[str, Form(max_length=FIELD_MAX)] = "", kind: Annotated[str, Form(max_length=FIELD_MAX)] = "",
    quota: Annotated[str, Form(max_length=FIELD_MAX)] = "",
) -> Response:
    if Role(user.role) != Role.provincial_admin:
        raise Forbidden("只有省级管理员可以在本省添加单位。", code="forbidden_role")

    def act() -> str:
        unit = service.create_unit(session, user, name=name, kind=kind, quota=_int_field(quota, "最低作品数"))
        return f"已添加单位“{unit.name}”。"

    form_action(request, session, act, not_found_is_page=False)
    return see_other("/units")


@router.post("/units/import")
async def import_units(
    request: Request, user: CurrentUser, session: SessionDep,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    if Role(user.role) != Role.provincial_admin:
        raise Forbidden("只有省级管理员可以导入本省单位。", code="forbidden_role")
    # One byte over the bound is enough to refuse: the rest is never read.
    data = await file.read(sheet.MAX_FILE_BYTES + 1) if file is not None else b""
    try:
        created = sheet.import_units(session, user, data)
    except sheet.SheetInvalid as exc:
        session.rollback()
        return _units_page(request, user, session, sheet_errors=exc.extra["errors"], status_code=422)
    except DomainError as exc:
        session.rollback()
        return _units_page(request, user, session, sheet_errors=[{"row": 0, "column": "", "message": exc.message}],
                           status_code=exc.status_code)
    flash(request, f"已导入 {len(created)} 个单位。")
    return see_other("/units")


def _xlsx(data: bytes, filename: str) -> Response:
    return Response(data, media_type=sheet.XLSX_MEDIA_TYPE, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}", "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    })


@router.get("/units/template.xlsx")
def units_template(user: CurrentUser) -> Response:
    if Role(user.role) != Role.provincial_admin:
        raise Forbidden("只有省级管理员可以导入本省单位。", code="forbidden_role")
    return _xlsx(sheet.template(), "单位导入模板.xlsx")


@router.get("/units/export.xlsx")
def units_export(user: CurrentUser, session: SessionDep) -> Response:
    return _xlsx(sheet.export(session, user), "本省单位.xlsx")


@router.post("/units/{unit_id}")
def update_unit(
    request: Request, unit_id: UnitId, user: CurrentUser, session: SessionDep,
    name: Annotated[str, Form(max_length=FIELD_MAX)] = "", kind: Annotated[str, Form(max_length=FIELD_MAX)] = "",
    quota: Annotated[str, Form(max_length=FIELD_MAX)] = "", sort_order: Annotated[str, Form(max_length=FIELD_MAX)] = "",
    archived: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    service.managed_unit(session, user, unit_id)  # out of scope: 404 like a unit that does not exist

    def act() -> str:
        unit = service.update_unit(
            session, user, unit_id, name=name or None, kind=kind or None, quota=_int_field(quota, "最低作品数"),
            sort_order=_int_field(sort_order, "排序"), archived={"1": True, "0": False}.get(archived),
        )
        return f"已保存单位“{unit.name}”{'（已停用）' if unit.archived_at else ''}。"

    form_action(request, session, act, not_found_is_page=False)
    return see_other("/units")


@router.post("/units/{unit_id}/delete")
def delete_unit(request: Request, unit_id: UnitId, user: CurrentUser, session: SessionDep) -> Response:
    unit = service.managed_unit(session, user, unit_id)
    name = unit.name

    def act() -> str:
        service.delete_unit(session, user, unit_id)
        return f"已删除单位“{name}”。"

    form_action(request, session, act, not_found_is_page=False)
    return see_other("/units")


# -- membership ---------------------------------------------------------------------------------------

@router.get("/my-unit")
def my_unit(user: CurrentUser) -> Response:
    if Role(user.role) != Role.unit_coordinator or user.unit_id is None:
        raise Forbidden("只有单位联络员有本单位成员页面。", code="forbidden_role")
    return see_other(f"/units/{user.unit_id}/members")


@router.get("/units/{unit_id}/members")
def members_page(request: Request, unit_id: UnitId, user: CurrentUser, session: SessionDep) -> Response:
    unit, members = membership.members(session, user, unit_id)
    return render(request, "units/members.html", {
        **user_context(user, session), "unit": unit, "members": members,
        "pending": sum(1 for m in members if m.status == "pending"),
    })


def _decide(request: Request, session: Session, user: User, unit_id: int, user_id: str, approve: bool) -> Response:
    membership.members(session, user, unit_id)  # role and scope first
    member_id = int(user_id) if user_id.isascii() and user_id.isdigit() and 0 < int(user_id) <= DB_ID_MAX else 0

    def act() -> str:
        if approve:
            membership.approve(session, user, unit_id, member_id)
            return "已批准加入本单位。"
        membership.reject(session, user, unit_id, member_id)
        return "已拒绝该申请。"

    form_action(request, session, act, not_found_is_page=False)
    return see_other(f"/units/{unit_id}/members")


@router.post("/units/{unit_id}/members/approve")
def approve_member(
    request: Request, unit_id: UnitId, user: CurrentUser, session: SessionDep,
    user_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    return _decide(request, session, user, unit_id, user_id, True)


@router.post("/units/{unit_id}/members/reject")
def reject_member(
    request: Request, unit_id: UnitId, user: CurrentUser, session: SessionDep,
    user_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    return _decide(request, session, user, unit_id, user_id, False)


@router.post("/units/{unit_id}/join-code")
def rotate_code(request: Request, unit_id: UnitId, user: CurrentUser, session: SessionDep) -> Response:
    membership.members(session, user, unit_id)
    form_action(request, session,
                lambda: f"已生成新的邀请码 {membership.rotate_code(session, user, unit_id)}，旧邀请码已失效。",
                not_found_is_page=False)
    return see_other(f"/units/{unit_id}/members")


# -- organisations ------------------------------------------------------------------------------------

@router.get("/organisations")
def orgs_page(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    orgs = service.list_orgs(session, user)
    return render(request, "units/organisations.html", {
        **user_context(user, session), "orgs": orgs,
        "kinds": [(k.value, label) for k, label in ORG_KIND_LABELS.items()],
    })


@router.post("/organisations")
def create_org(
    request: Request, user: CurrentUser, session: SessionDep,
    code: Annotated[str, Form(max_length=FIELD_MAX)] = "", name: Annotated[str, Form(max_length=FIELD_MAX)] = "",
    kind: Annotated[str, Form(max_length=FIELD_MAX)] = "province",
    minimum: Annotated[str, Form(max_length=FIELD_MAX)] = "",
) -> Response:
    service.list_orgs(session, user)  # the role first

    def act() -> str:
        org = service.create_org(session, user, code=code, name=name, kind=kind,
                                 minimum=_int_field(minimum, "最低作品数"))
        return f"已添加“{org.name}”。"

    form_action(request, session, act, not_found_is_page=False)
    return see_other("/organisations")


@router.post("/organisations/update")
def update_org(
    request: Request, user: CurrentUser, session: SessionDep,
    code: Annotated[str, Form(max_length=FIELD_MAX)] = "", name: Annotated[str, Form(max_length=FIELD_MAX)] = "",
    sort_order: Annotated[str, Form(max_length=FIELD_MAX)] = "",
    minimum: Annotated[str, Form(max_length=FIELD_MAX)] = "",
) -> Response:
    service.list_orgs(session, user)

    def act() -> str:
        org = service.update_org(session, user, code, name=name or None, sort_order=_int_field(sort_order, "排序"),
                                 minimum=_int_field(minimum, "最低作品数"))
        return f"已保存“{org.name}”。"

    form_action(request, session, act, not_found_is_page=False)
    return see_other("/organisations")
