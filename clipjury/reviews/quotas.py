"""Quotas: per unit, the required minimum against what was submitted, passed and forwarded.

One grouped count over the works plus the units, provinces and quota rows: four queries whatever the
number of provinces, units or works.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from clipjury.accounts.models import UNIT_KIND_LABELS, Province, Role, Unit, UnitKind, User
from clipjury.campaigns.models import Campaign, UnitQuota
from clipjury.errors import Forbidden
from clipjury.timeutil import as_utc, utcnow
from clipjury.works.models import FORWARDED_STATUSES, IN_REVIEW_STATUSES, PASSED_STATUSES, Work

# Works of submitters outside any unit (the public) are counted on a row of their own.
NO_UNIT = "个人投稿（未隶属单位）"


@dataclass
class QuotaRow:
    province: str
    province_code: str
    unit: str
    unit_id: int | None
    unit_kind: str
    unit_kind_label: str
    required: int
    submitted: int = 0
    passed: int = 0
    forwarded: int = 0
    returned: int = 0
    failed: int = 0
    disqualified: int = 0

    @property
    def met(self) -> bool:
        return self.submitted >= self.required

    @property
    def missing(self) -> int:
        return max(0, self.required - self.submitted)

    def contract(self) -> dict[str, object]:
        """The fixed API shape of ``GET /api/v1/quotas``."""
        return {
            "province": self.province, "unit": self.unit, "required": self.required,
            "submitted": self.submitted, "passed": self.passed, "forwarded": self.forwarded,
        }

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "met": self.met, "missing": self.missing}


@dataclass
class QuotaScope:
    """Which provinces and units a user's quota views cover (None: all)."""

    province_ids: set[int] | None
    unit_ids: set[int] | None


def quota_scope(user: User) -> QuotaScope:
    role = Role(user.role)
    if role == Role.national_admin:
        return QuotaScope(None, None)
    if role in (Role.provincial_admin, Role.reviewer) and user.province_id is not None:
        return QuotaScope({user.province_id}, None)
    if role == Role.unit_coordinator and user.unit_id is not None:
        return QuotaScope(None, {user.unit_id})
    raise Forbidden("只有单位联络员、省级评审人员和管理员可以查看配额。", code="forbidden_role")


def quota_rows(
    session: Session, user: User, campaign: Campaign, *, province_code: str | None = None
) -> list[QuotaRow]:
    scope = quota_scope(user)
    units_q = select(Unit)
    works_q = (
        select(Work.province_id, Work.unit_id, Work.status, func.count())
        .where(Work.campaign_id == campaign.id)
        .group_by(col(Work.province_id), col(Work.unit_id), col(Work.status))
    )
    if scope.province_ids is not None:
        units_q = units_q.where(col(Unit.province_id).in_(scope.province_ids))
        works_q = works_q.where(col(Work.province_id).in_(scope.province_ids))
    if scope.unit_ids is not None:
        units_q = units_q.where(col(Unit.id).in_(scope.unit_ids))
        works_q = works_q.where(col(Work.unit_id).in_(scope.unit_ids))
    if province_code:
        chosen = session.exec(select(Province).where(Province.code == province_code)).first()
        chosen_id = chosen.id if chosen else -1
        units_q = units_q.where(Unit.province_id == chosen_id)
        works_q = works_q.where(Work.province_id == chosen_id)

    provinces = {p.id: p for p in session.exec(select(Province))}
    units = list(session.exec(units_q.order_by(col(Unit.province_id), col(Unit.sort_order), col(Unit.id))))
    overrides: dict[int, int] = dict(
        session.exec(
            select(UnitQuota.unit_id, UnitQuota.required).where(UnitQuota.campaign_id == campaign.id)
        ).all()
    )
    counts: dict[tuple[int, int | None], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for province_id, unit_id, status, n in session.exec(works_q):
        counts[(province_id, unit_id)][status] += n

    rows: list[QuotaRow] = []

    def row_for(province_id: int, unit: Unit | None) -> QuotaRow:
        province = provinces.get(province_id)
        kind = unit.kind if unit else UnitKind.other.value
        required = 0
        if unit is not None:
            required = overrides.get(unit.id or 0, int(campaign.quota_by_kind.get(unit.kind, 0)))
        by_status = counts.get((province_id, unit.id if unit else None), {})
        return QuotaRow(
            province=province.name if province else "",
            province_code=province.code if province else "",
            unit=unit.name if unit else NO_UNIT,
            unit_id=unit.id if unit else None,
            unit_kind=kind,
            unit_kind_label=UNIT_KIND_LABELS.get(UnitKind(kind), kind) if unit else "社会公众",
            required=required,
            submitted=sum(n for s, n in by_status.items() if s in IN_REVIEW_STATUSES),
            passed=sum(n for s, n in by_status.items() if s in PASSED_STATUSES),
            forwarded=sum(n for s, n in by_status.items() if s in FORWARDED_STATUSES),
            returned=by_status.get("returned", 0),
            failed=by_status.get("failed", 0),
            disqualified=by_status.get("disqualified", 0),
        )

    for unit in units:
        # A retired unit (clipjury.units) keeps the works it has, and shows only when it has some.
        if unit.archived_at is not None and not counts.get((unit.province_id, unit.id)):
            continue
        rows.append(row_for(unit.province_id, unit))
    if scope.unit_ids is None:
        for province_id in sorted(k[0] for k in counts if k[1] is None):
            if province_code and provinces.get(province_id, Province(code="", name="")).code != province_code:
                continue
            row = row_for(province_id, None)
            if row.submitted or row.returned or row.disqualified:
                rows.append(row)
    return rows


@dataclass
class ProvinceSummary:
    province: str
    province_code: str
    units: int
    units_met: int
    required: int
    submitted: int
    passed: int
    forwarded: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def province_summaries(rows: list[QuotaRow]) -> list[ProvinceSummary]:
    """Per province totals of the rows (the national dashboard's first view)."""
    by: dict[str, ProvinceSummary] = {}
    for r in rows:
        s = by.setdefault(r.province_code, ProvinceSummary(r.province, r.province_code, 0, 0, 0, 0, 0, 0))
        if r.unit_id is not None:
            s.units += 1
            s.units_met += int(r.met)
        s.required += r.required
        s.submitted += r.submitted
        s.passed += r.passed
        s.forwarded += r.forwarded
    return list(by.values())


def time_left(campaign: Campaign, now: datetime | None = None) -> dict[str, object]:
    """Time to the submission and forwarding deadlines, for the dashboards' countdown."""
    now = now or utcnow()
    sub = as_utc(campaign.submission_deadline)
    fwd = campaign.effective_forward_deadline()
    return {
        "submission_deadline": sub,
        "submission_seconds_left": max(0, int((sub - now).total_seconds())),
        "forward_deadline": fwd,
        "forward_seconds_left": max(0, int((fwd - now).total_seconds())),
    }
