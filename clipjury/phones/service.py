"""Asking for a code: the number checked, the cooldown, the limits, a fresh code, the SMS, in that order,
so that a refused request costs no SMS and no other scope's budget."""

from __future__ import annotations

from clipjury.phones import codes, limits, senders
from clipjury.phones.codes import Purpose
from clipjury.phones.crypto import lookup_hmac
from clipjury.phones.numbers import normalise_mobile


def request_code(phone: str, purpose: Purpose, *, address: str) -> str:
    """Send a code for ``purpose`` to the number; returns its E.164 form. ``BadPhone`` (422), ``TooMany``
    (429, with ``retry_after_s``) or ``CodesUnavailable`` (503, Redis down: nothing is sent uncounted)."""
    e164 = normalise_mobile(phone)
    wait_s = codes.cooldown_left(e164, purpose)
    if wait_s:
        raise codes.cooldown_refusal(wait_s)
    limits.check_and_count(lookup_hmac(e164), address)
    issued = codes.issue(e164, purpose)
    senders.send(issued)
    return e164
