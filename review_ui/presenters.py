"""What the pages show, prepared in Python so templates only lay it out: labels, Chinese units,
Beijing time, and which actions a work offers right now (the services still decide)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from clipjury.accounts.models import ROLE_LABELS, Role, User
from clipjury.campaigns.models import Campaign
from clipjury.campaigns.service import ensure_open_for_new_upload, grace_end
from clipjury.errors import DomainError
from clipjury.timeutil import as_utc, fmt_local, utcnow
from clipjury.works import playback as playback_mod
from clipjury.works.models import WORK_STATUS_LABELS, Work, WorkStatus
from clipjury.works.service import latest_rejection, media_of, shown_version

MiB = 1024 * 1024
SUBMITTING_ROLES = (Role.submitter, Role.unit_coordinator)


def role_label(user: User) -> str:
    return ROLE_LABELS.get(Role(user.role), user.role)


# The top navigation per role: (href, label). The first entry is the role's home page.
NAV: dict[Role, list[tuple[str, str]]] = {
    Role.submitter: [("/works", "我的作品"), ("/notifications", "消息")],
    Role.unit_coordinator: [
        ("/works", "我的作品"), ("/dashboard", "单位配额"), ("/reports", "活动报送"), ("/notifications", "消息"),
    ],
    Role.reviewer: [("/review", "初评"), ("/dashboard", "配额看板"), ("/notifications", "消息")],
    Role.provincial_admin: [
        ("/review", "初评"), ("/review/forward", "报送复评"), ("/dashboard", "配额看板"), ("/reports", "报表"),
        ("/audit", "审计日志"), ("/notifications", "消息"),
    ],
    Role.national_admin: [
        ("/review/national", "全国复评"), ("/dashboard", "配额看板"), ("/reports", "报表"), ("/audit", "审计日志"),
        ("/notifications", "消息"),
    ],
    Role.judge: [("/notifications", "消息")],
}


def nav_for(user: User) -> list[tuple[str, str]]:
    return NAV.get(Role(user.role), [])


def home_for(user: User) -> str:
    links = nav_for(user)
    return links[0][0] if links else "/notifications"


def can_create_works(user: User) -> bool:
    return Role(user.role) in SUBMITTING_ROLES


def format_size(size_bytes: int | None) -> str:
    if size_bytes is None:
        return "—"
    if size_bytes < MiB:
        return f"{size_bytes / 1024:.1f} KB"
    return f"{size_bytes / MiB:.1f} MB"


def format_limit_mb(size_bytes: int) -> str:
    mb = size_bytes / MiB
    return f"{mb:.0f} MB" if mb == int(mb) else f"{mb:.1f} MB"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, rest = divmod(seconds, 60)
    if minutes >= 1:
        return f"{int(minutes)} 分 {rest:.1f} 秒"
    return f"{seconds:.1f} 秒"


def format_limit_duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} 分钟（{int(seconds)} 秒）"
    return f"{seconds:g} 秒"


def status_label(status: str) -> str:
    return WORK_STATUS_LABELS.get(status, status)


@dataclass
class WorkRow:
    id: int
    title: str
    status: str
    status_label: str
    created: str
    submitted: str


def work_rows(works: list[Work]) -> list[WorkRow]:
    return [
        WorkRow(
            id=w.id or 0,
            title=w.title,
            status=w.status,
            status_label=status_label(w.status),
            created=fmt_local(w.created_at),
            submitted=fmt_local(w.submitted_at),
        )
        for w in works
    ]


@dataclass
class CampaignRules:
    name: str
    max_size: str
    max_size_bytes: int
    max_duration: str
    max_duration_s: float
    deadline: str
    grace_minutes: int
    rights_notice: str


def campaign_rules(campaign: Campaign) -> CampaignRules:
    return CampaignRules(
        name=campaign.name,
        max_size=format_limit_mb(campaign.max_size_bytes),
        max_size_bytes=campaign.max_size_bytes,
        max_duration=format_limit_duration(campaign.max_duration_s),
        max_duration_s=campaign.max_duration_s,
        deadline=fmt_local(campaign.submission_deadline),
        grace_minutes=campaign.upload_grace_minutes,
        rights_notice=campaign.rights_notice,
    )


def upload_closed_reason(campaign: Campaign) -> str | None:
    """None while new uploads may start, else the Chinese reason they may not."""
    try:
        ensure_open_for_new_upload(campaign, utcnow())
    except DomainError as exc:
        return exc.message
    return None


@dataclass
class LiveState:
    """The part of a work page that changes without a reload (polled by htmx while it may change)."""

    work_id: int
    status: str
    status_label: str
    polling: bool
    state_key: str
    is_owner: bool
    rejection: dict[str, str] | None
    facts: list[tuple[str, str]]
    playback: playback_mod.Playback | None
    has_current_file: bool
    submitted_at: str
    can_submit: bool
    can_withdraw: bool
    closed_note: str
    extra: dict[str, Any] = field(default_factory=dict)


def _facts(media: dict[str, Any] | None) -> list[tuple[str, str]]:
    if media is None:
        return []
    resolution = f"{media['width']} × {media['height']}" if media.get("width") and media.get("height") else "—"
    return [
        ("时长", format_duration(media.get("duration_s"))),
        ("分辨率", resolution),
        ("文件大小", format_size(media.get("size_bytes"))),
        ("视频编码", media.get("video_codec") or "—"),
        ("音频编码", media.get("audio_codec") or "无音轨"),
        ("容器品牌", (media.get("major_brand") or "—").strip()),
    ]


def live_state(session: Session, user: User, work: Work, campaign: Campaign) -> LiveState:
    is_owner = work.owner_id == user.id
    version = shown_version(session, work)
    play = playback_mod.playback_for(session, work) if work.current_version_id is not None else None
    preparing = bool(play and play.preparing)
    now = utcnow()
    deadline = as_utc(campaign.submission_deadline)
    status = work.status
    can_submit = is_owner and status == WorkStatus.ready and now <= grace_end(campaign)
    can_withdraw = is_owner and status == WorkStatus.submitted and now <= deadline
    closed_note = ""
    if is_owner and status == WorkStatus.ready and not can_submit:
        closed_note = f"作品提交已于 {fmt_local(deadline)}（北京时间）截止。"
    elif is_owner and status == WorkStatus.submitted and not can_withdraw:
        closed_note = "提交已截止，作品不能再撤回。"
    raw_key = "|".join(
        str(part)
        for part in (
            status, work.latest_version_id, work.current_version_id, work.submitted_version_id,
            preparing, as_utc(work.updated_at).isoformat(),
        )
    )
    return LiveState(
        work_id=work.id or 0,
        status=status,
        status_label=status_label(status),
        polling=status == WorkStatus.processing or preparing,
        state_key=hashlib.blake2s(raw_key.encode(), digest_size=8).hexdigest(),
        is_owner=is_owner,
        rejection=latest_rejection(session, work),
        facts=_facts(media_of(version)),
        playback=play,
        has_current_file=work.current_version_id is not None,
        submitted_at=fmt_local(work.submitted_at),
        can_submit=can_submit,
        can_withdraw=can_withdraw,
        closed_note=closed_note,
    )
