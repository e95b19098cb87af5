"""优秀组织奖: the documented formula, the tie-break on higher-level awards, refusals."""

from __future__ import annotations

import pytest

from clipjury.awards.organisers import (
    OrganiserInputInvalid,
    OrganiserParams,
    UnitInput,
    award_counts,
    rank_units,
)
from clipjury.awards.ranking import AwardRow
from tests.awards_support import BASE


def test_units_are_ranked_on_fulfilment_pass_rate_and_award_points() -> None:
    units = [
        UnitInput(1, "河北省", quota=10, submitted=12, passed=9, awards={"一等奖": 1, "三等奖": 2}),  # 16 points
        UnitInput(2, "山西省", quota=10, submitted=5, passed=5, awards={"二等奖": 1}),  # 6 points
        UnitInput(3, "内蒙古自治区", quota=0, submitted=0, passed=0, awards={}),
    ]
    rows = rank_units(units, OrganiserParams(award_count=1, award_share=None))
    by_id = {r.unit_id: r for r in rows}
    # 河北: f = 1 (capped), p = 0.75, a = 16/16 → 100 · (0.3 + 0.225 + 0.4) = 92.5
    assert (by_id[1].fulfilment, by_id[1].pass_rate, by_id[1].award_points, by_id[1].score) == (1.0, 0.75, 16.0, 92.5)
    # 山西: f = 0.5, p = 1, a = 6/16 → 100 · (0.15 + 0.3 + 0.15) = 60
    assert by_id[2].score == pytest.approx(60.0)
    # 内蒙古: nothing asked (f = 1), nothing submitted (p = 0), no points → 30
    assert by_id[3].score == pytest.approx(30.0)
    assert [(r.unit_id, r.rank, r.proposed) for r in rows] == [(1, 1, True), (2, 2, False), (3, 3, False)]
    assert rows[0].as_dict()["awards"] == {"一等奖": 1, "二等奖": 0, "三等奖": 2, "优秀奖": 0}


def test_a_tie_goes_to_the_unit_with_more_higher_level_awards() -> None:
    # Same points (10 = one 一等奖 = ten 优秀奖), same counts: equal scores; the 一等奖 decides.
    units = [
        UnitInput(7, "甲市", quota=4, submitted=4, passed=4, awards={"优秀奖": 10}),
        UnitInput(8, "乙市", quota=4, submitted=4, passed=4, awards={"一等奖": 1}),
        UnitInput(9, "丙市", quota=4, submitted=2, passed=1, awards={}),
    ]
    rows = rank_units(units)
    assert [r.unit_id for r in rows] == [8, 7, 9]
    assert rows[0].score == rows[1].score and rows[0].tie_broken and rows[1].tie_broken
    assert not rows[2].tie_broken
    assert [r.proposed for r in rows] == [False, False, False]  # ⌊0.3 · 3⌋ = 0 by default share


def test_award_counts_come_from_a_versions_rows() -> None:
    rows = [AwardRow(w, 1.0, 1.0, 0, 0.0, 1.0, w, level, False, BASE)
            for w, level in ((1, "一等奖"), (2, "二等奖"), (3, None), (4, "二等奖"))]
    assert award_counts(rows, {1: 10, 2: 10, 3: 10, 4: 20}) == {10: {"一等奖": 1, "二等奖": 1}, 20: {"二等奖": 1}}


@pytest.mark.parametrize(
    ("unit", "params", "code"),
    [
        (UnitInput(1, "x", 3, 2, 3, {}), OrganiserParams(), "bad_unit_counts"),
        (UnitInput(1, "x", 3, 2, 1, {"一等奖": -1}), OrganiserParams(), "bad_unit_counts"),
        (UnitInput(1, "x", 3, 2, 1, {}), OrganiserParams(0, 0, 0), "bad_weights"),
        (UnitInput(1, "x", 3, 2, 1, {}), OrganiserParams(award_count=2), "bad_award_count"),
    ],
)
def test_bad_counts_and_settings_are_refused(unit: UnitInput, params: OrganiserParams, code: str) -> None:
    with pytest.raises(OrganiserInputInvalid) as err:
        rank_units([unit], params)
    assert err.value.code == code
