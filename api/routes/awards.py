"""Awards (issue 16 part B): compute, versions and their diff, adjustments, publication, certificates; the
public results and the certificate check. Thin: parse, call clipjury.awards.service, render."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field, WithJsonSchema

from api.deps import CurrentUser, SessionDep
from api.downloads import file_response
from api.params import NO_NUL
from api.problems import BODY_ERRORS, CHANGE_AUTH_ERRORS, VALIDATION_ERRORS, ErrorDoc, problem_responses
from api.routes.public import SmallBodyRoute
from clipjury.awards import exports, organising, policy, versions
from clipjury.awards import service as awards
from clipjury.campaigns.service import NoActiveCampaign, active_campaign
from clipjury.errors import NotFound
from clipjury.reasons import REASON_MAX, ReasonRequired
from clipjury.reports.exports import MEDIA_TYPES, Format
from clipjury.settings import get_settings

router = APIRouter(prefix="/api/v1/awards", tags=["awards"])
public_router = APIRouter(prefix="/api/v1/public", tags=["public"], route_class=SmallBodyRoute)

_ROLE: tuple[ErrorDoc, ...] = ((403, "forbidden_role"), NoActiveCampaign)
_READ_ERRORS: tuple[ErrorDoc, ...] = (*CHANGE_AUTH_ERRORS, *_ROLE)
_CHANGE_ERRORS: tuple[ErrorDoc, ...] = (*BODY_ERRORS, *CHANGE_AUTH_ERRORS, *VALIDATION_ERRORS, *_ROLE)
VERSION_MAX = 2**31 - 1
# Documented as required and not blank; a blank one still reaches the service, whose answer is the specific
# 422 `reason_required` (not the generic validation error).
_RequiredReason = Annotated[str, WithJsonSchema({
    # Blank as the service sees it: Python's whitespace (with \x1c-\x1f and \x85) and JSON Schema's (\ufeff).
    "type": "string", "maxLength": 2000, "pattern": r"^[^\x00]*[^\s\x00\x1c-\x1f\x85\ufeff][^\x00]*$",
    "description": "Required, not blank; at most 2,000 characters; recorded with the change.",
})]
VersionRef = Annotated[str, Path(pattern=r"^(latest|[1-9][0-9]{0,9})$",
                                 description="A version number, or `latest`.")]


def _number(ref: str) -> int | None:
    if ref == "latest":
        return None
    number = int(ref)
    return number if number <= VERSION_MAX else VERSION_MAX


class AwardRowOut(BaseModel):
    work_id: int
    raw_mean: float | None = Field(description="Mean rubric total T (0–100) of the scores given; null: unscored.")
    normalised: float | None = Field(description="Mean of the judges' normalised scores, rescaled to 0–100.")
    likes: int = Field(description="Likes in the frozen snapshot.")
    likes_component: float = Field(description="100 · ln(1+L)/ln(1+L_ref).")
    final: float | None = Field(description="F = (1 − w)·S + w·likes_component.")
    rank: int | None
    level: str | None
    near_tie: bool


class ComputeOut(BaseModel):
    version: int
    rows: list[AwardRowOut]


class VersionOut(ComputeOut):
    """A stored version: the compute rows, then what explains them."""

    cause: str = Field(description="`computed`, `adjusted`, `disqualified` or `reinstated`.")
    based_on: int | None
    created_at: datetime
    created_by: str | None
    published: bool = Field(description="This is the version the public results show.")
    award_levels: list[dict[str, Any]]
    near_tie_margin: float
    parameters: dict[str, Any] = Field(description="Every parameter of the computation (rubric, weights, n₀, "
                                                   "model, L_ref, the global mean and spread, each judge's "
                                                   "statistics, warnings, level cut-offs).")
    breakdown: list[dict[str, Any]] = Field(description="Per work: each judge's rubric total, z and whether the "
                                                        "outlier rule dropped it (judges by username).")
    adjustments: list[dict[str, Any]]
    removed: list[dict[str, Any]] = Field(description="Works disqualified after the computation, with their last row.")
    likes_snapshot: dict[str, Any] = Field(description="`{\"version\", \"sha256\"}` of the frozen likes snapshot.")


class VersionListItem(BaseModel):
    version: int
    cause: str
    based_on: int | None
    created_at: datetime
    created_by: str | None
    works: int
    published: bool


class MoveOut(BaseModel):
    work_id: int
    from_: dict[str, Any] | None = Field(alias="from", description="`{\"rank\", \"level\"}`; null: absent before.")
    to: dict[str, Any] | None = Field(description="`{\"rank\", \"level\"}`; null: removed since.")

    model_config = {"populate_by_name": True}


class DiffOut(BaseModel):
    version: int
    against: int
    moves: list[MoveOut] = Field(description="Every work whose rank or level changed, appeared or went.")


@router.post("/compute", status_code=201, response_model=ComputeOut, responses=problem_responses(
    *_READ_ERRORS, policy.LikesNotFrozen, policy.JudgesUnfinished, policy.StaleVersion,
))
def compute(user: CurrentUser, session: SessionDep) -> ComputeOut:
    """Compute the awards from the frozen likes snapshot and every submitted score, stored as the next version
    (national admin). 409 `likes_not_frozen` before the snapshot; 409 `judges_unfinished` with `judges`."""
    stored = awards.compute_and_store(session, user, active_campaign(session))
    view = awards.view_of(session, active_campaign(session), stored)
    return ComputeOut(version=view["version"], rows=view["rows"])


@router.get("/versions", response_model=list[VersionListItem], responses=problem_responses(*_READ_ERRORS))
def list_versions(user: CurrentUser, session: SessionDep) -> list[dict[str, Any]]:
    """Every awards version, newest first (national admin)."""
    return awards.versions_list(session, user, active_campaign(session))


@router.get("/versions/{version}", response_model=VersionOut, responses=problem_responses(
    *_READ_ERRORS, (404, "not_found"), *VALIDATION_ERRORS,
))
def get_version(version: VersionRef, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """One version (or `latest`) with its rows, parameters, breakdown, adjustments and removals (national
    admin); earlier versions stay readable. 404 before any computation."""
    return awards.version_view(session, user, active_campaign(session), _number(version))


@router.get("/versions/{version}/diff", response_model=DiffOut, responses=problem_responses(
    *_READ_ERRORS, (404, "not_found"), *VALIDATION_ERRORS,
))
def diff(version: VersionRef, user: CurrentUser, session: SessionDep,
         against: Annotated[int | None, Query(ge=1, le=VERSION_MAX)] = None) -> dict[str, Any]:
    """Who moved from version `against` (default: the one this version was made from) to this one."""
    return awards.diff_view(session, user, active_campaign(session), _number(version), against)


_EXPORT_DOC = {
    200: {"content": {MEDIA_TYPES[Format.xlsx]: {}, MEDIA_TYPES[Format.csv]: {}},
          "description": "The version as a spreadsheet: 说明 (hashes), 逐项评分, 标准化参数, 排名与奖项, 调整与移除."},
    **problem_responses(*_READ_ERRORS, (404, "not_found"), *VALIDATION_ERRORS),
}
_Names = Annotated[bool, Query(description="Judges by username instead of pseudonyms (评委01 …).")]


@router.get("/versions/{version}/export.xlsx", response_class=Response, responses=_EXPORT_DOC)
def export_xlsx(version: VersionRef, user: CurrentUser, session: SessionDep, names: _Names = False) -> Response:
    """An awards version as XLSX (national admin): every criterion score of every judge (under pseudonyms
    unless `names=true`), the normalisation parameters, the ranking, the awards, the adjustments and the hashes
    (likes snapshot and the file's own data)."""
    return file_response(exports.export(session, user, active_campaign(session), _number(version), Format.xlsx,
                                        names=names))


@router.get("/versions/{version}/export.csv", response_class=Response, responses=_EXPORT_DOC)
def export_csv(version: VersionRef, user: CurrentUser, session: SessionDep, names: _Names = False) -> Response:
    """The same as CSV (UTF-8 with a BOM, one section per sheet)."""
    return file_response(exports.export(session, user, active_campaign(session), _number(version), Format.csv,
                                        names=names))


class AdjustmentIn(BaseModel):
    work_id: int = Field(ge=1, le=2**31 - 1)
    level: Annotated[str, Field(max_length=64, pattern=NO_NUL)] | None = Field(
        description="One of the campaign's award levels, or null for no award.")
    reason: _RequiredReason = Field(max_length=2000, pattern=NO_NUL)
    expected_version: int | None = Field(default=None, ge=1, le=VERSION_MAX, description=(
        "The version the change was decided on; another version is latest by now: 409 `stale_state`."))


@router.post("/adjustments", status_code=201, response_model=VersionOut, responses=problem_responses(
    *_CHANGE_ERRORS, policy.AwardsNotComputed, policy.StaleVersion, ReasonRequired,
    versions.UnknownLevel, versions.NotScored, versions.NoChange, versions.WorkNotInVersion,
))
def adjust(body: AdjustmentIn, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """Change one work's level with a reason, recorded as a row in a new version; nobody else moves
    (national admin). 422 `reason_required` / `unknown_level`, 409 `unscored` / `no_change` /
    `awards_not_computed` / `stale_state`, 404 for a work not in the latest version."""
    campaign = active_campaign(session)
    stored = awards.adjust(session, user, campaign, body.work_id, body.level, body.reason,
                           expected_version=body.expected_version)
    return awards.view_of(session, campaign, stored)


class PublicationOut(BaseModel):
    version: int = Field(description="The version the public results now show.")
    published_at: datetime
    certificates: int = Field(description="Valid certificates (one per awarded work).")


@router.post("/publish", response_model=PublicationOut, responses=problem_responses(
    *_READ_ERRORS, policy.AwardsNotComputed,
))
def publish(user: CurrentUser, session: SessionDep) -> PublicationOut:
    """Publish the latest version (national admin): the public results show it and each awarded work gets a
    certificate (serial and verification code); publishing again after an adjustment publishes the newer
    version, updates the certificates' levels and revokes those of works that lost their award."""
    made, count = awards.publish(session, user, active_campaign(session))
    return PublicationOut(version=made.version_number, published_at=made.published_at, certificates=count)


_CERT_ID = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/certificates/{work_id}.pdf", response_class=Response, responses={
    200: {"content": {"application/pdf": {}}, "description": "The certificate (A4 landscape, fonts embedded)."},
    **problem_responses(*_READ_ERRORS, policy.AwardsNotPublished, policy.NotAwarded, (404, "not_found"),
                        *VALIDATION_ERRORS),
})
def certificate(work_id: _CERT_ID, request: Request, user: CurrentUser, session: SessionDep) -> Response:
    """The award certificate of a work of the published results (national admin, and the work's submitter):
    a PDF with its serial number and verification code. 409 `awards_not_published`, 404 `not_awarded`."""
    base = get_settings().public_base_url or str(request.base_url)
    name, pdf = awards.certificate_pdf(session, user, active_campaign(session), work_id, base)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, no-store",
    })


