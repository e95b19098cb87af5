"""What a strong password is, for the accounts that can do the most (``clipjury create-admin``) and for
self-registration: at least 12 characters, at least two kinds of character, not the username, and not
one of the passwords every guessing list starts with."""

from __future__ import annotations

import unicodedata

from clipjury.accounts.service import PASSWORD_MAX_CHARS, WeakPassword

STRONG_MIN_CHARS = 12

# Checked case-insensitively. Only those of 12 characters or more matter (shorter ones fail the length).
COMMON_PASSWORDS = frozenset({
    "123456789012", "1234567890123", "12345678901234", "123456789abc", "1234567890qwe", "1234567890abc",
    "qwertyuiop12", "qwertyuiop123", "qwerty123456", "1qaz2wsx3edc", "1qaz2wsx3edc4rfv", "qazwsxedcrfv",
    "1q2w3e4r5t6y", "q1w2e3r4t5y6", "password1234", "password123!", "password@123", "passw0rd1234",
    "p@ssw0rd1234", "p@ssword1234", "administrator", "administrator1", "admin1234567", "admin@123456",
    "admin123456!", "abc123456789", "abcd12345678", "abcdefg12345", "a123456789012", "iloveyou1234",
    "woaini123456", "woaini1314520", "woaini520520", "5201314520520", "aa1234567890", "asdfghjkl123",
    "zxcvbnm12345", "zxcvbnm123456", "welcome12345", "changeme1234", "letmein12345", "baomi1234567",
    "clipjury1234", "clipjury123456",
})


def _classes(password: str) -> int:
    kinds = set()
    for char in password:
        if char.isdigit():
            kinds.add("digit")
        elif char.isalpha() and char.isascii():
            kinds.add("upper" if char.isupper() else "lower")
        else:
            kinds.add("other")  # punctuation, spaces, Chinese characters
    return len(kinds)


def password_problem(password: str, *, username: str = "") -> str | None:
    """Why ``password`` is too weak (in Chinese), or None when it is strong enough."""
    if len(password) > PASSWORD_MAX_CHARS:
        return f"密码不能超过 {PASSWORD_MAX_CHARS} 个字符。"
    if len(password) < STRONG_MIN_CHARS or not password.strip():
        return f"密码至少需要 {STRONG_MIN_CHARS} 个字符。"
    if _classes(password) < 2:
        return "密码不能只由一类字符组成，请混用大写字母、小写字母、数字或符号中的至少两类。"
    folded = unicodedata.normalize("NFKC", password).strip().casefold()
    if username and folded == unicodedata.normalize("NFKC", username).strip().casefold():
        return "密码不能与用户名相同。"
    if folded in COMMON_PASSWORDS:
        return "这是常见密码，很容易被猜到，请换一个。"
    return None


def ensure_strong_password(password: str, *, username: str = "") -> None:
    problem = password_problem(password, username=username)
    if problem is not None:
        raise WeakPassword(problem)
