"""The one password rule, for every password a person chooses: ``clipjury create-admin``,
``clipjury set-password``, an invitation's link, self-registration and a reset.

At least 12 characters and two kinds of character, so that the login throttle makes guessing hopeless;
an upper bound so that hashing a huge "password" cannot burn CPU; not containing the username; not one
of the passwords every guessing list starts with. Each refusal has its own code, so a client can say
exactly what to change.
"""

from __future__ import annotations

import unicodedata
from typing import NamedTuple

from clipjury.errors import Invalid

PASSWORD_MIN_CHARS = 12
PASSWORD_MAX_CHARS = 256

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


class PasswordProblem(NamedTuple):
    code: str
    message: str


class WeakPassword(Invalid):
    code = "weak_password"
    message = "密码不符合要求。"


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


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def password_problem(password: str, *, username: str = "") -> PasswordProblem | None:
    """What is wrong with ``password`` (a stable code and a Chinese message), or None when it will do."""
    if len(password) > PASSWORD_MAX_CHARS:
        return PasswordProblem("password_too_long", f"密码不能超过 {PASSWORD_MAX_CHARS} 个字符。")
    if len(password) < PASSWORD_MIN_CHARS or not password.strip():
        return PasswordProblem("password_too_short", f"密码至少需要 {PASSWORD_MIN_CHARS} 个字符。")
    if _classes(password) < 2:
        return PasswordProblem(
            "password_too_simple", "密码不能只由一类字符组成，请混用大写字母、小写字母、数字或符号中的至少两类。"
        )
    folded = _fold(password)
    if username and _fold(username) in folded:
        return PasswordProblem("password_contains_username", "密码不能包含用户名。")
    if folded in COMMON_PASSWORDS:
        return PasswordProblem("password_too_common", "这是常见密码，很容易被猜到，请换一个。")
    return None


def ensure_strong_password(password: str, *, username: str = "") -> None:
    problem = password_problem(password, username=username)
    if problem is not None:
        raise WeakPassword(problem.message, code=problem.code)
