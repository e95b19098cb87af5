"""The ranking: rubric totals, per-judge normalisation (or the additive model), the outlier rule, likes and
award levels, computed from frozen inputs into rows the awards version stores.

Pure and deterministic: the input rows are put in one canonical order before any sum, so the same inputs in
any order give the same numbers to the last bit. Every formula is in the README ("Awards: how the ranking is
computed"); the names below follow it (T, μ, σ, μ_j, σ_j, z, S, ℓ, F).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from clipjury.errors import Invalid

Model = Literal["normalised", "additive"]
MODELS: tuple[Model, ...] = ("normalised", "additive")

# Output numbers are rounded to this many decimals, and the order is decided on the rounded numbers: two
# works whose finals differ only by floating-point noise are a tie (then S, submission time and id decide),
# and a stored version re-sorts to exactly the same order (versions.disqualify).
DECIMALS = 6

ADDITIVE_MAX_ITERATIONS = 500
ADDITIVE_TOLERANCE = 1e-7  # points of T; outputs keep 6 decimals


class RankingInputInvalid(Invalid):
    code = "ranking_input_invalid"
    message = "评审数据不完整或不符合评分细则，无法计算排名。"


# -- inputs ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Criterion:
    """One rubric line: a judge gives ``min`` ≤ x ≤ ``max``; ``weight`` is its share of the total."""

    key: str
    weight: float
    min: float
    max: float
    name: str = ""


@dataclass(frozen=True)
class ScoreRow:
    """One judge's submitted scores for one work. An abstention (a declared conflict) is no row at all."""

    judge: str
    work_id: int
    scores: Mapping[str, float]


@dataclass(frozen=True)
class WorkEntry:
    """A work in the ranking: every work of the frozen likes snapshot that is not disqualified."""

    work_id: int
    submitted_at: datetime


@dataclass(frozen=True)
class LikesSnapshot:
    """Like counts from the frozen snapshot. ``reference`` is L_ref, the largest count when it was frozen: it
    stays the same when that work is disqualified later, so no one else's likes component moves."""

    counts: Mapping[int, int]
    reference: int

    @classmethod
    def of(cls, counts: Mapping[int, int]) -> LikesSnapshot:
        return cls(dict(counts), max(counts.values(), default=0))


@dataclass(frozen=True)
class AwardLevel:
    """A level filled top-down: either a fixed ``count`` of works or a ``share`` of the ranked works
    (⌊share · N⌋ places, never more than the share)."""

    name: str
    count: int | None = None
    share: float | None = None

    def places(self, ranked: int) -> int:
        if self.count is not None:
            return self.count
        assert self.share is not None
        return math.floor(self.share * ranked + 1e-9)


DEFAULT_AWARD_LEVELS: tuple[AwardLevel, ...] = (
    AwardLevel("一等奖", share=0.05),
    AwardLevel("二等奖", share=0.10),
    AwardLevel("三等奖", share=0.15),
    AwardLevel("优秀奖", share=0.20),
)


