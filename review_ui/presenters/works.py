"""A submitter's works: rows, the campaign's rules, and the live part of a work page."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from clipjury.accounts.models import User
from clipjury.campaigns.models import Campaign
from clipjury.campaigns.service import ensure_open_for_new_upload, grace_end
from clipjury.errors import DomainError
from clipjury.reviews.service import decisions_of, shown_status
from clipjury.timeutil import as_utc, fmt_local, utcnow
from clipjury.uploads.lookups import has_resumable_upload
from clipjury.works import playback as playback_mod
from clipjury.works.models import EDITABLE_STATUSES, Work, WorkStatus
from clipjury.works.policy import DeadlinePassed, grace_over, in_grace_period, work_options
from clipjury.works.service import current_version, held_version, latest_rejection, media_of, shown_version
from review_ui.presenters.format import format_duration, format_limit_duration, format_limit_mb, format_size
from review_ui.presenters.labels import status_label
from review_ui.presenters.reviews import ReviewProgress, review_progress


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
