"""Self-registration of submitters with a verified phone, sign-in by phone, and password reset by SMS.

A registrant gives a mainland mobile number and the code sent to it, a nickname, a password, their
province and, when they take part for a unit, the unit's join code (a pending membership the unit's
coordinator approves, clipjury.units.membership). Everything that can be checked without the code is
checked first, so a typo costs no code; the code is used up before the number's uniqueness is looked
at, so nobody learns whether a number is registered without holding that phone.

The number is stored encrypted (AES-GCM, ``CLIPJURY_PHONE_KEY``) for the SMS notifications and as a
keyed HMAC (``CLIPJURY_PHONE_HMAC_KEY``) for sign-in and uniqueness; logs and staff pages show it masked.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from clipjury.accounts.models import Province, Role, User
from clipjury.accounts.nicknames import clean_nickname
from clipjury.accounts.passwords import ensure_strong_password
from clipjury.accounts.privacy import consent_text
from clipjury.accounts.security import hash_password
from clipjury.accounts.sessions import end_all_sessions
from clipjury.audit.service import record
from clipjury.campaigns.service import active_campaign
from clipjury.errors import Conflict, Invalid
from clipjury.phones import codes
from clipjury.phones.crypto import encrypt, lookup_hmac
from clipjury.phones.numbers import mask, normalise_mobile
from clipjury.timeutil import utcnow
from clipjury.units.membership import join_with_code, unit_for_code

log = logging.getLogger(__name__)

USERNAME_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


class ConsentRequired(Invalid):
    code = "consent_required"
    message = "请阅读并勾选同意作品权利说明和个人信息处理说明后再注册。"


class UnknownProvince(Invalid):
    code = "unknown_province"
    message = "请选择所在的省份（或中央部门）。"


class PhoneTaken(Conflict):
    code = "phone_taken"
    message = "该手机号已注册，请直接登录；忘记密码可通过短信验证码重设。"


def _new_username(session: Session) -> str:
    # Not derived from the number or the nickname: staff pages show usernames.
    while True:
        name = "u-" + "".join(secrets.choice(USERNAME_ALPHABET) for _ in range(8))
        if session.exec(select(User.id).where(func.lower(User.username) == name)).first() is None:
            return name


def register(
    session: Session,
    *,
    phone: str,
    code: str,
    nickname: str,
    password: str,
    province_code: str,
    consent: bool,
    unit_join_code: str | None = None,
    now: datetime | None = None,
) -> User:
    """A new submitter, signed up with a verified phone. Raises (in this order) ``consent_required``,
    ``nickname_*``, the password rule's refusals, ``unknown_province``, ``bad_join_code`` /
    ``province_mismatch``, ``bad_phone``, ``bad_code`` (401), ``phone_taken`` (409)."""
    now = now or utcnow()
    if not consent:
        raise ConsentRequired()
    name = clean_nickname(nickname)
    province = session.exec(select(Province).where(Province.code == province_code.strip())).first()
    if province is None:
        raise UnknownProvince()
    unit = unit_for_code(session, unit_join_code) if unit_join_code and unit_join_code.strip() else None
    if unit is not None and unit.province_id != province.id:
        raise Invalid("该单位邀请码不属于您所选的省份，请核对省份或邀请码。", code="province_mismatch")
    e164 = normalise_mobile(phone)
    ensure_strong_password(password, username=name)
    consent_shown = consent_text(active_campaign(session).rights_notice)
    codes.verify(e164, codes.Purpose.register, code)
    number_hmac = lookup_hmac(e164)
    if session.exec(select(User.id).where(col(User.phone_hmac) == number_hmac)).first() is not None:
        raise PhoneTaken()
    user = User(
        username=_new_username(session), display_name=name, password_hash=hash_password(password),
        role=Role.submitter.value, province_id=province.id, phone_enc=encrypt(e164), phone_hmac=number_hmac,
        consent_digest=consent_shown.digest, consented_at=now, last_login_at=now,
    )
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:  # the same number registered at the same moment
        raise PhoneTaken() from exc
    if unit is not None:
        join_with_code(session, user, unit_join_code or "")
    record(session, actor=user, action="account_registered", province_id=province.id,
           data={"user_id": user.id, "unit_requested": unit.id if unit else None, "consent": consent_shown.digest})
    log.info("registered user %s (%s) in province %s", user.id, mask(e164), province.code)
    return user


def reset_password(session: Session, *, phone: str, code: str, password: str) -> User:
    """A new password for the account of this number, proven by a ``reset`` code; every other session
    and token of the account ends. An unregistered number answers like a wrong code."""
    e164 = normalise_mobile(phone)
    ensure_strong_password(password)  # before the code is used up (the username check follows)
    codes.verify(e164, codes.Purpose.reset, code)
    user = session.exec(select(User).where(col(User.phone_hmac) == lookup_hmac(e164))).first()
    if user is None or not user.is_active:
        raise codes.BadCode()  # an unregistered number answers like a wrong code
    ensure_strong_password(password, username=user.username)
    user.password_hash = hash_password(password)
    session.add(user)
    session.flush()
    end_all_sessions(session, user)
    record(session, actor=user, action="password_reset", province_id=user.province_id, data={"user_id": user.id})
    log.info("password reset by SMS for user %s (%s)", user.id, mask(e164))
    return user