class PublicResult(BaseModel):
    work_id: int
    title: str
    province: str
    unit: str | None = Field(description="The unit's name; null for a work entered by an individual.")
    level: str


@public_router.get("/results", response_model=list[PublicResult], responses=problem_responses(NoActiveCampaign))
def public_results(response: Response, session: SessionDep) -> list[dict[str, Any]]:
    """The published awards (no login, cacheable): the awarded works by level, then rank; `[]` before the
    national office publishes them."""
    response.headers["Cache-Control"] = f"public, max-age={get_settings().public_cache_max_age_s}"
    return awards.public_results(session, active_campaign(session))


class CertificateCheck(BaseModel):
    serial: str
    title: str
    level: str


CodeRef = Annotated[str, Path(min_length=1, max_length=32, pattern=NO_NUL)]


@public_router.get("/certificates/{code}", response_model=CertificateCheck, responses=problem_responses(
    (404, "not_found"), *VALIDATION_ERRORS,
))
def check_certificate(code: CodeRef, response: Response, session: SessionDep) -> dict[str, Any]:
    """Check a certificate by the code printed on it (typed forgivingly: case, spaces, O for 0, I or L for 1):
    its serial, the work's title and its current level; 404 for a code that was never issued or a certificate
    revoked since (the work lost its award in a later publication)."""
    found = awards.verify_certificate(session, code)
    if found is None:
        raise NotFound("没有找到这张证书：请核对验证码，或证书已因评奖结果更正而作废。")
    response.headers["Cache-Control"] = "public, max-age=60"
    return found


