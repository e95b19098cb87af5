"""优秀组织奖 on the database: the comparison groups (the top-level organisations nationally; the units within
a province), each ranked by ``organisers.rank_units`` on the quota figures of the review (``reviews.quotas``)
and the award counts of the latest awards version, and the national office's decisions, each with a reason.

The formula and its tie-break are ``clipjury.awards.organisers`` (pure); the weights, the points per level and
how many are proposed are the campaign setting ``judging.organising``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlmodel import Session, col, select

from clipjury.accounts.models import Province, User
from clipjury.audit.service import record
from clipjury.awards import organisers
from clipjury.awards import service as awards
from clipjury.awards.models import OrganisingDecision
from clipjury.campaigns.models import Campaign
from clipjury.errors import NotFound
from clipjury.judging.settings import effective
from clipjury.reasons import required_reason
from clipjury.reviews.quotas import province_summaries, quota_rows
from clipjury.timeutil import utcnow
from clipjury.works.models import Work

Scope = Literal["national", "province"]


class UnknownOrganisation(NotFound):
    code = "not_found"
    message = "没有这个组织单位（全国范围为省份或部门，省内范围为该省的单位）。"


def params_of(campaign: Campaign) -> organisers.OrganiserParams:
    found = effective(campaign.judging)["organising"]
    return organisers.OrganiserParams(
        fulfilment_weight=float(found["fulfilment_weight"]), pass_rate_weight=float(found["pass_rate_weight"]),
        award_weight=float(found["award_weight"]),
        level_points=tuple((p["name"], float(p["points"])) for p in found["level_points"]),
        award_count=found.get("award_count"), award_share=found.get("award_share"),
    )


@dataclass(frozen=True)
class Group:
    scope: Scope
    province: Province | None  # the province of a ``province`` group
    version: int | None  # the awards version whose counts were used (None: no awards computed yet)
    rows: list[dict[str, Any]]  # UnitRow.as_dict() plus quota, submitted, passed and the decision
    params: dict[str, Any]


def _awards_by(session: Session, campaign: Campaign, attribute: str) -> tuple[int | None, dict[int, dict[str, int]]]:
    latest = awards.latest_record(session, campaign)
    if latest is None:
        return None, {}
    awarded = [r for r in latest.body["rows"] if r["level"] is not None]
    works = {w.id: w for w in session.exec(select(Work).where(col(Work.id).in_([r["work_id"] for r in awarded])))}
    counts: dict[int, dict[str, int]] = {}
    for r in awarded:
        work = works.get(r["work_id"])
        owner = getattr(work, attribute) if work is not None else None
        if owner is not None:
            per = counts.setdefault(int(owner), {})
            per[r["level"]] = per.get(r["level"], 0) + 1
    return latest.number, counts


def _decisions(session: Session, campaign: Campaign, scope: Scope,
               province_id: int | None) -> dict[int, OrganisingDecision]:
    rows = session.exec(
        select(OrganisingDecision).where(col(OrganisingDecision.campaign_id) == campaign.id,
                                         col(OrganisingDecision.scope) == scope,
                                         col(OrganisingDecision.province_id) == province_id if province_id
                                         else col(OrganisingDecision.province_id).is_(None))
        .order_by(col(OrganisingDecision.id))
    ).all()
    return {d.organisation_id: d for d in rows}  # the latest decision per organisation


def _province(session: Session, code: str | None) -> Province:
    found = session.exec(select(Province).where(col(Province.code) == (code or ""))).first()
    if found is None:
        raise UnknownOrganisation("没有这个省份或部门。")
    return found


def group(session: Session, user: User, campaign: Campaign, scope: Scope, province_code: str | None = None) -> Group:
    """One comparison group ranked, each row with its breakdown and the national office's decision (national
    admin)."""
    awards.require_national(user, "查看优秀组织奖")
    params = params_of(campaign)
    if scope == "national":
        provinces = {p.code: p for p in session.exec(select(Province))}
        version, counts = _awards_by(session, campaign, "province_id")
        figures = {s.province_code: s for s in province_summaries(quota_rows(session, user, campaign))}
        inputs = [organisers.UnitInput(p.id or 0, p.name, figures[code].required if code in figures else 0,
                                       figures[code].submitted if code in figures else 0,
                                       figures[code].passed if code in figures else 0, counts.get(p.id or 0, {}))
                  for code, p in sorted(provinces.items()) if code in figures or (p.id or 0) in counts]
        chosen = None
    else:
        chosen = _province(session, province_code)
        version, counts = _awards_by(session, campaign, "unit_id")
        units = [r for r in quota_rows(session, user, campaign, province_code=chosen.code) if r.unit_id is not None]
        inputs = [organisers.UnitInput(r.unit_id or 0, r.unit, r.required, r.submitted, r.passed,
                                       counts.get(r.unit_id or 0, {})) for r in units]
    ranked = organisers.rank_units(inputs, params)
    by_id = {i.unit_id: i for i in inputs}
    decided = _decisions(session, campaign, scope, chosen.id if chosen else None)
    rows = []
    for row in ranked:
        source = by_id[row.unit_id]
        decision = decided.get(row.unit_id)
        rows.append({**row.as_dict(), "quota": source.quota, "submitted": source.submitted, "passed": source.passed,
                     "decision": None if decision is None else {
                         "awarded": decision.awarded, "reason": decision.reason, "decided_at": decision.decided_at,
                         "decided_by": awards._username(session, decision.decided_by_id)}})
    return Group(scope, chosen, version, rows, params.as_dict())


def decide(session: Session, user: User, campaign: Campaign, scope: Scope, organisation_id: int, awarded: bool,
           reason: str, province_code: str | None = None) -> OrganisingDecision:
    """The national office awards (or not) one organisation of a group, with a reason; audited."""
    awards.require_national(user, "决定优秀组织奖")
    text = required_reason(reason, what="决定理由")
    current = group(session, user, campaign, scope, province_code)
    if organisation_id not in {r["unit_id"] for r in current.rows}:
        raise UnknownOrganisation()
    decision = OrganisingDecision(
        campaign_id=campaign.id or 0, scope=scope, province_id=current.province.id if current.province else None,
        organisation_id=organisation_id, awarded=awarded, reason=text, decided_by_id=user.id, decided_at=utcnow(),
    )
    session.add(decision)
    session.flush()
    record(session, actor=user, action="organising_decide", data={
        "scope": scope, "province": current.province.code if current.province else None,
        "organisation_id": organisation_id, "awarded": awarded, "reason": text,
    })
    return decision
