"""Ranking benchmark (issue 16, "Speed"): ranking 10,000 works with 5 judges each and 10 million likes.

Target: ≤ 2 s on this machine for ``clipjury.awards.ranking.compute_ranking`` (rubric totals, per-judge
normalisation, the outlier rule, likes, levels, near-ties, warnings), from the rows in memory: loading them
from the database is the awards service's cost, not the formula's. The inputs are generated with a fixed seed:
each judge has its own leniency and spread, about 3 % of pairs abstain, likes follow a Zipf-like curve
summing to 10,000,000. Both models are timed (``normalised``, the default, and ``additive``), each the best
and median of ``--runs`` (wall time, and the process's CPU time beside it). Needs no service. Writes
``bench/out/ranking.json``.

    .venv/bin/python -m bench.bench_ranking [--runs 5] [--works 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from clipjury.awards.ranking import (
    MODELS,
    Criterion,
    LikesSnapshot,
    RankingParams,
    ScoreRow,
    WorkEntry,
    compute_ranking,
)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "ranking.json"
TARGET_S = 2.0
JUDGES_PER_WORK = 5
LIKES_TOTAL = 10_000_000
RUBRIC = (
    Criterion("ideology", 3, 0, 30, "思想性"),
    Criterion("artistry", 3, 0, 30, "艺术性"),
    Criterion("technique", 2, 0, 20, "技术性"),
    Criterion("conformity", 2, 0, 20, "规范性"),
)


def inputs(n_works: int, seed: int = 16) -> tuple[list[WorkEntry], list[ScoreRow], LikesSnapshot]:
    rnd = random.Random(seed)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    works = [WorkEntry(i, start + timedelta(seconds=rnd.randrange(30 * 86400))) for i in range(1, n_works + 1)]
    n_judges = max(JUDGES_PER_WORK, n_works * JUDGES_PER_WORK // 400)  # ~400 works a judge, like 60 judges
    judges = [f"judge{j:03d}" for j in range(n_judges)]
    lenience = {j: rnd.gauss(0, 0.08) for j in judges}
    spread = {j: rnd.uniform(0.6, 1.4) for j in judges}
    rows: list[ScoreRow] = []
    for w in works:
        quality = rnd.betavariate(4, 3)
        for judge in rnd.sample(judges, JUDGES_PER_WORK):
            if rnd.random() < 0.03:
                continue  # a declared conflict: an abstention
            level = quality + lenience[judge] + spread[judge] * rnd.gauss(0, 0.08)
            rows.append(ScoreRow(judge, w.work_id, {
                c.key: round(min(c.max, max(c.min, c.min + (c.max - c.min) * level)), 1) for c in RUBRIC}))
    weights = [1 / (rank ** 0.9) for rank in range(1, n_works + 1)]
    scale = LIKES_TOTAL / sum(weights)
    counts = [int(x * scale) for x in weights]
    counts[-1] += LIKES_TOTAL - sum(counts)
    rnd.shuffle(counts)
    return works, rows, LikesSnapshot.of({w.work_id: c for w, c in zip(works, counts, strict=True)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--works", type=int, default=10_000)
    args = parser.parse_args()

    t0 = time.perf_counter()
    works, rows, likes = inputs(args.works)
    generated = time.perf_counter() - t0
    result: dict[str, Any] = {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
        "works": len(works), "score_rows": len(rows), "likes": sum(likes.counts.values()),
        "likes_reference": likes.reference, "generate_s": round(generated, 3), "target_s": TARGET_S, "models": {},
    }
    for model in MODELS:
        params = RankingParams(model=model)
        times: list[float] = []
        cpu: list[float] = []
        for _ in range(args.runs):
            t, c = time.perf_counter(), time.process_time()
            ranking = compute_ranking(works, rows, RUBRIC, likes, params)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        result["models"][model] = {
            "best_s": round(min(times), 3), "median_s": round(statistics.median(times), 3),
            # CPU seconds of this process: what the code costs when other load shares the cores.
            "median_cpu_s": round(statistics.median(cpu), 3),
            "ranked": sum(r.scored for r in ranking.rows), "additive_iterations": ranking.additive_iterations,
            "warnings": len(ranking.warnings), "meets_target": statistics.median(times) <= TARGET_S,
        }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"{'model':<12}{'best s':>10}{'median s':>10}{'CPU s':>8}  target ≤ {TARGET_S} s")
    for model, figures in result["models"].items():
        print(f"{model:<12}{figures['best_s']:>10}{figures['median_s']:>10}{figures['median_cpu_s']:>8}  "
              f"{'met' if figures['meets_target'] else 'MISSED'}")


if __name__ == "__main__":
    main()
