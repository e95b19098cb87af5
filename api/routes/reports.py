"""Reports and exports: the provincial activity report, the units' activity entries, and every review
list and the quota table as XLSX or CSV. Scope and roles are those of the lists they export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field, WithJsonSchema

from api.deps import CurrentUser, OptionalDbId, SessionDep
from api.downloads import file_response
from api.params import NO_NUL, ProvinceQuery, SearchQuery, TextQuery
from api.problems import AUTH_ERRORS, BODY_ERRORS, CHANGE_AUTH_ERRORS, VALIDATION_ERRORS, ErrorDoc, problem_responses
from clipjury.campaigns.service import NoActiveCampaign, active_campaign
from clipjury.db import DB_ID_MAX
from clipjury.reports import exports
from clipjury.reports import service as reports
from clipjury.reviews.service import QueueFilter
from clipjury.works.models import WORK_STATUS_LABELS
from clipjury.works.service import StaleState

router = APIRouter(tags=["reports"])


def _count(maximum: int) -> object:
    return WithJsonSchema({"type": "integer", "minimum": 0, "maximum": maximum})


class ActivityEntryIn(BaseModel):
    # Range checks are the service's, so a negative number gets its own code and message; the document
    # states the same range.
    sessions: Annotated[int, _count(reports.SESSIONS_MAX)]
    participants: Annotated[int, _count(reports.PARTICIPANTS_MAX)]
    note: Annotated[str, WithJsonSchema({"type": "string", "maxLength": reports.NOTE_MAX, "pattern": NO_NUL})] = Field(
        default="", max_length=10000, pattern=NO_NUL
    )
    # The ``updated_at`` the client last read: with it the save is refused (409) if someone changed it since.
    expected_updated_at: datetime | None = None


# ``?format=``: xlsx (the default, also when empty) or csv, in any case, spaces around ignored.
Format = Annotated[
    str | None, Query(max_length=8, json_schema_extra={"pattern": r"^(\s*([xX][lL][sS][xX]|[cC][sS][vV])\s*)?$"})
]
_EXPORT_ERRORS: tuple[ErrorDoc, ...] = (
    *AUTH_ERRORS, *VALIDATION_ERRORS, NoActiveCampaign, exports.UnknownFormat, (403, "forbidden_role"),
)
# A file, not JSON: the document says which.
_FILE_RESPONSE: dict[int | str, dict[str, Any]] = {200: {
    "description": "The file (XLSX by default, CSV with `format=csv`).",
    "content": {media: {"schema": {"type": "string", "format": "binary"}} for media in exports.MEDIA_TYPES.values()},
}}


@router.get("/api/v1/reports/activity", response_class=Response, responses={
    **_FILE_RESPONSE, **problem_responses(*_EXPORT_ERRORS, reports.ProvinceNotFound),
})
def activity_report(
    user: CurrentUser, session: SessionDep, format: Format = None, province: ProvinceQuery = None
) -> Response:
    """The activity report due June 1: the contest's figures per unit, the units' activity entries and the
    award nominations. Provincial admin: its province; national admin: ``?province=`` or every province."""
    return file_response(exports.activity_export(session, user, format, province))


@router.get("/api/v1/reports/activities", response_model=list[reports.EntryView], responses=problem_responses(
    *AUTH_ERRORS, *VALIDATION_ERRORS, NoActiveCampaign, (403, "forbidden_role"), (403, "no_unit"),
    reports.ProvinceNotFound, reports.UnitNotFound,
))
def activity_entries(
    user: CurrentUser, session: SessionDep, unit: OptionalDbId = None, province: ProvinceQuery = None,
) -> list[reports.EntryView]:
    """Every unit in scope × every activity units report, with ``reported: false`` where nothing is in yet."""
    campaign = active_campaign(session)
    return reports.list_entries(session, user, campaign, unit_id=unit, province_code=province or None)


@router.put(
    "/api/v1/reports/activities/{unit_id}/{activity_key}", response_model=reports.EntryView,
    responses=problem_responses(
    *BODY_ERRORS,
        *CHANGE_AUTH_ERRORS, *VALIDATION_ERRORS, NoActiveCampaign, (403, "forbidden_role"), (403, "no_unit"),
        reports.ProvinceNotFound, reports.UnitNotFound, StaleState, reports.UnknownActivity,
        reports.PlatformActivity, *[(422, f"{kind}_{field}") for field in ("sessions", "participants")
                                    for kind in ("invalid", "negative")],
        *[(422, f"{field}_{kind}") for field in ("sessions", "participants") for kind in ("required", "too_large")],
        (422, "note_too_long"),
    ),
)
def save_activity_entry(
    unit_id: Annotated[int, Path(ge=1, le=DB_ID_MAX)],
    activity_key: Annotated[str, Path(max_length=64, pattern=NO_NUL)],
    body: ActivityEntryIn,
    user: CurrentUser,
    session: SessionDep,
) -> reports.EntryView:
    campaign = active_campaign(session)
    reports.save_entry(
        session, user, campaign, unit_id, activity_key, sessions=body.sessions,
        participants=body.participants, note=body.note, expected_updated_at=body.expected_updated_at,
    )
    views = reports.list_entries(session, user, campaign, unit_id=unit_id)
    return next(v for v in views if v.activity_key == activity_key)


@router.get("/api/v1/review/works/export", response_class=Response, responses={
    **_FILE_RESPONSE, **problem_responses(*_EXPORT_ERRORS, (422, "unknown_status")),
})
def review_works_export(
    user: CurrentUser,
    session: SessionDep,
    format: Format = None,
    status: Annotated[str | None, Query(json_schema_extra={"enum": sorted(WORK_STATUS_LABELS)})] = None,
    province: ProvinceQuery = None,
    unit: OptionalDbId = None,
    reviewer: TextQuery = None,
    q: SearchQuery = None,
) -> Response:
    """The review list with the filters of ``GET /api/v1/review/works``: every matching work, not a page."""
    flt = QueueFilter(status=status, province_code=province, unit_id=unit, reviewer=reviewer, q=q)
    return file_response(exports.review_works_export(session, user, format, flt))


@router.get("/api/v1/quotas/export", response_class=Response, responses={
    **_FILE_RESPONSE, **problem_responses(*_EXPORT_ERRORS),
})
def quotas_export(
    user: CurrentUser, session: SessionDep, format: Format = None, province: ProvinceQuery = None
) -> Response:
    """The quota table of ``GET /api/v1/quotas`` with every count and a totals row."""
    return file_response(exports.quotas_export(session, user, format, province))
