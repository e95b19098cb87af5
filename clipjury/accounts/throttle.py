"""Failed logins are counted in Redis, so a password cannot be guessed by trying many: past a limit,
logins are refused until the window has passed.

Three counts, each with its own limit:

* per account *and* address (``login_max_failures``): the usual case of one person guessing, and a
  limit someone who knows a reviewer's username cannot use to lock the reviewer out from elsewhere;
* per address (5 × that): one machine cannot try every username;
* per account across all addresses (``login_max_failures_per_account``): one password tried from many
  addresses (a botnet) is stopped too. Being larger than the first, an account is locked for everyone
  only by many guesses from many places, which is what it takes to guess it.

A successful login clears its account-and-address count only: the account-wide count keeps what
strangers tried. If Redis cannot be read the login is refused with 503 (fail closed): an unthrottled
login would be the easiest way to guess a password.
"""

from __future__ import annotations

import hashlib
import logging
import math

from redis.exceptions import RedisError

from clipjury.errors import DomainError, Unavailable
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


class ThrottleUnavailable(Unavailable):
    code = "service_unavailable"
    message = "登录服务暂时不可用，请稍后再试；如持续出现，请联系管理员。"


def _keys(username: str, address: str) -> tuple[str, str, str]:
    """The account-and-address, address, and account keys (usernames hashed: no names in Redis)."""
    prefix = get_settings().queue_prefix
    name = username.strip().lower()
    pair = hashlib.sha256(f"{name}\0{address}".encode()).hexdigest()[:32]
    account = hashlib.sha256(name.encode()).hexdigest()[:32]
    return (
        f"{prefix}-login-fail:acct:{pair}",
        f"{prefix}-login-fail:addr:{address}",
        f"{prefix}-login-fail:user:{account}",
    )


def check(username: str, address: str) -> None:
    """Refuse before the password is even checked when this account-and-address, this address, or this
    account from anywhere has failed too often within the window."""
    settings = get_settings()
    limit = settings.login_max_failures
    if limit <= 0:
        return
    pair_key, address_key, account_key = _keys(username, address)
    try:
        redis = get_redis()
        pair, by_address, account = redis.mget(pair_key, address_key, account_key)
        limits = (
            (pair_key, pair, limit),
            (address_key, by_address, limit * ADDRESS_FACTOR),
            (account_key, account, settings.login_max_failures_per_account),
        )
        over = [key for key, count, most in limits if count is not None and int(count) >= most]
        if not over:
            return
        wait_s = max(int(redis.ttl(key)) for key in over)
    except RedisError as exc:
        log.warning("login throttle unavailable, refusing the login: %s", exc)
        raise ThrottleUnavailable() from exc
    minutes = max(1, math.ceil(max(wait_s, 1) / 60))
    raise TooManyAttempts(
        f"登录失败次数过多，请 {minutes} 分钟后再试；如忘记密码，请联系本单位联络员或管理员重置。",
        retry_after_s=max(wait_s, 1),
    )


def failed(username: str, address: str) -> None:
    settings = get_settings()
    if settings.login_max_failures <= 0:
        return
    try:
        pipe = get_redis().pipeline()
        for key in _keys(username, address):
            pipe.incr(key)
            pipe.expire(key, settings.login_window_s, nx=True)  # the window starts with the first failure
        pipe.execute()
    except RedisError as exc:
        # A failure that cannot be counted must not be free: the guess gets the same 503 as the check.
        log.warning("login throttle unavailable, refusing the login: %s", exc)
        raise ThrottleUnavailable() from exc


def succeeded(username: str, address: str) -> None:
    if get_settings().login_max_failures <= 0:
        return
    pair_key, _address_key, _account_key = _keys(username, address)
    try:
        get_redis().delete(pair_key)
    except RedisError as exc:
        # The password was right; a count left behind only runs out with its window.
        log.warning("login throttle: could not clear a count: %s", exc)
