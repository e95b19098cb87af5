"""Awards versions: every computation, adjustment, disqualification or reinstatement is a new version made
from the previous one; earlier versions stay as they were, and ``diff`` says who moved between two.

Pure: the awards service stores what these return. A disqualification removes that work and places the
others again (ranks close up, levels are re-filled top-down, near-ties re-flagged) from their stored numbers:
no one else's score is recomputed, and the likes reference L_ref stays that of the frozen snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from clipjury.awards.ranking import AwardLevel, AwardRow, RankingResult, ScoreDetail, place
from clipjury.errors import Conflict, Invalid, NotFound
from clipjury.reasons import required_reason

Cause = Literal["computed", "adjusted", "disqualified", "reinstated"]


class WorkNotInVersion(NotFound):
    code = "not_found"
    message = "该作品不在这一版评奖结果中。"


class UnknownLevel(Invalid):
    code = "unknown_level"
    message = "没有这个奖项等级。"


class NotScored(Conflict):
    code = "unscored"
    message = "该作品没有评委评分，不能评定奖项。"


class NoChange(Conflict):
    code = "no_change"
    message = "该作品已是这个奖项等级。"


@dataclass(frozen=True)
class Adjustment:
    """A national admin's recorded change of one work's level; it stays in force in later versions made from
    this one (a disqualification or reinstatement), not in a fresh computation."""

    work_id: int
    from_level: str | None
    to_level: str | None
    reason: str
    by: str
    when: datetime


@dataclass(frozen=True)
class Removal:
    """A disqualified work's row as it last stood, kept so that undoing the disqualification puts it back."""

    row: AwardRow
    reason: str
    by: str
    when: datetime


@dataclass(frozen=True)
class AwardsVersion:
    number: int
    cause: Cause
    rows: tuple[AwardRow, ...]
    award_levels: tuple[AwardLevel, ...]
    near_tie_margin: float
    based_on: int | None = None
    adjustments: tuple[Adjustment, ...] = ()
    removed: tuple[Removal, ...] = ()

    def row(self, work_id: int) -> AwardRow:
        for r in self.rows:
            if r.work_id == work_id:
                return r
        raise WorkNotInVersion()


@dataclass(frozen=True)
class Move:
    """A work whose rank or level differs between two versions; None on the side where it is absent."""

    work_id: int
    from_rank: int | None
    from_level: str | None
    to_rank: int | None
    to_level: str | None
    present_before: bool = True
    present_after: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "work_id": self.work_id,
            "from": {"rank": self.from_rank, "level": self.from_level} if self.present_before else None,
            "to": {"rank": self.to_rank, "level": self.to_level} if self.present_after else None,
        }


def from_result(result: RankingResult, previous: AwardsVersion | None = None) -> AwardsVersion:
    """A computation as the next version. Earlier adjustments do not carry over: they were decisions about
    the earlier numbers (the diff shows what the new computation changed)."""
    return AwardsVersion(
        number=(previous.number + 1) if previous else 1,
        cause="computed",
        rows=result.rows,
        award_levels=result.params.award_levels,
        near_tie_margin=result.params.near_tie_margin,
        based_on=previous.number if previous else None,
    )


def diff(old: AwardsVersion, new: AwardsVersion) -> tuple[Move, ...]:
    """Who moved from ``old`` to ``new``: every work whose rank or level changed, appeared or went."""
    before = {r.work_id: r for r in old.rows}
    after = {r.work_id: r for r in new.rows}
    moves: list[Move] = []
    for work_id in sorted(before.keys() | after.keys()):
        a, b = before.get(work_id), after.get(work_id)
        if a is not None and b is not None and (a.rank, a.level) == (b.rank, b.level):
            continue
        moves.append(Move(
            work_id,
            a.rank if a else None, a.level if a else None,
            b.rank if b else None, b.level if b else None,
            present_before=a is not None, present_after=b is not None,
        ))

    def key(m: Move) -> tuple[int, int, int]:
        rank = m.to_rank if m.present_after else m.from_rank
        return (0 if m.present_after else 1, rank if rank is not None else 10**9, m.work_id)

    return tuple(sorted(moves, key=key))


def _levels(version: AwardsVersion) -> set[str]:
    return {level.name for level in version.award_levels}


def _apply(rows: Iterable[AwardRow], adjustments: Sequence[Adjustment]) -> tuple[AwardRow, ...]:
    latest = {a.work_id: a.to_level for a in adjustments}
    return tuple(replace(r, level=latest[r.work_id]) if r.work_id in latest and r.scored else r for r in rows)


