"""The judging domain's refusals, each a stable code and a Chinese message."""

from __future__ import annotations

from clipjury.errors import Conflict, Invalid, NotFound


class LikesNotFrozen(Conflict):
    code = "likes_not_frozen"
    message = "展播点赞尚未截止、点赞数快照尚未生成，还不能分配评审作品。"


class AlreadyApplied(Conflict):
    code = "already_applied"
    message = "本届评审分配已按另一个随机种子应用，不能再次整体分配；冲突后的补充分配会自动进行。"


class NotAssigned(NotFound):
    code = "not_found"
    message = "找不到该作品，或它没有分配给您评审。"


class JudgeNotFound(NotFound):
    code = "not_found"
    message = "找不到该评审专家。"


class StaleScores(Conflict):
    code = "stale_state"
    message = "该作品的评分已在别处（例如另一个标签页）保存过，请刷新后在最新评分上修改。"


class ScoresLocked(Conflict):
    code = "locked"
    message = "您已提交全部评分，评分已锁定；如需修改，请联系全国管理员解锁。"


class Incomplete(Conflict):
    code = "incomplete"
    message = "还有作品未完成全部评分项，不能提交。"


class NotLocked(Conflict):
    code = "not_locked"
    message = "该专家尚未提交评分，无需解锁。"


class UnknownCriterion(Invalid):
    code = "unknown_criterion"
    message = "评分项不在本届评分细则中。"


class ScoreOutOfRange(Invalid):
    code = "out_of_range"
    message = "评分超出该评分项的分值范围。"
