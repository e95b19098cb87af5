"""How many codes may be asked for, with the ``limits`` library's moving windows on Redis (its synchronous
storage: the code route is a plain ``def`` route run in the threadpool).

Three scopes, each with its own windows (settings): the number (its HMAC, never the number), the client
address, and the client's network (IPv4 /24, IPv6 /64: one subscriber or office gets a whole /64, and
addresses in one /24 usually belong to one operator's pool). Every window is tested before any is counted,
so a request refused for one scope takes nothing from the others: a flood refused at its network does not
use up the victims' numbers. Without Redis, nothing is sent (503).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from functools import lru_cache

from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError

from clipjury.jobs import get_redis
from clipjury.phones.codes import CodesUnavailable, TooMany
from clipjury.settings import get_settings

log = logging.getLogger(__name__)

NUMBER = "number"
ADDRESS = "address"
NETWORK = "network"

_MESSAGES = {
    NUMBER: "该手机号码获取验证码过于频繁，请 {wait}后再试。",
    ADDRESS: "您的网络地址获取验证码过于频繁，请 {wait}后再试。",
    NETWORK: "您所在的网络获取验证码过于频繁，请 {wait}后再试。",
}


@lru_cache(maxsize=4)
def _limiter(url: str, prefix: str) -> MovingWindowRateLimiter:
    # The application's own connection pool (its timeouts), with the deployment's key prefix.
    storage = RedisStorage(url, connection_pool=get_redis().connection_pool, key_prefix=f"{prefix}-otp-limits",
                           wrap_exceptions=True)
    return MovingWindowRateLimiter(storage)


@lru_cache(maxsize=16)
def _items(spec: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(spec))


def network_of(address: str) -> str:
    """The /24 of an IPv4 address (an IPv4-mapped IPv6 one too), the /64 of an IPv6 one; a client address
    that is no IP (a Unix socket, a test client) is its own network."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def canonical_address(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _wait_text(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} 秒"
    if seconds < 7200:
        return f"{math.ceil(seconds / 60)} 分钟"
    return f"{math.ceil(seconds / 3600)} 小时"


def check_and_count(number_hmac: str, address: str) -> None:
    """Count one code request against the number, the address and its network, or raise ``TooMany``
    (with the longest wait among the windows that are full) without counting it anywhere."""
    settings = get_settings()
    address = canonical_address(address)
    scopes = (
        (NETWORK, network_of(address), _items(settings.otp_limits_per_network)),
        (ADDRESS, address, _items(settings.otp_limits_per_address)),
        (NUMBER, number_hmac, _items(settings.otp_limits_per_number)),
    )
    try:
        limiter = _limiter(settings.redis_url, settings.queue_prefix)
        for scope, identity, items in scopes:
            full = [item for item in items if not limiter.test(item, "otp", scope, identity)]
            if full:
                _refuse(limiter, scope, identity, full)
        for scope, identity, items in scopes:
            for item in items:
                if not limiter.hit(item, "otp", scope, identity):  # another request took the last place
                    _refuse(limiter, scope, identity, [item])
    except (RedisError, StorageError) as exc:
        log.warning("code limits unavailable, refusing the request: %s", exc)
        raise CodesUnavailable() from exc


def _refuse(limiter: MovingWindowRateLimiter, scope: str, identity: str, full: list[RateLimitItem]) -> None:
    now = time.time()
    wait = max(math.ceil(limiter.get_window_stats(item, "otp", scope, identity).reset_time - now) for item in full)
    wait = max(wait, 1)
    if scope != NUMBER:
        log.info("code requests refused for %s %s (%d s)", scope, identity, wait)
    raise TooMany(_MESSAGES[scope].format(wait=_wait_text(wait)), retry_after_s=wait)