def _replace_rows(version: AwardsVersion, rows: Iterable[AwardRow]) -> tuple[AwardRow, ...]:
    placed, _ = place(rows, version.award_levels, version.near_tie_margin)
    return _apply(placed, version.adjustments)


def adjust(
    version: AwardsVersion, work_id: int, to_level: str | None, reason: str, by: str, when: datetime
) -> AwardsVersion:
    """Change one work's level as a recorded row; nobody else moves (the admin decides, with a reason)."""
    reason = required_reason(reason)
    current = version.row(work_id)
    if to_level is not None and to_level not in _levels(version):
        raise UnknownLevel(level=to_level)
    if not current.scored:
        raise NotScored(work_id=work_id)
    if current.level == to_level:
        raise NoChange(work_id=work_id)
    adjustment = Adjustment(work_id, current.level, to_level, reason.strip(), by, when)
    adjustments = (*version.adjustments, adjustment)
    rows = _apply(version.rows, [adjustment])
    return replace(version, number=version.number + 1, cause="adjusted", rows=rows, based_on=version.number,
                   adjustments=adjustments)


def disqualify(version: AwardsVersion, work_id: int, reason: str, by: str, when: datetime) -> AwardsVersion:
    """Remove the work and place everyone else again from their stored numbers (no score recomputed)."""
    reason = required_reason(reason)
    removed = version.row(work_id)
    rest = [r for r in version.rows if r.work_id != work_id]
    return replace(
        version, number=version.number + 1, cause="disqualified", based_on=version.number,
        rows=_replace_rows(version, rest),
        removed=(*version.removed, Removal(removed, reason.strip(), by, when)),
    )


def reinstate(version: AwardsVersion, work_id: int) -> AwardsVersion:
    """Undo a disqualification: the work's stored row comes back and everyone is placed again."""
    removal = next((r for r in version.removed if r.row.work_id == work_id), None)
    if removal is None:
        raise WorkNotInVersion()
    rows = [*version.rows, removal.row]
    return replace(
        version, number=version.number + 1, cause="reinstated", based_on=version.number,
        rows=_replace_rows(version, rows),
        removed=tuple(r for r in version.removed if r.row.work_id != work_id),
    )


# -- storage -----------------------------------------------------------------------------------------------


def row_to_dict(row: AwardRow) -> dict[str, Any]:
    return row.breakdown()


def row_from_dict(data: Mapping[str, Any]) -> AwardRow:
    return AwardRow(
        work_id=int(data["work_id"]), raw_mean=data["raw_mean"], normalised=data["normalised"],
        likes=int(data["likes"]), likes_component=float(data["likes_component"]), final=data["final"],
        rank=data["rank"], level=data["level"], near_tie=bool(data["near_tie"]),
        submitted_at=datetime.fromisoformat(data["submitted_at"]), likes_scaled=float(data["likes_scaled"]),
        scores=tuple(ScoreDetail(s["judge"], s["total"], s["z"], s["use"]) for s in data.get("scores", [])),
    )


def version_to_dict(version: AwardsVersion) -> dict[str, Any]:
    """A JSON-ready version, for the awards table's snapshot column."""
    return {
        "number": version.number,
        "cause": version.cause,
        "based_on": version.based_on,
        "award_levels": [
            {"name": lv.name, "count": lv.count} if lv.count is not None else {"name": lv.name, "share": lv.share}
            for lv in version.award_levels
        ],
        "near_tie_margin": version.near_tie_margin,
        "rows": [row_to_dict(r) for r in version.rows],
        "adjustments": [
            {"work_id": a.work_id, "from": a.from_level, "to": a.to_level, "reason": a.reason, "by": a.by,
             "when": a.when.isoformat()}
            for a in version.adjustments
        ],
        "removed": [
            {"row": row_to_dict(r.row), "reason": r.reason, "by": r.by, "when": r.when.isoformat()}
            for r in version.removed
        ],
    }


def version_from_dict(data: Mapping[str, Any]) -> AwardsVersion:
    return AwardsVersion(
        number=int(data["number"]),
        cause=data["cause"],
        based_on=data.get("based_on"),
        award_levels=tuple(AwardLevel(lv["name"], count=lv.get("count"), share=lv.get("share"))
                           for lv in data["award_levels"]),
        near_tie_margin=float(data["near_tie_margin"]),
        rows=tuple(row_from_dict(r) for r in data["rows"]),
        adjustments=tuple(
            Adjustment(a["work_id"], a["from"], a["to"], a["reason"], a["by"], datetime.fromisoformat(a["when"]))
            for a in data.get("adjustments", [])
        ),
        removed=tuple(
            Removal(row_from_dict(r["row"]), r["reason"], r["by"], datetime.fromisoformat(r["when"]))
            for r in data.get("removed", [])
        ),
    )
