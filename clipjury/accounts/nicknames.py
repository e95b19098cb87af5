"""The one nickname rule, for registered submitters (clipjury.accounts.registration) and for voters
(clipjury.showcase.voters): what a person types is normalised (NFKC, runs of spaces as one) and refused
with a code each form can show beside its field."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from clipjury.errors import Invalid

NICKNAME_MAX = 20
# Eleven digits in a row look like a phone number: a nickname is shown to staff and in like reports,
# and must not become a place where people publish their numbers.
_PHONE_LIKE = re.compile(r"\d{11}")


class NicknameInvalid(Invalid):
    code = "nickname_invalid"
    message = f"昵称须为 1–{NICKNAME_MAX} 个字，不能含有控制字符、尖括号或手机号码。"


def clean_nickname(raw: Any) -> str:
    text = unicodedata.normalize("NFKC", raw if isinstance(raw, str) else "").strip()
    text = " ".join(text.split())
    if not text:
        raise NicknameInvalid("请填写昵称。", code="nickname_required")
    if len(text) > NICKNAME_MAX:
        raise NicknameInvalid(f"昵称不能超过 {NICKNAME_MAX} 个字。", code="nickname_too_long")
    if any(unicodedata.category(c).startswith("C") for c in text) or "<" in text or ">" in text:
        raise NicknameInvalid("昵称中含有不可用的字符。")
    if _PHONE_LIKE.search(text.replace(" ", "")):
        raise NicknameInvalid("为保护您的隐私，昵称中请勿包含手机号码。")
    return text
