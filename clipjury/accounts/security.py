"""Password hashing (Argon2, memory-hard) and API tokens (JWT, HS256)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from clipjury.settings import Environment, get_settings
from clipjury.timeutil import utcnow

TOKEN_ALGORITHM = "HS256"


# The test suite's Argon2 cost: the same algorithm and hash format, 1 MiB and one pass instead of 64 MiB and
# three (the suite signs in thousands of times on two cores). Only under CLIPJURY_ENV=test, which the
# production profile can never be; every other profile uses pwdlib's recommended parameters.
def test_cost_hasher() -> Argon2Hasher:
    return Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1)


@lru_cache(maxsize=1)
def _hasher() -> PasswordHash:
    if get_settings().env == Environment.test:
        return PasswordHash((test_cost_hasher(),))
    return PasswordHash.recommended()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return _hasher().verify(password, password_hash)
    except Exception:  # a malformed stored hash never logs anyone in
        return False


# A hash to verify against when the user does not exist, so timing does not reveal usernames.
@lru_cache(maxsize=1)
def dummy_hash() -> str:
    return hash_password("clipjury-no-such-user")


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    # The account's session_generation when the token was issued: a token behind the account's current
    # one was ended (sign out everywhere, a new password, deactivation) and is refused.
    generation: int


def create_access_token(user_id: int, generation: int) -> str:
    settings = get_settings()
    now = utcnow()
    payload = {
        "sub": str(user_id),
        "gen": generation,
        "iat": now,
        "exp": now + timedelta(minutes=settings.access_token_expire_minutes),
        "typ": "access",
    }
    return jwt.encode(payload, settings.secret_key.get_secret_value(), algorithm=TOKEN_ALGORITHM)


def decode_access_token(token: str) -> TokenClaims | None:
    try:
        payload = jwt.decode(
            token, get_settings().secret_key.get_secret_value(), algorithms=[TOKEN_ALGORITHM],
            options={"require": ["exp", "sub", "gen"]},
        )
    except jwt.PyJWTError:
        return None
    if payload.get("typ") != "access":
        return None
    generation = payload["gen"]
    # A token from before revocable sessions has no generation: it is refused like an ended one.
    if not isinstance(generation, int) or isinstance(generation, bool):
        return None
    try:
        return TokenClaims(user_id=int(payload["sub"]), generation=generation)
    except ValueError:
        return None