@dataclass(frozen=True)
class RankingParams:
    """Every parameter of a computation; stored with the version (``as_dict``)."""

    shrinkage_n0: float = 5.0
    likes_weight: float = 0.3
    model: Model = "normalised"
    near_tie_margin: float = 0.5
    award_levels: tuple[AwardLevel, ...] = DEFAULT_AWARD_LEVELS
    # The outlier rule: with at least this many scores drop the single highest and lowest z, else clamp z.
    outlier_drop_min_scores: int = 5
    outlier_z_clamp: float = 2.5
    # The set-strength warning: other judges' mean z on this judge's works differs from theirs on the rest
    # by more than this, with at least ``set_warning_min_scores`` other-judge scores on each side.
    set_warning_z: float = 0.5
    set_warning_min_scores: int = 3

    def check(self) -> None:
        if self.model not in MODELS:
            raise RankingInputInvalid(f"未知的计算模型：{self.model}。", code="bad_model")
        if not 0 <= self.likes_weight <= 1:
            raise RankingInputInvalid("点赞权重必须在 0 到 1 之间。", code="bad_likes_weight")
        if self.shrinkage_n0 < 0:
            raise RankingInputInvalid("收缩参数 n₀ 不能为负数。", code="bad_shrinkage")
        if self.near_tie_margin < 0:
            raise RankingInputInvalid("接近并列的分差不能为负数。", code="bad_near_tie_margin")
        if self.outlier_drop_min_scores < 3 or self.outlier_z_clamp <= 0:
            raise RankingInputInvalid("异常分规则的参数无效。", code="bad_outlier_rule")
        names = [level.name for level in self.award_levels]
        if len(set(names)) != len(names):
            raise RankingInputInvalid("奖项等级名称不能重复。", code="bad_award_levels")
        for level in self.award_levels:
            if (level.count is None) == (level.share is None):
                raise RankingInputInvalid(f"奖项“{level.name}”须设置名额或比例之一。", code="bad_award_levels")
            if level.count is not None and level.count < 0:
                raise RankingInputInvalid(f"奖项“{level.name}”的名额不能为负数。", code="bad_award_levels")
            if level.share is not None and not 0 <= level.share <= 1:
                raise RankingInputInvalid(f"奖项“{level.name}”的比例须在 0 到 1 之间。", code="bad_award_levels")

    def as_dict(self) -> dict[str, Any]:
        return {
            "shrinkage_n0": self.shrinkage_n0,
            "likes_weight": self.likes_weight,
            "model": self.model,
            "near_tie_margin": self.near_tie_margin,
            "award_levels": [
                {"name": lv.name, "count": lv.count} if lv.count is not None else {"name": lv.name, "share": lv.share}
                for lv in self.award_levels
            ],
            "outlier_drop_min_scores": self.outlier_drop_min_scores,
            "outlier_z_clamp": self.outlier_z_clamp,
            "set_warning_z": self.set_warning_z,
            "set_warning_min_scores": self.set_warning_min_scores,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RankingParams:
        levels = tuple(
            AwardLevel(str(lv["name"]), count=lv.get("count"), share=lv.get("share"))
            for lv in data["award_levels"]
        ) if "award_levels" in data else DEFAULT_AWARD_LEVELS
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "award_levels"}
        return cls(award_levels=levels, **known)


# -- outputs ---------------------------------------------------------------------------------------------

ScoreUse = Literal["kept", "clamped", "dropped_high", "dropped_low"]


@dataclass(frozen=True)
class ScoreDetail:
    """One score of a work in the breakdown: the judge's rubric total T, its z and what the outlier rule did."""

    judge: str
    total: float
    z: float
    use: ScoreUse


@dataclass(frozen=True)
class AwardRow:
    """One work's line. ``rank``/``final``/``normalised``/``raw_mean`` are None for an unscored work (every
    judge abstained): it is listed, never ranked as zero."""

    work_id: int
    raw_mean: float | None
    normalised: float | None
    likes: int
    likes_component: float
    final: float | None
    rank: int | None
    level: str | None
    near_tie: bool
    submitted_at: datetime
    likes_scaled: float = 0.0
    scores: tuple[ScoreDetail, ...] = ()

    @property
    def scored(self) -> bool:
        return self.final is not None

    @property
    def dropped(self) -> tuple[ScoreDetail, ...]:
        return tuple(s for s in self.scores if s.use in ("dropped_high", "dropped_low"))

    def contract(self) -> dict[str, Any]:
        """Exactly the row of ``POST /api/v1/awards/compute``."""
        return {
            "work_id": self.work_id,
            "raw_mean": self.raw_mean,
            "normalised": self.normalised,
            "likes": self.likes,
            "likes_component": self.likes_component,
            "final": self.final,
            "rank": self.rank,
            "level": self.level,
            "near_tie": self.near_tie,
        }

    def breakdown(self) -> dict[str, Any]:
        return {
            **self.contract(),
            "submitted_at": self.submitted_at.isoformat(),
            "likes_scaled": self.likes_scaled,
            "scores": [{"judge": s.judge, "total": s.total, "z": s.z, "use": s.use} for s in self.scores],
        }


@dataclass(frozen=True)
class JudgeStats:
    """A judge's own mean and spread of T, the shrunk values used to normalise, and the bias: how much more
    lenient (+) or strict (−) than the panel, in points of T (the additive model's b_j)."""

    judge: str
    n: int
    mean: float
    spread: float
    norm_mean: float
    norm_spread: float
    bias: float


@dataclass(frozen=True)
class SetWarning:
    """Other judges rate this judge's works higher (``stronger``) or lower (``weaker``) than the rest: per-judge
    normalisation would then penalise (or favour) them; the additive model is the setting for that case."""

    judge: str
    direction: Literal["stronger", "weaker"]
    set_mean_z: float
    rest_mean_z: float
    difference: float


