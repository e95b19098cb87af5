"""A work's review as its viewer may see it: decision rows and progress."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlmodel import Session

from clipjury.accounts.models import User
from clipjury.campaigns.models import Campaign
from clipjury.campaigns.service import grace_end
from clipjury.media.rules import exceeds
from clipjury.reviews import quotas as quota_mod
from clipjury.reviews import service
from clipjury.reviews.models import ACTION_LABELS, ReviewDecision
from clipjury.reviews.service import decision_by, shown_status, visible_decisions
from clipjury.timeutil import as_utc, fmt_local, utcnow
from clipjury.works.models import EDITABLE_STATUSES, WORK_STATUS_LABELS, Work, WorkStatus, WorkVersion
from clipjury.works.policy import grace_over, in_grace_period
from review_ui.presenters.format import format_duration, format_limit_duration, format_size, time_left_label
from review_ui.presenters.labels import actor_label, status_label


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
class Deadline:
    label: str
    at: str
    left: str
    seconds_left: int

    @property
    def passed(self) -> bool:
        return self.seconds_left <= 0

    @property
    def urgent(self) -> bool:
        return 0 < self.seconds_left <= 3 * 86400


def deadlines(campaign: Campaign) -> dict[str, Deadline]:
    left = quota_mod.time_left(campaign)
    sub_s, fwd_s = cast(int, left["submission_seconds_left"]), cast(int, left["forward_seconds_left"])
    label = time_left_label
    return {
        "submission": Deadline("作品提交截止", fmt_local(campaign.submission_deadline), label(sub_s), sub_s),
        "forward": Deadline("报送全国复评截止", fmt_local(campaign.effective_forward_deadline()), label(fwd_s), fwd_s),
    }


@dataclass
class WorkLine:
    id: int
    title: str
    province: str
    unit: str
    status: str
    status_label: str
    rank: int | None
    review_rev: int
    submitted: str
    forwarded: str
    reason: str = ""


def work_lines(
    session: Session, works: list[Work], user: User, campaign: Campaign, *, reasons: bool = False
) -> list[WorkLine]:
    """Rows for a list of works: province and unit names in two queries, national reasons in one."""
    provinces = service.province_names(session, (w.province_id for w in works))
    units = service.unit_names(session, (w.unit_id for w in works))
    latest_reason: dict[int, str] = {}
    if reasons:
        for work_id, decisions in service.decisions_of(session, [w.id or 0 for w in works]).items():
            live = [d for d in decisions if d.national and d.undone_at is None and d.action != "undo"]
            latest_reason[work_id] = live[-1].reason if live else ""
    lines = []
    for w in works:
        shown = service.shown_status(w, user, campaign)
        lines.append(WorkLine(
            id=w.id or 0, title=w.title, province=provinces.get(w.province_id or 0, ""),
            unit=units.get(w.unit_id or 0, quota_mod.NO_UNIT), status=shown,
            status_label=WORK_STATUS_LABELS.get(shown, shown), rank=w.forward_rank,
            review_rev=service.shown_rev(w, user, campaign),
            submitted=fmt_local(w.submitted_at), forwarded=fmt_local(w.forwarded_at),
            reason=latest_reason.get(w.id or 0, ""),
        ))
    return lines


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def version_facts(version: WorkVersion | None, campaign: Campaign) -> tuple[list[tuple[str, str]], list[str]]:
    """What the workers measured, and the warnings worth a reviewer's attention, in Chinese."""
    if version is None:
        return [], []
    resolution = f"{version.width} × {version.height}" if version.width and version.height else "—"
    facts = [
        ("时长", format_duration(version.duration_s, campaign.duration_step_s)),
        ("分辨率", resolution),
        ("视频编码", version.video_codec or "—"),
        ("音频编码", version.audio_codec or "无音轨"),
        ("文件大小", format_size(version.size_bytes)),
        ("容器品牌", (version.major_brand or "—").strip()),
        ("原文件名", version.original_filename or "—"),
        ("SHA-256", version.sha256 or "—"),
        ("校验时间", fmt_local(version.validated_at) or "—"),
    ]
    step = campaign.duration_step_s
    warnings = []
    for warning in version.warnings or []:
        if warning.startswith("header_duration_mismatch") and version.header_duration_s and version.duration_s:
            warnings.append(
                f"文件头标注的时长（{version.header_duration_s:.1f} 秒）与实际播放时长"
                f"（{format_duration(version.duration_s, step)}）不一致，以实际时长为准。"
            )
        elif warning.startswith("hidden_samples: "):  # clipjury.media.rules.header_warnings
            hidden = _float_or_none(warning.removeprefix("hidden_samples: ").removesuffix(" s"))
            warnings.append(
                f"文件中有约 {format_duration(hidden, step)}的画面或声音被编辑列表隐藏，"
                "多数播放器不显示，但个别播放器可能播放出来；请用下载的原文件核对其内容。"
            )
        elif warning == "worker_gave_up":  # workers.tasks.WORKER_GAVE_UP
            warnings.append(
                "校验进程多次异常退出（不是文件本身的问题），系统已暂停处理该文件、未作判定；"
                f"请运维人员执行 clipjury retry-version {version.id} 重新处理。"
            )
        elif warning.startswith("attempts: "):
            warnings.append(f"校验尝试次数：{warning.removeprefix('attempts: ')}。")
        elif warning.startswith("size_changed"):
            warnings.append("存储中的文件大小与上传记录不一致，已按实际读取的文件校验。")
        else:
            warnings.append(warning)
    if version.duration_s is not None and exceeds(version.duration_s, campaign.max_duration_s, step):
        warnings.append(
            f"时长超过 {format_limit_duration(campaign.max_duration_s)}（规则为“原则上不超过”）。"
        )
    if version.audio_codec is None and version.validated_at is not None:
        warnings.append("视频没有音轨，请确认声音是否可用。")
    return facts, warnings
