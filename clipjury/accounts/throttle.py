"""Failed logins are counted in Redis, per account and address and per address, so a password cannot
be guessed by trying many: past the limit, logins from there are refused until the window has passed.

Counted per account *and* address (not per account alone), so someone who knows a reviewer's username
cannot lock the reviewer out from elsewhere; per address as well, so one machine cannot try every
username. A successful login clears its account-and-address count. If Redis does not answer, logins are
not throttled (the password hash still costs every guess ~50 ms) and a warning is logged.
"""

from __future__ import annotations

import hashlib
import logging
import math

from redis.exceptions import RedisError

from clipjury.errors import DomainError
from clipjury.jobs import get_redis
from clipjury.settings import get_settings

log = logging.getLogger(__name__)

# One address may fail this many times as often as one account from it (an office behind one NAT
# address shares it).
ADDRESS_FACTOR = 5


class TooManyAttempts(DomainError):
    status_code = 429
    code = "too_many_login_attempts"
    message = "登录失败次数过多，请稍后再试。"


def _keys(username: str, address: str) -> tuple[str, str]:
    prefix = get_settings().queue_prefix
    account = hashlib.sha256(f"{username.strip().lower()}\0{address}".encode()).hexdigest()[:32]
    return f"{prefix}-login-fail:acct:{account}", f"{prefix}-login-fail:addr:{address}"


def check(username: str, address: str) -> None:
    """Refuse before the password is even checked when this account-and-address, or this address, has
    failed too often within the window."""
    settings = get_settings()
    limit = settings.login_max_failures
    if limit <= 0:
        return
    account_key, address_key = _keys(username, address)
    try:
        redis = get_redis()
        account, by_address = redis.mget(account_key, address_key)
        limits = ((account_key, account, limit), (address_key, by_address, limit * ADDRESS_FACTOR))
        over = [key for key, count, most in limits if count is not None and int(count) >= most]
        if not over:
            return
        wait_s = max(int(redis.ttl(key)) for key in over)
    except RedisError as exc:
        log.warning("login throttle unavailable: %s", exc)
        return
    minutes = max(1, math.ceil(max(wait_s, 1) / 60))
    raise TooManyAttempts(
        f"登录失败次数过多，请 {minutes} 分钟后再试；如忘记密码，请联系本单位联络员或管理员重置。",
        retry_after_s=max(wait_s, 1),
    )


def failed(username: str, address: str) -> None:
    window = get_settings().login_window_s
    account_key, address_key = _keys(username, address)
    try:
        pipe = get_redis().pipeline()
        for key in (account_key, address_key):
            pipe.incr(key)
            pipe.expire(key, window, nx=True)  # the window starts with the first failure
        pipe.execute()
    except RedisError as exc:
        log.warning("login throttle unavailable: %s", exc)


def succeeded(username: str, address: str) -> None:
    account_key, _address_key = _keys(username, address)
    try:
        get_redis().delete(account_key)
    except RedisError as exc:
        log.warning("login throttle unavailable: %s", exc)
