"""What anyone may know about the active campaign: the facts the public landing page shows (name, rules,
dates), taken from the campaign's settings so a change there shows up on the page."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from clipjury.campaigns.models import Campaign
from clipjury.campaigns.service import active_campaign
from clipjury.timeutil import fmt_local

# The opening line names the submitter's province; the public page shows where it goes.
PROVINCE_PLACEHOLDER = "××"
MiB = 1024 * 1024


@dataclass(frozen=True)
class PublicCampaign:
    name: str
    year: int
    formats: str
    max_size: str
    max_duration: str
    opening_line: str
    content_rules: list[str]
    rights_notice: str
    submission_opens: str
    submission_deadline: str
    showcase_starts: str
    showcase_ends: str


def _size(size_bytes: int) -> str:
    mb = size_bytes / MiB
    return f"{mb:.0f} MB" if mb == int(mb) else f"{mb:.1f} MB"


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} 分钟"
    return f"{seconds:g} 秒"


def public_campaign(session: Session) -> PublicCampaign:
    """The active campaign as the public sees it; NoActiveCampaign (404) when there is none."""
    return describe(active_campaign(session))


# Checklist items the public page shows on their own (see ``describe``).
SHOWN_APART = frozenset({"opening_line", "duration"})


def describe(campaign: Campaign) -> PublicCampaign:
    opening_line = campaign.opening_line(PROVINCE_PLACEHOLDER)
    # The checklist's first item repeats the opening line and the second the duration, both shown on
    # their own above; the rest is what the content must respect.
    rules = [item.label for item in campaign.checklist_for(PROVINCE_PLACEHOLDER) if item.key not in SHOWN_APART]
    return PublicCampaign(
        name=campaign.name,
        year=campaign.year,
        formats="MP4",
        max_size=_size(campaign.max_size_bytes),
        max_duration=_duration(campaign.max_duration_s),
        opening_line=opening_line,
        content_rules=rules,
        rights_notice=campaign.rights_notice,
        submission_opens=fmt_local(campaign.submission_opens_at),
        submission_deadline=fmt_local(campaign.submission_deadline),
        showcase_starts=fmt_local(campaign.showcase_starts_at),
        showcase_ends=fmt_local(campaign.showcase_ends_at),
    )
