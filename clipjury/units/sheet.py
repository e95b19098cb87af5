"""The units' XLSX sheet: the template a provincial admin fills in, the export of their units (the same
sheet, so it round-trips), and the import, which checks the whole file before anything is written.

The file is bounded before openpyxl parses it: its size, the number of entries in the zip, and their
declared uncompressed size (a zip bomb is refused without being inflated); then the sheet's rows and
columns. Every bad cell is reported as “第3行C列：…”; one bad cell and nothing is imported."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from sqlmodel import Session, col, select

from clipjury.accounts.models import UNIT_KIND_LABELS, Role, Unit, User
from clipjury.audit.service import record
from clipjury.errors import Forbidden, Invalid, PayloadTooLarge
from clipjury.units.service import (
    QUOTA_MAX,
    UNIT_NAME_MAX,
    create_unit,
    kind_of,
    kinds_hint,
    list_units,
    next_sort_order,
)

HEADER = ("单位名称", "单位类型", "最低作品数", "排序")
SHEET_TITLE = "单位"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 10 * 1024 * 1024
MAX_ZIP_ENTRIES = 200
MAX_ROWS = 2000  # data rows; a province has a few dozen units
MAX_ERRORS_SHOWN = 200


@dataclass
class CellError:
    row: int
    column: str
    message: str

    def text(self) -> str:
        return f"第{self.row}行{self.column}列：{self.message}" if self.column else f"第{self.row}行：{self.message}"

    def as_dict(self) -> dict[str, object]:
        return {"row": self.row, "column": self.column, "message": self.text()}


class SheetInvalid(Invalid):
    code = "sheet_invalid"
    message = "表格中有错误，未导入任何单位。请按提示逐项修改后重新上传。"

    def __init__(self, errors: list[CellError]) -> None:
        shown = errors[:MAX_ERRORS_SHOWN]
        super().__init__(
            f"表格中有 {len(errors)} 处错误，未导入任何单位：" + "；".join(e.text() for e in shown[:5])
            + ("……" if len(errors) > 5 else ""),
            errors=[e.as_dict() for e in shown], error_count=len(errors),
        )
        self.errors = shown


class NotXlsx(Invalid):
    code = "not_xlsx"
    message = "文件不是 Excel（.xlsx）格式，请下载模板填写后上传。"


def _require_provincial(user: User) -> None:
    if Role(user.role) != Role.provincial_admin or user.province_id is None:
        raise Forbidden("只有省级管理员可以导入或导出本省单位。", code="forbidden_role")


def _workbook(rows: list[tuple[object, ...]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = SHEET_TITLE
    ws.append(HEADER)
    for row in rows:
        ws.append(list(row))
    for i, width in enumerate((32, 16, 12, 8), start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    notes = wb.create_sheet("填写说明")
    notes.append(["单位类型可填", "说明"])
    for label in UNIT_KIND_LABELS.values():
        notes.append([label, ""])
    notes.append([])
    notes.append(["最低作品数留空：按本次活动该类型单位的默认配额；排序留空：排在最后。只读取第一个工作表。"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def template() -> bytes:
    return _workbook([])


def export(session: Session, user: User) -> bytes:
    """The province's units in the template's shape: importing it into an empty province gives them back."""
    _require_provincial(user)
    rows: list[tuple[object, ...]] = [
        (v.name, v.kind_label, v.quota_override, v.sort_order)
        for v in list_units(session, user, province_id=user.province_id)
    ]
    return _workbook(rows)


@dataclass
class SheetRow:
    row: int
    name: str
    kind: str
    quota: int | None
    sort_order: int | None


def _check_container(data: bytes) -> None:
    if len(data) > MAX_FILE_BYTES:
        raise PayloadTooLarge(f"文件超过 {MAX_FILE_BYTES // 1024 // 1024} MB，请删去无关内容后重新上传。",
                              code="sheet_too_large")
    if not data:
        raise NotXlsx("上传的文件是空的。")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise NotXlsx() from None
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names or "[Content_Types].xml" not in names:
        raise NotXlsx()
    # The declared sizes bound what inflating would produce; zipfile refuses to read past them.
    if len(infos) > MAX_ZIP_ENTRIES or sum(i.file_size for i in infos) > MAX_UNCOMPRESSED_BYTES:
        raise PayloadTooLarge("文件解压后过大，不是正常的单位名单表格。", code="sheet_too_large")


def _int_cell(value: Any) -> int | str | None:
    """The cell as a non-negative integer, None when empty, or "" when it is not one."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return value if value >= 0 else ""
    if isinstance(value, float):
        return int(value) if value.is_integer() and value >= 0 else ""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return ""


