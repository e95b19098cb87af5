"""Spreadsheets: one neutral shape (a report of sheets of rows) written as XLSX or as CSV.

XLSX goes through openpyxl's write-only mode (rows are streamed to the zip, not kept as cell objects),
so a national review list of 12,400 works stays a matter of seconds. CSV is UTF-8 with a BOM: Excel
reads a BOM-less CSV in the machine's ANSI code page and garbles every Chinese character.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any, cast

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

Cell = str | int | float | None

# A cell a spreadsheet program would read as a formula (or DDE, via + - @): titles and reasons come
# from the public, so "=HYPERLINK(...)" must arrive as text. Tab and CR start the same attack in CSV;
# spreadsheet programs skip leading blanks before they look for the sign, and with a Chinese input
# method the full-width (and small-form) signs are what a keyboard types, which some programs fold to
# ASCII on import.
_FORMULA_SIGNS = frozenset("=+-@＝＋－＠﹦﹢﹣﹫")
_FORMULA_LEAD = ("\t", "\r")
# Control characters are not allowed in XLSX text (openpyxl refuses them outright).
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
SHEET_NAME_MAX = 31
BOM = "\ufeff"


def safe_cell(value: Cell) -> Cell:
    """Text that cannot run as a formula in Excel, WPS or LibreOffice; numbers stay numbers."""
    if not isinstance(value, str):
        return value
    text = _ILLEGAL.sub("", value)
    if text.startswith(_FORMULA_LEAD) or text.lstrip()[:1] in _FORMULA_SIGNS:
        return "'" + text
    return text


@dataclass
class Sheet:
    """One sheet of a report. ``bold`` marks header rows; ``widths`` are in characters."""

    name: str
    rows: list[list[Cell]] = field(default_factory=list)
    bold: set[int] = field(default_factory=set)
    widths: list[float] = field(default_factory=list)
    # A plain table (header then data) freezes its header row in XLSX.
    freeze_header: bool = False

    def header(self, cells: list[Cell]) -> None:
        self.bold.add(len(self.rows))
        self.rows.append(cells)

    def row(self, cells: list[Cell]) -> None:
        self.rows.append(cells)

    def blank(self) -> None:
        self.rows.append([])


@dataclass
class Report:
    """Sheets under an optional title block; the stems name the downloaded file (Chinese and ASCII)."""

    sheets: list[Sheet]
    filename_stem: str
    ascii_stem: str
    title_rows: list[list[Cell]] = field(default_factory=list)


def _bold_row(ws: WriteOnlyWorksheet, cells: list[Cell], font: Font) -> list[object]:
    out: list[object] = []
    for value in cells:
        cell = WriteOnlyCell(ws, value=safe_cell(value))
        cell.font = font
        cell.alignment = Alignment(vertical="center")
        out.append(cell)
    return out


def to_xlsx(report: Report) -> bytes:
    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    title_font = Font(bold=True, size=13)
    for sheet in report.sheets:
        ws: WriteOnlyWorksheet = wb.create_sheet(title=sheet.name[:SHEET_NAME_MAX])
        # Write-only sheets do have column_dimensions (set before the first row); the stubs omit them.
        dimensions = cast(Any, ws).column_dimensions
        for i, width in enumerate(sheet.widths, start=1):
            dimensions[get_column_letter(i)].width = width
        if sheet.freeze_header and not report.title_rows:
            ws.freeze_panes = "A2"
        for i, cells in enumerate(report.title_rows):
            ws.append(_bold_row(ws, cells, title_font) if i == 0 else [safe_cell(v) for v in cells])
        if report.title_rows:
            ws.append([])
        for i, cells in enumerate(sheet.rows):
            ws.append(_bold_row(ws, cells, bold) if i in sheet.bold else [safe_cell(v) for v in cells])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def to_csv(report: Report) -> bytes:
    """One file: the title block, then each sheet as a section under a 【name】 line (CSV has no sheets)."""
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    for cells in report.title_rows:
        writer.writerow([_csv_value(v) for v in cells])
    sections = len(report.sheets) > 1 or bool(report.title_rows)
    for n, sheet in enumerate(report.sheets):
        if sections:
            if n or report.title_rows:
                writer.writerow([])
            writer.writerow([f"【{sheet.name}】"])
        for cells in sheet.rows:
            writer.writerow([_csv_value(v) for v in cells])
    return buffer.getvalue().encode("utf-8")


def _csv_value(value: Cell) -> Cell:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return "" if value is None else safe_cell(value)
