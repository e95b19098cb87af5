"""Sizes, durations and time left as the pages show them."""

from __future__ import annotations

from clipjury.media.rules import DEFAULT_DURATION_STEP_S, format_seconds, shown_duration

MiB = 1024 * 1024


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
