"""The ranking's formulas, its properties (hypothesis) and its edge cases; pure computation, no services."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clipjury.awards.ranking import (
    AwardLevel,
    LikesSnapshot,
    RankingInputInvalid,
    RankingParams,
    RankingResult,
    ScoreRow,
    compute_ranking,
    rubric_total,
)
from tests.awards_support import RUBRIC, Contest, contests, row, work

FAST = settings(max_examples=40, deadline=None, derandomize=True)


def run(contest: Contest) -> RankingResult:
    return compute_ranking(contest.works, contest.rows, RUBRIC, contest.snapshot, contest.params)


def rank_of(result: RankingResult, work_id: int) -> int | None:
    return next(r.rank for r in result.rows if r.work_id == work_id)


def test_rubric_total_is_the_weighted_share_of_each_range() -> None:
    # 100 · (2 · 8/10 + 1 · 5/10) / 3 = 70
    assert rubric_total({"idea": 8, "craft": 5}, RUBRIC) == pytest.approx(70.0)
    assert rubric_total({"idea": 0, "craft": 0}, RUBRIC) == 0.0
    assert rubric_total({"idea": 10, "craft": 10}, RUBRIC) == pytest.approx(100.0)


def test_worked_example_of_the_readme() -> None:
    """The README's example, number for number (computed with this code, checked by hand there)."""
    works = [work(1, 0), work(2, 1), work(3, 2), work(4, 3)]
    rows = [
        row("strict", 1, 6, 6), row("strict", 2, 4, 4), row("strict", 3, 5, 2),
        row("lenient", 1, 9, 9), row("lenient", 2, 8, 7), row("lenient", 4, 9, 6),
        row("third", 2, 7, 7), row("third", 3, 6, 6), row("third", 4, 8, 8),
    ]
    # T: strict 60, 40, 40; lenient 90, 76.67, 80; third 70, 60, 80
    likes = LikesSnapshot.of({1: 120, 2: 15, 3: 0, 4: 400})
    params = RankingParams(award_levels=(AwardLevel("一等奖", count=1), AwardLevel("二等奖", count=1)),
                           near_tie_margin=2.0)
    result = compute_ranking(works, rows, RUBRIC, likes, params)
    assert result.global_mean == pytest.approx(66.296296)
    assert result.global_spread == pytest.approx(16.736479)
    strict = next(j for j in result.judges if j.judge == "strict")
    assert (strict.mean, strict.norm_mean, strict.norm_spread) == (46.666667, 58.935185, 14.436132)
    lines = {r.work_id: r for r in result.rows}
    assert lines[1].raw_mean == pytest.approx(75.0)
    assert (lines[1].normalised, lines[1].final) == (77.761192, 78.435945)
    assert lines[4].likes_component == pytest.approx(30.0)
    assert lines[3].likes_component == 0.0
    # ℓ for 120 likes against L_ref = 400: ln 121 / ln 401
    assert lines[1].likes_scaled == pytest.approx(math.log(121) / math.log(401), abs=1e-6)
    assert [r.work_id for r in result.rows] == [4, 1, 2, 3]
    assert [r.level for r in result.rows] == ["一等奖", "二等奖", None, None]
    for r in result.rows:
        assert r.final == pytest.approx(0.7 * (r.normalised or 0) + r.likes_component, abs=2e-6)


@FAST
@given(contests(), st.randoms(use_true_random=False))
def test_invariant_under_the_order_of_input_rows(contest: Contest, rnd: object) -> None:
    import random

    assert isinstance(rnd, random.Random)
    works, rows = list(contest.works), list(contest.rows)
    rnd.shuffle(works)
    rnd.shuffle(rows)
    shuffled = compute_ranking(works, rows, RUBRIC, LikesSnapshot.of(dict(reversed(contest.likes.items()))),
                               contest.params)
    assert shuffled == run(contest)


@FAST
@given(contests())
def test_the_same_inputs_always_give_the_same_awards(contest: Contest) -> None:
    first, second = run(contest), run(contest)
    assert first == second
    assert [r.contract() for r in first.rows] == [r.contract() for r in second.rows]
    # The stored parameters give back the same parameters object.
    assert RankingParams.from_dict(first.params.as_dict()) == contest.params


