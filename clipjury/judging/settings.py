"""The judging settings of a campaign (``Campaign.judging``): the rubric, judges per work, how likes and
scores combine, and the award levels. Defaults are the issue's; every rule of their shape lives here.

The ranking (``clipjury.awards``) reads ``likes_weight``, ``shrinkage_n0``, ``award_levels`` and
``near_tie_margin``; judging itself reads ``judges_per_work`` and ``rubric``.
"""

from __future__ import annotations

import re
from typing import Any

from clipjury.errors import Invalid

DEFAULT_JUDGES_PER_WORK = 3
DEFAULT_RUBRIC: list[dict[str, Any]] = [
    {"key": "thought", "name": "思想性", "weight": 30, "min": 0, "max": 10},
    {"key": "art", "name": "艺术性", "weight": 30, "min": 0, "max": 10},
    {"key": "technique", "name": "技术性", "weight": 20, "min": 0, "max": 10},
    {"key": "conformity", "name": "规范性", "weight": 20, "min": 0, "max": 10},
]
DEFAULT_LIKES_WEIGHT = 0.3
DEFAULT_SHRINKAGE_N0 = 5.0
# The notice names the levels but not their sizes: shares of the ranked works, filled top-down.
DEFAULT_AWARD_LEVELS: list[dict[str, Any]] = [
    {"name": "一等奖", "share": 0.05},
    {"name": "二等奖", "share": 0.10},
    {"name": "三等奖", "share": 0.15},
    {"name": "优秀奖", "share": 0.20},
]
# Final scores (0–100) within this many points of a level's cut-off are flagged as near-ties.
DEFAULT_NEAR_TIE_MARGIN = 0.5
# 优秀组织奖 (clipjury.awards.organisers): the formula's weights, the points per award level (highest first) and
# how many organisations of a comparison group are proposed (a count, or a share of the group).
DEFAULT_ORGANISING: dict[str, Any] = {
    "fulfilment_weight": 0.3, "pass_rate_weight": 0.3, "award_weight": 0.4,
    "level_points": [{"name": "一等奖", "points": 10}, {"name": "二等奖", "points": 6}, {"name": "三等奖", "points": 3},
                     {"name": "优秀奖", "points": 1}],
    "award_share": 0.3,
}

JUDGES_PER_WORK_MAX = 20
RUBRIC_MAX = 20
LEVELS_MAX = 10
NAME_MAX = 50
SCORE_BOUND = 1_000_000
KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
FIELDS = ("judges_per_work", "rubric", "likes_weight", "shrinkage_n0", "award_levels", "near_tie_margin",
          "organising")


def default_judging() -> dict[str, Any]:
    return {
        "judges_per_work": DEFAULT_JUDGES_PER_WORK,
        "rubric": [dict(c) for c in DEFAULT_RUBRIC],
        "likes_weight": DEFAULT_LIKES_WEIGHT,
        "shrinkage_n0": DEFAULT_SHRINKAGE_N0,
        "award_levels": [dict(level) for level in DEFAULT_AWARD_LEVELS],
        "near_tie_margin": DEFAULT_NEAR_TIE_MARGIN,
        "organising": {**DEFAULT_ORGANISING, "level_points": [dict(p) for p in DEFAULT_ORGANISING["level_points"]]},
    }


def effective(stored: dict[str, Any] | None) -> dict[str, Any]:
    """The stored settings over the defaults (a campaign made before judging existed has none)."""
    return {**default_judging(), **(stored or {})}


class JudgingSettingInvalid(Invalid):
    """A judging setting refused: ``field`` is ``judging.<name>``, so a form can show it beside the input."""

    code = "invalid_setting"

    def __init__(self, name: str, message: str, *, code: str = "invalid_setting") -> None:
        super().__init__(message, code=code, field=f"judging.{name}")


def _number(name: str, value: Any, low: float, high: float, *, low_open: bool = False, what: str = "") -> float:
    label = what or name
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise JudgingSettingInvalid(name, f"{label} 须为数字。", code="invalid_number")
    if value < low or (low_open and value == low) or value > high:
        bound = f"大于 {low:g}" if low_open else f"不小于 {low:g}"
        raise JudgingSettingInvalid(name, f"{label} 须{bound}且不大于 {high:g}。", code="out_of_range")
    return float(value)


