"""Mainland China mobile numbers: every way people write one (``+86 138…``, ``0086…``, spaces, dashes,
full-width digits) becomes one E.164 string, ``+86138…``; anything else is refused with the reason."""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from clipjury.errors import Invalid

# Longer than any way of writing an 11-digit number with a prefix and separators; bounds the parser's work.
MAX_INPUT_CHARS = 40
# What people put between digit groups (after NFKC, which maps full-width forms to ASCII).
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212().·/]")
_SHAPE = re.compile(r"^\+?[0-9]+$")
CHINA = "CN"


class BadPhone(Invalid):
    code = "bad_phone"
    message = "手机号码格式不正确，请填写中国大陆的 11 位手机号码，如 138 0013 8000。"


class LandlinePhone(BadPhone):
    message = "这是固定电话号码，无法接收短信验证码，请填写中国大陆的手机号码。"


class ForeignPhone(BadPhone):
    message = "目前只支持中国大陆的手机号码（+86），请更换号码后重试。"


def normalise_mobile(raw: str) -> str:
    """The E.164 form (``+8613800138000``) of a mainland mobile number, or ``BadPhone`` saying why not."""
    text = unicodedata.normalize("NFKC", raw or "").strip()
    if not text or len(text) > MAX_INPUT_CHARS:
        raise BadPhone()
    text = _SEPARATORS.sub("", text)
    if not _SHAPE.match(text):
        # phonenumbers reads letters as a keypad's (1-800-FLOWERS): nobody types a mobile number that way.
        raise BadPhone()
    if text.startswith("00"):
        text = "+" + text[2:]
    elif text.startswith("86") and len(text) == 13:
        text = "+" + text  # the country code without its plus: no national number has 13 digits
    try:
        number = phonenumbers.parse(text, CHINA)
    except NumberParseException as exc:
        raise BadPhone() from exc
    if number.country_code != 86:
        if phonenumbers.is_valid_number(number):
            raise ForeignPhone()
        raise BadPhone()
    if not phonenumbers.is_valid_number_for_region(number, CHINA):
        raise BadPhone()
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.FIXED_LINE:
        raise LandlinePhone()
    if kind != PhoneNumberType.MOBILE:
        raise BadPhone()
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def mask(e164: str) -> str:
    """``138****8000``: what logs, staff pages and job descriptions may show of a number."""
    national = e164.removeprefix("+86")
    if len(national) < 8:
        return "*" * len(national)
    return f"{national[:3]}****{national[-4:]}"