@FAST
@given(contests(), st.data())
def test_more_likes_never_lower_a_works_rank(contest: Contest, data: st.DataObject) -> None:
    before = run(contest)
    target = data.draw(st.sampled_from([w.work_id for w in contest.works]))
    more = dict(contest.likes)
    more[target] += data.draw(st.integers(1, 5000))  # may become the new L_ref: that only lowers the others
    after = run(replace(contest, likes=more))
    old, new = rank_of(before, target), rank_of(after, target)
    assert (old is None) == (new is None)
    if old is not None and new is not None:
        assert new <= old


@FAST
@given(contests(), st.data())
def test_a_higher_score_never_lowers_a_works_rank_with_the_scale_held(contest: Contest, data: st.DataObject) -> None:
    """With the judges' centres and spreads held (a version's stored scale), the ranking is monotone in every
    score: z grows with T, the trimmed mean and the clamp are monotone. Re-estimating the scale from the new
    score is normalisation itself and can move a judge's other works a little (README, "Properties")."""
    raisable = [i for i, r in enumerate(contest.rows) if r.scores["idea"] < 10 or r.scores["craft"] < 10]
    if not raisable:
        return
    i = data.draw(st.sampled_from(raisable))
    old_row = contest.rows[i]
    new_row = row(old_row.judge, old_row.work_id, min(10, old_row.scores["idea"] + data.draw(st.integers(0, 3))),
                  min(10, old_row.scores["craft"] + 1))
    before = run(contest)
    raised = replace(contest, rows=(*contest.rows[:i], new_row, *contest.rows[i + 1:]))
    after = compute_ranking(raised.works, raised.rows, RUBRIC, raised.snapshot, raised.params, scale=before.scale())
    # Held at the stored (rounded) scale, the unraised computation is the reference.
    reference = compute_ranking(contest.works, contest.rows, RUBRIC, contest.snapshot, contest.params,
                                scale=before.scale())
    old, new = rank_of(reference, old_row.work_id), rank_of(after, old_row.work_id)
    assert old is not None and new is not None and new <= old


def test_no_spread_anywhere_gives_everyone_the_same_score_and_the_likes_decide() -> None:
    works = [work(w) for w in (1, 2, 3, 4)]
    rows = [row(j, w, 7, 7) for j in ("a", "b", "c") for w in (1, 2, 3, 4)]
    likes = LikesSnapshot.of({1: 5, 2: 50, 3: 0, 4: 500})
    result = compute_ranking(works, rows, RUBRIC, likes)
    assert result.global_spread == 0.0
    assert {r.normalised for r in result.rows} == {70.0}
    assert [r.work_id for r in result.rows] == [4, 2, 1, 3]
    # Without likes either, the earlier submission and then the id decide.
    flat = compute_ranking([work(2, 0), work(1, 5), work(3, 0)], [row("a", w, 3, 3) for w in (1, 2, 3)],
                           RUBRIC, LikesSnapshot.of({}))
    assert [r.work_id for r in flat.rows] == [2, 3, 1]


def test_a_judge_with_one_score_is_shrunk_toward_the_panel() -> None:
    works = [work(w) for w in range(1, 7)]
    rows = [row("many", w, w + 2, w + 1) for w in range(1, 7)] + [row("once", 3, 10, 10)]
    result = compute_ranking(works, rows, RUBRIC, LikesSnapshot.of({}))
    once = next(j for j in result.judges if j.judge == "once")
    assert once.n == 1 and once.spread == 0.0
    # μ_j = (1 · 100 + 5 · μ)/6, σ_j² = (0 + 5 σ²)/6
    assert once.norm_mean == pytest.approx((100 + 5 * result.global_mean) / 6, abs=1e-5)
    assert once.norm_spread == pytest.approx(math.sqrt(5 / 6) * result.global_spread, abs=1e-5)
    assert all(r.final is not None and math.isfinite(r.final) for r in result.rows)


