"""Awards versions: diffs, recorded adjustments, disqualification without recomputing anyone (hypothesis)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clipjury.awards import versions
from clipjury.awards.ranking import AwardLevel, LikesSnapshot, RankingParams, compute_ranking
from clipjury.errors import DomainError
from tests.awards_support import RUBRIC, Contest, contests, row, work

FAST = settings(max_examples=40, deadline=None, derandomize=True)
WHEN = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


def first(contest: Contest) -> versions.AwardsVersion:
    return versions.from_result(compute_ranking(contest.works, contest.rows, RUBRIC, contest.snapshot,
                                                contest.params))


def small() -> versions.AwardsVersion:
    works = [work(w) for w in range(1, 7)]
    rows = [row(j, w, w + 3, w + 2) for j in ("a", "b") for w in range(1, 7)]
    params = RankingParams(award_levels=(AwardLevel("一等奖", count=1), AwardLevel("二等奖", count=2)),
                           likes_weight=0.0)
    return versions.from_result(compute_ranking(works, rows, RUBRIC, LikesSnapshot.of({}), params))


@FAST
@given(contests(min_works=3), st.data())
def test_a_disqualification_removes_exactly_that_work_and_keeps_everyone_elses_order(
    contest: Contest, data: st.DataObject
) -> None:
    before = first(contest)
    target = data.draw(st.sampled_from([r.work_id for r in before.rows]))
    after = versions.disqualify(before, target, "抄袭", "national", WHEN)
    assert {r.work_id for r in after.rows} == {r.work_id for r in before.rows} - {target}
    old = {r.work_id: r for r in before.rows}
    for r in after.rows:  # nobody's numbers recomputed
        o = old[r.work_id]
        assert (r.raw_mean, r.normalised, r.likes, r.likes_component, r.final, r.scores) == (
            o.raw_mean, o.normalised, o.likes, o.likes_component, o.final, o.scores)
    assert [r.work_id for r in after.rows] == [r.work_id for r in before.rows if r.work_id != target]
    assert [r.rank for r in after.rows if r.rank is not None] == list(range(1, 1 + sum(r.scored for r in after.rows)))
    # Undoing it gives back the first version's rows exactly.
    assert versions.reinstate(after, target).rows == before.rows
    assert (after.number, after.based_on, after.cause) == (2, 1, "disqualified")


def test_diff_says_who_moved_and_an_adjustment_is_a_recorded_row() -> None:
    v1 = small()
    assert [(r.work_id, r.level) for r in v1.rows[:4]] == [(6, "一等奖"), (5, "二等奖"), (4, "二等奖"), (3, None)]
    v2 = versions.adjust(v1, 3, "二等奖", "省级推荐材料补正后复核", "national", WHEN)
    assert v2.adjustments == (versions.Adjustment(3, None, "二等奖", "省级推荐材料补正后复核", "national", WHEN),)
    assert [m.as_dict() for m in versions.diff(v1, v2)] == [
        {"work_id": 3, "from": {"rank": 4, "level": None}, "to": {"rank": 4, "level": "二等奖"}}]
    assert v1.row(3).level is None  # the earlier version is untouched

    # A disqualification of the first: ranks close up, 5 becomes 一等奖, the adjustment stays in force.
    v3 = versions.disqualify(v2, 6, "违反征集规则", "national", WHEN)
    assert [(r.work_id, r.rank, r.level) for r in v3.rows[:4]] == [
        (5, 1, "一等奖"), (4, 2, "二等奖"), (3, 3, "二等奖"), (2, 4, None)]
    moves = {m.work_id: m for m in versions.diff(v2, v3)}
    assert moves[6].present_after is False and moves[6].from_level == "一等奖"
    assert (moves[5].from_level, moves[5].to_level) == ("二等奖", "一等奖")

    # Stored and read back: the same version.
    stored = json.loads(json.dumps(versions.version_to_dict(v3), ensure_ascii=False))
    assert versions.version_from_dict(stored) == v3


@pytest.mark.parametrize(
    ("work_id", "level", "reason", "code"),
    [(3, "二等奖", "  ", "reason_required"), (3, "特等奖", "理由", "unknown_level"),
     (6, "一等奖", "理由", "no_change"), (99, "一等奖", "理由", "not_found")],
)
def test_bad_adjustments_are_refused(work_id: int, level: str, reason: str, code: str) -> None:
    with pytest.raises(DomainError) as err:
        versions.adjust(small(), work_id, level, reason, "national", WHEN)
    assert err.value.code == code
