"""What the pages show, prepared in Python so templates only lay it out: labels, Chinese units,
Beijing time, and which actions a work offers right now (the services still decide)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from sqlmodel import Session

from clipjury.accounts.models import ROLE_LABELS, Role, User
from clipjury.campaigns.models import Campaign
from clipjury.campaigns.service import ensure_open_for_new_upload, grace_end
from clipjury.errors import DomainError
from clipjury.media.rules import DEFAULT_DURATION_STEP_S, format_seconds, shown_duration
from clipjury.reviews.models import ACTION_LABELS, ReviewDecision
from clipjury.reviews.service import decision_by, decisions_of, shown_status, visible_decisions
from clipjury.timeutil import as_utc, fmt_local, utcnow
from clipjury.uploads.lookups import has_resumable_upload
from clipjury.works import playback as playback_mod
from clipjury.works.models import EDITABLE_STATUSES, WORK_STATUS_LABELS, Work, WorkStatus
from clipjury.works.policy import DeadlinePassed, grace_over, in_grace_period, work_options
from clipjury.works.service import current_version, held_version, latest_rejection, media_of, shown_version

MiB = 1024 * 1024


def role_label(user: User) -> str:
    return ROLE_LABELS.get(Role(user.role), user.role)


# The top navigation per role: (href, label). The first entry is the role's home page.
NAV: dict[Role, list[tuple[str, str]]] = {
    Role.submitter: [("/works", "我的作品"), ("/notifications", "消息")],
    Role.unit_coordinator: [
        ("/works", "我的作品"), ("/dashboard", "单位配额"), ("/my-unit", "单位成员"), ("/reports", "活动报送"),
        ("/notifications", "消息"),
    ],
    Role.reviewer: [("/review", "初评"), ("/dashboard", "配额看板"), ("/notifications", "消息")],
    Role.provincial_admin: [
        ("/review", "初评"), ("/review/forward", "报送复评"), ("/dashboard", "配额看板"), ("/units", "单位管理"),
        ("/reports", "报表"), ("/audit", "审计日志"), ("/accounts", "账号管理"), ("/notifications", "消息"),
    ],
    Role.national_admin: [
        ("/review/national", "全国复评"), ("/dashboard", "配额看板"), ("/organisations", "省份与部门"),
        ("/units", "单位名单"), ("/reports", "报表"), ("/audit", "审计日志"), ("/accounts", "账号管理"),
        ("/notifications", "消息"),
    ],
    Role.judge: [("/notifications", "消息")],
}


def nav_for(user: User) -> list[tuple[str, str]]:
    return NAV.get(Role(user.role), [])


def nav_with_unread(user: User, unread: int) -> list[tuple[str, str]]:
    """The navigation with the unread count on 消息 (base.html prints labels; Markup keeps the badge's tag)."""
    if unread <= 0:
        return nav_for(user)
    shown = "99+" if unread > 99 else str(unread)
    badge = Markup('{}<span class="nav-badge" aria-label="{} 条未读">{}</span>').format("消息", shown, shown)
    return [(href, badge if href == "/notifications" else label) for href, label in nav_for(user)]


def home_for(user: User) -> str:
    links = nav_for(user)
    return links[0][0] if links else "/notifications"


def format_size(size_bytes: int | None) -> str:
    if size_bytes is None:
        return "—"
    if size_bytes < MiB:
        return f"{size_bytes / 1024:.1f} KB"
    return f"{size_bytes / MiB:.1f} MB"


def format_limit_mb(size_bytes: int) -> str:
    mb = size_bytes / MiB
    return f"{mb:.0f} MB" if mb == int(mb) else f"{mb:.1f} MB"


def format_duration(seconds: float | None, step_s: float = DEFAULT_DURATION_STEP_S) -> str:
    """A measured duration rounded as the rules round it before comparing (the campaign's step), so a
    clip accepted at 120.0 s never shows as "2 分 0.1 秒"."""
    if seconds is None:
        return "—"
    shown = shown_duration(seconds, step_s)
    if shown >= 60:
        minutes = int(shown // 60)
        return f"{minutes} 分 {format_seconds(shown - minutes * 60, step_s)} 秒"
    return f"{format_seconds(shown, step_s)} 秒"


def format_limit_duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} 分钟（{int(seconds)} 秒）"
    return f"{seconds:g} 秒"


def time_left_label(seconds: int, *, closed: str = "已截止") -> str:
    """"还剩 3 天 4 小时" to a deadline; ``closed`` once it has passed."""
    if seconds <= 0:
        return closed
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"还剩 {days} 天 {hours} 小时"
    if hours:
        return f"还剩 {hours} 小时 {rest // 60} 分钟"
    return f"还剩 {max(1, rest // 60)} 分钟"


def status_label(status: str) -> str:
    return WORK_STATUS_LABELS.get(status, status)


@dataclass
class DecisionRow:
    action: str
    label: str
    by: str
    at: str
    reason: str
    undone: bool


@dataclass
class ReviewProgress:
    """Where a work stands in the review, as its submitter (or unit) may see it."""

    status: str
    label: str
    stage: str
    kind: str  # the notice's colour: info, success, error
    reason_title: str
    reason: str
    next_step: str
    history: list[DecisionRow]
    # The submitter can still act on it (change the file or submit again): before the grace period ends.
    open_for_changes: bool = False


# What each stage means for the submitter, and the colour of its notice.
STAGE_TEXT: dict[str, tuple[str, str]] = {
    "submitted": ("已提交，等待省级保密部门初评。", "info"),
    "returned": ("作品被退回修改，请按评审意见修改后重新提交。", "error"),
    "passed": ("已通过初评，等待省级保密部门报送全国复评。", "success"),
    "failed": ("作品未通过初评。", "error"),
    "forwarded": ("已由省级保密部门报送全国复评，复评结果将统一发布。", "info"),
    "recommended": ("经全国复评，作品被推荐参加展播网评。", "success"),
    "not_recommended": ("经全国复评，作品未获推荐。", "error"),
    "disqualified": ("作品已被取消参选资格，不再参加评选。", "error"),
}
REASON_TITLES = {
    "return": "退回修改的理由",
    "fail": "未通过初评的理由",
    "disqualify": "取消参选资格的理由",
    "not_recommend": "未获推荐的理由",
    "pass": "初评意见",
}


def actor_label(by: str) -> str:
    """``decision_by`` gives staff a username and everyone else a role; show the role in Chinese."""
    if by == "system":
        return "系统"
    if not by:
        return ""
    try:
        return ROLE_LABELS[Role(by)]
    except ValueError:
        return by


# Reasons the system records in English (codes), as staff read them in the audit trail.
REJECTION_SHORT_LABELS: dict[str, str] = {
    "empty": "空文件", "too_large": "文件过大", "not_mp4": "不是 MP4 格式", "no_video_stream": "没有视频画面",
    "too_long": "时长超限", "corrupt": "文件损坏或不完整",
}
FIXED_REASON_LABELS: dict[str, str] = {
    "grace_period": "截止后的宽限期内提交（上传始于截止前）",
    "withdrawn in the web UI": "投稿人在网页上撤回",
}


def audit_reason_label(action: str, reason: str) -> str:
    """An audit event's reason in Chinese: people's own words as written, the system's codes translated."""
    if reason in FIXED_REASON_LABELS:
        return FIXED_REASON_LABELS[reason]
    if action == "held" and reason == "worker_gave_up":
        return (
            "校验进程多次异常退出（不是文件本身的问题），文件已挂起、未作判定；"
            "请运维执行 clipjury retry-version 版本号"
        )
    if action == "media_failed":
        return "多次未能生成封面或在线播放版本，原文件仍可下载；可由运维执行 clipjury retry-version 版本号重试"
    if action == "retry":
        return {"validation": "重新校验文件", "playback": "重新生成封面和播放版本"}.get(reason, reason)
    if action == "revalidate":
        if reason == "ready":
            return "按现行规则重新校验：通过"
        if reason in REJECTION_SHORT_LABELS:
            return f"按现行规则重新校验：未通过（{REJECTION_SHORT_LABELS[reason]}）"
    return reason


def decision_rows(decisions: list[ReviewDecision], viewer: User, campaign: Campaign) -> list[DecisionRow]:
    return [
        DecisionRow(
            action=d.action, label=ACTION_LABELS.get(d.action, d.action), by=actor_label(decision_by(d, viewer)),
            at=fmt_local(d.at), reason=d.reason, undone=d.undone_at is not None,
        )
        for d in visible_decisions(decisions, viewer, campaign)
    ]


def review_progress(
    work: Work, viewer: User, campaign: Campaign, decisions: list[ReviewDecision]
) -> ReviewProgress | None:
    """None for a work that never entered the review. Unpublished national decisions stay hidden
    (``shown_status`` and ``visible_decisions`` decide that, not this function)."""
    status = shown_status(work, viewer, campaign)
    visible = visible_decisions(decisions, viewer, campaign)
    in_force = next(
        (d for d in reversed(visible) if d.action != "undo" and d.undone_at is None), None
    )
    # A returned work the submitter has started to change (a new upload) is still a returned work to them.
    reworking = status in EDITABLE_STATUSES and in_force is not None and in_force.action == "return"
    if status not in STAGE_TEXT and not reworking:
        return None
    stage, kind = STAGE_TEXT["returned"] if reworking else STAGE_TEXT[status]
    reason_title = reason = ""
    if in_force is not None and in_force.reason and (in_force.to_status == status or reworking):
        reason_title = REASON_TITLES.get(in_force.action, "理由")
        reason = in_force.reason
    next_step = ""
    if status == WorkStatus.returned or reworking:
        deadline = fmt_local(campaign.submission_deadline)
        now = utcnow()
        if now <= as_utc(campaign.submission_deadline):
            next_step = (
                f"请在 {deadline}（北京时间）前修改：可以重新上传修改后的视频，通过校验后再次提交；"
                "如不需要更换文件，也可以直接重新提交。"
            )
        elif in_grace_period(campaign, now):
            next_step = (
                f"作品提交已于 {deadline}（北京时间）截止：截止前已开始的上传可在 "
                f"{fmt_local(grace_end(campaign))}（北京时间）前完成，通过校验后仍可提交。"
            )
        else:
            next_step = f"作品提交已于 {deadline}（北京时间）截止，无法再修改提交。"
    return ReviewProgress(
        status=status,
        label=status_label(status),
        stage=stage,
        kind=kind,
        reason_title=reason_title,
        reason=reason,
        next_step=next_step,
        history=decision_rows(decisions, viewer, campaign),
        open_for_changes=bool(next_step) and not grace_over(campaign, utcnow()),
    )


@dataclass
class WorkRow:
    id: int
    title: str
    status: str
    status_label: str
    created: str
    submitted: str
    progress: ReviewProgress | None = None


def work_rows(session: Session, viewer: User, works: list[Work]) -> list[WorkRow]:
    """我的作品: each work with its review stage, in a fixed number of queries (decisions in one)."""
    decisions = decisions_of(session, [w.id or 0 for w in works])
    rows = []
    for w in works:
        campaign = session.get(Campaign, w.campaign_id)
        assert campaign is not None
        status = shown_status(w, viewer, campaign)
        label = status_label(status)
        if status in EDITABLE_STATUSES and grace_over(campaign, utcnow()):
            # "可提交" or "待上传" would be a promise the deadline no longer lets the work keep.
            label = f"{label}（已截止，未提交）"
        rows.append(WorkRow(
            id=w.id or 0,
            title=w.title,
            status=status,
            status_label=label,
            created=fmt_local(w.created_at),
            submitted=fmt_local(w.submitted_at),
            progress=review_progress(w, viewer, campaign, decisions[w.id or 0]),
        ))
    return rows


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


def grace_resume_note(session: Session, work: Work, campaign: Campaign) -> str | None:
    """After the deadline and within the grace period, when an upload of this work that started before
    the deadline is unfinished: how to finish it (the server still takes its remaining bytes, and the
    page's uploader picks it up again from the file's fingerprint). None otherwise."""
    now = utcnow()
    deadline = as_utc(campaign.submission_deadline)
    if not in_grace_period(campaign, now):
        return None
    if not has_resumable_upload(session, work, deadline, now):
        return None
    return (
        f"作品提交已于 {fmt_local(deadline)}（北京时间）截止，不能再开始新的上传。"
        f"截止前已开始、尚未传完的视频可在 {fmt_local(grace_end(campaign))}（北京时间）前继续："
        "请在下方重新选择同一个文件，上传会从中断处继续，通过校验后即可提交。"
    )


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
    # New uploads may start now (the submission window is open).
    uploads_open: bool = True
    # The workers gave up on the pending file (worker_gave_up): a system fault staff handle, not a verdict.
    held: bool = False
    # The owner may change the file (upload again, or finish an upload under way in the grace period).
    can_edit: bool = False
    # Why a new upload may not start now, for an owner who may change the file ("" when it may).
    upload_refusal: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _facts(media: dict[str, Any] | None, step_s: float) -> list[tuple[str, str]]:
    if media is None:
        return []
    resolution = f"{media['width']} × {media['height']}" if media.get("width") and media.get("height") else "—"
    return [
        ("时长", format_duration(media.get("duration_s"), step_s)),
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
    held = held_version(session, work) is not None
    now = utcnow()
    deadline = as_utc(campaign.submission_deadline)
    # Never the stored status: an unpublished national decision reads as 已报送全国复评.
    status = shown_status(work, user, campaign)
    options = work_options(user, work, current_version(session, work), campaign, now)
    can_submit = options.submit.allowed
    can_withdraw = options.withdraw.allowed
    # The deadline is the only refusal the fragment explains; the others show in the status itself.
    closed_note = next(
        (o.message for o in (options.submit, options.withdraw) if o.code == DeadlinePassed.code), ""
    )
    # Only what the fragment shows goes into its key: a hidden national decision must not turn a 204
    # into a 200 for someone polling the fragment.
    raw_key = "|".join(
        str(part)
        for part in (
            status, work.latest_version_id, work.current_version_id, work.submitted_version_id,
            preparing, work.submitted_at and as_utc(work.submitted_at).isoformat(), can_submit, can_withdraw, held,
        )
    )
    return LiveState(
        work_id=work.id or 0,
        status=status,
        status_label=status_label(status),
        # A held file waits for staff (hours, perhaps): the page stops asking every two seconds.
        polling=(status == WorkStatus.processing and not held) or preparing,
        state_key=hashlib.blake2s(raw_key.encode(), digest_size=8).hexdigest(),
        is_owner=is_owner,
        rejection=latest_rejection(session, work),
        facts=_facts(media_of(version), campaign.duration_step_s),
        playback=play,
        has_current_file=work.current_version_id is not None,
        submitted_at=fmt_local(work.submitted_at),
        can_submit=can_submit,
        can_withdraw=can_withdraw,
        closed_note=closed_note,
        uploads_open=as_utc(campaign.submission_opens_at) <= now <= deadline,
        held=held,
        can_edit=options.edit.allowed,
        upload_refusal=options.upload.message if options.edit.allowed else "",
    )
