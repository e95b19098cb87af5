"""The one set of Chinese labels the pages show: statuses, roles, actors, audit reasons (the domain's
own labels where it has them)."""

from __future__ import annotations

from clipjury.accounts.models import ROLE_LABELS, Role, User
from clipjury.works.models import WORK_STATUS_LABELS


def role_label(user: User) -> str:
    return ROLE_LABELS.get(Role(user.role), user.role)


def status_label(status: str) -> str:
    return WORK_STATUS_LABELS.get(status, status)


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


def status_change_label(from_status: str | None, to_status: str | None) -> str:
    """"待初评 → 初评通过" for an event that changed a work's status, else ""."""
    if from_status and to_status and from_status != to_status:
        return f"{status_label(from_status)} → {status_label(to_status)}"
    return ""


def event_reason_label(action: str, reason: str) -> str:
    """An audit event's reason as shown (a verdict's reason is the validator's report, shown elsewhere)."""
    return audit_reason_label(action, reason) if action != "verdict" else ""


# The review queue's status filter, worded for reviewers.
QUEUE_STATUS_LABELS = {
    "submitted": "待初评", "returned": "退回修改", "passed": "初评通过", "failed": "初评未通过",
    "forwarded": "已报送全国复评", "disqualified": "已取消参选资格",
}
