"""Campaign lookups and the submission window rules."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from clipjury.campaigns.models import Campaign
from clipjury.errors import Conflict, NotFound
from clipjury.media.rules import Limits
from clipjury.timeutil import as_utc, fmt_local


class NoActiveCampaign(NotFound):
    code = "no_active_campaign"
    message = "当前没有进行中的征集活动。"


class SubmissionClosed(Conflict):
    code = "deadline_passed"
    message = "作品提交已截止。"


class CampaignClosed(Conflict):
    code = "campaign_closed"
    message = "该届征集活动已结束，作品不能再上传或提交；请在本届活动中新建作品。"


class SubmissionNotOpen(Conflict):
    code = "not_open"
    message = "作品征集尚未开始。"


def active_campaign(session: Session) -> Campaign:
    campaign = session.exec(
        select(Campaign).where(col(Campaign.is_active)).order_by(col(Campaign.year).desc())
    ).first()
    if campaign is None:
        raise NoActiveCampaign()
    return campaign


def limits_of(campaign: Campaign) -> Limits:
    return Limits(
        max_size_bytes=campaign.max_size_bytes,
        max_duration_s=campaign.max_duration_s,
        allowed_brands=list(campaign.allowed_brands),
        duration_step_s=campaign.duration_step_s,
    )


def grace_end(campaign: Campaign) -> datetime:
    return as_utc(campaign.submission_deadline) + timedelta(minutes=campaign.upload_grace_minutes)


def ensure_takes_works(campaign: Campaign) -> None:
    """Only the current campaign takes works: once next year's starts, an earlier one's drafts stay
    readable but get no new file and are not submitted."""
    if not campaign.is_active:
        raise CampaignClosed()


def ensure_open_for_new_upload(campaign: Campaign, now: datetime) -> None:
    """A new upload may start only inside the current campaign's submission window."""
    ensure_takes_works(campaign)
    if now < as_utc(campaign.submission_opens_at):
        raise SubmissionNotOpen(f"作品征集将于 {fmt_local(campaign.submission_opens_at)} 开始。")
    if now > as_utc(campaign.submission_deadline):
        raise SubmissionClosed(
            f"作品提交已于 {fmt_local(campaign.submission_deadline)}（北京时间）截止，不能再上传新文件。"
        )


def ensure_upload_may_continue(campaign: Campaign, started_at: datetime, now: datetime) -> None:
    """An upload under way at the deadline may finish within the grace period."""
    if as_utc(started_at) > as_utc(campaign.submission_deadline) or now > grace_end(campaign):
        raise SubmissionClosed(
            f"作品提交已于 {fmt_local(campaign.submission_deadline)}（北京时间）截止，"
            f"截止前已开始的上传可在 {campaign.upload_grace_minutes} 分钟宽限期内完成。"
        )
