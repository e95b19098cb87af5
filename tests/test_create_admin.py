"""``clipjury create-admin`` as an operator runs it: the only way to a national admin in production."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from clipjury import devservices
from clipjury.accounts.models import User
from clipjury.accounts.passwords import password_problem
from clipjury.audit.models import AuditEvent
from clipjury.db import session_scope
from tests.conftest import ROOT, TEST_ENV, token_for

STRONG = "Guozhi-baomi-2023"


def create_admin(username: str, password: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clipjury_cli", "create-admin", username, "--password-stdin", *extra],
        cwd=ROOT, env=devservices.child_env(**TEST_ENV), input=password + "\n", capture_output=True, text=True,
        timeout=120,
    )


def _users() -> list[User]:
    with session_scope() as session:
        return list(session.exec(select(User).order_by(col(User.id))))


@pytest.mark.parametrize(("password", "reason"), [
    ("Short-1", "至少需要 12"),
    ("onlylowercaseletters", "两类"),
    ("123456789012345", "两类"),
    ("first-admin", "至少需要 12"),
    ("Password1234", "常见密码"),
    ("1qaz2wsx3edc", "常见密码"),
    ("x" * 300 + "1", "不能超过"),
    ("   ", "至少需要 12"),
])
def test_weak_passwords_are_refused_with_the_reason(password: str, reason: str) -> None:
    problem = password_problem(password, username="first-admin")
    assert problem is not None and reason in problem.message, problem


def test_the_username_is_not_a_password() -> None:
    assert password_problem("Chief.Admin.2026", username="chief.admin.2026") == (
        "password_contains_username", "密码不能包含用户名。"
    )
    assert password_problem("my-CHIEF.ADMIN-2026", username="chief.admin") == (
        "password_contains_username", "密码不能包含用户名。"
    )
    assert password_problem(STRONG, username="first-admin") is None
    assert password_problem("保密宣传月活动2023年度", username="x") is None  # Chinese characters and digits


def test_create_admin_makes_an_audited_national_admin_who_can_log_in() -> None:
    made = create_admin("first-admin", STRONG, "--display-name", "国家保密局 管理员")
    assert made.returncode == 0, made.stderr
    assert "first-admin" in made.stdout
    [user] = _users()
    assert (user.username, user.display_name, user.role, user.province_id, user.is_active) == (
        "first-admin", "国家保密局 管理员", "national_admin", None, True
    )
    assert STRONG not in user.password_hash
    with session_scope() as session:
        [event] = session.exec(select(AuditEvent))
        assert event.action == "create_admin" and event.actor_id is None and event.to_status == "national_admin"
        assert event.data["user_id"] == user.id and event.data["username"] == "first-admin"
        assert STRONG not in str(event.data)
    from api.app import create_app

    with TestClient(create_app()) as client:
        token = token_for(client, "first-admin", STRONG)
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
        assert me["role"] == "national_admin" and me["display_name"] == "国家保密局 管理员"


def test_create_admin_refuses_a_weak_password_a_taken_username_and_a_bad_one() -> None:
    weak = create_admin("first-admin", "password1234")
    assert weak.returncode == 2 and "password_too_common" in weak.stderr and "Traceback" not in weak.stderr
    assert _users() == []
    assert create_admin("first-admin", STRONG).returncode == 0
    for taken in ("first-admin", "First-Admin"):
        refused = create_admin(taken, STRONG + "x")
        assert refused.returncode == 2 and "username_taken" in refused.stderr, refused.stderr
    bad = create_admin("a b", STRONG)
    assert bad.returncode == 2 and "invalid_username" in bad.stderr
    assert [u.username for u in _users()] == ["first-admin"]
    with session_scope() as session:
        assert len(list(session.exec(select(AuditEvent)))) == 1


def test_create_admin_asks_twice_without_stdin() -> None:
    # No terminal: getpass reads the two lines from stdin (and warns); different lines refuse.
    made = subprocess.run(
        [sys.executable, "-m", "clipjury_cli", "create-admin", "second-admin"], cwd=ROOT,
        env=devservices.child_env(**TEST_ENV), input=f"{STRONG}\n{STRONG}-typo\n", capture_output=True, text=True,
        timeout=120,
    )
    assert made.returncode == 2 and "differ" in made.stderr, made.stderr
    assert _users() == []
