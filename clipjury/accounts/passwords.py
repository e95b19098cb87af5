"""The password-strength rule every password a person chooses must meet (an invitation, create-admin).

Minimal on purpose: long enough that the login throttle makes guessing hopeless, not the username, not
one character repeated, not on a short list of the passwords tried first. The ``otp`` branch writes the
same rule for create-admin; the lead keeps one of the two.
"""

from __future__ import annotations

PASSWORD_MIN_CHARS = 10
PASSWORD_MAX_CHARS = 256

# The few passwords every guessing list starts with (and their Chinese-keyboard favourites).
COMMON_PASSWORDS = frozenset({
    "1234567890", "0123456789", "12345678910", "1234567890a", "qwertyuiop", "password123", "password1234",
    "abcdefghij", "a123456789", "1qaz2wsx3edc", "woaini1314520", "iloveyou1314", "admin12345", "admin123456",
    "1q2w3e4r5t", "qwerty12345", "abc1234567", "88888888888", "11111111111",
})


def password_problem(password: str, username: str = "") -> tuple[str, str] | None:
    """``(code, Chinese message)`` saying what is wrong with the password, or None when it will do."""
    if len(password) < PASSWORD_MIN_CHARS:
        return "password_too_short", f"密码至少需要 {PASSWORD_MIN_CHARS} 个字符。"
    if len(password) > PASSWORD_MAX_CHARS:
        return "password_too_long", f"密码不能超过 {PASSWORD_MAX_CHARS} 个字符。"
    if not password.strip():
        return "password_blank", "密码不能全是空白。"
    if len(set(password)) < 4:
        return "password_too_simple", "密码过于简单，请至少使用 4 个不同的字符。"
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS:
        return "password_too_common", "该密码过于常见，请换一个。"
    if username and username.strip().lower() in lowered:
        return "password_contains_username", "密码不能包含用户名。"
    return None
