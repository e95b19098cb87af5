"""Writing what the scope CHECK constraint forbids, for the tests of what happens when such a row exists
anyway (made before migration 0008_scopes, which refuses to run while one exists, or by anything that
bypasses the constraint)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text

from clipjury.accounts.models import SCOPE_CHECK_NAME, SCOPE_CHECK_SQL
from clipjury.db import get_engine
from tests.conftest import TEST_DB

INCOMPLETE_USERNAME = "no-unit-coordinator"


@contextmanager
def constraint_lifted() -> Iterator[Any]:
    """A connection that may write what the CHECK constraint forbids; the constraint is enforced again
    for new rows afterwards (``insert_incomplete_coordinator`` makes it whole)."""
    engine = get_engine()
    if TEST_DB == "postgres":
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE app_user DROP CONSTRAINT {SCOPE_CHECK_NAME}"))
            yield conn
            # NOT VALID: enforced for new rows at once, the bad row is validated away in the teardown.
            conn.execute(text(f"ALTER TABLE app_user ADD CONSTRAINT {SCOPE_CHECK_NAME} CHECK ({SCOPE_CHECK_SQL})"
                              " NOT VALID"))
    else:
        with engine.connect() as conn:
            conn.execute(text("PRAGMA ignore_check_constraints = ON"))
            try:
                yield conn
                conn.commit()
            finally:
                conn.execute(text("PRAGMA ignore_check_constraints = OFF"))


@contextmanager
def insert_incomplete_coordinator(password_hash: str, province_id: int) -> Iterator[int]:
    """A unit coordinator without a unit (password "demo" with the demo hash), removed afterwards."""
    with constraint_lifted() as conn:
        conn.execute(text(
            "INSERT INTO app_user (username, display_name, password_hash, role, province_id, unit_id, is_active,"
            " created_at) VALUES (:name, '无单位联络员', :hash, 'unit_coordinator', :province, NULL, :yes,"
            " CURRENT_TIMESTAMP)"
        ), {"name": INCOMPLETE_USERNAME, "hash": password_hash, "province": province_id, "yes": True})
        user_id = conn.execute(text("SELECT id FROM app_user WHERE username = :name"),
                               {"name": INCOMPLETE_USERNAME}).scalar_one()
    try:
        yield int(user_id)
    finally:
        with get_engine().begin() as conn:
            # Its web sessions (the test logs in) point at the account.
            conn.execute(text("DELETE FROM auth_session WHERE user_id = :id"), {"id": user_id})
            conn.execute(text("DELETE FROM app_user WHERE username = :name"), {"name": INCOMPLETE_USERNAME})
            if TEST_DB == "postgres":
                conn.execute(text(f"ALTER TABLE app_user VALIDATE CONSTRAINT {SCOPE_CHECK_NAME}"))
