"""Organising-unit awards (优秀组织奖): units ranked on quota fulfilment, pass rate and award points.

Pure. One call ranks one comparison group: the top-level organisations (provinces and departments)
nationally, or the units within one province. For a unit u with quota Q, submitted works N, works that
passed review P and award counts c_l per level l:

    fulfilment f = min(1, N / Q)        (1 when Q = 0: nothing was asked)
    pass rate  p = P / N                (0 when N = 0)
    points     A = Σ_l points_l · c_l;  a = A / max over the group of A   (0 when no one has points)
    score      U = 100 · (w_f f + w_p p + w_a a) / (w_f + w_p + w_a)

Ordered by U, then by the award counts level by level from the highest (more higher-level awards wins),
then by id. The first ``award_count`` units (or ⌊share · units⌋) are proposed; the national office
decides, with a reason, in the awards service.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clipjury.awards.ranking import DECIMALS, AwardRow
from clipjury.errors import Invalid

DEFAULT_LEVEL_POINTS: tuple[tuple[str, float], ...] = (("一等奖", 10.0), ("二等奖", 6.0), ("三等奖", 3.0),
                                                       ("优秀奖", 1.0))


class OrganiserInputInvalid(Invalid):
    code = "organiser_input_invalid"
    message = "组织单位的统计数据无效。"


@dataclass(frozen=True)
class UnitInput:
    unit_id: int
    name: str
    quota: int
    submitted: int
    passed: int
    awards: Mapping[str, int]


@dataclass(frozen=True)
class OrganiserParams:
    """The campaign's settings for 优秀组织奖: the three weights, the points per level (highest first: the
    tie-break reads them in this order) and how many units of a group are proposed."""

    fulfilment_weight: float = 0.3
    pass_rate_weight: float = 0.3
    award_weight: float = 0.4
    level_points: tuple[tuple[str, float], ...] = DEFAULT_LEVEL_POINTS
    award_count: int | None = None
    award_share: float | None = 0.3

    def check(self) -> None:
        weights = (self.fulfilment_weight, self.pass_rate_weight, self.award_weight)
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise OrganiserInputInvalid("组织奖权重不能为负数，且不能全为 0。", code="bad_weights")
        if any(p < 0 for _, p in self.level_points):
            raise OrganiserInputInvalid("奖项分值不能为负数。", code="bad_points")
        if (self.award_count is None) == (self.award_share is None):
            raise OrganiserInputInvalid("组织奖须设置名额或比例之一。", code="bad_award_count")
        if (self.award_count is not None and self.award_count < 0) or (
                self.award_share is not None and not 0 <= self.award_share <= 1):
            raise OrganiserInputInvalid("组织奖名额或比例无效。", code="bad_award_count")

    def places(self, units: int) -> int:
        if self.award_count is not None:
            return min(units, self.award_count)
        assert self.award_share is not None
        return math.floor(self.award_share * units + 1e-9)

    def as_dict(self) -> dict[str, Any]:
        return {
            "fulfilment_weight": self.fulfilment_weight, "pass_rate_weight": self.pass_rate_weight,
            "award_weight": self.award_weight, "level_points": [list(p) for p in self.level_points],
            "award_count": self.award_count, "award_share": self.award_share,
        }


@dataclass(frozen=True)
class UnitRow:
    unit_id: int
    name: str
    fulfilment: float
    pass_rate: float
    award_points: float
    award_share: float
    score: float
    rank: int
    proposed: bool
    awards: tuple[tuple[str, int], ...]
    # True when this unit's score equals the next or previous one's and the award counts decided.
    tie_broken: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "unit_id": self.unit_id, "name": self.name, "fulfilment": self.fulfilment,
            "pass_rate": self.pass_rate, "award_points": self.award_points, "award_share": self.award_share,
            "score": self.score, "rank": self.rank, "proposed": self.proposed, "awards": dict(self.awards),
            "tie_broken": self.tie_broken,
        }


def _r(x: float) -> float:
    return round(x, DECIMALS) + 0.0


def award_counts(rows: Iterable[AwardRow], unit_of: Mapping[int, int]) -> dict[int, dict[str, int]]:
    """Award counts per unit from a version's rows (``unit_of``: work id → the unit it counts for)."""
    counts: dict[int, dict[str, int]] = {}
    for row in rows:
        if row.level is not None and row.work_id in unit_of:
            per = counts.setdefault(unit_of[row.work_id], {})
            per[row.level] = per.get(row.level, 0) + 1
    return counts


def rank_units(units: Sequence[UnitInput], params: OrganiserParams | None = None) -> list[UnitRow]:
    params = params or OrganiserParams()
    params.check()
    ids = [u.unit_id for u in units]
    if len(set(ids)) != len(ids):
        raise OrganiserInputInvalid("组织单位重复。", code="duplicate_unit")
    for u in units:
        if min(u.quota, u.submitted, u.passed, *u.awards.values(), 0) < 0 or u.passed > u.submitted:
            raise OrganiserInputInvalid(f"{u.name} 的统计数据无效（通过数不能超过报送数，数量不能为负）。",
                                        code="bad_unit_counts", unit_id=u.unit_id)
    points = dict(params.level_points)
    level_order = [name for name, _ in params.level_points]
    total_weight = params.fulfilment_weight + params.pass_rate_weight + params.award_weight
    raw_points = {u.unit_id: math.fsum(points.get(level, 0.0) * n for level, n in sorted(u.awards.items()))
                  for u in units}
    best = max(raw_points.values(), default=0.0)

    scored: list[tuple[tuple[Any, ...], UnitInput, float, float, float, float, float]] = []
    for u in sorted(units, key=lambda x: x.unit_id):
        f = 1.0 if u.quota == 0 else min(1.0, u.submitted / u.quota)
        p = u.passed / u.submitted if u.submitted else 0.0
        a_points = raw_points[u.unit_id]
        a = a_points / best if best > 0 else 0.0
        score = _r(100.0 * (params.fulfilment_weight * f + params.pass_rate_weight * p
                            + params.award_weight * a) / total_weight)
        counts = tuple(-u.awards.get(level, 0) for level in level_order)
        scored.append(((-score, *counts, u.unit_id), u, f, p, a_points, a, score))
    scored.sort(key=lambda s: s[0])
    places = params.places(len(scored))
    rows: list[UnitRow] = []
    for i, (_, u, f, p, a_points, a, score) in enumerate(scored):
        tied = any(0 <= k < len(scored) and k != i and scored[k][6] == score for k in (i - 1, i + 1))
        rows.append(UnitRow(
            u.unit_id, u.name, _r(f), _r(p), _r(a_points), _r(a), score, i + 1, i < places,
            tuple((level, u.awards.get(level, 0)) for level in level_order), tie_broken=tied,
        ))
    return rows
