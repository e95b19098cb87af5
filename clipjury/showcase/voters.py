"""Public voters: a phone verified with a one-time code (purpose ``vote``) and a nickname make a voter and
its own kind of token (``typ: voter``), never a staff or submitter session.

A voter row holds only the HMAC of the number (a voter is never sent anything, so the number itself is
not kept), the nickname, the digest of the privacy notice it accepted, and when it was created and last
signed in. ``sweep_retention`` anonymises voters after ``voter_retention_days`` without a sign-in or a
like (their likes stay, so the counts the awards used can still be checked) and blanks the client
addresses of likes older than ``like_address_retention_days``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import String, cast, exists, literal, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from clipjury.accounts.nicknames import clean_nickname
from clipjury.db import rowcount
from clipjury.errors import Invalid
from clipjury.phones import codes
from clipjury.phones.codes import Purpose
from clipjury.phones.crypto import lookup_hmac
from clipjury.settings import get_settings
from clipjury.showcase.models import Like, Voter
from clipjury.showcase.policy import VoterTokenInvalid
from clipjury.timeutil import utcnow

log = logging.getLogger(__name__)

TOKEN_TYPE = "voter"
TOKEN_ALGORITHM = "HS256"


class ConsentRequired(Invalid):
    code = "consent_required"
    message = "请阅读并勾选同意《个人信息处理说明》后再验证。"


def privacy_notice() -> str:
    """What a voter reads and accepts before the first like; the digest of exactly this text is kept."""
    settings = get_settings()
    return (
        "为防止重复点赞，我们需要验证您的手机号码。我们只保存手机号码经密钥处理后的摘要（无法还原为号码）、"
        "您填写的昵称、您同意本说明的记录和时间，以及每次点赞的作品、时间和网络地址。"
        "手机号码本身不保存，我们也不会向您发送验证码以外的任何短信。"
        "这些信息仅用于统计点赞和识别刷票，不对外公开，不用于其他目的。"
        f"网络地址在点赞 {settings.like_address_retention_days} 天后删除；"
        f"您最后一次验证或点赞 {settings.voter_retention_days} 天后，摘要和昵称将被删除，"
        "点赞记录以匿名方式保留，以便核对评奖所用的点赞数。点赞后不能撤销。"
    )


def consent_digest(text: str | None = None) -> str:
    return hashlib.sha256((text if text is not None else privacy_notice()).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class VoterSession:
    voter_id: int
    nickname: str
    access_token: str
    expires_in_s: int


def create_token(voter_id: int, now: datetime | None = None) -> tuple[str, int]:
    settings = get_settings()
    now = now or utcnow()
    lifetime = settings.voter_token_expire_hours * 3600
    payload = {"sub": str(voter_id), "typ": TOKEN_TYPE, "iat": now, "exp": now + timedelta(seconds=lifetime)}
    return jwt.encode(payload, settings.secret_key.get_secret_value(), algorithm=TOKEN_ALGORITHM), lifetime


def voter_id_of(token: str) -> int:
    """The voter a token speaks for, or ``VoterTokenInvalid`` (401): forged, expired, or another kind of
    token (a staff or submitter one). No database read: the token is short-lived, and a voter is only
    anonymised long after its last sign-in (the settings refuse a retention shorter than a token)."""
    try:
        payload = jwt.decode(
            token, get_settings().secret_key.get_secret_value(), algorithms=[TOKEN_ALGORITHM],
            options={"require": ["exp", "sub"]},
        )
    except jwt.PyJWTError:
        raise VoterTokenInvalid() from None
    if payload.get("typ") != TOKEN_TYPE:
        raise VoterTokenInvalid("请使用手机号码验证后再点赞（工作人员和投稿人账号不能点赞）。")
    try:
        voter_id = int(payload["sub"])
    except (TypeError, ValueError):
        raise VoterTokenInvalid() from None
    if voter_id < 1:
        raise VoterTokenInvalid()
    return voter_id


def sign_in(session: Session, *, phone: str, code: str, nickname: Any, consent: Any,
            now: datetime | None = None) -> VoterSession:
    """A voter token for a verified number. The consent and the nickname are checked before the code, so a
    form mistake does not use the code up. The same number signs in as the same voter (its nickname and
    consent renewed)."""
    now = now or utcnow()
    if consent is not True:
        raise ConsentRequired()
    name = clean_nickname(nickname)
    e164 = codes.verify(phone, Purpose.vote, code)
    values = {"phone_hmac": lookup_hmac(e164), "nickname": name, "consent_digest": consent_digest(),
              "created_at": now, "last_active_at": now}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Voter).values(**values).on_conflict_do_update(
        index_elements=[col(Voter.phone_hmac)],
        set_={"nickname": name, "consent_digest": values["consent_digest"], "last_active_at": now},
    ).returning(col(Voter.id))
    voter_id = int(session.execute(statement).scalar_one())
    token, lifetime = create_token(voter_id, now)
    log.info("voter %s signed in", voter_id)
    return VoterSession(voter_id=voter_id, nickname=name, access_token=token, expires_in_s=lifetime)


@dataclass(frozen=True)
class RetentionReport:
    voters_erased: int
    likes_addresses_blanked: int


def sweep_retention(session: Session, now: datetime | None = None) -> RetentionReport:
    """Anonymise voters idle past their retention and blank old likes' addresses. Idempotent, so any number
    of workers may run it at once."""
    settings = get_settings()
    now = now or utcnow()
    voter_cutoff = now - timedelta(days=settings.voter_retention_days)
    recent_like = exists().where(col(Like.voter_id) == col(Voter.id), col(Like.created_at) >= voter_cutoff)
    erased = rowcount(session.execute(
        update(Voter)
        .where(col(Voter.erased_at).is_(None), col(Voter.last_active_at) < voter_cutoff, ~recent_like)
        .values(phone_hmac=literal("erased-") + cast(col(Voter.id), String), nickname="", consent_digest="",
                erased_at=now)
        .execution_options(synchronize_session=False)
    ))
    address_cutoff = now - timedelta(days=settings.like_address_retention_days)
    blanked = rowcount(session.execute(
        update(Like)
        .where(col(Like.created_at) < address_cutoff,
               or_(col(Like.client_address).is_not(None), col(Like.client_network).is_not(None)))
        .values(client_address=None, client_network=None)
        .execution_options(synchronize_session=False)
    ))
    if erased or blanked:
        log.info("retention: %d voters anonymised, %d likes' addresses blanked", erased, blanked)
    return RetentionReport(voters_erased=erased, likes_addresses_blanked=blanked)
