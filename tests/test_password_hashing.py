"""Passwords are Argon2id everywhere; only the test profile uses a cheaper cost, and a hash made at any
cost verifies under any profile (the parameters travel in the hash)."""

from __future__ import annotations

import pytest
from pwdlib import PasswordHash

from clipjury.accounts import security
from clipjury.settings import Environment, get_settings


def test_the_suite_hashes_with_argon2id_at_the_test_cost() -> None:
    assert get_settings().env == Environment.test
    stored = security.hash_password("一个足够长的密码-2026")
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert security.verify_password("一个足够长的密码-2026", stored)
    assert not security.verify_password("一个足够长的密码-2027", stored)


@pytest.mark.parametrize("env", [Environment.development, Environment.production])
def test_other_profiles_use_the_recommended_cost(monkeypatch: pytest.MonkeyPatch, env: Environment) -> None:
    monkeypatch.setattr(get_settings(), "env", env)
    security._hasher.cache_clear()
    try:
        stored = security.hash_password("demo-password-2026")
        assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        # A hash made at the test cost still verifies: the parameters are read from the hash.
        assert security.verify_password("x", PasswordHash.recommended().hash("y")) is False
        cheap = "$argon2id$v=19$m=1024,t=1,p=1$"
        test_hash = PasswordHash((security.test_cost_hasher(),)).hash("z")
        assert test_hash.startswith(cheap) and security.verify_password("z", test_hash)
    finally:
        security._hasher.cache_clear()