# -- 优秀组织奖 ------------------------------------------------------------------------------------------

class OrganisingRow(BaseModel):
    unit_id: int = Field(description="The organisation: a province or department (national), a unit (province).")
    name: str
    quota: int
    submitted: int
    passed: int
    fulfilment: float = Field(description="f = min(1, submitted / quota); 1 when nothing was asked.")
    pass_rate: float = Field(description="p = passed / submitted.")
    award_points: float = Field(description="A = Σ points of each award level × its count.")
    award_share: float = Field(description="a = A / the group's largest A.")
    score: float = Field(description="U = 100 · (w_f f + w_p p + w_a a) / (w_f + w_p + w_a).")
    rank: int
    proposed: bool = Field(description="Within the number the setting proposes.")
    awards: dict[str, int]
    tie_broken: bool
    decision: dict[str, Any] | None = Field(description="The national office's decision: awarded, reason, by, when.")


class OrganisingOut(BaseModel):
    scope: str
    province: str | None
    awards_version: int | None = Field(description="The awards version whose award counts were used.")
    parameters: dict[str, Any]
    rows: list[OrganisingRow]


_Scope = Annotated[str, Query(pattern="^(national|province)$", description="`national` or `province`.")]


def _organising_out(found: organising.Group) -> OrganisingOut:
    return OrganisingOut(scope=found.scope, province=found.province.code if found.province else None,
                         awards_version=found.version, parameters=found.params,
                         rows=[OrganisingRow(**r) for r in found.rows])