def test_a_work_whose_judges_all_abstained_is_listed_unscored_never_ranked_as_zero() -> None:
    works = [work(1), work(2), work(3)]
    rows = [row("a", 1, 1, 1), row("b", 1, 2, 0), row("a", 3, 0, 0)]  # work 2: both judges declared a conflict
    result = compute_ranking(works, rows, RUBRIC, LikesSnapshot.of({1: 3, 2: 900, 3: 0}),
                             RankingParams(award_levels=(AwardLevel("优秀奖", count=3),)))
    last = result.rows[-1]
    assert last.work_id == 2
    assert (last.raw_mean, last.normalised, last.final, last.rank, last.level) == (None, None, None, None, None)
    assert last.likes == 900 and last.likes_component == 30.0
    assert [r.rank for r in result.rows[:2]] == [1, 2]
    assert [r.level for r in result.rows[:2]] == ["优秀奖", "优秀奖"]


def test_outlier_rule_drops_the_extremes_from_five_scores_and_clamps_below() -> None:
    judges = [f"j{i}" for i in range(6)]
    works = [work(w) for w in range(1, 9)]
    rows = [row(j, w, (w * 3 + i) % 11, (w + i) % 11) for i, j in enumerate(judges) for w in range(2, 9)]
    rows += [row(j, 1, 5, 5) for j in judges[:4]] + [row("j4", 1, 10, 10)]
    result = compute_ranking(works, rows, RUBRIC, LikesSnapshot.of({}))
    five = next(r for r in result.rows if r.work_id == 1)
    assert len(five.scores) == 5
    assert {d.use for d in five.dropped} == {"dropped_high", "dropped_low"}
    assert next(d for d in five.scores if d.judge == "j4").use == "dropped_high"
    # Four scores, one far off: clamped to ±2.5, not dropped.
    lone = [row("x", w, 0, 0) for w in range(1, 9)] + [row("x", 9, 10, 10)]
    others = [row(j, 9, 0, 0) for j in ("y", "z", "v")] + [row(j, w, 0, 0) for j in ("y", "z", "v") for w in (1, 2)]
    clamped = compute_ranking([*works, work(9)], lone + others, RUBRIC, LikesSnapshot.of({}),
                              RankingParams(shrinkage_n0=0))
    nine = next(r for r in clamped.rows if r.work_id == 9)
    assert [d.use for d in nine.scores if d.judge == "x"] == ["clamped"]
    assert not nine.dropped


def test_the_additive_model_recovers_judge_biases_and_warns_about_unequal_sets() -> None:
    quality = {w: 20 + 6 * w for w in range(1, 11)}  # 26 … 80 points of T
    offsets = {"lenient": 12.0, "strict": -12.0, "fair": 0.0}
    rows = []
    for w, q in quality.items():
        for judge, b in offsets.items():
            if (w + len(judge)) % 3:  # mixed, incomplete assignment
                t = min(100.0, max(0.0, q + b))
                rows.append(row(judge, w, t / 10, t / 10))
    works = [work(w) for w in quality]
    additive = compute_ranking(works, rows, RUBRIC, LikesSnapshot.of({}),
                               RankingParams(model="additive", likes_weight=0.0, shrinkage_n0=0.1))
    biases = {j.judge: j.bias for j in additive.judges}
    assert biases["lenient"] - biases["strict"] == pytest.approx(24.0, abs=1.0)
    assert [r.work_id for r in additive.rows] == sorted(quality, key=lambda w: -quality[w])

    # A judge who only sees the strongest works: other judges rate that set well above the rest.
    skewed = [row("top", w, quality[w] / 10, quality[w] / 10) for w in (8, 9, 10)]
    skewed += [row(j, w, quality[w] / 10, quality[w] / 10) for j in ("p", "q") for w in quality]
    warned = compute_ranking(works, skewed, RUBRIC, LikesSnapshot.of({}))
    assert [(w.judge, w.direction) for w in warned.warnings] == [("top", "stronger")]


