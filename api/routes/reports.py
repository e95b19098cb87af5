"""Reports and exports: the provincial activity report, the units' activity entries, and every review
list and the quota table as XLSX or CSV. Scope and roles are those of the lists they export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api.deps import CurrentUser, SessionDep
from clipjury.campaigns.service import active_campaign
from clipjury.reports import exports, lists
from clipjury.reports import service as reports
from clipjury.reviews.service import QueueFilter

router = APIRouter(tags=["reports"])


class ActivityEntryIn(BaseModel):
    # Range checks are the service's, so a negative number gets its own code and message.
    sessions: int
    participants: int
    note: str = Field(default="", max_length=10000)
    # The ``updated_at`` the client last read: with it the save is refused (409) if someone changed it since.
    expected_updated_at: datetime | None = None


def _file(export: exports.ExportFile) -> Response:
    return Response(content=export.content, media_type=export.media_type, headers=export.headers())


@router.get("/api/v1/reports/activity")
def activity_report(
    user: CurrentUser,
    session: SessionDep,
    format: Annotated[str | None, Query(max_length=8)] = None,
    province: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """The activity report due June 1: the contest's figures per unit, the units' activity entries and the
    award nominations. Provincial admin: its province; national admin: ``?province=`` or every province."""
    fmt = exports.parse_format(format)
    campaign = active_campaign(session)
    return _file(exports.render(reports.activity_report(session, user, campaign, province or None), fmt))


@router.get("/api/v1/reports/activities", response_model=list[reports.EntryView])
def activity_entries(
    user: CurrentUser,
    session: SessionDep,
    unit: int | None = None,
    province: Annotated[str | None, Query(max_length=32)] = None,
) -> list[reports.EntryView]:
    """Every unit in scope × every activity units report, with ``reported: false`` where nothing is in yet."""
    campaign = active_campaign(session)
    return reports.list_entries(session, user, campaign, unit_id=unit, province_code=province or None)


@router.put("/api/v1/reports/activities/{unit_id}/{activity_key}", response_model=reports.EntryView)
def save_activity_entry(
    unit_id: int, activity_key: str, body: ActivityEntryIn, user: CurrentUser, session: SessionDep
) -> reports.EntryView:
    campaign = active_campaign(session)
    reports.save_entry(
        session, user, campaign, unit_id, activity_key[:64], sessions=body.sessions,
        participants=body.participants, note=body.note, expected_updated_at=body.expected_updated_at,
    )
    views = reports.list_entries(session, user, campaign, unit_id=unit_id)
    return next(v for v in views if v.activity_key == activity_key)


@router.get("/api/v1/review/works/export")
def review_works_export(
    user: CurrentUser,
    session: SessionDep,
    format: Annotated[str | None, Query(max_length=8)] = None,
    status: str | None = None,
    province: str | None = None,
    unit: int | None = None,
    reviewer: str | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """The review list with the filters of ``GET /api/v1/review/works``: every matching work, not a page."""
    fmt = exports.parse_format(format)
    campaign = active_campaign(session)
    flt = QueueFilter(status=status, province_code=province, unit_id=unit, reviewer=reviewer, q=q)
    return _file(exports.render(lists.review_list_report(session, user, campaign, flt), fmt))


@router.get("/api/v1/quotas/export")
def quotas_export(
    user: CurrentUser,
    session: SessionDep,
    format: Annotated[str | None, Query(max_length=8)] = None,
    province: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """The quota table of ``GET /api/v1/quotas`` with every count and a totals row."""
    fmt = exports.parse_format(format)
    campaign = active_campaign(session)
    return _file(exports.render(lists.quota_report(session, user, campaign, province or None), fmt))
