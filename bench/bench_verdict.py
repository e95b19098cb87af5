"""Verdict benchmark: how long from "object stored and version added" to ``ready`` for a ~285 MiB,
~2-minute MP4, next to a bare ``ffprobe`` plus a bare full decode of the same file on this machine.

Target (issue 3, "Speed"): ours <= 1.5 x (ffprobe + decode) + 2 s. Uses the configured database,
Redis and object store (``CLIPJURY_*``); writes ``bench/out/verdict.json`` and prints a table.

    .venv/bin/python -m bench.bench_verdict [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"
OUT = ROOT / "bench" / "out" / "verdict.json"
TARGET_MIB = 285
DURATION_S = 119


def bench_file() -> Path:
    """1080p30 testsrc2 with noise (so it does not compress away) at the bitrate that makes ~285 MiB."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"verdict-{TARGET_MIB}m-{DURATION_S}s.mp4"
    if path.exists():
        return path
    video_kbps = int(TARGET_MIB * 1024 * 1024 * 8 / DURATION_S / 1000) - 128
    tmp = path.with_suffix(".tmp.mp4")
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={DURATION_S},noise=alls=24:allf=t",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={DURATION_S}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-b:v", f"{video_kbps}k", "-maxrate", f"{video_kbps}k", "-bufsize", f"{video_kbps * 2}k",
         "-c:a", "aac", "-b:a", "128k", "-f", "mp4", str(tmp)],
        check=True,
    )
    tmp.replace(path)
    return path


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(args, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or result.stderr.strip():
        raise RuntimeError(f"{args[0]} failed: {result.stderr[:500]!r}")
    return elapsed


def bare(path: Path) -> dict[str, float]:
    probe = timed(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)])
    decode = timed(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-xerror", "-i", str(path), "-f", "null", "-"])
    return {"ffprobe_s": probe, "decode_s": decode, "sum_s": probe + decode}


def ours(path: Path, user_id: int) -> dict[str, Any]:
    """Store the object (not timed), then time add_version's commit -> the validation job -> ``ready``."""
    from rq import SimpleWorker

    from clipjury.accounts.models import User
    from clipjury.db import session_scope
    from clipjury.jobs import VALIDATE, get_queue, get_redis
    from clipjury.timeutil import utcnow
    from clipjury.works.models import Work, WorkVersion
    from clipjury.works.service import add_version, create_work
    from storage import get_store

    with session_scope() as session:
        user = session.get(User, user_id)
        assert user is not None
        work = create_work(session, user, title="基准测试")
    key = f"originals/{work.id}/{uuid.uuid4().hex}.mp4"
    get_store().upload_file(key, path, content_type="video/mp4")

    started = time.perf_counter()
    with session_scope() as session:
        same_work = session.get(Work, work.id)
        assert same_work is not None
        version = add_version(
            session, same_work, actor=session.get(User, user_id), object_key=key, size_bytes=path.stat().st_size,
            filename=path.name,
            upload_id=None, upload_started_at=utcnow(),
        )
    # Only the validation queue: the poster/rendition job comes after the verdict and is not part of it.
    SimpleWorker([get_queue(VALIDATE)], connection=get_redis()).work(burst=True)
    elapsed = time.perf_counter() - started
    with session_scope() as session:
        row = session.get(WorkVersion, version.id)
        assert row is not None
        if row.status != "ready":
            raise RuntimeError(f"expected ready, got {row.status} {row.rejection_code} {row.warnings}")
        return {"verdict_s": elapsed, "duration_s": row.duration_s, "status": row.status}


def demo_user_id() -> int:
    from sqlmodel import select

    from clipjury.accounts.models import User
    from clipjury.db import session_scope
    from clipjury.seed import seed_demo

    with session_scope() as session:
        seed_demo(session)
        user = session.exec(select(User).where(User.username == "demo-submitter")).one()
        return user.id or 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    path = bench_file()
    size = path.stat().st_size
    user_id = demo_user_id()
    bare(path)  # warm the page cache for both sides alike
    rows = []
    for _ in range(args.runs):
        # Side by side: bare then ours, each run, so machine noise hits both.
        b = bare(path)
        o = ours(path, user_id)
        target = 1.5 * b["sum_s"] + 2.0
        rows.append({**b, **o, "target_s": target, "ok": o["verdict_s"] <= target})

    keys = ("ffprobe_s", "decode_s", "sum_s", "verdict_s", "target_s")
    med = {k: statistics.median(r[k] for r in rows) for k in keys}
    result = {
        "file": {"path": str(path.relative_to(ROOT)), "size_bytes": size, "size_mib": round(size / 2**20, 1),
                 "duration_s": rows[0]["duration_s"]},
        "machine": {"cpu_count": _cpus(), "platform": platform.platform(), "ffmpeg": _ffmpeg_version()},
        "runs": rows,
        "median": med,
        "target": "verdict_s <= 1.5 * (ffprobe_s + decode_s) + 2",
        "ok": med["verdict_s"] <= med["target_s"],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, ensure_ascii=False))

    print(f"file: {result['file']['size_mib']} MiB, {result['file']['duration_s']} s  ({path.name})")
    print(f"{'run':>3} {'ffprobe':>9} {'decode':>9} {'bare sum':>9} {'ours':>9} {'target':>9}  ok")
    for i, r in enumerate(rows, 1):
        print(f"{i:>3} {r['ffprobe_s']:>8.2f}s {r['decode_s']:>8.2f}s {r['sum_s']:>8.2f}s "
              f"{r['verdict_s']:>8.2f}s {r['target_s']:>8.2f}s  {'yes' if r['ok'] else 'NO'}")
    print(f"med {med['ffprobe_s']:>8.2f}s {med['decode_s']:>8.2f}s {med['sum_s']:>8.2f}s "
          f"{med['verdict_s']:>8.2f}s {med['target_s']:>8.2f}s  {'yes' if result['ok'] else 'NO'}")
    print(f"ratio ours / bare = {med['verdict_s'] / med['sum_s']:.2f}; written to {OUT.relative_to(ROOT)}")
    return 0 if result["ok"] else 1


def _cpus() -> int | None:
    import os

    return os.cpu_count()


def _ffmpeg_version() -> str:
    from workers.media import ffmpeg_version

    return ffmpeg_version()


if __name__ == "__main__":
    raise SystemExit(main())