@dataclass(frozen=True)
class Cutoff:
    """A line between two levels (or the last level and no award) after ``after_rank``."""

    after_rank: int
    above: str
    below: str | None
    final_above: float
    final_below: float


@dataclass(frozen=True)
class RankingResult:
    rows: tuple[AwardRow, ...]
    params: RankingParams
    rubric: tuple[Criterion, ...]
    global_mean: float
    global_spread: float
    likes_reference: int
    judges: tuple[JudgeStats, ...]
    warnings: tuple[SetWarning, ...]
    cutoffs: tuple[Cutoff, ...]
    additive_iterations: int = 0

    def scale(self) -> Scale:
        return Scale(self.global_mean, self.global_spread, {j.judge: j.norm_mean for j in self.judges},
                     {j.judge: j.norm_spread for j in self.judges})

    def parameters(self) -> dict[str, Any]:
        """What the version stores beside its rows, so every number can be re-derived and explained."""
        return {
            **self.params.as_dict(),
            "rubric": [
                {"key": c.key, "name": c.name, "weight": c.weight, "min": c.min, "max": c.max} for c in self.rubric
            ],
            "global_mean": self.global_mean,
            "global_spread": self.global_spread,
            "likes_reference": self.likes_reference,
            "additive_iterations": self.additive_iterations,
            "judges": [
                {"judge": j.judge, "n": j.n, "mean": j.mean, "spread": j.spread, "norm_mean": j.norm_mean,
                 "norm_spread": j.norm_spread, "bias": j.bias}
                for j in self.judges
            ],
            "warnings": [
                {"judge": w.judge, "direction": w.direction, "set_mean_z": w.set_mean_z,
                 "rest_mean_z": w.rest_mean_z, "difference": w.difference}
                for w in self.warnings
            ],
            "cutoffs": [
                {"after_rank": c.after_rank, "above": c.above, "below": c.below, "final_above": c.final_above,
                 "final_below": c.final_below}
                for c in self.cutoffs
            ],
        }


# -- the computation -------------------------------------------------------------------------------------


def _r(x: float) -> float:
    return round(x, DECIMALS) + 0.0  # + 0.0: no -0.0 in stored rows


def _factors(rubric: Sequence[Criterion]) -> list[tuple[str, float, float, float]]:
    """Per criterion (key, 100 · w_c/((max_c − min_c) · Σ w), min_c, max_c): T is then one sum of products."""
    weight = math.fsum(c.weight for c in rubric)
    return [(c.key, 100.0 * c.weight / ((c.max - c.min) * weight), c.min, c.max) for c in rubric]


def _total(scores: Mapping[str, float], factors: Sequence[tuple[str, float, float, float]]) -> float:
    return sum(k * (scores[key] - lo) for key, k, lo, _ in factors)


def rubric_total(scores: Mapping[str, float], rubric: Sequence[Criterion]) -> float:
    """T = 100 · Σ w_c (x_c − min_c)/(max_c − min_c) / Σ w_c, on 0–100."""
    return _total(scores, _factors(rubric))


def _check_rubric(rubric: Sequence[Criterion]) -> None:
    if not rubric:
        raise RankingInputInvalid("评分细则为空。", code="bad_rubric")
    keys = [c.key for c in rubric]
    if len(set(keys)) != len(keys):
        raise RankingInputInvalid("评分细则的项目重复。", code="bad_rubric")
    for c in rubric:
        if not (c.weight > 0 and c.max > c.min):
            raise RankingInputInvalid(f"评分项“{c.name or c.key}”的权重或分值范围无效。", code="bad_rubric")


def _check_row(row: ScoreRow, rubric: Sequence[Criterion], keys: frozenset[str]) -> None:
    if len(row.scores) != len(keys) or not keys.issuperset(row.scores):
        missing = sorted(keys - set(row.scores))
        raise RankingInputInvalid(
            f"评委 {row.judge} 对作品 {row.work_id} 的评分项不完整或有多余项：{', '.join(missing) or '多余项'}。",
            code="incomplete_scores", judge=row.judge, work_id=row.work_id)
    for c in rubric:
        x = row.scores[c.key]
        if not c.min <= x <= c.max:  # NaN fails this too
            raise RankingInputInvalid(
                f"评分项“{c.name or c.key}”超出范围（{c.min}–{c.max}）。",
                code="out_of_range", criterion=c.key, judge=row.judge, work_id=row.work_id)


