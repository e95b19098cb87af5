"""The review rounds' API: queues, claims, verdicts, forwarding, the national re-review, disqualification,
undo, quotas and the audit log. The contract of issue 4 is fixed: outside checks call it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from api.deps import CurrentUser, OptionalDbId, SessionDep, WorkId
from api.params import NO_NUL, ProvinceQuery, SearchQuery, TextQuery
from api.problems import AUTH_ERRORS, BODY_ERRORS, CHANGE_AUTH_ERRORS, VALIDATION_ERRORS, ErrorDoc, problem_responses
from api.schemas.works import WorkPublic, work_public, works_public
from clipjury import decisions
from clipjury.audit.query import AuditFilter, audit_events, audit_query
from clipjury.campaigns.service import NoActiveCampaign, active_campaign
from clipjury.db import DB_ID_MAX
from clipjury.reviews import quotas as quota_mod
from clipjury.reviews import service
from clipjury.reviews.errors import (
    AlreadyDecided,
    AlreadyDisqualified,
    ChecklistIncomplete,
    Claimed,
    NotForwarded,
    NothingToUndo,
    NotPassed,
    ResultsPublished,
    TooLate,
    UnknownChecklistItem,
)
from clipjury.reviews.service import REASON_MAX, VERDICTS
from clipjury.works.models import WORK_STATUS_LABELS
from clipjury.works.policy import WorkNotFound
from clipjury.works.service import StaleState

router = APIRouter(tags=["review"])

PAGE_MAX = 5000

# The service checks these itself (after scope and role, with codes of their own: ``invalid_decision``,
# ``reason_required``, ``reason_too_long``); the document states the same rules.
Decision = Annotated[str, WithJsonSchema({"type": "string", "enum": sorted(VERDICTS)})]
Reason = Annotated[str | None, WithJsonSchema({
    "type": ["string", "null"], "maxLength": REASON_MAX, "pattern": NO_NUL,
    "description": f"Shown to the submitter; surrounding spaces are dropped, then at most {REASON_MAX} characters.",
})]
RequiredReason = Annotated[str | None, WithJsonSchema({
    "type": "string", "maxLength": REASON_MAX, "pattern": r"^[^\x00]*\S[^\x00]*$",
    "description": f"Required, not blank; shown to the submitter; at most {REASON_MAX} characters.",
})]
ChecklistKey = Annotated[str, Field(max_length=64, pattern=NO_NUL)]
CHECKLIST_MAX = 100
StatusFilter = Annotated[str | None, Query(json_schema_extra={"enum": sorted(WORK_STATUS_LABELS)})]

# Every operation on one work in the caller's scope; the role's own rules come on top.
_WORK_ERRORS: tuple[ErrorDoc, ...] = (
    *CHANGE_AUTH_ERRORS, *VALIDATION_ERRORS, WorkNotFound, (403, "forbidden_role"), StaleState,
)
# A lost compare-and-set is explained from the work as it is now (reviews.service._conflict_after_lost_race).
_RACE_ERRORS: tuple[ErrorDoc, ...] = (Claimed, AlreadyDecided, StaleState)


class VerdictBody(BaseModel):
    decision: Decision = Field(max_length=16)
    reason: Reason = Field(default=None, max_length=10000, pattern=NO_NUL)
    # The keys of the checklist items ticked (GET /api/v1/review/checklist); a pass needs every required one.
    checklist: list[ChecklistKey] | None = Field(default=None, max_length=CHECKLIST_MAX)
    expected_rev: int | None = None


class ChecklistItemOut(BaseModel):
    key: str
    label: str
    required: bool


class ForwardBody(BaseModel):
    rank: Annotated[
        int | None, WithJsonSchema({"type": ["integer", "null"], "minimum": 1, "maximum": service.RANK_MAX})
    ] = None
    expected_rev: int | None = None


class ForwardManyBody(BaseModel):
    # null: every passed work of the province.
    work_ids: list[Annotated[int, Field(ge=1, le=DB_ID_MAX)]] | None = Field(default=None, max_length=5000)
    # JSON keys are strings: the document says they are work ids (the service checks each rank).
    ranks: Annotated[
        dict[Annotated[int, Field(ge=1, le=DB_ID_MAX)], int] | None,
        WithJsonSchema({
            "type": ["object", "null"], "propertyNames": {"pattern": r"^[1-9][0-9]{0,8}$"},
            "additionalProperties": {"type": "integer", "minimum": 1, "maximum": service.RANK_MAX},
        }),
    ] = None


class RecommendationBody(BaseModel):
    recommended: bool
    reason: Reason = Field(default=None, max_length=10000, pattern=NO_NUL)
    expected_rev: int | None = None


class ReasonBody(BaseModel):
    # Missing or blank is the service's ``reason_required``, not a validation error: the document says required.
    model_config = ConfigDict(json_schema_extra={"required": ["reason"]})

    reason: RequiredReason = Field(default=None, max_length=10000, pattern=NO_NUL)
    expected_rev: int | None = None


class QuotaOut(BaseModel):
    province: str
    unit: str
    required: int
    submitted: int
    passed: int
    forwarded: int


class DocumentOut(BaseModel):
    decision_id: int
    action: str
    name: str
    url: str


class AuditOut(BaseModel):
    id: int
    at: datetime
    by: str
    work_id: int | None
    action: str
    from_status: str | None
    to_status: str | None
    reason: str


class PublishOut(BaseModel):
    published_at: datetime
    works: int


@router.get("/api/v1/review/works", response_model=list[WorkPublic], responses=problem_responses(
    *AUTH_ERRORS, *VALIDATION_ERRORS, NoActiveCampaign, (403, "forbidden_role"), (422, "unknown_status"),
))
def review_works(
    user: CurrentUser,
    session: SessionDep,
    response: Response,
    status: StatusFilter = None,
    province: ProvinceQuery = None,
    unit: OptionalDbId = None,
    reviewer: TextQuery = None,
    q: SearchQuery = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 500,
    offset: Annotated[int, Query(ge=0, le=DB_ID_MAX)] = 0,
) -> list[WorkPublic]:
    """The works in the caller's scope, oldest submission first; ``X-Total-Count`` gives the full count."""
    campaign = active_campaign(session)
    flt = service.QueueFilter(status=status, province_code=province, unit_id=unit, reviewer=reviewer, q=q)
    query = service.review_queue_query(session, user, campaign, flt)
    response.headers["X-Total-Count"] = str(service.count_rows(session, query))
    return works_public(session, service.page_of(session, query, offset=offset, limit=limit), user)


