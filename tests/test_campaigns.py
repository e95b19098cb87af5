"""A campaign's settings default to the 2023 notice's rules (附件3, 正文 §三)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clipjury.campaigns.models import Campaign
from clipjury.reports.service import due_info
from clipjury.timeutil import CAMPAIGN_TZ


def _campaign(deadline: datetime, report_due_at: datetime | None = None) -> Campaign:
    return Campaign(
        slug="c", name="c", year=2023, submission_opens_at=deadline - timedelta(days=30),
        submission_deadline=deadline, report_due_at=report_due_at,
    )


def test_a_new_campaign_has_the_notices_rules() -> None:
    campaign = _campaign(datetime(2023, 4, 13, 23, 59, 59, tzinfo=CAMPAIGN_TZ))
    assert campaign.max_size_bytes == 300 * 1024 * 1024
    assert campaign.max_duration_s == 120.0
    assert campaign.upload_grace_minutes == 30
    assert campaign.opening_line("河北省") == "我在河北省话保密，今天我要讲的是……"
    assert campaign.quota_by_kind["city"] == 10 and campaign.quota_by_kind["county_city"] == 2
    assert "qt  " not in campaign.allowed_brands and "isom" in campaign.allowed_brands
    # The rights the organiser receives, shown on the new-work form, need no setting-up.
    assert "活动主办方对征集作品拥有发表权和出版权" in campaign.rights_notice
    assert "有权在电视、网络或其他媒体无偿使用获奖作品" in campaign.rights_notice


def test_the_report_is_due_on_june_1_beijing_time_unless_the_campaign_says_otherwise() -> None:
    # 4月13日 23:59:59 Beijing is 15:59:59 UTC the same day; the notice's "6月1日前" is 00:00 Beijing.
    campaign = _campaign(datetime(2023, 4, 13, 23, 59, 59, tzinfo=CAMPAIGN_TZ))
    assert campaign.report_due_at is None
    due = campaign.effective_report_due_at()
    assert due == datetime(2023, 5, 31, 16, 0, tzinfo=UTC)
    assert due.astimezone(CAMPAIGN_TZ) == datetime(2023, 6, 1, 0, 0, tzinfo=CAMPAIGN_TZ)
    # A deadline just after midnight Beijing is still the previous day in UTC: the Beijing day counts.
    early = _campaign(datetime(2023, 4, 13, 0, 30, tzinfo=CAMPAIGN_TZ))
    assert early.effective_report_due_at().astimezone(CAMPAIGN_TZ).date().isoformat() == "2023-06-01"
    # The reports page shows that time and counts down to it.
    at, seconds = due_info(campaign, now=datetime(2023, 5, 31, 15, 0, tzinfo=UTC))
    assert at.startswith("2023-06-01 00:00")
    assert seconds == 3600
    # A campaign's own due time wins.
    own = _campaign(campaign.submission_deadline, report_due_at=datetime(2023, 5, 20, tzinfo=CAMPAIGN_TZ))
    assert own.effective_report_due_at() == datetime(2023, 5, 19, 16, 0, tzinfo=UTC)
