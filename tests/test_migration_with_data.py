"""Migrations on a database that holds data: SQLite's batch mode rebuilds a table to alter it, and with
foreign keys enforced, dropping a table other rows refer to (app_user, unit) failed on every real
deployment while an empty test database passed. Down to before the accounts' changes and up again, with
the demo's accounts, units and works in place, on the suite's database kind."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, text
from sqlmodel import Session

from clipjury.migrate import alembic_config
from clipjury.seed import seed_demo
from tests.conftest import scratch_database

BEFORE_UNITS = "0014_campaigns"


def test_upgrading_a_populated_database_keeps_every_row() -> None:
    with scratch_database("populated") as url:
        config = alembic_config(url)
        command.upgrade(config, "head")
        engine = create_engine(url)
        try:
            with Session(engine) as session:
                seed_demo(session, password_hash="x")
                session.commit()

            def counts() -> dict[str, int]:
                with engine.connect() as conn:
                    return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
                            for t in ("app_user", "unit", "province", "campaign")}

            before = counts()
            assert before["app_user"] > 5 and before["unit"] > 5
            command.downgrade(config, BEFORE_UNITS)
            command.upgrade(config, "head")
            assert counts() == before
        finally:
            engine.dispose()
