"""Small contests for the awards tests: a two-criterion rubric, works, score rows and a hypothesis strategy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from clipjury.awards.ranking import (
    MODELS,
    AwardLevel,
    Criterion,
    LikesSnapshot,
    RankingParams,
    ScoreRow,
    WorkEntry,
)

BASE = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
RUBRIC = (Criterion("idea", 2.0, 0, 10, "思想性"), Criterion("craft", 1.0, 0, 10, "技术性"))
LEVELS = (AwardLevel("一等奖", count=1), AwardLevel("二等奖", share=0.25), AwardLevel("三等奖", share=0.25))


@dataclass(frozen=True)
class Contest:
    works: tuple[WorkEntry, ...]
    rows: tuple[ScoreRow, ...]
    likes: dict[int, int]
    params: RankingParams

    @property
    def snapshot(self) -> LikesSnapshot:
        return LikesSnapshot.of(self.likes)


def work(work_id: int, minutes: int = 0) -> WorkEntry:
    return WorkEntry(work_id, BASE + timedelta(minutes=minutes))


def row(judge: str, work_id: int, idea: float, craft: float) -> ScoreRow:
    return ScoreRow(judge, work_id, {"idea": idea, "craft": craft})


@st.composite
def contests(draw: st.DrawFn, min_works: int = 2, max_works: int = 8) -> Contest:
    n_works = draw(st.integers(min_works, max_works))
    n_judges = draw(st.integers(1, 5))
    works = tuple(work(100 + i, draw(st.integers(0, 3))) for i in range(n_works))
    rows: list[ScoreRow] = []
    for entry in works:
        for j in range(n_judges):
            if draw(st.integers(0, 9)) < 7:  # about one pair in three abstains or is not assigned
                rows.append(row(f"judge{j}", entry.work_id, draw(st.integers(0, 10)), draw(st.integers(0, 10))))
    likes = {entry.work_id: draw(st.integers(0, 2000)) for entry in works}
    model = draw(st.sampled_from(MODELS))
    params = RankingParams(model=model, award_levels=LEVELS, near_tie_margin=1.0)
    return Contest(works, tuple(rows), likes, params)