def _name(name: str, value: Any, n: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > NAME_MAX or "\x00" in value:
        raise JudgingSettingInvalid(name, f"第 {n} 项的名称须为 1–{NAME_MAX} 个字。", code="invalid_name")
    return value.strip()


def _judges_per_work(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= JUDGES_PER_WORK_MAX:
        raise JudgingSettingInvalid(
            "judges_per_work", f"每件作品的评审专家数须为 1 至 {JUDGES_PER_WORK_MAX} 的整数。", code="out_of_range"
        )
    return value


def _rubric(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not 1 <= len(value) <= RUBRIC_MAX:
        raise JudgingSettingInvalid("rubric", f"评分细则须为 1 至 {RUBRIC_MAX} 项。", code="invalid_rubric")
    items: list[dict[str, Any]] = []
    for n, item in enumerate(value, start=1):
        if not isinstance(item, dict) or set(item) != {"key", "name", "weight", "min", "max"}:
            raise JudgingSettingInvalid("rubric", f"第 {n} 项须含且只含 key、name、weight、min、max。",
                                        code="invalid_rubric")
        key = item["key"]
        if not isinstance(key, str) or not KEY.match(key):
            raise JudgingSettingInvalid(
                "rubric", f"第 {n} 项的 key 须为小写字母开头的 1–32 个小写字母、数字或下划线。",
                code="invalid_rubric_key",
            )
        if any(key == other["key"] for other in items):
            raise JudgingSettingInvalid("rubric", f"第 {n} 项的 key“{key}”重复。", code="duplicate_rubric_key")
        weight = _number("rubric", item["weight"], 0, 1000, low_open=True, what=f"第 {n} 项的权重")
        low = _number("rubric", item["min"], -SCORE_BOUND, SCORE_BOUND, what=f"第 {n} 项的最低分")
        high = _number("rubric", item["max"], -SCORE_BOUND, SCORE_BOUND, what=f"第 {n} 项的最高分")
        if not low < high:
            raise JudgingSettingInvalid("rubric", f"第 {n} 项的最低分须小于最高分。", code="invalid_range")
        items.append({"key": key, "name": _name("rubric", item["name"], n), "weight": weight, "min": low, "max": high})
    return items


def _levels(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not 1 <= len(value) <= LEVELS_MAX:
        raise JudgingSettingInvalid("award_levels", f"奖项等级须为 1 至 {LEVELS_MAX} 项。", code="invalid_levels")
    levels: list[dict[str, Any]] = []
    for n, item in enumerate(value, start=1):
        if not isinstance(item, dict) or set(item) not in ({"name", "count"}, {"name", "share"}):
            raise JudgingSettingInvalid(
                "award_levels", f"第 {n} 项须为 {{name, count}} 或 {{name, share}}。", code="invalid_levels"
            )
        name = _name("award_levels", item["name"], n)
        if any(name == other["name"] for other in levels):
            raise JudgingSettingInvalid("award_levels", f"奖项名称“{name}”重复。", code="duplicate_level")
        if "count" in item:
            count = item["count"]
            if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 100_000:
                raise JudgingSettingInvalid("award_levels", f"第 {n} 项的名额须为 0 至 100000 的整数。",
                                            code="out_of_range")
            levels.append({"name": name, "count": count})
        else:
            share = _number("award_levels", item["share"], 0, 1, low_open=True, what=f"第 {n} 项的比例")
            levels.append({"name": name, "share": share})
    if sum(level.get("share", 0) for level in levels) > 1 + 1e-9:
        raise JudgingSettingInvalid("award_levels", "各等级的比例之和不能超过 1。", code="shares_over_one")
    return levels


ORGANISING_KEYS = {"fulfilment_weight", "pass_rate_weight", "award_weight", "level_points"}


def _organising(value: Any) -> dict[str, Any]:
    """``{"fulfilment_weight", "pass_rate_weight", "award_weight", "level_points": [{"name", "points"}]}`` plus
    one of ``award_count`` (an integer) or ``award_share`` (0–1)."""
    extra = set(value) - ORGANISING_KEYS if isinstance(value, dict) else set()
    if not isinstance(value, dict) or not ORGANISING_KEYS <= set(value) or extra not in ({"award_count"},
                                                                                          {"award_share"}):
        raise JudgingSettingInvalid(
            "organising", "优秀组织奖设置须含 fulfilment_weight、pass_rate_weight、award_weight、level_points，"
            "以及 award_count 或 award_share 之一。", code="invalid_organising")
    weights = {k: _number("organising", value[k], 0, 100, what=k) for k in sorted(ORGANISING_KEYS - {"level_points"})}
    if sum(weights.values()) <= 0:
        raise JudgingSettingInvalid("organising", "三项权重不能全为 0。", code="invalid_organising")
    points = value["level_points"]
    if not isinstance(points, list) or not 1 <= len(points) <= LEVELS_MAX:
        raise JudgingSettingInvalid("organising", f"奖项分值须为 1 至 {LEVELS_MAX} 项。", code="invalid_organising")
    items: list[dict[str, Any]] = []
    for n, item in enumerate(points, start=1):
        if not isinstance(item, dict) or set(item) != {"name", "points"}:
            raise JudgingSettingInvalid("organising", f"奖项分值第 {n} 项须为 {{name, points}}。",
                                        code="invalid_organising")
        name = _name("organising", item["name"], n)
        if any(name == other["name"] for other in items):
            raise JudgingSettingInvalid("organising", f"奖项名称“{name}”重复。", code="duplicate_level")
        items.append({"name": name, "points": _number("organising", item["points"], 0, 1000, what=f"{name}的分值")})
    out: dict[str, Any] = {**weights, "level_points": items}
    if "award_count" in value:
        count = value["award_count"]
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 10_000:
            raise JudgingSettingInvalid("organising", "获奖名额须为 0 至 10000 的整数。", code="out_of_range")
        out["award_count"] = count
    else:
        out["award_share"] = _number("organising", value["award_share"], 0, 1, what="获奖比例")
    return out


def checked(value: Any, current: dict[str, Any] | None) -> dict[str, Any]:
    """A PATCH's ``judging`` object checked and merged over the current settings (the keys it names change,
    the others stay), or a 422 whose ``field`` is ``judging.<name>``."""
    if not isinstance(value, dict):
        raise JudgingSettingInvalid("judging", "judging 须为对象。", code="invalid_setting")
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        raise JudgingSettingInvalid(unknown[0], f"未知的评审设置：{unknown[0]}。", code="not_editable")
    merged = effective(current)
    for name, item in value.items():
        if name == "judges_per_work":
            merged[name] = _judges_per_work(item)
        elif name == "rubric":
            merged[name] = _rubric(item)
        elif name == "likes_weight":
            merged[name] = _number(name, item, 0, 1, what="点赞权重")
        elif name == "shrinkage_n0":
            merged[name] = _number(name, item, 0, 1000, what="收缩参数 n0")
        elif name == "award_levels":
            merged[name] = _levels(item)
        elif name == "organising":
            merged[name] = _organising(item)
        else:
            merged[name] = _number(name, item, 0, 100, what="临界差距")
    return merged
