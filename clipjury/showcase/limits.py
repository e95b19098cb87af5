"""How many likes a voter, a client address and a network (IPv4 /24, IPv6 /64) may send, checked in Redis
in one round trip for every window of every scope.

The windows are fixed (aligned to the minute, the hour, the day), counted by one Lua script that tests
every window before it counts any, so a request refused for its network takes nothing from the voter's
budget. The phone codes use the ``limits`` library's moving windows (``clipjury.phones.limits``): one
round trip per window there would be six or more per like here, the hottest route of the showcase, so the
notation and the parsing are the library's and the counting is this script. Limits are a brake, not the
guard against counting twice (the primary key is): when Redis cannot be reached the like goes through,
and the log says so.
"""

from __future__ import annotations

import logging
import math
import time
from functools import lru_cache

from limits import RateLimitItem, parse_many
from redis.exceptions import RedisError

from clipjury.errors import DomainError
from clipjury.jobs import get_redis
from clipjury.phones.limits import canonical_address, network_of
from clipjury.settings import get_settings

log = logging.getLogger(__name__)

VOTER = "voter"
ADDRESS = "address"
NETWORK = "network"

_MESSAGES = {
    VOTER: "您点赞过于频繁，请 {wait}后再试。",
    ADDRESS: "您的网络地址点赞过于频繁，请 {wait}后再试。",
    NETWORK: "您所在的网络点赞过于频繁，请 {wait}后再试。",
}

# KEYS: one counter per window. ARGV: the windows' limits, then their lengths in seconds. Returns 0 when
# counted, else the (1-based) index of the first full window; nothing is counted then.
_CHECK_AND_COUNT = """
local n = #KEYS
for i = 1, n do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used >= tonumber(ARGV[i]) then
    return i
  end
end
for i = 1, n do
  if redis.call('INCR', KEYS[i]) == 1 then
    redis.call('EXPIRE', KEYS[i], tonumber(ARGV[n + i]))
  end
end
return 0
"""


class TooManyLikes(DomainError):
    status_code = 429
    code = "too_many_likes"
    message = "点赞过于频繁，请稍后再试。"

    def __init__(self, message: str | None = None, *, retry_after_s: int) -> None:
        super().__init__(message, retry_after_s=max(1, retry_after_s))
        self.problem_headers = {"Retry-After": str(max(1, retry_after_s))}


@lru_cache(maxsize=16)
def _items(spec: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(spec)) if spec.strip() else ()


def _wait_text(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} 秒"
    if seconds < 7200:
        return f"{math.ceil(seconds / 60)} 分钟"
    return f"{math.ceil(seconds / 3600)} 小时"


Windows = tuple[list[str], list[int], list[int], list[tuple[str, int, int]]]  # keys, limits, lengths, owners


def _windows(voter_id: int, address: str, now: float) -> Windows:
    settings = get_settings()
    address = canonical_address(address)
    scopes = (
        (NETWORK, network_of(address), _items(settings.like_limits_per_network)),
        (ADDRESS, address, _items(settings.like_limits_per_address)),
        (VOTER, str(voter_id), _items(settings.like_limits_per_voter)),
    )
    keys: list[str] = []
    amounts: list[int] = []
    lengths: list[int] = []
    owners: list[tuple[str, int, int]] = []
    for scope, identity, items in scopes:
        for item in items:
            length = int(item.get_expiry())
            window = int(now // length)
            keys.append(f"{settings.queue_prefix}-like-limits:{scope}:{identity}:{length}:{window}")
            amounts.append(int(item.amount))
            lengths.append(length)
            owners.append((scope, length, window))
    return keys, amounts, lengths, owners


def _refusal(full: int, owners: list[tuple[str, int, int]], now: float) -> TooManyLikes | None:
    if not full:
        return None
    scope, length, window = owners[full - 1]
    wait = max(1, math.ceil((window + 1) * length - now))
    if scope != VOTER:
        log.info("likes refused for %s (%d s)", scope, wait)
    return TooManyLikes(_MESSAGES[scope].format(wait=_wait_text(wait)), retry_after_s=wait)


def check_and_count(voter_id: int, address: str, now: float | None = None) -> None:
    """Count one like against the voter, the address and its network, or raise ``TooManyLikes`` (with the
    wait until the full window ends) without counting it anywhere."""
    [refused] = check_and_count_many([(voter_id, address)], now)
    if refused is not None:
        raise refused


def check_and_count_many(requests: list[tuple[int, str]], now: float | None = None) -> list[TooManyLikes | None]:
    """``check_and_count`` for a batch of (voter, address), in order, in one Redis round trip (each request's
    script runs on its own, after the ones before it): the refusal of each, or None when it was counted."""
    now = time.time() if now is None else now
    windows = [_windows(voter_id, address, now) for voter_id, address in requests]
    if not any(keys for keys, *_ in windows):
        return [None] * len(requests)
    try:
        pipe = get_redis().pipeline(transaction=False)
        for keys, amounts, lengths, _owners in windows:
            pipe.eval(_CHECK_AND_COUNT, len(keys), *keys, *amounts, *lengths)
        results = pipe.execute()
    except RedisError as exc:
        log.warning("like limits unavailable, %d likes taken without them: %s", len(requests), exc)
        return [None] * len(requests)
    return [_refusal(int(full), owners, now) for full, (_k, _a, _l, owners) in zip(results, windows, strict=True)]
