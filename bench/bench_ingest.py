"""Ingest benchmark: a ~285 MiB MP4-like file over tus in 8 MiB chunks vs boto3's own ``upload_file``.

Runs against a live uvicorn subprocess on the local services (Redis, SeaweedFS on :8333 — started
if absent — and a throw-away SQLite database), measures both in the same run, samples the API
process's RSS, prints a table and writes ``bench/out/ingest.json``. Usage: ``python bench/bench_ingest.py``.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MIB = 1024 * 1024
SIZE = int(os.environ.get("BENCH_INGEST_MIB", "285")) * MIB
CHUNK = 8 * MIB
TMP = Path(tempfile.mkdtemp(prefix="clipjury-bench-"))
ENV = {
    "CLIPJURY_ENV": "development",
    "CLIPJURY_DATABASE_URL": f"sqlite:///{TMP / 'bench.db'}",
    "CLIPJURY_REDIS_URL": os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/12"),
    "CLIPJURY_S3_ENDPOINT_URL": "http://127.0.0.1:8333",
    "CLIPJURY_S3_BUCKET": "clipjury-bench",
    "CLIPJURY_DATA_DIR": str(TMP / "data"),
    "CLIPJURY_QUEUE_PREFIX": "clipjury-bench",
    "CLIPJURY_LOG_LEVEL": "WARNING",
}
os.environ.update(ENV)

import httpx  # noqa: E402
import psutil  # noqa: E402

from clipjury import devservices  # noqa: E402
from clipjury.settings import DEV_S3_ACCESS_KEY, DEV_S3_SECRET_KEY  # noqa: E402


def make_file(path: Path) -> None:
    """A valid ``ftyp`` box (isom) followed by random bytes: ingest does not look further."""
    if path.exists() and path.stat().st_size == SIZE:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    ftyp = struct.pack(">I4s4sI", 32, b"ftyp", b"isom", 512) + b"isomiso2avc1mp41"
    with path.open("wb") as out:
        out.write(ftyp)
        left = SIZE - len(ftyp)
        while left:
            block = os.urandom(min(left, 16 * MIB))
            out.write(block)
            left -= len(block)


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.01)


def tus_upload(client: httpx.Client, auth: dict[str, str], work_id: int, path: Path) -> float:
    import base64

    def b64(value: str) -> str:
        return base64.b64encode(value.encode()).decode()

    meta = f"work_id {b64(str(work_id))},filename {b64('bench.mp4')}"
    tus = {**auth, "Tus-Resumable": "1.0.0"}
    size = path.stat().st_size
    started = time.perf_counter()
    created = client.post("/api/v1/uploads", headers={**tus, "Upload-Length": str(size), "Upload-Metadata": meta})
    created.raise_for_status()
    location = created.headers["location"]
    offset = 0
    with path.open("rb") as source:
        while offset < size:
            chunk = source.read(CHUNK)
            response = client.patch(location, content=chunk, headers={
                **tus, "Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset)})
            if response.status_code != 204:
                raise RuntimeError(f"PATCH at {offset}: {response.status_code} {response.text}")
            offset = int(response.headers["upload-offset"])
    return time.perf_counter() - started


def main() -> int:
    weed = None
    if not devservices.port_open("127.0.0.1", devservices.SEAWEED_S3_PORT):
        seaweed_dir = ROOT / ".cache" / "bench-seaweedfs"
        seaweed_dir.mkdir(parents=True, exist_ok=True)
        weed = devservices.start_seaweedfs(seaweed_dir / "data", DEV_S3_ACCESS_KEY, DEV_S3_SECRET_KEY,
                                           seaweed_dir / "weed.log")
    from sqlmodel import Session

    from clipjury.db import get_engine
    from clipjury.jobs import get_redis
    from clipjury.migrate import upgrade
    from clipjury.seed import seed_demo
    from storage import get_store

    store = get_store()
    for _ in range(120):
        try:
            store.ensure_bucket()
            break
        except Exception:
            time.sleep(0.5)
    upgrade(ENV["CLIPJURY_DATABASE_URL"])
    with Session(get_engine()) as session:
        seed_demo(session)
        session.commit()
    get_redis().flushdb()

    path = ROOT / ".cache" / "bench" / "ingest.mp4"
    make_file(path)
    size = path.stat().st_size

    port = 18931
    env = devservices.child_env(**ENV)
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env)
    result: dict[str, Any] = {}
    try:
        devservices.wait_for_port("127.0.0.1", port, 30, "bench API server")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
            token = client.post("/api/v1/auth/token", data={"username": "demo-submitter", "password": "demo"})
            auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
            work_id = int(client.post("/api/v1/works", json={"title": "bench"}, headers=auth).json()["id"])
            # Warm-up: imports, connection pools and the allocator settle before the baseline is taken.
            warm = TMP / "warm.mp4"
            warm.write_bytes(os.urandom(20 * MIB))
            tus_upload(client, auth, work_id, warm)
            process = psutil.Process(server.pid)
            baseline = process.memory_info().rss

            runs = int(os.environ.get("BENCH_RUNS", "2"))
            boto_times, tus_times, peaks = [], [], []
            for run in range(runs):
                started = time.perf_counter()
                store.upload_file(f"bench/boto3-{run}.mp4", path)
                boto_times.append(time.perf_counter() - started)
                sampler = RssSampler(server.pid)
                sampler.start()
                tus_times.append(tus_upload(client, auth, work_id, path))
                sampler.running = False
                sampler.join()
                peaks.append(sampler.peak)
                store.delete(f"bench/boto3-{run}.mp4")
        boto_best, tus_best = min(boto_times), min(tus_times)
        result = {
            "file_mib": round(size / MIB, 1),
            "chunk_mib": CHUNK // MIB,
            "part_mib": store.part_size // MIB,
            "cores": os.cpu_count(),
            "boto3_upload_file_s": [round(t, 2) for t in boto_times],
            "tus_s": [round(t, 2) for t in tus_times],
            "boto3_mib_s": round(size / MIB / boto_best, 1),
            "tus_mib_s": round(size / MIB / tus_best, 1),
            "ratio": round(boto_best / tus_best, 3),
            "rss_baseline_mib": round(baseline / MIB, 1),
            "rss_growth_mib": round((max(peaks) - baseline) / MIB, 1),
            "target": {"ratio": 0.8, "rss_growth_mib": 64},
        }
    finally:
        devservices.stop(server)  # type: ignore[arg-type]
        devservices.stop(weed)
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = [
        ("file", f"{result['file_mib']} MiB, tus chunks {CHUNK // MIB} MiB, S3 parts {result['part_mib']} MiB"),
        ("boto3 upload_file", f"{result['boto3_mib_s']} MiB/s (runs {result['boto3_upload_file_s']} s)"),
        ("tus via API", f"{result['tus_mib_s']} MiB/s (runs {result['tus_s']} s)"),
        ("ratio (target >= 0.80)", f"{result['ratio']:.2f}"),
        ("API RSS growth (target <= 64 MiB)",
         f"{result['rss_growth_mib']} MiB (baseline {result['rss_baseline_mib']})"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    ok = result["ratio"] >= 0.8 and result["rss_growth_mib"] <= 64
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
