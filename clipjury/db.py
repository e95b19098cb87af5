"""Database engine and sessions. One unit of work per request or job: services flush, the boundary commits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from sqlalchemy import DateTime, event, text
from sqlalchemy.engine import Connection, CursorResult, Engine, Result
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, create_engine

from clipjury.settings import get_settings

# Database ids are 32-bit integers on PostgreSQL: a bigger number names nothing and must not reach the
# database (where it is an error rather than "not found").
DB_ID_MAX = 2_147_483_647


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on PostgreSQL and on SQLite (which forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API and the workers read while one of them writes; busy_timeout makes writers
    # wait for each other instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


@lru_cache(maxsize=4)
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine() -> Engine:
    return _engine_for(get_settings().database_url)


def ping_database() -> None:
    """One round trip to the database (the health check)."""
    with get_engine().connect() as conn:
        conn.execute(text("SELECT 1"))


@contextmanager
def session_scope() -> Iterator[Session]:
    """A unit of work for jobs and commands: commit on success, roll back on error."""
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def relaxed_commit() -> Iterator[Connection]:
    """A connection whose commit does not wait for the disk (PostgreSQL ``synchronous_commit = off``,
    SQLite ``synchronous = NORMAL`` under WAL). A power cut may undo the last moments of such commits,
    never corrupt anything or reorder them with durable ones: for data that is cheap to redo (an
    upload's progress: the client re-sends the part), never for decisions. Every other commit of the
    connection stays durable (the SQLite setting is put back before the connection returns to the pool).
    """
    with get_engine().connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
        else:
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        try:
            yield conn
        finally:
            if sqlite:
                conn.rollback()  # ends whatever the caller left open before the setting changes back
                conn.exec_driver_sql("PRAGMA synchronous=FULL")


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE matched: what a compare-and-set reads to know whether it won.
    ``Session.execute`` is typed as returning ``Result``; for a DML statement it is a ``CursorResult``."""
    return int(cast(CursorResult[Any], result).rowcount)

