"""Like benchmark (issue 15): the like endpoint against a trivial endpoint of the same app, exactly-once
under 1,000 concurrent duplicates, and exact totals for 100,000 likes after reconciliation.

A throw-away database (SQLite under .cache/bench, or PostgreSQL ``clipjury_bench_likes_<pid>`` on
127.0.0.1:5432) is migrated, seeded with the demo, and loaded in bulk with 1,000 works on the showcase and
71,000 voters; the showcase window is open. One ``uvicorn`` process (the app factory of
``bench/likes_app.py``: the app plus ``GET /bench/constant``) serves it, with the same settings for both
endpoints. The load generator is ``wrk`` (Debian), on the same 2 cores, so only ratios taken in one run
compare:

1. reference: ``wrk -c 32`` on ``/bench/constant`` for ``--seconds``; then the like endpoint with the
   same load, every request a new (voter, work) pair (a Lua script walks a list of tokens and works): RPS
   ratio (target >= 0.60);
2. latency: the like endpoint paced at half the like endpoint's own maximum (wrk's ``delay()`` per
   connection): p99 (target <= 50 ms);
3. 1,000 concurrent requests of one voter for one work (httpx, all in flight at once): exactly one 201,
   the rest 200, one row;
4. 100,000 likes over the 1,000 works by 50,000 voters, a known plan sent through the API with wrk, then
   Redis flushed and the reconciler run: every work's database count and display count equal the plan.

The like limits stay on (the Redis script is in the measured path) with values no load here reaches.
Writes ``bench/out/likes-<db>.json``.

    .venv/bin/python -m bench.bench_likes [--db sqlite|postgres] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.pgdb import ADMIN_URL, create_database, drop_database  # noqa: E402

OUT = ROOT / "bench" / "out"
WORKS = 1000
VOTERS = 71_000
DUPLICATE_VOTER = 70_500  # index of the voter of step 3, outside every other step's voters
PLAN_LIKES = 100_000
PLAN_VOTERS = 50_000
DUPLICATES = 1000
CONNECTIONS = 32
THREADS = 2


def bench_env(db: str, name: str) -> dict[str, str]:
    """The environment of a throw-away benchmark app (also bench_gallery's): a fresh database named
    ``name``, Redis db 13, the local S3, its own queue prefix."""
    if db == "postgres":
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    else:
        path = ROOT / ".cache" / "bench" / f"{name}.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    return {
        "CLIPJURY_ENV": "development", "CLIPJURY_DATABASE_URL": url,
        "CLIPJURY_REDIS_URL": os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/13"),
        "CLIPJURY_S3_ENDPOINT_URL": "http://127.0.0.1:8333", "CLIPJURY_QUEUE_PREFIX": f"bench-{name}",
        "CLIPJURY_LOG_LEVEL": "WARNING",
    }


def _env(db: str, name: str) -> dict[str, str]:
    return {
        **bench_env(db, name),
        # Limits on (their Redis script is in the path), at values the benchmark does not reach.
        "CLIPJURY_LIKE_LIMITS_PER_VOTER": "100000/minute",
        "CLIPJURY_LIKE_LIMITS_PER_ADDRESS": "10000000/minute",
        "CLIPJURY_LIKE_LIMITS_PER_NETWORK": "10000000/minute",
    }


def load(env: dict[str, str]) -> tuple[list[int], list[str], list[int]]:
    """Migrate, seed, then 1,000 works on the showcase and the voters in bulk; returns (work ids, tokens, voter ids)."""
    os.environ.update(env)
    from sqlalchemy import insert, update
    from sqlmodel import col, select

    from clipjury.accounts.models import User
    from clipjury.campaigns.models import Campaign
    from clipjury.campaigns.service import active_campaign
    from clipjury.db import get_engine, session_scope
    from clipjury.migrate import upgrade
    from clipjury.seed import seed_demo
    from clipjury.showcase import voters
    from clipjury.showcase.models import ShowcaseEntry, Voter
    from clipjury.timeutil import utcnow
    from clipjury.works.models import Work

    upgrade(env["CLIPJURY_DATABASE_URL"])
    now = utcnow()
    with session_scope() as session:
        seed_demo(session, password_hash="bench-no-login")
        campaign = active_campaign(session)
        owner = session.exec(select(User).where(User.username == "demo-submitter")).one()
        session.execute(update(Campaign).where(col(Campaign.id) == campaign.id).values(
            showcase_starts_at=now - timedelta(hours=1), showcase_ends_at=now + timedelta(days=1)))
        cid = campaign.id
    with get_engine().begin() as conn:
        conn.execute(insert(Work), [
            {"campaign_id": cid, "owner_id": owner.id, "province_id": owner.province_id, "unit_id": owner.unit_id,
             "title": f"展播作品 {i}", "description": "", "status": "recommended", "submitted_at": now,
             "forwarded_at": now, "review_rev": 0, "national_rev": 0, "created_at": now, "updated_at": now}
            for i in range(WORKS)
        ])
    with session_scope() as session:
        work_ids = [int(i or 0) for i in session.exec(select(Work.id).where(col(Work.status) == "recommended")
                                                      .order_by(col(Work.id))).all()][-WORKS:]
    with get_engine().begin() as conn:
        conn.execute(insert(ShowcaseEntry), [
            {"work_id": w, "campaign_id": cid, "published_at": now, "copy_status": "ready", "copy_attempts": 0,
             "created_at": now, "updated_at": now} for w in work_ids
        ])
        digest = voters.consent_digest()
        conn.execute(insert(Voter), [
            {"phone_hmac": f"bench-{i}", "nickname": f"观众{i}", "consent_digest": digest, "created_at": now,
             "last_active_at": now} for i in range(VOTERS)
        ])
    with session_scope() as session:
        voter_ids = [int(i or 0) for i in session.exec(select(Voter.id).order_by(col(Voter.id))).all()]
    if env["CLIPJURY_DATABASE_URL"].startswith("postgresql"):
        with get_engine().connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    tokens = [voters.create_token(v)[0] for v in voter_ids]
    return work_ids, tokens, voter_ids


def serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    from clipjury import devservices

    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.likes_app:create_bench_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env=devservices.child_env(**env),
    )
    devservices.wait_for_port("127.0.0.1", port, 60, "benchmark API server")
    return proc


def _lua_plan(path: Path, pairs: list[tuple[int, int]], tokens: list[str], *, pace_ms: float = 0,
              stop_at_end: bool = False) -> None:
    """A wrk script: each thread reads the plan (token index, work id per line) and the tokens from files
    (a Lua chunk cannot hold 100,000 constants) and sends its share, thread t the lines t, t+threads, …"""
    plan_file, token_file = path.with_suffix(".plan"), path.with_suffix(".tokens")
    plan_file.write_text("".join(f"{v} {w}\n" for v, w in pairs))
    token_file.write_text("".join(f"{t}\n" for t in tokens))
    path.write_text(f"""
local threads = {{}}
function setup(thread)
  thread:set("first", #threads)
  table.insert(threads, thread)
end
function init(args)
  tokens = {{}}
  for line in io.lines("{token_file}") do table.insert(tokens, line) end
  plan = {{}}
  local i = 0
  local count = {THREADS}
  for line in io.lines("{plan_file}") do
    if i % count == first then
      local v, w = line:match("(%d+) (%d+)")
      table.insert(plan, {{tonumber(v), w}})
    end
    i = i + 1
  end
  index = 1
  created, repeated, other = 0, 0, 0
end
function request()
  if index > #plan then
    {'return wrk.format("GET", "/bench/constant")' if stop_at_end else "index = 1"}
  end
  local p = plan[index]
  index = index + 1
  return wrk.format("PUT", "/api/v1/showcase/works/" .. p[2] .. "/like",
                    {{["Authorization"] = "Bearer " .. tokens[p[1]]}})
end
function delay()
  return {int(pace_ms)}
end
function response(status, headers, body)
  if status == 201 then created = created + 1
  elseif status == 200 then repeated = repeated + 1
  else other = other + 1 end
end
function done(summary, latency, requests)
  local c, r, o = 0, 0, 0
  for _, thread in ipairs(threads) do
    c = c + thread:get("created")
    r = r + thread:get("repeated")
    o = o + thread:get("other")
  end
  io.write(string.format("STATUSES %d %d %d\\n", c, r, o))
end
""")


def wrk(url: str, seconds: int, *, script: Path | None = None, connections: int = CONNECTIONS,
        threads: int = THREADS) -> dict[str, Any]:
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency", "--timeout", "10s"]
    if script is not None:
        cmd += ["-s", str(script)]
    # A script that stops its threads at the end of a plan makes wrk exit 1 after printing its summary.
    run = subprocess.run([*cmd, url], check=False, capture_output=True, text=True)
    text = run.stdout
    if "Requests/sec" not in text:
        raise RuntimeError(f"wrk failed ({run.returncode}): {run.stderr.strip()[:2000]} {text[:2000]}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]  # wrk always prints it
    found = dict(re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+\w+)", text, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    total = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]  # wrk always prints it
    statuses = re.search(r"STATUSES (\d+) (\d+) (\d+)", text)
    answers = {"201": int(statuses.group(1)), "200": int(statuses.group(2)), "other": int(statuses.group(3))} \
        if statuses else {}
    return {"rps": rps, "p50": _ms(found.get("50")), "p99": _ms(found.get("99")), "requests": total, **answers,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(1) if errors else ""}


def _ms(text: str | None) -> float | None:
    if text is None:
        return None
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]  # wrk's own format
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


async def duplicates(base: str, token: str, work_id: int) -> dict[str, int]:
    import httpx

    limits = httpx.Limits(max_connections=DUPLICATES, max_keepalive_connections=DUPLICATES)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:
        answers = await asyncio.gather(*[
            client.put(f"/api/v1/showcase/works/{work_id}/like", headers={"Authorization": f"Bearer {token}"})
            for _ in range(DUPLICATES)
        ])
    found: dict[str, int] = {}
    for answer in answers:
        found[str(answer.status_code)] = found.get(str(answer.status_code), 0) + 1
    return found


def plan_likes_in_db(first_voter: int, last_voter: int) -> int:
    from sqlalchemy import func
    from sqlmodel import col, select

    from clipjury.db import session_scope
    from clipjury.showcase.models import Like

    with session_scope() as session:
        return int(session.exec(select(func.count()).select_from(Like).where(
            col(Like.voter_id) >= first_voter, col(Like.voter_id) <= last_voter)).one())


def send_plan(base: str, script: Path, first_voter: int, last_voter: int) -> dict[str, Any]:
    """wrk sends the plan, then only the constant endpoint: stopped (SIGINT, it prints its summary) once the
    database holds every planned like or nothing moved for a minute."""
    import signal

    cmd = ["wrk", "-t", str(THREADS), "-c", str(CONNECTIONS), "-d", "3600s", "--latency", "--timeout", "10s",
           "-s", str(script), f"{base}/"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    target, last, still = PLAN_LIKES, -1, time.monotonic()
    while proc.poll() is None:
        time.sleep(2)
        held = plan_likes_in_db(first_voter, last_voter)
        if held >= target or time.monotonic() - still > 60:
            break
        if held != last:
            last, still = held, time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    found = re.search(r"STATUSES (\d+) (\d+) (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"wrk_summary": out.strip().splitlines()[-1] if out.strip() else err[:500],
            "socket_errors": errors.group(1) if errors else "",
            **({"201": int(found.group(1)), "200": int(found.group(2)), "other": int(found.group(3))} if found else {})}


def resend_missing(base: str, plan_pairs: list[tuple[int, int]], tokens: list[str],
                   voter_ids: list[int]) -> dict[str, Any]:
    """What a client does when a request got no answer: send it again. wrk may lose a request it generated
    (one written on a keep-alive connection the server was closing is not re-sent: a socket error), so the
    planned likes the database lacks after the run are sent once more, one by one, and counted apart."""
    import httpx
    from sqlmodel import col, select

    from clipjury.db import session_scope
    from clipjury.showcase.models import Like

    with session_scope() as session:
        held = set(session.exec(select(Like.voter_id, Like.work_id).where(
            col(Like.voter_id) >= voter_ids[0], col(Like.voter_id) <= voter_ids[-1])).all())
    missing = [(v, w) for v, w in plan_pairs if (voter_ids[v - 1], w) not in held]
    statuses: dict[str, int] = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        for v, w in missing:
            answer = client.put(f"/api/v1/showcase/works/{w}/like",
                                headers={"Authorization": f"Bearer {tokens[v - 1]}"})
            statuses[str(answer.status_code)] = statuses.get(str(answer.status_code), 0) + 1
    return {"resent": len(missing), "resent_statuses": statuses}


def save(result: dict[str, Any]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"likes-{result['db']}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))


def _finish_quick(db: str, name: str, result: dict[str, Any]) -> None:
    """--skip-plan: the figures of steps 1-3, the throw-away database dropped (the server is stopped by the caller)."""
    save(result)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if db == "postgres":
        import atexit

        from clipjury.db import get_engine

        get_engine().dispose()
        atexit.register(drop_database, ADMIN_URL, name)  # after the server (stopped in `finally`) let go of it


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--skip-plan", action="store_true", help="steps 1-3 only (no 100,000-like plan)")
    parser.add_argument("--profile", metavar="SVG", help="record the server with py-spy (on PATH or "
                        "$PY_SPY) during the like run of step 1, as a flame graph")
    args = parser.parse_args()
    name = f"clipjury_bench_likes_{os.getpid()}"
    if args.db == "postgres":
        create_database(ADMIN_URL, name)
    env = _env(args.db, name)
    result: dict[str, Any] = {"db": args.db, "machine": f"{platform.node()} {platform.machine()} "
                              f"{os.cpu_count()} cores, {platform.python_version()}", "connections": CONNECTIONS}
    started = time.monotonic()
    work_ids, tokens, voter_ids = load(env)
    result["load_s"] = round(time.monotonic() - started, 1)
    from clipjury import devservices
    from clipjury.jobs import get_redis

    get_redis().flushdb()
    from tests.conftest import free_port

    port = free_port()
    proc = serve(env, port)
    base = f"http://127.0.0.1:{port}"
    rng = random.Random(15)
    tmp = Path(tempfile.mkdtemp(prefix="bench-likes-"))
    try:
        # Voters 0..9,999 for the throughput and latency runs (new pairs), the rest for the plan.
        speed_pairs = [(rng.randrange(10_000) + 1, work_ids[rng.randrange(WORKS)]) for _ in range(200_000)]
        speed_pairs = list(dict.fromkeys(speed_pairs))
        _lua_plan(tmp / "speed.lua", speed_pairs, tokens[:10_000])
        wrk(f"{base}/bench/constant", 2)  # warm-up
        result["reference"] = wrk(f"{base}/bench/constant", args.seconds)
        spy = None
        if args.profile:
            spy = subprocess.Popen([os.environ.get("PY_SPY", "py-spy"), "record", "-o", args.profile, "--pid",
                                    str(proc.pid), "--duration", str(args.seconds), "--rate", "200", "--nonblocking",
                                    *(["--format", "raw"] if args.profile.endswith(".txt") else [])])
        result["like"] = wrk(f"{base}/", args.seconds, script=tmp / "speed.lua")
        if spy is not None:
            spy.wait(60)
        result["ratio"] = round(result["like"]["rps"] / result["reference"]["rps"], 3)
        save(result)
        half = result["like"]["rps"] / 2
        pace_ms = CONNECTIONS / half * 1000
        # Fresh pairs for the paced run: the next voters' likes.
        paced_pairs = [(rng.randrange(10_000, 20_000) + 1, work_ids[rng.randrange(WORKS)]) for _ in range(200_000)]
        _lua_plan(tmp / "paced.lua", list(dict.fromkeys(paced_pairs)), tokens[:20_000], pace_ms=pace_ms)
        paced = wrk(f"{base}/", args.seconds, script=tmp / "paced.lua")
        result["like_half_load"] = {"target_rps": round(half), **paced}
        # The control: the reference at the same pace (what the server, the loop and wrk add to any request).
        pacer = tmp / "pace.lua"
        pacer.write_text(f"function delay()\n  return {int(pace_ms)}\nend\n")
        result["reference_half_load"] = {"target_rps": round(half), **wrk(f"{base}/bench/constant", args.seconds,
                                                                           script=pacer)}
        # 1,000 concurrent duplicates of one voter and one work (a voter who has liked nothing yet).
        dup_work = work_ids[0]
        result["duplicates"] = asyncio.run(duplicates(base, tokens[DUPLICATE_VOTER], dup_work))
        save(result)
        if args.skip_plan:
            return _finish_quick(args.db, name, result)
        # The plan: 100,000 new likes by voters 20,001..70,000 (50,000 of them) over the 1,000 works.
        plan_voters = list(range(20_001, 20_001 + PLAN_VOTERS))
        plan: set[tuple[int, int]] = set()
        while len(plan) < PLAN_LIKES:
            plan.add((rng.choice(plan_voters), rng.randrange(WORKS)))
        plan_pairs = [(v - 20_000, work_ids[w]) for v, w in sorted(plan)]
        _lua_plan(tmp / "plan.lua", plan_pairs, tokens[20_000:20_000 + PLAN_VOTERS], stop_at_end=True)
        started = time.monotonic()
        sent = send_plan(base, tmp / "plan.lua", voter_ids[20_000], voter_ids[20_000 + PLAN_VOTERS - 1])
        sent.update(resend_missing(base, plan_pairs, tokens[20_000:20_000 + PLAN_VOTERS],
                                   voter_ids[20_000:20_000 + PLAN_VOTERS]))
        result["plan"] = {"likes": PLAN_LIKES, "voters": PLAN_VOTERS, "works": WORKS,
                          "seconds": round(time.monotonic() - started, 1), **sent}
        save(result)
    finally:
        devservices.stop(proc)
    # Exact totals: what the database holds and what the display shows after Redis is flushed and reconciled.
    from sqlalchemy import func
    from sqlmodel import col, select

    from clipjury.db import session_scope
    from clipjury.showcase import counts
    from clipjury.showcase.models import Like

    expected: dict[int, int] = dict.fromkeys(work_ids, 0)
    for _v, w in plan_pairs:
        expected[w] += 1
    with session_scope() as session:
        plan_voter_ids = voter_ids[20_000:20_000 + PLAN_VOTERS]
        rows = session.exec(select(Like.work_id, func.count()).where(col(Like.voter_id).in_(plan_voter_ids))
                            .group_by(col(Like.work_id))).all() if args.db == "postgres" else None
        dup_rows = session.exec(select(func.count()).select_from(Like).where(
            col(Like.voter_id) == voter_ids[DUPLICATE_VOTER], col(Like.work_id) == dup_work)).one()
    if rows is None:  # SQLite: too many variables for one IN list; count by range instead
        with session_scope() as session:
            rows = session.exec(select(Like.work_id, func.count()).where(
                col(Like.voter_id) >= plan_voter_ids[0], col(Like.voter_id) <= plan_voter_ids[-1])
                .group_by(col(Like.work_id))).all()
    in_db = dict.fromkeys(work_ids, 0)
    in_db.update({int(w): int(n) for w, n in rows})
    get_redis().flushdb()
    with session_scope() as session:
        counts.reconcile(session)
        shown = counts.cached_like_counts(session, work_ids)
        truth = counts.like_counts(session, work_ids)
    result["duplicates"]["rows"] = int(dup_rows)
    result["plan"]["database_matches_plan"] = in_db == expected
    result["plan"]["display_matches_database_after_reconcile"] = shown == truth
    result["plan"]["total_in_database"] = sum(in_db.values())
    if args.db == "postgres":
        drop_database(ADMIN_URL, name)
    save(result)
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
