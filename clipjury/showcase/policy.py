"""Who may like what, and when: the showcase's rules, each answering an ``Option`` (allowed, or the very
refusal the service raises), so the like button, the API and the campaign settings say the same words.

The window is ``[showcase_starts_at, showcase_ends_at)`` by the server's clock (stored UTC, shown in Beijing
time): a like at the very second of the close is already outside it.
"""

from __future__ import annotations

from datetime import datetime

from clipjury.campaigns.models import Campaign
from clipjury.errors import Conflict, Forbidden, NotFound, Unauthorized
from clipjury.options import ALLOWED, Option
from clipjury.timeutil import as_utc, fmt_local


class WindowClosed(Conflict):
    code = "window_closed"
    message = "当前不在展播点赞时间内。"


class NotOnShowcase(NotFound):
    code = "not_found"
    message = "找不到该展播作品，或作品已下线。"


class VoterBlocked(Forbidden):
    code = "voter_blocked"
    message = "您的点赞因异常已被作废，该账号不能继续点赞；如有疑问请联系主办方。"


class VoterTokenInvalid(Unauthorized):
    code = "invalid_token"
    message = "点赞凭证无效或已过期，请重新验证手机号码。"


class LikesFrozen(Conflict):
    code = "likes_frozen"
    message = "展播点赞已截止并已生成点赞数快照，展播时间不能再修改。"


class NotFrozen(Conflict):
    code = "not_frozen"
    message = "展播点赞尚未截止，还没有点赞数快照。"


def window_of(campaign: Campaign) -> tuple[datetime, datetime] | None:
    if campaign.showcase_starts_at is None or campaign.showcase_ends_at is None:
        return None
    return as_utc(campaign.showcase_starts_at), as_utc(campaign.showcase_ends_at)


def in_window(campaign: Campaign, now: datetime) -> bool:
    window = window_of(campaign)
    return window is not None and window[0] <= now < window[1]


def has_closed(campaign: Campaign, now: datetime) -> bool:
    """Whether the window was set and its close has passed (the counts may be frozen)."""
    window = window_of(campaign)
    return window is not None and now >= window[1]


def may_like(campaign: Campaign, now: datetime) -> Option:
    """Likes are taken inside the window only; the refusal says when it opens or that it closed."""
    window = window_of(campaign)
    if window is None:
        return Option(WindowClosed("本届活动尚未安排展播点赞。"))
    starts, ends = window
    if now < starts:
        return Option(WindowClosed(f"展播点赞将于 {fmt_local(starts)}（北京时间）开始。"))
    if now >= ends:
        return Option(WindowClosed(f"展播点赞已于 {fmt_local(ends)}（北京时间）截止。"))
    return ALLOWED


def may_move_window(frozen: bool) -> Option:
    """Once the counts are frozen the window is history: moving it (reopening it above all) would make
    likes count that the awards' snapshot does not hold."""
    return Option(LikesFrozen()) if frozen else ALLOWED