@router.get("/organising", response_model=OrganisingOut, responses=problem_responses(
    *_READ_ERRORS, *VALIDATION_ERRORS, organising.UnknownOrganisation,
))
def organising_group(user: CurrentUser, session: SessionDep, scope: _Scope = "national",
                     province: Annotated[str | None, Query(max_length=32, pattern=NO_NUL)] = None) -> OrganisingOut:
    """优秀组织奖 (national admin): the top-level organisations nationally (`scope=national`), or the units of one
    province (`scope=province&province=CODE`), ranked with the breakdown of the documented formula and any
    decision."""
    chosen: organising.Scope = "national" if scope == "national" else "province"
    return _organising_out(organising.group(session, user, active_campaign(session), chosen, province))


class DecisionIn(BaseModel):
    scope: str = Field(pattern="^(national|province)$")
    province: Annotated[str, Field(max_length=32, pattern=NO_NUL)] | None = None
    organisation_id: int = Field(ge=1, le=2**31 - 1)
    awarded: bool = Field(strict=True)
    reason: _RequiredReason = Field(max_length=REASON_MAX, pattern=NO_NUL)


@router.post("/organising/decisions", status_code=201, response_model=OrganisingOut, responses=problem_responses(
    *_CHANGE_ERRORS, organising.UnknownOrganisation, ReasonRequired,
))
def organising_decide(body: DecisionIn, user: CurrentUser, session: SessionDep) -> OrganisingOut:
    """The national office awards (`awarded: true`) or not one organisation of a group, with a reason (audited
    `organising_decide`); answers the group with the decision. 422 `reason_required`, 404 for an organisation
    not in the group."""
    campaign = active_campaign(session)
    scope: organising.Scope = "national" if body.scope == "national" else "province"
    organising.decide(session, user, campaign, scope, body.organisation_id, body.awarded, body.reason, body.province)
    return _organising_out(organising.group(session, user, campaign, scope, body.province))
