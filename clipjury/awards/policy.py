"""The awards domain's refusals, each a stable code and a Chinese message."""

from __future__ import annotations

from clipjury.errors import Conflict


class LikesNotFrozen(Conflict):
    code = "likes_not_frozen"
    message = "展播点赞尚未截止、点赞数快照尚未生成，还不能计算奖项。"


class JudgesUnfinished(Conflict):
    code = "judges_unfinished"
    message = "还有评审专家未提交评分，不能计算奖项。"

    def __init__(self, judges: list[str]) -> None:
        super().__init__(judges=judges)
