"""What the submitter may do with a work right now, and why not: the one place the API, the pages and
the service ask. Each option carries the refusal the service raises, so a page that hides a button and
the API that answers 409 read the same rule and the same message.

The grace rule: after the deadline, a file whose upload started before it may still be finished and
submitted until ``grace_end``; nothing else may.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from clipjury.accounts.models import Role, User
from clipjury.campaigns.models import Campaign
from clipjury.campaigns.service import CampaignClosed, ensure_open_for_new_upload, grace_end
from clipjury.errors import Conflict, DomainError, Forbidden, NotFound
from clipjury.options import ALLOWED, Option
from clipjury.timeutil import as_utc, fmt_local
from clipjury.works.models import EDITABLE_STATUSES, IN_REVIEW_STATUSES, Work, WorkStatus, WorkVersion

# The roles that take part: they create works and upload files (reviewers, admins and judges do not).
SUBMITTING_ROLES = frozenset({Role.submitter, Role.unit_coordinator})


class RoleCannotSubmit(Forbidden):
    code = "role_cannot_submit"
    message = "只有投稿人或单位联络员可以创建作品和上传文件。"


def may_submit(user: User) -> bool:
    return Role(user.role) in SUBMITTING_ROLES


class WorkNotFound(NotFound):
    code = "work_not_found"
    message = "找不到该作品，或您无权查看。"


class NotReady(Conflict):
    code = "not_ready"
    message = "作品还不能提交。"


class AlreadySubmitted(Conflict):
    code = "already_submitted"
    message = "作品已提交，如需更换文件请先撤回。"


class NotSubmitted(Conflict):
    code = "not_submitted"
    message = "作品尚未提交，无需撤回。"


class UnderReview(Conflict):
    code = "under_review"
    message = "作品已进入评审，不能再更换文件或重新提交。"


class Disqualified(Conflict):
    code = "disqualified"
    message = "作品已被取消参选资格，不能再修改。"


class DeadlinePassed(Conflict):
    code = "deadline_passed"
    message = "作品提交已截止。"






@dataclass(frozen=True)
class WorkOptions:
    submit: Option
    withdraw: Option
    # Change the work's file (upload again, finish an upload under way): the submitter's part of the lifecycle.
    edit: Option
    # Start a new upload: ``edit`` and the submission window still open.
    upload: Option


def in_time(campaign: Campaign, upload_started_at: datetime, now: datetime) -> bool:
    """The grace rule: before the deadline anything; after it, until ``grace_end``, only a file whose
    upload started before the deadline."""
    deadline = as_utc(campaign.submission_deadline)
    if now <= deadline:
        return True
    return now <= grace_end(campaign) and as_utc(upload_started_at) <= deadline


def in_grace_period(campaign: Campaign, now: datetime) -> bool:
    """Past the deadline, while uploads begun before it may still finish and be submitted."""
    return as_utc(campaign.submission_deadline) < now <= grace_end(campaign)


def grace_over(campaign: Campaign, now: datetime) -> bool:
    """Nothing more can be submitted in this campaign."""
    return now > grace_end(campaign)


def edit_option(work: Work) -> Option:
    if work.status in EDITABLE_STATUSES:
        return ALLOWED
    if work.status == WorkStatus.submitted:
        return Option(AlreadySubmitted("作品已提交，不能更换文件；如需更换，请先撤回提交。"))
    if work.status == WorkStatus.disqualified:
        return Option(Disqualified())
    return Option(UnderReview())


def upload_option(work: Work, campaign: Campaign, now: datetime) -> Option:
    edit = edit_option(work)
    if not edit.allowed:
        return edit
    try:
        ensure_open_for_new_upload(campaign, now)
    except DomainError as exc:
        return Option(exc)
    return ALLOWED


def submit_option(work: Work, current: WorkVersion | None, campaign: Campaign, now: datetime) -> Option:
    """``current``: the work's current (valid) version, None when it has none."""
    if work.status == WorkStatus.submitted:
        return Option(AlreadySubmitted("作品已经提交过了。"))
    if not campaign.is_active:
        return Option(CampaignClosed())
    if work.status == WorkStatus.processing:
        return Option(NotReady("新上传的文件正在校验，请等校验完成后再提交。", code="processing"))
    edit = edit_option(work)
    if not edit.allowed:
        return edit
    if work.status not in (WorkStatus.ready, WorkStatus.returned) or current is None:
        return Option(NotReady("请先上传一个通过校验的视频文件，再提交作品。"))
    if not in_time(campaign, current.upload_started_at, now):
        return Option(DeadlinePassed(f"作品提交已于 {fmt_local(campaign.submission_deadline)}（北京时间）截止。"))
    return ALLOWED


def withdraw_option(work: Work, campaign: Campaign, now: datetime) -> Option:
    if work.status != WorkStatus.submitted:
        if work.status in IN_REVIEW_STATUSES or work.status == WorkStatus.disqualified:
            return Option(UnderReview("作品已有评审结论，不能再撤回。"))
        return Option(NotSubmitted())
    if now > as_utc(campaign.submission_deadline):
        return Option(DeadlinePassed("提交已截止，不能再撤回作品。"))
    return ALLOWED


def work_options(
    user: User, work: Work, current: WorkVersion | None, campaign: Campaign, now: datetime
) -> WorkOptions:
    """Everything the user may do with the work. Only its owner acts on it: anyone else is refused
    as the service refuses them (the work does not exist for them as a submitter)."""
    if work.owner_id != user.id:
        refused = Option(WorkNotFound())
        return WorkOptions(submit=refused, withdraw=refused, edit=refused, upload=refused)
    return WorkOptions(
        submit=submit_option(work, current, campaign, now),
        withdraw=withdraw_option(work, campaign, now),
        edit=edit_option(work),
        upload=upload_option(work, campaign, now),
    )
