"""The downloads: each export (the activity report, the quota table, the review list) built in one place
for the API and the pages alike, as XLSX or CSV (``spreadsheet`` writes the bytes). Scope and roles are
those of the lists they export."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote

from sqlmodel import Session

from clipjury.accounts.models import User
from clipjury.campaigns.service import active_campaign
from clipjury.errors import Invalid
from clipjury.reports import lists
from clipjury.reports import service as reports
from clipjury.reports.spreadsheet import Report, to_csv, to_xlsx
from clipjury.reviews.service import QueueFilter


class Format(StrEnum):
    xlsx = "xlsx"
    csv = "csv"


MEDIA_TYPES = {
    Format.xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    Format.csv: "text/csv; charset=utf-8",
}


class UnknownFormat(Invalid):
    code = "unknown_format"
    message = "导出格式只能是 xlsx 或 csv。"


def parse_format(value: str | None) -> Format:
    try:
        return Format((value or "xlsx").strip().lower())
    except ValueError:
        raise UnknownFormat() from None


@dataclass
class ExportFile:
    content: bytes
    media_type: str
    filename: str
    ascii_filename: str

    def headers(self) -> dict[str, str]:
        return {
            "Content-Disposition": content_disposition(self.filename, self.ascii_filename),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }


def content_disposition(filename: str, ascii_fallback: str) -> str:
    """RFC 6266: a plain ASCII name for old clients, the Chinese name as ``filename*`` (RFC 8187)."""
    plain = re.sub(r'[^A-Za-z0-9._-]+', "_", ascii_fallback) or "export"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


def render(report: Report, fmt: Format) -> ExportFile:
    content = to_xlsx(report) if fmt == Format.xlsx else to_csv(report)
    return ExportFile(
        content=content,
        media_type=MEDIA_TYPES[fmt],
        filename=f"{report.filename_stem}.{fmt.value}",
        ascii_filename=f"{report.ascii_stem}.{fmt.value}",
    )


# The builders: the format is checked before anything is read, so a bad ``?format=`` answers 422 even
# without an active campaign. Empty query values mean "no filter", as they do in the lists.

def activity_export(session: Session, user: User, fmt: str | None, province: str | None) -> ExportFile:
    """The activity report due June 1 (its province, or ``province`` / every one for the national office)."""
    chosen = parse_format(fmt)
    campaign = active_campaign(session)
    return render(reports.activity_report(session, user, campaign, province or None), chosen)


def quotas_export(session: Session, user: User, fmt: str | None, province: str | None) -> ExportFile:
    chosen = parse_format(fmt)
    campaign = active_campaign(session)
    return render(lists.quota_report(session, user, campaign, province or None), chosen)


def review_works_export(session: Session, user: User, fmt: str | None, flt: QueueFilter) -> ExportFile:
    """Every work of the review list ``flt`` selects, not a page of it."""
    chosen = parse_format(fmt)
    campaign = active_campaign(session)
    flt = QueueFilter(
        status=flt.status or None, province_code=flt.province_code or None, unit_id=flt.unit_id,
        reviewer=flt.reviewer or None, q=flt.q or None,
    )
    return render(lists.review_list_report(session, user, campaign, flt), chosen)
