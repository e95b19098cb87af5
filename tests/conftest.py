"""Test fixtures: real PostgreSQL or SQLite, real Redis, real SeaweedFS (signatures checked), real ffmpeg.

Choose the database with ``CLIPJURY_TEST_DB=sqlite`` (default) or ``postgres``. Every endpoint is
guarded to loopback and every name to test-only ones, so the suite cannot touch a real deployment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from rq import SimpleWorker

ROOT = Path(__file__).resolve().parent.parent
TEST_DB = os.environ.get("CLIPJURY_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get("CLIPJURY_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
# `make test` gives each run its own database and bucket, so concurrent runs cannot clobber each other.
PG_TEST_DB = os.environ.get("CLIPJURY_TEST_PG_DB", "clipjury_test")
REDIS_URL = os.environ.get("CLIPJURY_TEST_REDIS", "redis://127.0.0.1:6379/15")
S3_ENDPOINT = "http://127.0.0.1:8333"
S3_BUCKET = os.environ.get("CLIPJURY_TEST_S3_BUCKET", "clipjury-test")
TMP = Path(tempfile.mkdtemp(prefix="clipjury-test-"))


@contextlib.contextmanager
def scratch_database(suffix: str, kind: str = TEST_DB) -> Iterator[str]:
    """An empty database of ``kind`` (the suite's by default) for running the migrations from nothing,
    dropped afterwards; ``suffix`` keeps the tests that use one at the same time apart."""
    if kind == "postgres":
        import psycopg

        name = f"{PG_TEST_DB}_{suffix}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    else:
        path = TMP / f"{suffix}-{time.monotonic_ns()}.db"
        yield f"sqlite:///{path}"
        path.unlink(missing_ok=True)


if TEST_DB == "postgres":
    DATABASE_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_TEST_DB}"
else:
    DATABASE_URL = f"sqlite:///{TMP / 'test.db'}"

# Settings are read once: set the environment before anything imports them.
TEST_ENV = {
    "CLIPJURY_ENV": "test",
    "CLIPJURY_DATABASE_URL": DATABASE_URL,
    "CLIPJURY_REDIS_URL": REDIS_URL,
    "CLIPJURY_S3_ENDPOINT_URL": S3_ENDPOINT,
    "CLIPJURY_S3_BUCKET": S3_BUCKET,
    "CLIPJURY_DATA_DIR": str(TMP / "data"),
    "CLIPJURY_QUEUE_PREFIX": "clipjury-test",
    "CLIPJURY_LOG_LEVEL": "WARNING",
}
os.environ.update(TEST_ENV)


def _loopback(url: str) -> None:
    host = urlparse(url).hostname
    assert host in {"127.0.0.1", "localhost", "::1"}, f"tests only talk to loopback, not {host}"


for _url in (REDIS_URL, S3_ENDPOINT, PG_ADMIN_URL):
    _loopback(_url)
assert S3_BUCKET.startswith("clipjury-test"), "tests only use test buckets"
assert PG_TEST_DB.startswith("clipjury_test") and PG_TEST_DB.isidentifier(), "tests only use test databases"

from clipjury import devservices  # noqa: E402
from clipjury.settings import DEV_S3_ACCESS_KEY, DEV_S3_SECRET_KEY  # noqa: E402

SEAWEED_DIR = Path(os.environ.get("CLIPJURY_TEST_SEAWEED_DIR", ROOT / ".cache" / "test-seaweedfs"))


@pytest.fixture(scope="session", autouse=True)
def object_store_server() -> Iterator[None]:
    """Use the SeaweedFS on :8333 if one runs (e.g. ``make run``'s, same dev identity), else start one."""
    proc = None
    if not devservices.port_open("127.0.0.1", devservices.SEAWEED_S3_PORT):
        SEAWEED_DIR.mkdir(parents=True, exist_ok=True)
        proc = devservices.start_seaweedfs(
            SEAWEED_DIR / "data", DEV_S3_ACCESS_KEY, DEV_S3_SECRET_KEY, SEAWEED_DIR / "weed.log"
        )
    from storage import get_store

    wait_for_bucket(get_store())
    yield
    devservices.stop(proc)


def wait_for_bucket(store: Any, timeout_s: float = 60) -> None:
    """Make the store's bucket, retrying: SeaweedFS opens its S3 port before the filer behind it is ready."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            store.ensure_bucket()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture(scope="session", autouse=True)
def database() -> Iterator[str]:
    if TEST_DB == "postgres":
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_TEST_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_TEST_DB}")
    from clipjury.migrate import upgrade

    upgrade(DATABASE_URL)
    yield DATABASE_URL
    from clipjury.db import get_engine

    get_engine().dispose()


_SUPERUSER: list[bool] = []


def _pg_superuser(conn: Any) -> bool:
    """Whether the test role may turn foreign-key triggers off: asked once per run."""
    from sqlalchemy import text

    if not _SUPERUSER:
        asked = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
        _SUPERUSER.append(bool(asked))
    return _SUPERUSER[0]


def _clean_tables() -> None:
    from sqlalchemy import text
    from sqlmodel import SQLModel

    import clipjury.models  # noqa: F401
    from clipjury.db import get_engine

    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with get_engine().begin() as conn:
        if TEST_DB == "postgres":
            # Only what the last test touched, and with DELETE: a TRUNCATE of every table makes new files
            # for each table and index, 0.2-1 s per test on these cores, where the few rows a test leaves
            # take milliseconds to delete. The foreign-key triggers are off for this transaction (the
            # test role is a superuser), so the order does not matter; used sequences start again at 1.
            filled = " UNION ALL ".join(f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM {name})" for name in tables)
            nonempty = [row[0] for row in conn.execute(text(filled))]
            used = [row[0] for row in conn.execute(text(
                "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema() AND last_value IS NOT NULL"
            ))]
            superuser = _pg_superuser(conn)
            if nonempty and not superuser:  # a plain role may not turn the triggers off: truncate those
                conn.execute(text(f"TRUNCATE {', '.join(nonempty)} CASCADE"))
            elif nonempty:
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                for name in nonempty:
                    conn.execute(text(f"DELETE FROM {name}"))
            for sequence in used:
                conn.execute(text(f"ALTER SEQUENCE {sequence} RESTART"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture(autouse=True)
def clean_state(database: str) -> Iterator[None]:
    from clipjury.jobs import get_redis

    _clean_tables()
    get_redis().flushdb()
    yield
    get_redis().flushdb()


@pytest.fixture(scope="session")
def demo_hash() -> str:
    from clipjury.accounts.security import hash_password

    return hash_password("demo")


@pytest.fixture()
def demo(demo_hash: str) -> dict[str, int]:
    """The demo campaign and accounts; returns {username: user id}."""
    from sqlmodel import select

    from clipjury.accounts.models import User
    from clipjury.db import session_scope
    from clipjury.seed import seed_demo

    with session_scope() as session:
        seed_demo(session, password_hash=demo_hash)
        return {u.username: u.id or 0 for u in session.exec(select(User))}


@pytest.fixture()
def client() -> Iterator[object]:
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


def token_for(client: object, username: str, password: str = "demo") -> str:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})  # type: ignore[attr-defined]  # client is typed as object in this helper's signature
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture()
def auth(client: object, demo: dict[str, int]) -> dict[str, str]:
    """Authorization headers of the demo submitter."""
    return {"Authorization": f"Bearer {token_for(client, 'demo-submitter')}"}


class InProcessWorker(SimpleWorker):
    """rq's SimpleWorker (jobs run in this process) with the production worker's short pubsub poll: rq's own
    pubsub thread waits up to 60 s, and stopping the worker joins it, so a burst run sometimes took a minute
    longer than its jobs (three tests alone spent three minutes per database on it)."""

    def subscribe(self) -> None:
        from workers.worker import subscribe_polling

        subscribe_polling(self, 0.2)


def run_jobs(*, integrity: bool = False) -> int:
    """Run every queued job in this process (rq's SimpleWorker, burst mode); returns how many ran.

    The integrity queue (fingerprints, OCR: seconds of CPU per video) runs only when asked for: the tests
    of tests/test_integrity.py ask; elsewhere its jobs stay queued and Redis is flushed after the test."""
    from clipjury.jobs import INTEGRITY, get_queue, get_redis
    from clipjury.jobs import QUEUE_ORDER as names

    # rq keeps its job counters in Redis only, so count here.
    class CountingWorker(InProcessWorker):
        ran = 0

        def handle_job_success(self, *args: Any, **kwargs: Any) -> None:
            CountingWorker.ran += 1
            super().handle_job_success(*args, **kwargs)

        def handle_job_failure(self, *args: Any, **kwargs: Any) -> None:
            CountingWorker.ran += 1
            super().handle_job_failure(*args, **kwargs)

    queues = [get_queue(name) for name in names if integrity or name != INTEGRITY]
    worker = CountingWorker(queues, connection=get_redis())
    worker.work(burst=True)
    return CountingWorker.ran


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, one per browser-test module (tests.test_browser says how it is launched)."""
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, SHOTS

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def tmp_media_dir() -> Path:
    path = ROOT / ".cache" / "test-media"
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    def __init__(self, port: int, proc: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}"


def start_server(extra_env: dict[str, str] | None = None) -> LiveServer:
    port = free_port()
    env = devservices.child_env(**TEST_ENV, **(extra_env or {}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    devservices.wait_for_port("127.0.0.1", port, 30, "test API server")
    return LiveServer(port, proc)


@pytest.fixture()
def live_server() -> Iterator[LiveServer]:
    server = start_server()
    yield server
    devservices.stop(server.proc)


@pytest.fixture()
def two_servers(demo: dict[str, int]) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two API processes on the same database, Redis and store (an upload may go on from one to the other)."""
    first, second = start_server(), start_server()
    try:
        yield first, second
    finally:
        devservices.stop(first.proc)
        devservices.stop(second.proc)


def start_worker(name: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    env = devservices.child_env(**TEST_ENV, **(extra_env or {}))
    return subprocess.Popen([sys.executable, "-m", "clipjury_cli", "worker", "--name", name], cwd=ROOT, env=env)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(TMP, ignore_errors=True)
