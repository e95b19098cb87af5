"""``make test``: the suite on SQLite, then on PostgreSQL; fails if either fails or collects nothing.

Each run gets its own Redis (a private redis-server on a free port), its own PostgreSQL database and its
own bucket, so it neither needs nor disturbs a running ``make run`` or another test run on the machine.
SeaweedFS on :8333 is shared: reused when one runs, else started here once for both databases. Test runs at
the same time share it too: each holds a shared lock on ``.cache/test-seaweedfs.users`` while it uses it, and
the run that started it waits for the others before stopping it (SeaweedFS dies with the process that
started it).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clipjury import devservices  # noqa: E402
from clipjury.settings import DEV_S3_ACCESS_KEY, DEV_S3_SECRET_KEY, Environment, Settings  # noqa: E402

PG_ADMIN_URL = os.environ.get("CLIPJURY_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
SEAWEED_DIR = Path(os.environ.get("CLIPJURY_TEST_SEAWEED_DIR", ROOT / ".cache" / "test-seaweedfs"))
S3_ENDPOINT = f"http://127.0.0.1:{devservices.SEAWEED_S3_PORT}"
NO_TESTS_COLLECTED = 5
USERS_LOCK = SEAWEED_DIR.parent / "test-seaweedfs.users"
START_LOCK = SEAWEED_DIR.parent / "test-seaweedfs.start"


class SharedStore:
    """The SeaweedFS on :8333 for this run: reused or started (under a lock, so two runs starting at
    once do not both start one), held with a shared lock while the run uses it."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        USERS_LOCK.parent.mkdir(parents=True, exist_ok=True)
        self.users = os.open(USERS_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        with _locked(START_LOCK):
            if devservices.port_open("127.0.0.1", devservices.SEAWEED_S3_PORT):
                self.reused = True
            else:
                self.reused = False
                SEAWEED_DIR.mkdir(parents=True, exist_ok=True)
                self.proc = devservices.start_seaweedfs(
                    SEAWEED_DIR / "data", DEV_S3_ACCESS_KEY, DEV_S3_SECRET_KEY, SEAWEED_DIR / "weed.log"
                )
            fcntl.flock(self.users, fcntl.LOCK_SH)

    def close(self) -> None:
        """Done with it; the run that started it first waits until no other run holds it."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                fcntl.flock(self.users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                say("another test run still uses the SeaweedFS this run started: waiting for it to finish")
                fcntl.flock(self.users, fcntl.LOCK_EX)
            with _locked(START_LOCK):  # no run may start using it while it stops
                devservices.stop(self.proc)
        os.close(self.users)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def say(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_postgres() -> str | None:
    """None when PostgreSQL answers as the suite expects, else what is wrong, in words."""
    url = urlparse(PG_ADMIN_URL)
    host, port = url.hostname or "127.0.0.1", url.port or 5432
    if not devservices.port_open(host, port, timeout=1):
        return (
            f"PostgreSQL is not listening on {host}:{port}.\n"
            "The suite runs on SQLite and on PostgreSQL. Either install and start it, e.g.\n"
            "    sudo apt-get install postgresql && sudo service postgresql start\n"
            "  and let the local user `postgres` in without a password (trust on 127.0.0.1), or point\n"
            "  CLIPJURY_TEST_PG_ADMIN=postgresql://USER@HOST:PORT/DB at one that may create databases,\n"
            "or run the SQLite half only: make test-sqlite"
        )
    import psycopg

    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=5).close()
    except psycopg.Error as exc:
        return f"PostgreSQL on {host}:{port} refused {PG_ADMIN_URL}: {exc}".strip()
    return None


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def drop_bucket(name: str) -> None:
    from storage.s3 import ObjectStore

    settings = Settings(  # type: ignore[call-arg]  # pydantic-settings: _env_file and the env-filled fields are not in the generated signature
        _env_file=None, env=Environment.test, s3_endpoint_url=S3_ENDPOINT, s3_bucket=name
    )
    ObjectStore(settings).delete_bucket()


def run_side_by_side(
    databases: list[str], pytest_args: list[str], env: dict[str, str]
) -> list[tuple[str, int, float]]:
    """Both halves at once: the suite mostly waits (servers, ffmpeg, the browser), so two share two cores
    well. Each gets its own Redis database and bucket; SQLite's file and PostgreSQL's database are apart
    already. Each half's output is kept in a file and printed when it ends."""
    import tempfile

    procs: list[tuple[str, subprocess.Popen[bytes], Path, float]] = []
    redis_base = env["CLIPJURY_TEST_REDIS"].rsplit("/", 1)[0]
    for index, db in enumerate(databases):
        log = Path(tempfile.mkstemp(prefix=f"clipjury-test-{db}-", suffix=".log")[1])
        half_env = {
            **env, "CLIPJURY_TEST_DB": db,
            "CLIPJURY_TEST_REDIS": f"{redis_base}/{15 - index}",
            "CLIPJURY_TEST_S3_BUCKET": f"{env['CLIPJURY_TEST_S3_BUCKET']}-{db}",
        }
        say(f"pytest on {db} (output below when it ends)")
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "pytest", *pytest_args], cwd=ROOT, env=half_env,
                                    stdout=out, stderr=subprocess.STDOUT)
        procs.append((db, proc, log, time.monotonic()))
    results: list[tuple[str, int, float]] = []
    for db, proc, log, t0 in procs:
        code = proc.wait()
        seconds = time.monotonic() - t0
        say(f"pytest on {db}: output")
        sys.stdout.write(log.read_text(errors="replace"))
        sys.stdout.flush()
        log.unlink(missing_ok=True)
        results.append((db, code, seconds))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", action="append", choices=["sqlite", "postgres"],
                        help="database to run on (repeatable; default: sqlite, then postgres)")
    parser.add_argument("--sequential", action="store_true",
                        help="run the databases one after the other (default: at the same time, each with its own "
                             "Redis database and bucket; their output is printed when each finishes)")
    args, pytest_args = parser.parse_known_args()
    databases: list[str] = args.db or ["sqlite", "postgres"]

    if "postgres" in databases and (problem := check_postgres()):
        print(f"\nmake test: cannot run the PostgreSQL half.\n{problem}\n", file=sys.stderr)
        return 2

    run_id = f"{os.getpid()}"
    env = dict(os.environ)
    env.setdefault("CLIPJURY_TEST_PG_DB", f"clipjury_test_{run_id}")
    env.setdefault("CLIPJURY_TEST_S3_BUCKET", f"clipjury-test-{run_id}")
    started: list[subprocess.Popen[bytes]] = []
    results: list[tuple[str, int, float]] = []
    store: SharedStore | None = None
    try:
        if "CLIPJURY_TEST_REDIS" not in env:
            port = free_port()
            run_dir = ROOT / ".cache" / "test-redis"
            run_dir.mkdir(parents=True, exist_ok=True)
            started.append(devservices.start_redis(port, run_dir, run_dir / "redis.log"))
            env["CLIPJURY_TEST_REDIS"] = f"redis://127.0.0.1:{port}/15"
            say(f"private Redis for this run on 127.0.0.1:{port}")
        store = SharedStore()
        if store.reused:
            say(f"reusing the S3 server on {S3_ENDPOINT} (bucket {env['CLIPJURY_TEST_S3_BUCKET']})")
        else:
            say(f"started SeaweedFS on {S3_ENDPOINT} for both runs (data in {SEAWEED_DIR})")

        if args.sequential or len(databases) == 1:
            for db in databases:
                say(f"pytest on {db}")
                t0 = time.monotonic()
                code = subprocess.call([sys.executable, "-m", "pytest", *pytest_args],
                                       cwd=ROOT, env={**env, "CLIPJURY_TEST_DB": db})
                results.append((db, code, time.monotonic() - t0))
        else:
            results.extend(run_side_by_side(databases, pytest_args, env))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if "postgres" in databases and env["CLIPJURY_TEST_PG_DB"] != "clipjury_test":
            try:
                drop_database(env["CLIPJURY_TEST_PG_DB"])
            except Exception as exc:  # cleanup must not hide the test result
                print(f"could not drop {env['CLIPJURY_TEST_PG_DB']}: {exc}", file=sys.stderr)
        for bucket in {env["CLIPJURY_TEST_S3_BUCKET"], *(f"{env['CLIPJURY_TEST_S3_BUCKET']}-{db}" for db in databases)}:
            if bucket.startswith("clipjury-test-"):
                try:
                    drop_bucket(bucket)
                except Exception as exc:
                    print(f"could not remove bucket {bucket}: {exc}", file=sys.stderr)
        devservices.stop_all(started)
        if store is not None:
            store.close()

    say("summary")
    failed = False
    for db, code, seconds in results:
        if code == 0:
            verdict = "passed"
        elif code == NO_TESTS_COLLECTED:
            verdict = "FAILED: no tests were collected"
        else:
            verdict = f"FAILED (pytest exit code {code})"
        failed |= code != 0
        print(f"    {db:<9} {verdict} in {seconds:.0f} s")
    return 1 if failed or len(results) != len(databases) else 0


if __name__ == "__main__":
    sys.exit(main())