def test_levels_fill_top_down_by_count_and_share_and_near_ties_are_flagged() -> None:
    works = [work(w) for w in range(1, 11)]
    rows = [row(j, w, w, w) for j in ("a", "b") for w in range(1, 11)]
    # Work 10 (T 90.67 and 90) only just ahead of work 9 (T 90 and 90).
    rows[9], rows[19] = row("a", 10, 9.1, 9.0), row("b", 10, 9, 9)
    levels = (AwardLevel("一等奖", count=1), AwardLevel("二等奖", share=0.2), AwardLevel("三等奖", share=0.35))
    result = compute_ranking(works, rows, RUBRIC, LikesSnapshot.of({}), RankingParams(
        award_levels=levels, near_tie_margin=1.0, likes_weight=0.0))
    assert [r.level for r in result.rows] == ["一等奖", "二等奖", "二等奖", "三等奖", "三等奖", "三等奖",
                                              None, None, None, None]
    assert [r.work_id for r in result.rows][:2] == [10, 9]
    assert [c.after_rank for c in result.cutoffs] == [1, 3, 6]
    assert result.rows[0].near_tie and result.rows[1].near_tie
    assert not result.rows[2].near_tie


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (row("b", 1, 11, 5), "out_of_range"),
        (row("b", 1, -1, 5), "out_of_range"),
        (row("a", 9, 5, 5), "unknown_work"),
        (row("a", 2, 5, 5), "duplicate_score"),
    ],
)
def test_bad_input_is_refused_with_a_specific_code(bad: ScoreRow, code: str) -> None:
    rows = [row("a", 1, 5, 5), row("a", 2, 5, 5), bad]
    with pytest.raises(RankingInputInvalid) as err:
        compute_ranking([work(1), work(2)], rows, RUBRIC, LikesSnapshot.of({}))
    assert err.value.code == code


def test_incomplete_scores_and_bad_parameters_are_refused() -> None:
    with pytest.raises(RankingInputInvalid) as err:
        compute_ranking([work(1)], [ScoreRow("a", 1, {"idea": 5})], RUBRIC, LikesSnapshot.of({}))
    assert err.value.code == "incomplete_scores"
    with pytest.raises(RankingInputInvalid) as err:
        compute_ranking([work(1)], [], RUBRIC, LikesSnapshot.of({}), RankingParams(likes_weight=1.5))
    assert err.value.code == "bad_likes_weight"
    with pytest.raises(RankingInputInvalid) as err:
        compute_ranking([work(1)], [], RUBRIC, LikesSnapshot(counts={1: 10}, reference=5))
    assert err.value.code == "bad_likes"


def test_the_additive_model_takes_panels_that_share_no_work_as_fair_on_average() -> None:
    # Province-blocked assignment: judges a, b see works 1–20 only, c, d works 21–40 only.
    rows = [row(j, w, (w * 7 + off) % 11, (w * 3 + off) % 11)
            for j, off, block in (("a", 0, 0), ("b", 1, 0), ("c", 2, 20), ("d", 4, 20))
            for w in range(block + 1, block + 21)]
    works = [work(w) for w in range(1, 41)]
    result = compute_ranking(works, rows, RUBRIC, LikesSnapshot.of({}), RankingParams(model="additive"))
    bias = {j.judge: (j.n, j.bias) for j in result.judges}
    for panel in (("a", "b"), ("c", "d")):
        assert sum(bias[j][0] * bias[j][1] for j in panel) == pytest.approx(0.0, abs=1e-4)
    assert result.additive_iterations < 50


def test_parameters_read_from_the_campaign_settings_shape() -> None:
    from clipjury.awards.ranking import DEFAULT_AWARD_LEVELS, rubric_from_settings

    judging = {"judges_per_work": 5, "likes_weight": 0.2, "shrinkage_n0": 3, "near_tie_margin": 1.5,
               "award_levels": [{"name": "一等奖", "count": 3}, {"name": "优秀奖", "share": 0.1}],
               "rubric": [{"key": "idea", "name": "思想性", "weight": 2, "min": 0, "max": 10}]}
    params = RankingParams.from_dict(judging)
    assert (params.likes_weight, params.shrinkage_n0, params.near_tie_margin) == (0.2, 3, 1.5)
    assert params.award_levels == (AwardLevel("一等奖", count=3), AwardLevel("优秀奖", share=0.1))
    assert RankingParams.from_dict({}).award_levels == DEFAULT_AWARD_LEVELS
    assert rubric_from_settings(judging["rubric"])[0].name == "思想性"  # type: ignore[arg-type]
