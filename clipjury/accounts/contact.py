"""How to reach an account holder, and what staff may see of it: the registered phone number is kept
encrypted (clipjury.accounts.registration) and shown to staff only masked."""

from __future__ import annotations

import logging

from clipjury.accounts.models import User
from clipjury.phones.crypto import PhoneDecryptError, decrypt
from clipjury.phones.numbers import mask

log = logging.getLogger(__name__)


def phone_of(user: User) -> str | None:
    """The number to send this person's SMS to: the registered one (decrypted) or a staff contact number."""
    if user.phone_enc:
        try:
            return decrypt(user.phone_enc)
        except PhoneDecryptError:
            log.warning("user %s: stored phone does not decrypt under the current key", user.id)
            return None
    return user.phone


def masked_phone(user: User) -> str:
    """What staff see of a registered number (``138****8000``); empty when there is none."""
    number = phone_of(user)
    return mask(number) if number else ""
