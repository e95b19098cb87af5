"""Gallery benchmark (issue 15): the public showcase page against a trivial endpoint of the same app.

A throw-away database (SQLite under .cache/bench, or PostgreSQL ``clipjury_bench_gallery_<pid>`` on
127.0.0.1:5432) is migrated, seeded with the demo and loaded in bulk with 1,000 published works (ready
public copies) over two provinces, with likes in the display cache. One ``uvicorn`` process (the app
factory of ``bench/likes_app.py``: the app plus ``GET /bench/constant``, a constant JSON answer) serves
it. ``wrk`` (2 threads, 32 connections, on the same 2 cores: only ratios taken in one run compare) loads,
one after another for ``--seconds`` each: the constant endpoint, the gallery page ``/public/showcase`` (24
works with their posters' presigned URLs and like counts), a province's gallery page, and the gallery API
``/api/v1/showcase/works``. Every request is a full render: no ``If-None-Match`` is sent. Target: the
gallery page sustains >= 0.80 of the constant endpoint's requests per second. ``--page-cache-s 0`` measures
every request rendered (no per-process page cache).

Writes ``bench/out/gallery-<db>.json``.

    .venv/bin/python -m bench.bench_gallery [--db sqlite|postgres] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.bench_likes import bench_env, serve, wrk  # noqa: E402
from bench.pgdb import ADMIN_URL, create_database, drop_database  # noqa: E402

OUT = ROOT / "bench" / "out"
WORKS = 1000


def load(env: dict[str, str]) -> list[int]:
    """Migrate, seed, then 1,000 published works (half Hebei, half Shanxi) and their display counts."""
    os.environ.update(env)
    from sqlalchemy import insert, update
    from sqlmodel import col, select

    from clipjury.accounts.models import User
    from clipjury.campaigns.models import Campaign
    from clipjury.campaigns.service import active_campaign
    from clipjury.db import get_engine, session_scope
    from clipjury.jobs import get_redis
    from clipjury.migrate import upgrade
    from clipjury.seed import seed_demo
    from clipjury.showcase.counts import cache_key
    from clipjury.showcase.models import ShowcaseEntry
    from clipjury.timeutil import utcnow
    from clipjury.works.models import Work

    upgrade(env["CLIPJURY_DATABASE_URL"])
    now = utcnow()
    with session_scope() as session:
        seed_demo(session, password_hash="bench-no-login")
        campaign = active_campaign(session)
        owners = [session.exec(select(User).where(User.username == name)).one()
                  for name in ("demo-submitter", "demo2-submitter")]
        session.execute(update(Campaign).where(col(Campaign.id) == campaign.id).values(
            showcase_starts_at=now - timedelta(hours=1), showcase_ends_at=now + timedelta(days=1)))
        cid = campaign.id
    with get_engine().begin() as conn:
        conn.execute(insert(Work), [
            {"campaign_id": cid, "owner_id": owners[i % 2].id, "province_id": owners[i % 2].province_id,
             "unit_id": owners[i % 2].unit_id, "title": f"展播作品 {i}", "description": "演示作品",
             "status": "recommended", "submitted_at": now, "forwarded_at": now - timedelta(minutes=WORKS - i),
             "review_rev": 0,
             "national_rev": 0, "created_at": now, "updated_at": now}
            for i in range(WORKS)
        ])
    with session_scope() as session:
        work_ids = [int(i or 0) for i in session.exec(select(Work.id).where(col(Work.status) == "recommended")
                                                      .order_by(col(Work.id))).all()][-WORKS:]
    with get_engine().begin() as conn:
        conn.execute(insert(ShowcaseEntry), [
            {"work_id": w, "campaign_id": cid, "published_at": now, "copy_status": "ready", "copy_attempts": 0,
             "public_key": f"showcase/works/{w}/v1/public.mp4",
             "public_poster_key": f"showcase/works/{w}/v1/poster.jpg",
             "created_at": now, "updated_at": now} for w in work_ids
        ])
    if env["CLIPJURY_DATABASE_URL"].startswith("postgresql"):
        with get_engine().connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    # The display counts as the reconciler leaves them (what a gallery reads in steady state).
    get_redis().hset(cache_key(), mapping={str(w): (w * 7) % 500 for w in work_ids})
    return work_ids


def _clear_keys(prefix: str) -> None:
    from clipjury.jobs import get_redis

    redis = get_redis()
    for key in redis.scan_iter(match=f"{prefix}*", count=1000):
        redis.delete(key)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--page-cache-s", type=float, default=2.0,
                        help="CLIPJURY_SHOWCASE_PAGE_CACHE_S for the server (0: every request renders)")
    args = parser.parse_args()
    name = f"clipjury_bench_gallery_{os.getpid()}"
    if args.db == "postgres":
        create_database(ADMIN_URL, name)
    env = {**bench_env(args.db, name), "CLIPJURY_SHOWCASE_PAGE_CACHE_S": str(args.page_cache_s)}
    result: dict[str, Any] = {"db": args.db, "machine": f"{platform.node()} {platform.machine()} "
                              f"{os.cpu_count()} cores, {platform.python_version()}", "works": WORKS,
                              "page_cache_s": args.page_cache_s}
    started = time.monotonic()
    load(env)
    result["load_s"] = round(time.monotonic() - started, 1)
    from clipjury import devservices
    from tests.conftest import free_port

    port = free_port()
    proc = serve(env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        wrk(f"{base}/bench/constant", 2)  # warm-up
        wrk(f"{base}/public/showcase", 2)  # and the URL cache filled
        result["reference"] = wrk(f"{base}/bench/constant", args.seconds)
        result["gallery_page"] = wrk(f"{base}/public/showcase", args.seconds)
        result["gallery_page_province"] = wrk(f"{base}/public/showcase?province=shanxi&page=3", args.seconds)
        result["gallery_api"] = wrk(f"{base}/api/v1/showcase/works", args.seconds)
        ref = result["reference"]["rps"]
        result["ratios"] = {k: round(result[k]["rps"] / ref, 3)
                            for k in ("gallery_page", "gallery_page_province", "gallery_api")}
    finally:
        devservices.stop(proc)
        _clear_keys(f"bench-{name}")
        if args.db == "postgres":
            drop_database(ADMIN_URL, name)
    OUT.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.page_cache_s else "-uncached"
    (OUT / f"gallery-{args.db}{suffix}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
