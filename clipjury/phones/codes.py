"""One-time codes: 6 digits from ``secrets``, stored as a keyed digest in Redis under (purpose, number HMAC),
single use, ``otp_ttl_s`` long, ended by ``otp_max_attempts`` wrong tries, and not re-issued for the same
number and purpose within ``otp_resend_cooldown_s``.

Issuing and verifying are each one Lua script, so two requests at once cannot both use a code, both
escape a try's count, or both get a fresh code past the cooldown.
"""

from __future__ import annotations

import logging
import secrets
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from redis.exceptions import RedisError

from clipjury.errors import DomainError, Unavailable
from clipjury.jobs import get_redis
from clipjury.phones.crypto import keyed_digest, lookup_hmac
from clipjury.phones.numbers import mask, normalise_mobile
from clipjury.settings import get_settings

log = logging.getLogger(__name__)

CODE_DIGITS = 6


class Purpose(StrEnum):
    register = "register"
    login = "login"
    reset = "reset"
    vote = "vote"


PURPOSE_LABELS: dict[Purpose, str] = {
    Purpose.register: "注册账号",
    Purpose.login: "登录",
    Purpose.reset: "重置密码",
    Purpose.vote: "展播投票",
}


class BadCode(DomainError):
    status_code = 401
    code = "bad_code"
    message = "验证码不正确或已失效，请重新获取。"


class TooMany(DomainError):
    """Refused by the resend cooldown or a limit (``clipjury.phones.limits``); ``retry_after_s`` says when
    to ask again, and the API sends it as ``Retry-After`` too."""

    status_code = 429
    code = "too_many"
    message = "获取验证码过于频繁，请稍后再试。"

    def __init__(self, message: str | None = None, *, retry_after_s: int) -> None:
        super().__init__(message, retry_after_s=max(1, retry_after_s))
        self.problem_headers = {"Retry-After": str(max(1, retry_after_s))}


class CodesUnavailable(Unavailable):
    """Redis cannot be reached: refuse (fail closed) rather than send codes nobody counts or checks."""

    code = "service_unavailable"
    message = "验证码服务暂时不可用，请稍后再试。"


@dataclass(frozen=True)
class Issued:
    phone: str  # E.164
    purpose: Purpose
    code: str


# KEYS: code, cooldown. ARGV: digest, ttl, cooldown. Returns 0 when issued, else the cooldown's seconds left.
_ISSUE = """
local cooldown = tonumber(ARGV[3])
if cooldown > 0 then
  if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', cooldown) then
    return math.max(redis.call('TTL', KEYS[2]), 1)
  end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'h', ARGV[1], 'tries', 0)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 0
"""

# KEYS: code. ARGV: digest, max tries. Returns {1, 0} when right (the code is gone), {0, tries left} when
# wrong (0 left: the code is gone too), {-1, 0} when there is no code (never sent, used, expired or ended).
_VERIFY = """
local stored = redis.call('HGET', KEYS[1], 'h')
if not stored then
  return {-1, 0}
end
if stored == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return {1, 0}
end
local tries = redis.call('HINCRBY', KEYS[1], 'tries', 1)
local left = tonumber(ARGV[2]) - tries
if left <= 0 then
  redis.call('DEL', KEYS[1])
  left = 0
end
return {0, left}
"""


def _keys(number_hmac: str, purpose: Purpose) -> tuple[str, str]:
    prefix = get_settings().queue_prefix
    return f"{prefix}-otp:code:{purpose.value}:{number_hmac}", f"{prefix}-otp:cooldown:{purpose.value}:{number_hmac}"


def _digest(number_hmac: str, purpose: Purpose, code: str) -> str:
    return keyed_digest("otp", purpose.value, number_hmac, code)


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def cooldown_left(phone: str, purpose: Purpose) -> int:
    """Seconds before another code may be issued for this number and purpose (0: now)."""
    _code_key, cooldown_key = _keys(lookup_hmac(phone), purpose)
    try:
        ttl = int(get_redis().ttl(cooldown_key))
    except RedisError as exc:
        log.warning("codes: redis unavailable: %s", exc)
        raise CodesUnavailable() from exc
    return max(ttl, 0)


def cooldown_refusal(wait_s: int) -> TooMany:
    return TooMany(f"验证码已发送，请 {wait_s} 秒后再重新获取。", retry_after_s=wait_s)


def issue(phone: str, purpose: Purpose) -> Issued:
    """A new code for the number and purpose, replacing (ending) any earlier one; ``TooMany`` within the
    cooldown. The caller sends it; the code itself is never stored."""
    settings = get_settings()
    e164 = normalise_mobile(phone)
    number_hmac = lookup_hmac(e164)
    code = new_code()
    code_key, cooldown_key = _keys(number_hmac, purpose)
    try:
        wait_s = int(get_redis().eval(
            _ISSUE, 2, code_key, cooldown_key, _digest(number_hmac, purpose, code), settings.otp_ttl_s,
            settings.otp_resend_cooldown_s,
        ))
    except RedisError as exc:
        log.warning("codes: redis unavailable: %s", exc)
        raise CodesUnavailable() from exc
    if wait_s:
        raise cooldown_refusal(wait_s)
    log.info("code issued for %s (%s)", mask(e164), purpose.value)
    return Issued(phone=e164, purpose=purpose, code=code)


def _clean_code(code: str) -> str | None:
    text = "".join(unicodedata.normalize("NFKC", code or "").split())
    return text if len(text) == CODE_DIGITS and text.isascii() and text.isdigit() else None


def verify(phone: str, purpose: Purpose | str, code: str) -> str:
    """Use up the number's code for ``purpose``: returns the number's E.164 form when ``code`` is right,
    raises ``BadCode`` otherwise (a wrong try counts; the last allowed one ends the code). A code is good
    once: of two verifications at once, one wins."""
    purpose = Purpose(purpose)
    e164 = normalise_mobile(phone)
    cleaned = _clean_code(code)
    if cleaned is None:
        # Cannot be any code: nothing to count against the real one.
        raise BadCode(f"验证码为 {CODE_DIGITS} 位数字，请检查后重新输入。")
    number_hmac = lookup_hmac(e164)
    code_key, _cooldown_key = _keys(number_hmac, purpose)
    try:
        result = get_redis().eval(
            _VERIFY, 1, code_key, _digest(number_hmac, purpose, cleaned), get_settings().otp_max_attempts
        )
    except RedisError as exc:
        log.warning("codes: redis unavailable: %s", exc)
        raise CodesUnavailable() from exc
    status, left = int(result[0]), int(result[1])
    if status == 1:
        return e164
    if status == -1:
        raise BadCode("验证码已失效（已使用、已过期或输错次数过多），请重新获取。")
    log.info("wrong code for %s (%s), %d tries left", mask(e164), purpose.value, left)
    if left == 0:
        raise BadCode("验证码错误次数过多，该验证码已作废，请重新获取。", attempts_left=0)
    raise BadCode(f"验证码不正确，还可以再试 {left} 次。", attempts_left=left)