@router.post("/api/v1/works/{work_id}/claim", response_model=WorkPublic,
             responses=problem_responses(*_WORK_ERRORS, *_RACE_ERRORS))
def claim(work_id: WorkId, user: CurrentUser, session: SessionDep) -> WorkPublic:
    return work_public(session, service.claim(session, user, work_id), user)


@router.post("/api/v1/works/{work_id}/release", response_model=WorkPublic,
             responses=problem_responses(*_WORK_ERRORS, Claimed))
def release(work_id: WorkId, user: CurrentUser, session: SessionDep) -> WorkPublic:
    return work_public(session, service.release(session, user, work_id), user)


@router.post("/api/v1/works/{work_id}/verdict", response_model=WorkPublic, responses=problem_responses(
    *BODY_ERRORS, *_WORK_ERRORS, *_RACE_ERRORS, TooLate, (422, "invalid_decision"), (422, "reason_required"),
    (422, "reason_too_long"), ChecklistIncomplete, UnknownChecklistItem,
))
def verdict(work_id: WorkId, body: VerdictBody, user: CurrentUser, session: SessionDep) -> WorkPublic:
    """A preliminary verdict. A pass lists the checklist items ticked, by key (``checklist``): without
    every required item it is refused with 422 ``checklist_incomplete``."""
    work = service.verdict(
        session, user, work_id, body.decision, body.reason, checklist=body.checklist, expected_rev=body.expected_rev
    )
    return work_public(session, work, user)


@router.get("/api/v1/review/checklist", response_model=list[ChecklistItemOut], responses=problem_responses(
    *AUTH_ERRORS, *VALIDATION_ERRORS, NoActiveCampaign, WorkNotFound, (403, "forbidden_role"),
))
def checklist(user: CurrentUser, session: SessionDep, work_id: OptionalDbId = None) -> list[ChecklistItemOut]:
    """The preliminary review's checklist: for the caller's province, or for ``work_id``'s (its opening
    line names the province). A verdict's ``checklist`` names the items by ``key``."""
    items = service.checklist_for(session, user, active_campaign(session), work_id)
    return [ChecklistItemOut(key=i.key, label=i.label, required=i.required) for i in items]


@router.post("/api/v1/works/{work_id}/forward", response_model=WorkPublic, responses=problem_responses(
    *BODY_ERRORS, *_WORK_ERRORS, *_RACE_ERRORS, TooLate, NotPassed, (409, "already_forwarded"), (422, "invalid_rank"),
))
def forward(work_id: WorkId, user: CurrentUser, session: SessionDep, body: ForwardBody | None = None) -> WorkPublic:
    body = body or ForwardBody()
    work = service.forward(session, user, work_id, rank=body.rank, expected_rev=body.expected_rev)
    return work_public(session, work, user)


