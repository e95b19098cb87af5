"""Scopes that hold for every account (issue 12, item 6): a staff account without the province or unit
its role reads by is refused by the database, and one that exists anyway is refused on every route
(403 ``account_incomplete``) instead of being filtered on NULL, i.e. shown every unit-less work."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from clipjury.accounts.models import Province, Role, Unit, User
from clipjury.accounts.scopes import missing_scope
from clipjury.accounts.security import create_access_token
from clipjury.db import session_scope
from clipjury.errors import Invalid
from clipjury.works import service as works
from clipjury.works.policy import WorkNotFound
from tests.conftest import scratch_database
from tests.review_support import submitted_works
from tests.scope_support import insert_incomplete_coordinator

PROBLEM = "application/problem+json"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def _ids() -> tuple[int, int]:
    with session_scope() as session:
        hebei = session.exec(select(Province).where(Province.code == "hebei")).one()
        unit = session.exec(select(Unit).where(Unit.province_id == hebei.id)).first()
        assert unit is not None
        return hebei.id or 0, unit.id or 0


INCOMPLETE = [
    ("reviewer", False, False),
    ("provincial_admin", False, False),
    ("unit_coordinator", True, False),  # the case of the issue: `unit_id == None` is IS NULL
    ("unit_coordinator", False, True),
]
COMPLETE = [
    ("reviewer", True, False),
    ("provincial_admin", True, False),
    ("unit_coordinator", True, True),
    ("national_admin", False, False),
    ("submitter", False, False),  # a submitter picks each work's province
    ("judge", False, False),
]


@pytest.mark.parametrize(("role", "with_province", "with_unit"), INCOMPLETE)
def test_the_database_refuses_staff_without_their_scope(
    demo: dict[str, int], role: str, with_province: bool, with_unit: bool
) -> None:
    province_id, unit_id = _ids()
    user = User(username="incomplete", password_hash="!", role=role,
                province_id=province_id if with_province else None, unit_id=unit_id if with_unit else None)
    assert missing_scope(user)
    with pytest.raises(IntegrityError), session_scope() as session:
        session.add(user)
        session.flush()
    with session_scope() as session:
        assert session.exec(select(User).where(User.username == "incomplete")).first() is None


@pytest.mark.parametrize(("role", "with_province", "with_unit"), COMPLETE)
def test_the_database_takes_complete_accounts(
    demo: dict[str, int], role: str, with_province: bool, with_unit: bool
) -> None:
    province_id, unit_id = _ids()
    user = User(username=f"complete-{role}", password_hash="!", role=role,
                province_id=province_id if with_province else None, unit_id=unit_id if with_unit else None)
    assert missing_scope(user) == ()
    with session_scope() as session:
        session.add(user)


def test_create_user_says_why(demo: dict[str, int]) -> None:
    from clipjury.accounts.service import create_user

    with pytest.raises(Invalid) as refused, session_scope() as session:
        create_user(session, username="no-unit", password_hash="!", role=Role.unit_coordinator)
    assert refused.value.code == "account_incomplete"


@pytest.fixture()
def incomplete_coordinator(demo: dict[str, int], demo_hash: str) -> Iterator[int]:
    province_id, _unit = _ids()
    with insert_incomplete_coordinator(demo_hash, province_id) as user_id:
        yield user_id
    with pytest.raises(IntegrityError), session_scope() as session:
        session.add(User(username="after", password_hash="!", role="unit_coordinator", province_id=province_id))


def _unitless_submitted_work(demo_hash: str) -> int:
    """A submitted work that belongs to no unit (its submitter has a province and no unit)."""
    province_id, _unit = _ids()
    with session_scope() as session:
        session.add(User(username="no-unit-submitter", password_hash=demo_hash, role="submitter",
                         province_id=province_id))
    [work_id] = submitted_works("no-unit-submitter", 1, title="无单位作品")
    with session_scope() as session:
        from clipjury.works.models import Work

        work = session.get(Work, work_id)
        assert work is not None and work.unit_id is None and work.status == "submitted"
    return work_id


def test_an_incomplete_account_is_refused_on_every_surface(
    client: Any, incomplete_coordinator: int, demo_hash: str
) -> None:
    work_id = _unitless_submitted_work(demo_hash)
    bearer = {"Authorization": f"Bearer {create_access_token(incomplete_coordinator, 0)}"}
    for path in ("/api/v1/review/works", f"/api/v1/works/{work_id}", "/api/v1/works", "/api/v1/quotas",
                 "/api/v1/review/works/export?format=csv"):
        response = client.get(path, headers=bearer)
        assert response.status_code == 403, (path, response.status_code, response.text[:300])
        assert response.headers["content-type"].startswith(PROBLEM)
        body = response.json()
        assert body["code"] == "account_incomplete" and "联系管理员" in body["detail"], body
        assert "无单位作品" not in response.text
    # The pages: the same refusal as an HTML page in Chinese.
    token = CSRF_RE.search(client.get("/login").text)
    assert token
    done = client.post("/login", data={"username": "no-unit-coordinator", "password": "demo",
                                       "csrf_token": token.group(1)}, follow_redirects=False)
    assert done.status_code == 303, done.text
    for path in ("/works", "/review", "/reports", f"/works/{work_id}"):
        page = client.get(path, follow_redirects=False)
        assert page.status_code == 403, (path, page.status_code)
        assert "text/html" in page.headers["content-type"]
        assert "联系管理员" in page.text and "无单位作品" not in page.text, path


def test_the_scope_filter_does_not_read_null_as_a_scope(incomplete_coordinator: int, demo_hash: str) -> None:
    """Below the request boundary too (a job, a command): the account reads its own works only."""
    work_id = _unitless_submitted_work(demo_hash)
    with session_scope() as session:
        coordinator = session.get(User, incomplete_coordinator)
        assert coordinator is not None and missing_scope(coordinator) == ("unit_id",)
        with pytest.raises(WorkNotFound):
            works.get_visible_work(session, coordinator, work_id)
        assert session.exec(works.visible_works_query(coordinator)).all() == []


@pytest.fixture()
def empty_database() -> Iterator[str]:
    """A database of the suite's kind with no tables, to run the migrations on."""
    with scratch_database("scopes") as url:
        yield url


def test_the_migration_names_incomplete_accounts_rather_than_guess(empty_database: str) -> None:
    from alembic import command
    from sqlalchemy import create_engine

    from clipjury.migrate import alembic_config

    config = alembic_config(empty_database)
    command.upgrade(config, "0008_scopes-1")  # the schema just before the constraint
    engine = create_engine(empty_database)
    insert = text(
        "INSERT INTO app_user (username, display_name, password_hash, role, province_id, unit_id, is_active,"
        " created_at) VALUES (:name, '', '!', :role, :province, NULL, :yes, CURRENT_TIMESTAMP)"
    )
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO province (code, name) VALUES ('hebei', '河北省')"))
            conn.execute(insert, {"name": "lost-reviewer", "role": "reviewer", "province": None, "yes": True})
        with pytest.raises(Exception, match="lost-reviewer"):
            command.upgrade(config, "head")
        with engine.begin() as conn:  # the operator completes the account, and the migration goes through
            conn.execute(text("UPDATE app_user SET province_id = (SELECT id FROM province)"))
        command.upgrade(config, "head")
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert, {"name": "new-lost", "role": "unit_coordinator", "province": None, "yes": True})
    finally:
        engine.dispose()
