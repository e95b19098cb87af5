"""The ``clipjury`` command line as an operator runs it: migrate, seed-demo, the production guards, run-local."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest
from sqlalchemy import create_engine, func, select

from clipjury import devservices
from clipjury.settings import Settings
from tests.conftest import PG_ADMIN_URL, PG_TEST_DB, ROOT, TEST_DB, TEST_ENV, TMP, free_port

PRODUCTION_ENV = {
    "CLIPJURY_ENV": "production",
    "CLIPJURY_SECRET_KEY": "a-real-production-secret-of-more-than-32-chars",
    "CLIPJURY_S3_SECRET_ACCESS_KEY": "a-real-store-secret",
    "CLIPJURY_COOKIE_SECURE": "true",
}


def clipjury(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clipjury.cli", *args], cwd=ROOT,
        env=devservices.child_env(**{**TEST_ENV, **(env or {})}), capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture()
def fresh_database() -> Iterator[str]:
    """An empty database of the kind the suite runs on, so migrations are tested from nothing."""
    if TEST_DB == "postgres":
        import psycopg

        name = f"{PG_TEST_DB}_cli"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    else:
        path = TMP / f"cli-{time.monotonic_ns()}.db"
        yield f"sqlite:///{path}"
        path.unlink(missing_ok=True)


def _counts(url: str) -> dict[str, int]:
    from clipjury.accounts.models import Unit, User
    from clipjury.campaigns.models import Campaign, UnitQuota

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                model.__name__: int(conn.execute(select(func.count()).select_from(model)).scalar_one())
                for model in (Campaign, Unit, UnitQuota, User)
            }
    finally:
        engine.dispose()


def test_migrate_and_seed_demo_are_idempotent(fresh_database: str) -> None:
    env = {"CLIPJURY_DATABASE_URL": fresh_database}
    for _ in range(2):
        migrated = clipjury("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
    first = clipjury("seed-demo", env=env)
    assert first.returncode == 0, first.stderr
    counts = _counts(fresh_database)
    assert counts["Campaign"] == 1 and counts["User"] == 9 and counts["Unit"] == 25, counts
    second = clipjury("seed-demo", env=env)
    assert second.returncode == 0, second.stderr
    assert _counts(fresh_database) == counts


def test_migrations_build_the_schema_the_models_declare(fresh_database: str) -> None:
    """Every table, column, type and index of the models comes from a migration (none forgotten)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import clipjury.models  # noqa: F401  (registers every table)
    from clipjury.db import make_engine
    from clipjury.migrate import upgrade

    upgrade(fresh_database)
    engine = make_engine(fresh_database)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, SQLModel.metadata) == []
    finally:
        engine.dispose()


def test_seed_demo_refuses_production(fresh_database: str) -> None:
    env = {"CLIPJURY_DATABASE_URL": fresh_database, **PRODUCTION_ENV}
    migrated = clipjury("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    refused = clipjury("seed-demo", env=env)
    assert refused.returncode == 2
    assert "refuse" in refused.stderr
    assert _counts(fresh_database) == {"Campaign": 0, "Unit": 0, "UnitQuota": 0, "User": 0}


def test_production_refuses_the_development_secrets() -> None:
    dev_secret = clipjury("migrate", env={"CLIPJURY_ENV": "production"})
    assert dev_secret.returncode != 0
    assert "CLIPJURY_SECRET_KEY" in dev_secret.stderr

    good = {"env": "production", "secret_key": PRODUCTION_ENV["CLIPJURY_SECRET_KEY"],
            "s3_secret_access_key": "a-real-store-secret", "redis_url": "redis://r:6379/0",
            "s3_endpoint_url": "https://s3.example", "cookie_secure": "true"}
    Settings(_env_file=None, **good)  # type: ignore[call-arg, arg-type]
    for change, complaint in [
        ({"secret_key": "too-short"}, "at least 32"),
        ({"s3_secret_access_key": "clipjury-dev-secret"}, "CLIPJURY_S3_SECRET_ACCESS_KEY"),
        ({"redis_url": ""}, "CLIPJURY_REDIS_URL"),
        ({"s3_endpoint_url": ""}, "CLIPJURY_S3_ENDPOINT_URL"),
        ({"cookie_secure": "false"}, "CLIPJURY_COOKIE_SECURE"),
    ]:
        with pytest.raises(ValueError, match=complaint):
            Settings(_env_file=None, **{**good, **change})  # type: ignore[call-arg, arg-type]


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"run-local exited with {proc.returncode}"
        try:
            response = httpx.get(f"{url}/healthz", timeout=5)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "run-local did not become healthy"
        time.sleep(0.25)


@pytest.mark.slow
def test_run_local_serves_and_stops_cleanly() -> None:
    """Given Redis and S3 (the suite's), run-local migrates, seeds, starts a worker and the API, and a
    SIGTERM takes everything it started down with it."""
    port = free_port()
    log_path = TMP / f"run-local-{port}.log"
    with log_path.open("wb") as log:  # a file, not a pipe: a full pipe would block the children
        proc = subprocess.Popen(
            [sys.executable, "-m", "clipjury.cli", "run-local", "--port", str(port), "--workers", "1"],
            cwd=ROOT, env=devservices.child_env(**TEST_ENV), stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        health = _wait_healthy(url, proc)
        assert health.json()["checks"] == {"database": "ok", "redis": "ok", "storage": "ok"}
        token = httpx.post(f"{url}/api/v1/auth/token", data={"username": "demo-submitter", "password": "demo"})
        assert token.status_code == 200, token.text
        login = httpx.get(f"{url}/login")
        assert login.status_code == 200 and "text/html" in login.headers["content-type"]

        children = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "serve" in names and "worker" in names, names
        # Redis and S3 were given, so run-local must not have started its own.
        assert "redis-server" not in names and "weed" not in names, names

        proc.send_signal(signal.SIGTERM)
        proc.wait(40)
        output = log_path.read_text()
        assert proc.returncode == 0, output
        assert "demo-submitter" in output and url in output
        _gone, alive = psutil.wait_procs(children, timeout=5)
        assert not alive, f"left behind: {[c.pid for c in alive]}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)  # its children get SIGTERM through PR_SET_PDEATHSIG