@router.post("/api/v1/review/forward", response_model=list[WorkPublic], responses=problem_responses(
    *BODY_ERRORS, *_WORK_ERRORS, *_RACE_ERRORS, NoActiveCampaign, TooLate, NotPassed, (409, "already_forwarded"),
    (409, "nothing_to_forward"), (422, "invalid_rank"), (422, "duplicate_work"),
))
def forward_many(body: ForwardManyBody, user: CurrentUser, session: SessionDep) -> list[WorkPublic]:
    """Forward a selection (optionally ranked) or, with ``work_ids: null``, every passed work; all or nothing."""
    works = service.forward_many(session, user, work_ids=body.work_ids, ranks=body.ranks)
    return works_public(session, works, user)


@router.post("/api/v1/works/{work_id}/recommendation", response_model=WorkPublic, responses=problem_responses(
    *BODY_ERRORS, *_WORK_ERRORS, *_RACE_ERRORS, ResultsPublished, NotForwarded, (422, "reason_required"),
    (422, "reason_too_long"),
))
def recommendation(work_id: WorkId, body: RecommendationBody, user: CurrentUser, session: SessionDep) -> WorkPublic:
    work = service.recommend(
        session, user, work_id, body.recommended, body.reason, expected_rev=body.expected_rev
    )
    return work_public(session, work, user)


@router.post("/api/v1/review/publish", response_model=PublishOut, responses=problem_responses(
    *CHANGE_AUTH_ERRORS, NoActiveCampaign, (403, "forbidden_role"), ResultsPublished,
))
def publish(user: CurrentUser, session: SessionDep) -> PublishOut:
    """Publish the national re-review: from now on submitters and provinces see its decisions."""
    n = service.publish_national_results(session, user)
    published = active_campaign(session).national_results_published_at
    assert published is not None
    return PublishOut(published_at=published, works=n)


@router.post("/api/v1/works/{work_id}/disqualify", response_model=WorkPublic, responses=problem_responses(
    *BODY_ERRORS, *_WORK_ERRORS, *_RACE_ERRORS, AlreadyDisqualified, (422, "reason_required"), (422, "reason_too_long"),
))
def disqualify(work_id: WorkId, body: ReasonBody, user: CurrentUser, session: SessionDep) -> WorkPublic:
    work = decisions.disqualify(session, user, work_id, body.reason, expected_rev=body.expected_rev)
    return work_public(session, work, user)


@router.post("/api/v1/works/{work_id}/undo", response_model=WorkPublic, responses=problem_responses(
    *BODY_ERRORS, *_WORK_ERRORS, *_RACE_ERRORS, NothingToUndo, TooLate, ResultsPublished, (422, "reason_required"),
    (422, "reason_too_long"),
))
def undo(work_id: WorkId, body: ReasonBody, user: CurrentUser, session: SessionDep) -> WorkPublic:
    work = decisions.undo(session, user, work_id, body.reason, expected_rev=body.expected_rev)
    return work_public(session, work, user)


@router.get("/api/v1/works/{work_id}/documents", response_model=list[DocumentOut], responses=problem_responses(
    *AUTH_ERRORS, *VALIDATION_ERRORS, WorkNotFound, (403, "forbidden_role"),
))
def documents(work_id: WorkId, user: CurrentUser, session: SessionDep) -> list[DocumentOut]:
    """Documents attached to decisions (e.g. a copyright complaint): for the organisers only."""
    return [
        DocumentOut(
            decision_id=d.id or 0, action=d.action, name=d.document_name or "", url=service.document_url(d) or ""
        )
        for d in service.documents_of(session, user, work_id)
    ]


@router.get("/api/v1/quotas", response_model=list[QuotaOut], responses=problem_responses(
    *AUTH_ERRORS, *VALIDATION_ERRORS, NoActiveCampaign, (403, "forbidden_role"),
))
def quotas(user: CurrentUser, session: SessionDep, province: ProvinceQuery = None) -> list[dict[str, object]]:
    campaign = active_campaign(session)
    return [r.contract() for r in quota_mod.quota_rows(session, user, campaign, province_code=province)]


@router.get("/api/v1/audit", response_model=list[AuditOut], responses=problem_responses(
    *AUTH_ERRORS, *VALIDATION_ERRORS, NoActiveCampaign, WorkNotFound, (403, "forbidden_role"),
    (403, "forbidden_scope"), (422, "unknown_province"), (422, "unknown_action"),
))
def audit_log(
    user: CurrentUser,
    session: SessionDep,
    province: ProvinceQuery = None,
    work_id: OptionalDbId = None,
    action: TextQuery = None,
    before_id: OptionalDbId = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AuditOut]:
    """The audit log of a province (or of one work), newest first; page with ``before_id``."""
    flt = AuditFilter(province=province, work_id=work_id, action=action)
    scope = audit_query(session, user, active_campaign(session), flt)
    return [
        AuditOut(id=e.id or 0, at=e.at, by=e.actor_name, work_id=e.work_id, action=e.action,
                 from_status=shown.from_status, to_status=shown.to_status, reason=e.reason)
        for e, shown in audit_events(session, scope, limit=limit, before_id=before_id)
    ]
