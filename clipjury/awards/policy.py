"""The awards domain's refusals, each a stable code and a Chinese message."""

from __future__ import annotations

from clipjury.errors import Conflict, NotFound


class LikesNotFrozen(Conflict):
    code = "likes_not_frozen"
    message = "展播点赞尚未截止、点赞数快照尚未生成，还不能计算奖项。"


class JudgesUnfinished(Conflict):
    code = "judges_unfinished"
    message = "还有评审专家未提交评分，不能计算奖项。"

    def __init__(self, judges: list[str]) -> None:
        super().__init__(judges=judges)


class AwardsNotComputed(Conflict):
    code = "awards_not_computed"
    message = "尚未计算奖项，请先计算。"


class AwardsNotPublished(Conflict):
    code = "awards_not_published"
    message = "评奖结果尚未发布。"


class NotAwarded(NotFound):
    code = "not_awarded"
    message = "该作品在已发布的评奖结果中没有获奖，没有获奖证书。"


class StaleVersion(Conflict):
    code = "stale_state"
    message = "评奖结果刚刚被他人更新，请刷新后再操作。"