def _mean_var(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = math.fsum(values) / n
    return mean, math.fsum((v - mean) ** 2 for v in values) / n


def _additive_biases(
    totals: Sequence[tuple[str, int, float]], judges: Sequence[str], n0: float
) -> tuple[dict[str, float], int]:
    """Alternating least squares for T_jw = μ + q_w + b_j: each judge's bias b_j is shrunk toward 0 as if the
    judge had n₀ more scores of no bias (ridge), and the biases weighted by their counts sum to 0 within each
    panel (Σ n_j b_j = 0 over the judges connected through shared works: a bias is against one's panel),
    which also removes each panel's slow shared mode (all b up, all q down). Panels that share no work
    cannot be compared at all: each is taken as fair on average.

    q_w = mean over the work's judges of (T − b_j); b_j = (Σ_w (T − q_w) − λ_C n_j)/(n_j + n₀) with λ_C the
    multiplier that keeps Σ n_j b_j = 0 in panel C. Each step minimises exactly: it converges to the optimum."""
    if not totals:
        return {}, 0
    judge_index = {j: i for i, j in enumerate(judges)}
    work_index: dict[int, int] = {}
    pairs: list[tuple[int, int, float]] = []
    for judge, work, t in totals:
        pairs.append((judge_index[judge], work_index.setdefault(work, len(work_index)), t))
    n_judge = [0] * len(judges)
    n_work = [0] * len(work_index)
    for j, w, _ in pairs:
        n_judge[j] += 1
        n_work[w] += 1
    panel = _panels(len(judges), pairs)
    n_panels = max(panel) + 1
    denominator = [n + n0 for n in n_judge]
    lam_den = [0.0] * n_panels
    for j, (n, d) in enumerate(zip(n_judge, denominator, strict=True)):
        lam_den[panel[j]] += n * n / d
    bias = [0.0] * len(judges)
    iterations = 0
    for iterations in range(1, ADDITIVE_MAX_ITERATIONS + 1):  # noqa: B007
        q_sum = [0.0] * len(work_index)
        for j, w, t in pairs:
            q_sum[w] += t - bias[j]
        quality = [qs / n for qs, n in zip(q_sum, n_work, strict=True)]
        r_sum = [0.0] * len(judges)
        for j, w, t in pairs:
            r_sum[j] += t - quality[w]
        lam = [0.0] * n_panels
        for j, (n, r, d) in enumerate(zip(n_judge, r_sum, denominator, strict=True)):
            lam[panel[j]] += n * r / d
        lam = [x / den for x, den in zip(lam, lam_den, strict=True)]
        new = [(r - lam[panel[j]] * n) / d
               for j, (r, n, d) in enumerate(zip(r_sum, n_judge, denominator, strict=True))]
        change = max((abs(x - y) for x, y in zip(new, bias, strict=True)), default=0.0)
        bias = new
        if change < ADDITIVE_TOLERANCE:
            break
    return {j: bias[i] for j, i in judge_index.items()}, iterations


def _panels(n_judges: int, pairs: Sequence[tuple[int, int, float]]) -> list[int]:
    """Each judge's panel: judges are connected when they scored a common work (union-find), numbered 0…"""
    parent = list(range(n_judges))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_judge: dict[int, int] = {}
    for j, w, _ in pairs:
        other = first_judge.setdefault(w, j)
        a, b = root(j), root(other)
        if a != b:
            parent[max(a, b)] = min(a, b)
    numbers: dict[int, int] = {}
    return [numbers.setdefault(root(j), len(numbers)) for j in range(n_judges)]


@dataclass(frozen=True)
class Scale:
    """The global mean μ and spread σ of T, and each judge's centre μ_j and spread σ_j that z uses."""

    mean: float
    spread: float
    centres: Mapping[str, float]
    spreads: Mapping[str, float]


def estimate_scale(
    totals: Sequence[tuple[str, int, float]], judges: Sequence[str], params: RankingParams
) -> tuple[Scale, int]:
    """μ and σ (population standard deviation) of every T; μ_j and σ_j per judge.

    normalised: the judge's own mean and variance shrunk toward μ and σ² as if the judge had n₀ more scores
    at the panel's mean and spread, so a judge with one score, or no spread, still has a usable scale:
    μ_j = (n_j m_j + n₀ μ)/(n_j + n₀), σ_j² = (n_j s_j² + n₀ σ²)/(n_j + n₀).
    additive: μ_j = μ + b_j (the judge's bias from ``_additive_biases``) and σ_j = σ.
    """
    mu, var = _mean_var([t for _, _, t in totals]) if totals else (0.0, 0.0)
    sigma = math.sqrt(var)
    n0 = params.shrinkage_n0
    by_judge: dict[str, list[float]] = {j: [] for j in judges}
    for judge, _, t in totals:
        by_judge[judge].append(t)
    centres: dict[str, float] = {}
    spreads: dict[str, float] = {}
    iterations = 0
    if params.model == "additive":
        biases, iterations = _additive_biases(totals, judges, n0)
        for judge in judges:
            centres[judge], spreads[judge] = mu + biases[judge], sigma
    else:
        for judge in judges:
            n = len(by_judge[judge])
            m, v = _mean_var(by_judge[judge])
            centres[judge] = (n * m + n0 * mu) / (n + n0)
            spreads[judge] = math.sqrt((n * v + n0 * var) / (n + n0))
    return Scale(mu, sigma, centres, spreads), iterations


def compute_ranking(
    works: Iterable[WorkEntry],
    scores: Iterable[ScoreRow],
    rubric: Sequence[Criterion],
    likes: LikesSnapshot,
    params: RankingParams | None = None,
    scale: Scale | None = None,
) -> RankingResult:
    """Rank ``works`` on the judges' ``scores`` and the frozen ``likes``. Raises ``RankingInputInvalid`` on
    scores outside the rubric, a judge scoring a work twice or a work that is not in ``works``.

    ``scale`` holds the judges' centres and spreads instead of estimating them from these scores (to
    re-derive a stored version, or to ask what a changed score does with the scale held)."""
    params = params or RankingParams()
    params.check()
    rubric = tuple(rubric)
    _check_rubric(rubric)
    keys = frozenset(c.key for c in rubric)

    entries = sorted(works, key=lambda w: w.work_id)
    work_ids = [w.work_id for w in entries]
    if len(set(work_ids)) != len(work_ids):
        raise RankingInputInvalid("作品重复。", code="duplicate_work")
    known = set(work_ids)

    # One canonical order before any arithmetic: the result cannot depend on the order rows arrive in.
    rows = sorted(scores, key=lambda r: (r.work_id, r.judge))
    totals: list[tuple[str, int, float]] = []
    factors = _factors(rubric)
    previous: tuple[int, str] | None = None
    for row in rows:
        if row.work_id not in known:
            raise RankingInputInvalid(f"作品 {row.work_id} 不在本次排名范围内。", code="unknown_work",
                                      work_id=row.work_id)
        if previous == (row.work_id, row.judge):  # sorted: a duplicate is next to its twin
            raise RankingInputInvalid(f"评委 {row.judge} 对作品 {row.work_id} 有重复评分。", code="duplicate_score",
                                      judge=row.judge, work_id=row.work_id)
        previous = (row.work_id, row.judge)
        _check_row(row, rubric, keys)
        totals.append((row.judge, row.work_id, _total(row.scores, factors)))

    if likes.reference < 0 or any(c < 0 for c in likes.counts.values()):
        raise RankingInputInvalid("点赞数不能为负数。", code="bad_likes")
    over = [w for w in work_ids if likes.counts.get(w, 0) > likes.reference]
    if over:
        raise RankingInputInvalid("点赞数超过快照中的最大点赞数。", code="bad_likes", work_ids=over)

    by_judge: dict[str, list[float]] = {}
    for judge, _, t in totals:
        by_judge.setdefault(judge, []).append(t)
    judge_names = sorted(by_judge)
    if scale is None:
        scale, iterations = estimate_scale(totals, judge_names, params)
    else:
        iterations = 0
        if not set(judge_names) <= set(scale.centres):
            raise RankingInputInvalid("给定的评委尺度缺少部分评委。", code="bad_scale")
    mu, sigma = scale.mean, scale.spread
    centre, spread = scale.centres, scale.spreads
    stats: dict[str, JudgeStats] = {}
    for judge in judge_names:
        m, v = _mean_var(by_judge[judge])
        stats[judge] = JudgeStats(judge, len(by_judge[judge]), _r(m), _r(math.sqrt(v)), _r(centre[judge]),
                                  _r(spread[judge]), _r(centre[judge] - mu))

    # z for every score: (T − μ_j)/σ_j; 0 when there is no spread at all (every T equal).
    per_work: dict[int, list[tuple[str, float, float]]] = {}
    for judge, work, t in totals:
        z = (t - centre[judge]) / spread[judge] if spread[judge] > 0 else 0.0
        per_work.setdefault(work, []).append((judge, t, z))

    warnings = _set_warnings(per_work, judge_names, params)

    w = params.likes_weight
    log_ref = math.log1p(likes.reference)
    drop_min, clamp = params.outlier_drop_min_scores, params.outlier_z_clamp
    result_rows: list[AwardRow] = []
    for entry in entries:
        count = likes.counts.get(entry.work_id, 0)
        scaled = math.log1p(count) / log_ref if log_ref > 0 else 0.0
        component = _r(w * 100.0 * scaled)
        given = per_work.get(entry.work_id)
        if not given:
            result_rows.append(AwardRow(entry.work_id, None, None, count, component, None, None, None, False,
                                        entry.submitted_at, _r(scaled)))
            continue
        details, zbar = _outlier_rule(given, drop_min, clamp)
        raw = sum(t for _, t, _ in given) / len(given)
        s_value = min(100.0, max(0.0, mu + sigma * zbar))
        final = (1 - w) * s_value + w * 100.0 * scaled
        result_rows.append(AwardRow(entry.work_id, _r(raw), _r(s_value), count, component, _r(final), None, None,
                                    False, entry.submitted_at, _r(scaled), details))

    placed, cutoffs = place(result_rows, params.award_levels, params.near_tie_margin)
    return RankingResult(
        rows=tuple(placed), params=params, rubric=rubric, global_mean=_r(mu), global_spread=_r(sigma),
        likes_reference=likes.reference, judges=tuple(stats[j] for j in judge_names), warnings=warnings,
        cutoffs=cutoffs, additive_iterations=iterations,
    )


def _outlier_rule(
    given: Sequence[tuple[str, float, float]], drop_min: int, clamp: float
) -> tuple[tuple[ScoreDetail, ...], float]:
    """With ≥ ``drop_min`` scores drop the single lowest and highest z (ties: by judge), else clamp z to
    ±``clamp``; return each score's use and the mean z of what is left."""
    ordered = sorted(given, key=lambda g: (g[2], g[0]))
    details: list[ScoreDetail] = []
    used: list[float] = []
    if len(ordered) >= drop_min:
        for i, (judge, t, z) in enumerate(ordered):
            use: ScoreUse = "dropped_low" if i == 0 else "dropped_high" if i == len(ordered) - 1 else "kept"
            if use == "kept":
                used.append(z)
            details.append(ScoreDetail(judge, round(t, DECIMALS) + 0.0, round(z, DECIMALS) + 0.0, use))
    else:
        for judge, t, z in ordered:
            kept = max(-clamp, min(clamp, z))
            used.append(kept)
            details.append(ScoreDetail(judge, round(t, DECIMALS) + 0.0, round(z, DECIMALS) + 0.0,
                                       "kept" if kept == z else "clamped"))
    details.sort(key=lambda d: d.judge)
    # A plain sum: the scores arrive in one canonical order, so it is deterministic.
    return tuple(details), sum(used) / len(used)


def _set_warnings(
    per_work: Mapping[int, Sequence[tuple[str, float, float]]], judges: Sequence[str], params: RankingParams
) -> tuple[SetWarning, ...]:
    """For each judge: the mean z other judges gave this judge's works against the mean z they gave the rest."""
    total_sum = math.fsum(z for given in per_work.values() for _, _, z in given)
    total_n = sum(len(given) for given in per_work.values())
    work_sum = {w: sum(z for _, _, z in given) for w, given in per_work.items()}
    mine: dict[str, list[tuple[int, float]]] = {j: [] for j in judges}
    for w, given in per_work.items():
        for judge, _, z in given:
            mine[judge].append((w, z))
    out: list[SetWarning] = []
    for judge in judges:
        works = mine[judge]
        set_sum = math.fsum(work_sum[w] - z for w, z in works)
        set_n = sum(len(per_work[w]) - 1 for w, _ in works)
        rest_sum = total_sum - math.fsum(work_sum[w] for w, _ in works)
        rest_n = total_n - sum(len(per_work[w]) for w, _ in works)
        if set_n < params.set_warning_min_scores or rest_n < params.set_warning_min_scores:
            continue
        set_mean, rest_mean = set_sum / set_n, rest_sum / rest_n
        diff = set_mean - rest_mean
        if abs(diff) > params.set_warning_z:
            out.append(SetWarning(judge, "stronger" if diff > 0 else "weaker", _r(set_mean), _r(rest_mean), _r(diff)))
    return tuple(out)


def order_key(row: AwardRow) -> tuple[float, float, datetime, int]:
    """F (higher first), then S, then the earlier submission, then the smaller id."""
    assert row.final is not None and row.normalised is not None
    return (-row.final, -row.normalised, row.submitted_at, row.work_id)


def place(
    rows: Iterable[AwardRow], levels: Sequence[AwardLevel], margin: float
) -> tuple[list[AwardRow], tuple[Cutoff, ...]]:
    """Order the scored rows, number them, fill the levels top-down and flag near-ties; unscored rows follow
    (by id) without rank or level. Used by the computation and by a disqualification, which removes a row
    and places the others again without touching their numbers."""
    all_rows = list(rows)
    scored = sorted((r for r in all_rows if r.scored), key=order_key)
    unscored = sorted((r for r in all_rows if not r.scored), key=lambda r: r.work_id)
    names: list[str | None] = []
    for level in levels:
        names.extend([level.name] * level.places(len(scored)))
    names = names[: len(scored)] + [None] * max(0, len(scored) - len(names))

    finals = [r.final for r in scored]
    cutoffs: list[Cutoff] = []
    near = [False] * len(scored)
    for i in range(len(scored) - 1):
        if names[i] != names[i + 1] and names[i] is not None:
            above, below = finals[i], finals[i + 1]
            assert above is not None and below is not None
            cutoffs.append(Cutoff(i + 1, names[i] or "", names[i + 1], above, below))
            # Near-tie: a work on one side of the line that a work on the other side trails (or leads) by no
            # more than the margin.
            for k in range(i, -1, -1):
                fk = finals[k]
                assert fk is not None
                if fk - below > margin + 1e-9:
                    break
                near[k] = True
            for k in range(i + 1, len(scored)):
                fk = finals[k]
                assert fk is not None
                if above - fk > margin + 1e-9:
                    break
                near[k] = True
    placed = [_placed(r, i + 1, names[i], near[i]) for i, r in enumerate(scored)]
    placed += [_placed(r, None, None, False) for r in unscored]
    return placed, tuple(cutoffs)


def _placed(r: AwardRow, rank: int | None, level: str | None, near_tie: bool) -> AwardRow:
    # Not dataclasses.replace: it was 0.4 s of a 3 s profiled run of 10,000 works; the constructor is cheap.
    return AwardRow(r.work_id, r.raw_mean, r.normalised, r.likes, r.likes_component, r.final, rank, level,
                    near_tie, r.submitted_at, r.likes_scaled, r.scores)


def rubric_from_settings(items: Iterable[Mapping[str, Any]]) -> tuple[Criterion, ...]:
    """The campaign setting's ``rubric`` (``[{"key", "name", "weight", "min", "max"}]``) as criteria."""
    return tuple(Criterion(str(c["key"]), float(c["weight"]), float(c["min"]), float(c["max"]), str(c.get("name", "")))
                 for c in items)


def default_rubric() -> tuple[Criterion, ...]:
    """The notice's four criteria, equally weighted on 0–10: the campaign setting's default."""
    return (
        Criterion("ideology", 1.0, 0, 10, "思想性"),
        Criterion("artistry", 1.0, 0, 10, "艺术性"),
        Criterion("technique", 1.0, 0, 10, "技术性"),
        Criterion("conformity", 1.0, 0, 10, "规范性"),
    )


__all__ = [
    "DEFAULT_AWARD_LEVELS",
    "AwardLevel",
    "AwardRow",
    "Criterion",
    "Cutoff",
    "JudgeStats",
    "LikesSnapshot",
    "RankingInputInvalid",
    "RankingParams",
    "RankingResult",
    "Scale",
    "ScoreDetail",
    "ScoreRow",
    "SetWarning",
    "WorkEntry",
    "compute_ranking",
    "default_rubric",
    "estimate_scale",
    "order_key",
    "place",
    "rubric_from_settings",
    "rubric_total",
]