def parse(data: bytes) -> list[SheetRow]:
    """Every row of the file's first sheet, or SheetInvalid listing every bad cell."""
    _check_container(data)
    try:
        wb = load_workbook(io.BytesIO(data), data_only=False)
    except Exception:  # openpyxl raises many kinds on a damaged file: each is "not a usable XLSX"
        raise NotXlsx("文件已损坏或不是 Excel（.xlsx）格式，请下载模板填写后上传。") from None
    ws = wb.worksheets[0]
    errors: list[CellError] = []
    if ws.max_row > MAX_ROWS + 1:
        raise Invalid(f"表格超过 {MAX_ROWS} 行，请分批导入。", code="sheet_too_many_rows")
    for merged in ws.merged_cells.ranges:
        errors.append(CellError(merged.min_row, get_column_letter(merged.min_col),
                                f"不能使用合并单元格（{merged.coord}），请取消合并"))
    header = [ws.cell(row=1, column=c).value for c in range(1, len(HEADER) + 1)]
    if all(v is None for v in header) and ws.max_row <= 1:
        raise Invalid("表格是空的：请在模板第2行起填写单位。", code="sheet_empty")
    for c, (got, want) in enumerate(zip(header, HEADER, strict=True), start=1):
        if (str(got).strip() if got is not None else "") != want:
            errors.append(CellError(1, get_column_letter(c), f"表头应为“{want}”，请使用下载的模板"))
    rows: list[SheetRow] = []
    seen: dict[str, int] = {}
    for r in range(2, ws.max_row + 1):
        cells = [ws.cell(row=r, column=c) for c in range(1, max(ws.max_column, len(HEADER)) + 1)]
        if all(cell.value is None or (isinstance(cell.value, str) and not cell.value.strip()) for cell in cells):
            continue
        row_errors: list[CellError] = []
        for c, cell in enumerate(cells, start=1):
            if cell.data_type == "f" or (isinstance(cell.value, str) and cell.value.startswith("=")):
                row_errors.append(CellError(r, get_column_letter(c), "不能使用公式，请填写数值或文字"))
            elif c > len(HEADER) and cell.value is not None:
                row_errors.append(CellError(r, get_column_letter(c), "模板之外的列，请删除"))
        if row_errors:
            errors.extend(row_errors)
            continue
        name_v, kind_v, quota_v, order_v = (cells[i].value for i in range(len(HEADER)))
        name = " ".join(str(name_v).split()) if name_v is not None else ""
        if not name:
            errors.append(CellError(r, "A", "单位名称不能为空"))
        elif len(name) > UNIT_NAME_MAX:
            errors.append(CellError(r, "A", f"单位名称不能超过 {UNIT_NAME_MAX} 个字"))
        elif name in seen:
            errors.append(CellError(r, "A", f"单位“{name}”与第{seen[name]}行重复"))
        else:
            seen[name] = r
        kind = kind_of(str(kind_v)) if kind_v is not None else None
        if kind_v is None or not str(kind_v).strip():
            errors.append(CellError(r, "B", f"单位类型不能为空，可填：{kinds_hint()}"))
        elif kind is None:
            errors.append(CellError(r, "B", f"单位类型“{kind_v}”不存在，可填：{kinds_hint()}"))
        quota = _int_cell(quota_v)
        if quota == "" or (isinstance(quota, int) and quota > QUOTA_MAX):
            errors.append(CellError(r, "C", "最低作品数必须是非负整数（留空表示按类型默认）"))
        order = _int_cell(order_v)
        if order == "":
            errors.append(CellError(r, "D", "排序必须是非负整数（可留空）"))
        rows.append(SheetRow(r, name, kind.value if kind else "", quota if isinstance(quota, int) else None,
                             order if isinstance(order, int) else None))
    if not rows and not errors:
        raise Invalid("表格中没有单位：请在模板第2行起填写单位。", code="sheet_empty")
    if errors:
        errors.sort(key=lambda e: (e.row, e.column))
        raise SheetInvalid(errors)
    return rows


def import_units(session: Session, user: User, data: bytes) -> list[Unit]:
    """All the sheet's units into the admin's province, or none: the file is checked first, including
    names already used by a unit of the province."""
    _require_provincial(user)
    rows = parse(data)
    existing = set(session.exec(select(Unit.name).where(
        Unit.province_id == user.province_id, col(Unit.archived_at).is_(None))))
    clashes = [CellError(r.row, "A", f"单位“{r.name}”已存在，不能重复导入") for r in rows if r.name in existing]
    if clashes:
        raise SheetInvalid(clashes)
    order = next_sort_order(session, user.province_id or 0)
    created: list[Unit] = []
    for r in rows:
        sort_order = r.sort_order if r.sort_order is not None else order
        order = max(order, sort_order) + 1
        created.append(create_unit(session, user, name=r.name, kind=r.kind, quota=r.quota,
                                   sort_order=sort_order, audit=False))
    record(session, actor=user, action="unit_import", province_id=user.province_id,
           data={"count": len(created), "unit_ids": [u.id for u in created]})
    return created
