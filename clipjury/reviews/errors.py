"""The review's refusals: one class per stable code, shared by the service, its policy and the API's
OpenAPI declarations."""

from __future__ import annotations

from clipjury.errors import Conflict, Invalid


class Claimed(Conflict):
    code = "claimed"
    message = "该作品正由其他评审员评审。"


class AlreadyDecided(Conflict):
    code = "already_decided"
    message = "该作品已有评审结论。"


class TooLate(Conflict):
    code = "too_late"
    message = "已过截止时间，不能再执行此操作。"


class NotPassed(Conflict):
    code = "not_passed"
    message = "只有初评通过的作品才能报送全国复评。"


class NotForwarded(Conflict):
    code = "not_forwarded"
    message = "只有已报送全国复评的作品才能作出复评决定。"


class AlreadyDisqualified(Conflict):
    code = "already_disqualified"
    message = "该作品已被取消参选资格。"


class NothingToUndo(Conflict):
    code = "nothing_to_undo"
    message = "该作品没有可以撤销的决定。"


class ResultsPublished(Conflict):
    code = "results_published"
    message = "全国复评结果已发布，不能再更改。"


class NotInReview(Conflict):
    code = "not_in_review"
    message = "该作品尚未提交评审。"


class ChecklistIncomplete(Invalid):
    code = "checklist_incomplete"
    message = "判定通过前，请逐项核对并勾选全部审核要点。"


class UnknownChecklistItem(Invalid):
    code = "checklist_unknown_item"
    message = "审核要点中有不存在的项目，请刷新页面后重新勾选。"
