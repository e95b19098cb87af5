"""Assignment as a min-cost flow (the model HotCRP uses): source → work (capacity: the judges it still
needs) → judge (capacity 1, no arc across a conflict) → sink, where a judge's k-th work costs k·LOAD_COST,
so loads stay balanced; a small seeded cost on each work→judge arc breaks ties reproducibly.

Solved by successive shortest paths with Dijkstra on reduced costs (all costs are non-negative). Pure
Python: OR-Tools is not in the environment, and a campaign's few hundred works × tens of judges are
solved in well under a second.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Larger than any sum of tie-break costs along a path, so balance always wins over the tie-break.
TIE_MAX = 1000
LOAD_COST = 1_000_000_000


@dataclass(frozen=True)
class Pair:
    work_id: int
    judge_id: int
    load_after: int  # the judge's load once this pair is counted (1 = their first work)


class _Graph:
    def __init__(self, n: int) -> None:
        self.to: list[int] = []
        self.cap: list[int] = []
        self.cost: list[int] = []
        self.adj: list[list[int]] = [[] for _ in range(n)]

    def add(self, u: int, v: int, cap: int, cost: int) -> int:
        self.adj[u].append(len(self.to))
        self.to.append(v)
        self.cap.append(cap)
        self.cost.append(cost)
        self.adj[v].append(len(self.to))
        self.to.append(u)
        self.cap.append(0)
        self.cost.append(-cost)
        return len(self.to) - 2


def tie_breaks(seed: int, work_ids: Iterable[int], judge_ids: Sequence[int]) -> dict[tuple[int, int], int]:
    """The seeded tie-break cost of each (work, judge): the same seed always gives the same numbers."""
    rng = random.Random(seed)
    return {(w, j): rng.randrange(TIE_MAX) for w in sorted(work_ids) for j in sorted(judge_ids)}


def assign(
    needs: dict[int, int],
    judge_ids: Sequence[int],
    allowed: dict[int, set[int]],
    *,
    seed: int,
    loads: dict[int, int] | None = None,
) -> list[Pair]:
    """Pairs giving each work up to ``needs[work]`` judges from ``allowed[work]`` (no conflict, not already
    its judge), judges' loads as even as the conflicts allow; ``loads``: works each judge already holds."""
    loads = loads or {}
    works = sorted(w for w, n in needs.items() if n > 0)
    judges = sorted(judge_ids)
    ties = tie_breaks(seed, works, judges)
    source, sink = 0, 1
    work_node = {w: 2 + i for i, w in enumerate(works)}
    judge_node = {j: 2 + len(works) + i for i, j in enumerate(judges)}
    graph = _Graph(2 + len(works) + len(judges))
    pair_arcs: dict[int, tuple[int, int]] = {}
    for w in works:
        graph.add(source, work_node[w], needs[w], 0)
        for j in judges:
            if j in allowed.get(w, set()):
                pair_arcs[graph.add(work_node[w], judge_node[j], 1, ties[(w, j)])] = (w, j)
    total = sum(needs[w] for w in works)
    for j in judges:
        possible = sum(1 for w in works if j in allowed.get(w, set()))
        # One arc per further work, each dearer than the last (convex): the flow fills the cheapest first.
        for k in range(1, min(possible, total) + 1):
            graph.add(judge_node[j], sink, 1, (loads.get(j, 0) + k) * LOAD_COST)
    _min_cost_flow(graph, source, sink, len(graph.adj))
    chosen = sorted((w, j) for arc, (w, j) in pair_arcs.items() if graph.cap[arc] == 0)
    # Loads reported in a fixed order: by work id, so a judge's k-th pair is the k-th in that order.
    counted = dict(loads)
    pairs: list[Pair] = []
    for w, j in chosen:
        counted[j] = counted.get(j, 0) + 1
        pairs.append(Pair(w, j, counted[j]))
    return pairs


def _min_cost_flow(graph: _Graph, source: int, sink: int, n: int) -> None:
    potential = [0] * n
    while True:
        dist = [-1] * n
        dist[source] = 0
        back = [-1] * n
        heap = [(0, source)]
        while heap:
            d, u = heapq.heappop(heap)
            if d > dist[u]:
                continue
            for arc in graph.adj[u]:
                if graph.cap[arc] <= 0:
                    continue
                v = graph.to[arc]
                nd = d + graph.cost[arc] + potential[u] - potential[v]
                if dist[v] < 0 or nd < dist[v]:
                    dist[v] = nd
                    back[v] = arc
                    heapq.heappush(heap, (nd, v))
        if dist[sink] < 0:
            return
        for v in range(n):
            if dist[v] >= 0:
                potential[v] += dist[v]
        # Every arc on a path has capacity ≥ 1 and the work→judge arcs exactly 1: push one unit.
        v = sink
        while v != source:
            arc = back[v]
            graph.cap[arc] -= 1
            graph.cap[arc ^ 1] += 1
            v = graph.to[arc ^ 1]
