"""``make bench``: runs every ``bench/bench_*.py`` one after another (never in parallel: they time the machine).

Uses the configured database, Redis and object store (``CLIPJURY_*``). What is not configured is provided
here, apart from the development data: a private Redis, SeaweedFS on :8333 (reused if one runs), a
SQLite database under ``.cache/bench`` and the bucket ``clipjury-bench`` (``bench_review`` makes its own
throw-away PostgreSQL database on 127.0.0.1:5432 instead: its target is about PostgreSQL). Results land in
``bench/out/``; the figures are copied by hand into ``docs/benchmarks.md``.

    .venv/bin/python bench/run_all.py [-k verdict] [ARGS passed to every benchmark]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clipjury import devservices  # noqa: E402
from clipjury.settings import DEV_S3_ACCESS_KEY, DEV_S3_SECRET_KEY  # noqa: E402

CACHE = ROOT / ".cache" / "bench"
WEED = CACHE / "seaweedfs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-k", dest="only", help="run only the benchmarks whose name contains this")
    args, passthrough = parser.parse_known_args()
    benches = sorted(p for p in (ROOT / "bench").glob("bench_*.py") if not args.only or args.only in p.stem)
    if not benches:
        print("no benchmarks found (bench/bench_*.py)", file=sys.stderr)
        return 1

    env = dict(os.environ)
    started: list[subprocess.Popen[bytes]] = []
    own_store = False
    results: list[tuple[str, int, float]] = []
    try:
        if not env.get("CLIPJURY_REDIS_URL"):
            port = free_port()
            started.append(devservices.start_redis(port, CACHE / "redis", CACHE / "redis.log"))
            env["CLIPJURY_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        if not env.get("CLIPJURY_S3_ENDPOINT_URL"):
            if not devservices.port_open("127.0.0.1", devservices.SEAWEED_S3_PORT):
                # Fresh data every time, removed afterwards: SeaweedFS gives the space of deleted objects
                # back only when it vacuums, and the benchmarks write gigabytes (see bench_ingest).
                shutil.rmtree(WEED / "data", ignore_errors=True)
                own_store = True
                started.append(devservices.start_seaweedfs(
                    WEED / "data", DEV_S3_ACCESS_KEY, DEV_S3_SECRET_KEY, WEED / "weed.log"))
            env["CLIPJURY_S3_ENDPOINT_URL"] = f"http://127.0.0.1:{devservices.SEAWEED_S3_PORT}"
            env.setdefault("CLIPJURY_S3_BUCKET", "clipjury-bench")
        if not env.get("CLIPJURY_DATABASE_URL"):
            env.setdefault("CLIPJURY_DATA_DIR", str(CACHE / "data"))
        env.setdefault("CLIPJURY_QUEUE_PREFIX", "clipjury-bench")
        subprocess.run([sys.executable, "-m", "clipjury_cli", "migrate"], cwd=ROOT, env=env, check=True)

        for path in benches:
            print(f"\n==> {path.stem}", flush=True)
            t0 = time.monotonic()
            code = subprocess.call([sys.executable, "-m", f"bench.{path.stem}", *passthrough], cwd=ROOT, env=env)
            results.append((path.stem, code, time.monotonic() - t0))
    finally:
        devservices.stop_all(started)
        if own_store:
            shutil.rmtree(WEED / "data", ignore_errors=True)

    print("\n==> summary (results in bench/out/, figures for docs/benchmarks.md)")
    for name, code, seconds in results:
        print(f"    {name:<20} {'ok' if code == 0 else f'FAILED (exit code {code})'} in {seconds:.0f} s")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
