"""Phone numbers at rest: AES-GCM under ``CLIPJURY_PHONE_KEY`` for the numbers SMS notifications need, and
an HMAC-SHA256 under the separate ``CLIPJURY_PHONE_HMAC_KEY`` for look-up and uniqueness. Both keys live
outside the database, so a copy of it reveals no number and cannot confirm a guessed one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from clipjury.phones.numbers import normalise_mobile
from clipjury.settings import get_settings

VERSION = "v1"
NONCE_BYTES = 12
# Binds a ciphertext to its use: one made for something else under the same key does not decrypt here.
_AAD = b"clipjury-phone-v1"


class PhoneDecryptError(Exception):
    """A stored value that is not ours, was altered, or was written under another key."""


@lru_cache(maxsize=4)
def _aes_key(secret: str) -> bytes:
    # The setting is a passphrase-like string of at least 32 characters; HKDF makes it a uniform 256-bit key.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"clipjury phone aes-gcm v1").derive(
        secret.encode("utf-8")
    )


def _hmac_key() -> bytes:
    return get_settings().phone_hmac_key.get_secret_value().encode("utf-8")


def encrypt(phone: str) -> str:
    """``v1.<base64url(nonce | ciphertext | tag)>``, a fresh random nonce each time (so equal numbers do
    not look equal: uniqueness is the HMAC's job)."""
    key = _aes_key(get_settings().phone_key.get_secret_value())
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, phone.encode("utf-8"), _AAD)
    return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"


def decrypt(token: str) -> str:
    version, _, body = token.partition(".")
    if version != VERSION or not body:
        raise PhoneDecryptError("not an encrypted phone number")
    try:
        raw = base64.urlsafe_b64decode(body.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise PhoneDecryptError("malformed") from exc
    if len(raw) <= NONCE_BYTES + 16:
        raise PhoneDecryptError("too short")
    key = _aes_key(get_settings().phone_key.get_secret_value())
    try:
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _AAD).decode("utf-8")
    except InvalidTag as exc:
        raise PhoneDecryptError("altered, or encrypted under another key") from exc


def lookup_hmac(phone: str) -> str:
    """Hex HMAC-SHA256 of the number's E.164 form: however the number was written, the same value."""
    return hmac.new(_hmac_key(), normalise_mobile(phone).encode("ascii"), hashlib.sha256).hexdigest()


def keyed_digest(*parts: str) -> str:
    """HMAC of a tuple of strings under the look-up key (codes are stored this way: a Redis dump gives no
    code and, without the key, no way to test the million candidates)."""
    message = "\0".join(("clipjury", *parts)).encode("utf-8")
    return hmac.new(_hmac_key(), message, hashlib.sha256).hexdigest()
