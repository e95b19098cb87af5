"""Review benchmark: the review queue, the quotas and the organisers' pages at national scale.

Target (issue 4, "Speed"): with 31 provinces x 400 works and their audit history in PostgreSQL, a queue
page and a dashboard answer in under 200 ms of server time, with no N+1 queries.

A throw-away PostgreSQL database (``clipjury_bench_review_<pid>``, dropped afterwards unless ``--keep``)
is migrated and seeded with the demo, then loaded in bulk (SQLAlchemy Core ``executemany``, not the
services): 31 provinces with 11-16 units each, a submitter and a coordinator per unit, reviewers and a
provincial admin per province, 400 works per province in every status with their versions, review
decisions, audit history and notifications. Then ``VACUUM ANALYZE`` (production tables have
statistics; a freshly bulk-loaded one has not yet).

Server time is measured in-process: FastAPI's TestClient drives the app wrapped in an ASGI timer, which
measures from the call into the app (middleware, auth, queries, rendering) to the return after the last
body chunk, so the test client's own work is left out. SQL statements are counted per request with
SQLAlchemy's ``before_cursor_execute``; the slowest distinct statements are run again under
``EXPLAIN (ANALYZE, BUFFERS)``. Writes ``bench/out/review.json`` and prints a table.

    .venv/bin/python -m bench.bench_review [--requests 30] [--works-per-province 400] [--keep]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.pgdb import ADMIN_URL, create_database, drop_database  # noqa: E402

OUT = ROOT / "bench" / "out" / "review.json"
TARGET_MS = 200.0
PAGE = 50

# The 31 province-level divisions of the mainland: (code, name, short name for unit names).
PROVINCES: list[tuple[str, str]] = [
    ("beijing", "北京市"), ("tianjin", "天津市"), ("hebei", "河北省"), ("shanxi", "山西省"),
    ("neimenggu", "内蒙古自治区"), ("liaoning", "辽宁省"), ("jilin", "吉林省"), ("heilongjiang", "黑龙江省"),
    ("shanghai", "上海市"), ("jiangsu", "江苏省"), ("zhejiang", "浙江省"), ("anhui", "安徽省"),
    ("fujian", "福建省"), ("jiangxi", "江西省"), ("shandong", "山东省"), ("henan", "河南省"),
    ("hubei", "湖北省"), ("hunan", "湖南省"), ("guangdong", "广东省"), ("guangxi", "广西壮族自治区"),
    ("hainan", "海南省"), ("chongqing", "重庆市"), ("sichuan", "四川省"), ("guizhou", "贵州省"),
    ("yunnan", "云南省"), ("xizang", "西藏自治区"), ("shaanxi", "陕西省"), ("gansu", "甘肃省"),
    ("qinghai", "青海省"), ("ningxia", "宁夏回族自治区"), ("xinjiang", "新疆维吾尔自治区"),
]

# Mid-review: most works submitted, a third already decided, some forwarded and re-reviewed.
STATUS_WEIGHTS: dict[str, int] = {
    "draft": 2, "processing": 1, "ready": 4, "rejected": 2, "submitted": 30, "returned": 4,
    "passed": 14, "failed": 8, "forwarded": 20, "recommended": 6, "not_recommended": 6, "disqualified": 3,
}
# The decisions that lead to each status (the review_decision rows of a work).
DECISIONS_FOR: dict[str, list[str]] = {
    "returned": ["return"],
    "passed": ["pass"],
    "failed": ["fail"],
    "forwarded": ["pass", "forward"],
    "recommended": ["pass", "forward", "recommend"],
    "not_recommended": ["pass", "forward", "not_recommend"],
    "disqualified": ["pass", "disqualify"],
}
TO_STATUS = {
    "return": "returned", "pass": "passed", "fail": "failed", "forward": "forwarded",
    "recommend": "recommended", "not_recommend": "not_recommended", "disqualify": "disqualified",
}


# -- the database ------------------------------------------------------------------------------------

@dataclass
class Ids:
    """Explicit primary keys for the bulk rows (the sequences are moved past them afterwards)."""

    next: dict[str, int] = field(default_factory=dict)

    def take(self, table: str) -> int:
        self.next[table] += 1
        return self.next[table]


def seed(works_per_province: int, rng: random.Random) -> dict[str, Any]:
    """The demo, then the national data set in bulk; returns row counts and timings."""
    from sqlalchemy import func, select, text
    from sqlmodel import Session, SQLModel

    import clipjury.models  # noqa: F401  (every table on the metadata)
    from clipjury.accounts.models import Province, Role, Unit, UnitKind, User
    from clipjury.accounts.security import hash_password
    from clipjury.audit.models import AuditEvent
    from clipjury.campaigns.models import UnitQuota
    from clipjury.db import get_engine
    from clipjury.notifications.models import Notification
    from clipjury.reviews.models import ReviewDecision
    from clipjury.seed import seed_demo
    from clipjury.timeutil import utcnow
    from clipjury.works.models import Work, WorkVersion

    started = time.perf_counter()
    engine = get_engine()
    password_hash = hash_password("demo")
    with Session(engine) as session:
        campaign = seed_demo(session, password_hash=password_hash)
        session.commit()
        campaign_id = campaign.id or 0
        quota_by_kind = dict(campaign.quota_by_kind)

    tables = {
        "province": Province, "unit": Unit, "app_user": User, "unit_quota": UnitQuota, "work": Work,
        "work_version": WorkVersion, "review_decision": ReviewDecision, "audit_event": AuditEvent,
        "notification": Notification,
    }
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in tables}
    ids = Ids()
    with engine.connect() as conn:
        for name, model in tables.items():
            ids.next[name] = int(conn.execute(select(func.coalesce(func.max(model.id), 0))).scalar_one())  # type: ignore[attr-defined]  # sqlmodel's stubs do not type Connection.execute of a column select
        existing_provinces = {code: pid for pid, code in conn.execute(select(Province.id, Province.code))}  # type: ignore[call-overload]  # sqlmodel's stubs do not type Connection.execute of a column select
        existing_units: dict[int, list[tuple[int, str]]] = {}
        for uid, pid, kind in conn.execute(select(Unit.id, Unit.province_id, Unit.kind)):  # type: ignore[call-overload]  # sqlmodel's stubs do not type Connection.execute of a column select
            existing_units.setdefault(pid, []).append((uid, kind))
        existing_quota_units = {u for (u,) in conn.execute(select(UnitQuota.unit_id))}  # type: ignore[call-overload]  # sqlmodel's stubs do not type Connection.execute of a column select

    now = utcnow()
    opened = now - timedelta(days=14)
    password = password_hash
    names: dict[int, str] = {}

    def user(username: str, role: Role, province_id: int | None, unit_id: int | None) -> int:
        uid = ids.take("app_user")
        rows["app_user"].append({
            "id": uid, "username": username, "display_name": username, "password_hash": password,
            "role": role.value, "province_id": province_id, "unit_id": unit_id, "email": None, "phone": None,
            "is_active": True, "created_at": opened,
        })
        names[uid] = username
        return uid

    Actor = tuple[int | None, str]

    def event(at: datetime, actor: Actor, work_id: int, province_id: int, action: str,
              frm: str | None, to: str | None, reason: str = "", data: dict[str, Any] | None = None) -> None:
        rows["audit_event"].append({
            "id": ids.take("audit_event"), "at": at, "actor_id": actor[0], "actor_name": actor[1],
            "work_id": work_id, "province_id": province_id, "action": action, "from_status": frm,
            "to_status": to, "reason": reason, "data": data or {},
        })

    def note(user_id: int, work_id: int, kind: str, title: str, at: datetime, read: bool) -> None:
        rows["notification"].append({
            "id": ids.take("notification"), "user_id": user_id, "work_id": work_id, "kind": kind,
            "title": title, "body": f"{title}（基准测试数据）", "created_at": at,
            "read_at": at + timedelta(hours=2) if read else None,
        })

    def version(work_id: int, status: str, at: datetime, n: int) -> int:
        vid = ids.take("work_version")
        ready = status == "ready"
        rows["work_version"].append({
            "id": vid, "work_id": work_id, "upload_id": f"u{vid:012d}", "object_key": f"originals/{work_id}/{vid}.mp4",
            "original_filename": f"作品{work_id}-{n}.mp4", "size_bytes": rng.randint(20, 290) * 2**20,
            "sha256": f"{vid:064x}" if status != "processing" else None, "upload_started_at": at,
            "created_at": at, "status": status,
            "rejection_code": "too_long" if status == "rejected" else None,
            "rejection_message": "视频时长超过 2 分钟。" if status == "rejected" else None,
            "warnings": [], "duration_s": rng.uniform(40, 119) if status != "processing" else None,
            "header_duration_s": None, "width": 1920 if ready else None, "height": 1080 if ready else None,
            "video_codec": "h264" if status != "processing" else None,
            "audio_codec": "aac" if status != "processing" else None, "major_brand": "isom",
            "probe": {"format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2"}} if status != "processing" else {},
            "ffmpeg_version": "5.1.9", "rules_version": "2023.1",
            "validated_at": at + timedelta(seconds=15) if status != "processing" else None,
            "attempts": 1, "heartbeat_at": None, "playback": "original" if ready else None,
            "poster_key": f"posters/{vid}.jpg" if ready else None, "rendition_key": None, "rendition_status": None,
        })
        return vid

    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())
    scoped_users: dict[str, dict[str, Any]] = {}
    for code, name in PROVINCES:
        province_id = existing_provinces.get(code)
        if province_id is None:
            province_id = ids.take("province")
            rows["province"].append({"id": province_id, "code": code, "name": name})
        units = list(existing_units.get(province_id, []))
        # 11-16 units: cities, one or two 省直管县级市, the rest 省直单位 (河北省 keeps the demo's 24).
        want = rng.randint(11, 16)
        while len(units) < want:
            n = len(units) + 1
            kind = (UnitKind.city if n <= want - 4 else UnitKind.county_city if n <= want - 3
                    else UnitKind.provincial_unit)
            uid = ids.take("unit")
            label = {"city": "市", "county_city": "县级市", "provincial_unit": "省直单位"}[kind.value]
            rows["unit"].append({"id": uid, "province_id": province_id, "name": f"{name}{label}{n:02d}",
                                 "kind": kind.value, "sort_order": n})
            units.append((uid, kind.value))
        for uid, kind in units:
            if uid not in existing_quota_units:
                rows["unit_quota"].append({"id": ids.take("unit_quota"), "campaign_id": campaign_id, "unit_id": uid,
                                           "required": int(quota_by_kind.get(kind, 0))})
        submitters = {uid: user(f"bench-{code}-s{uid}", Role.submitter, province_id, uid) for uid, _ in units}
        for uid, _ in units:
            user(f"bench-{code}-c{uid}", Role.unit_coordinator, province_id, uid)
        public = [user(f"bench-{code}-p{i}", Role.submitter, province_id, None) for i in range(3)]
        reviewers = [(user(f"bench-{code}-r{i}", Role.reviewer, province_id, None), f"bench-{code}-r{i}")
                     for i in range(3)]
        admin: Actor = (user(f"bench-{code}-admin", Role.provincial_admin, province_id, None), f"bench-{code}-admin")
        national: Actor = (None, "demo-admin")  # filled in after the load (its id is known from the demo)
        scoped_users[code] = {"province_id": province_id, "units": [u for u, _ in units]}

        for _ in range(works_per_province):
            work_id = ids.take("work")
            status = rng.choices(statuses, weights)[0]
            if rng.random() < 0.05:
                unit_id, owner = None, rng.choice(public)
            else:
                unit_id, _kind = rng.choice(units)
                owner = submitters[unit_id]
            owner_actor = (owner, names[owner])
            created = opened + timedelta(minutes=rng.randint(0, 13 * 24 * 60))
            at = created
            event(at, owner_actor, work_id, province_id, "create", None, "draft")
            version_ids: list[tuple[int, str]] = []
            if status != "draft":
                if status != "processing" and rng.random() < 0.25:  # a first file that was rejected
                    at += timedelta(minutes=rng.randint(5, 300))
                    vid = version(work_id, "rejected", at, 1)
                    version_ids.append((vid, "rejected"))
                    event(at, owner_actor, work_id, province_id, "upload", "draft", "processing",
                          data={"version_id": vid})
                    event(at + timedelta(seconds=20), (None, "system"), work_id, province_id, "verdict", "processing",
                          "rejected", data={"version_id": vid, "code": "too_long"})
                    note(owner, work_id, "rejected", "作品未通过校验", at, read=True)
                at += timedelta(minutes=rng.randint(5, 300))
                vstatus = {"processing": "processing", "rejected": "rejected"}.get(status, "ready")
                vid = version(work_id, vstatus, at, len(version_ids) + 1)
                version_ids.append((vid, vstatus))
                event(at, owner_actor, work_id, province_id, "upload", "draft", "processing", data={"version_id": vid})
                if vstatus != "processing":
                    event(at + timedelta(seconds=20), (None, "system"), work_id, province_id, "verdict", "processing",
                          vstatus, data={"version_id": vid})
            ready_ids = [v for v, s in version_ids if s == "ready"]
            current = ready_ids[-1] if ready_ids else None
            submitted_at = None
            claimed_by: int | None = None
            claimed_at = None
            forward_rank = None
            forwarded_at = None
            review_rev = 0
            in_review = status not in ("draft", "processing", "ready", "rejected")
            if in_review:
                at += timedelta(minutes=rng.randint(1, 600))
                submitted_at = at
                event(at, owner_actor, work_id, province_id, "submit", "ready", "submitted")
                reviewer: Actor = rng.choice(reviewers)
                decisions = DECISIONS_FOR.get(status, [])
                if status == "submitted" and rng.random() < 0.4:
                    claimed_by, claimed_at = reviewer[0], at + timedelta(hours=rng.randint(1, 30))
                    event(claimed_at, reviewer, work_id, province_id, "claim", "submitted", "submitted")
                if decisions:
                    at += timedelta(hours=rng.randint(1, 48))
                    claimed_by, claimed_at = reviewer[0], at
                    event(at, reviewer, work_id, province_id, "claim", "submitted", "submitted")
                frm = "submitted"
                # Now and then a verdict was undone and decided again: the history a real queue has.
                if decisions and decisions[0] == "pass" and rng.random() < 0.05:
                    decisions = ["fail", "undo", *decisions]
                undone: int | None = None
                for action in decisions:
                    at += timedelta(minutes=rng.randint(1, 600))
                    actor: Actor
                    if action in ("pass", "fail", "return"):
                        actor = reviewer
                    elif action in ("forward",):
                        actor = admin
                    elif action == "disqualify":
                        actor = admin if rng.random() < 0.5 else national
                    else:
                        actor = national
                    to = "submitted" if action == "undo" else TO_STATUS[action]
                    did = ids.take("review_decision")
                    rows["review_decision"].append({
                        "id": did, "work_id": work_id, "campaign_id": campaign_id, "province_id": province_id,
                        "action": action, "actor_id": actor[0], "actor_name": actor[1],
                        "actor_role": "national_admin" if actor is national else
                        "provincial_admin" if actor is admin else "reviewer",
                        "at": at, "reason": "" if action in ("pass", "forward") else f"基准测试理由：{action}",
                        "from_status": frm, "to_status": to, "national": action in ("recommend", "not_recommend"),
                        "undoes_id": undone if action == "undo" else None,
                        "undone_at": at + timedelta(minutes=30) if action == "fail" and "undo" in decisions else None,
                        "document_key": None, "document_name": None,
                    })
                    if action == "fail":
                        undone = did
                    event(at, actor, work_id, province_id, action, frm, to,
                          reason=rows["review_decision"][-1]["reason"], data={"decision_id": did})
                    if action not in ("recommend", "not_recommend"):
                        note(owner, work_id, action, f"评审进展：{action}", at, read=rng.random() < 0.6)
                    if action == "forward":
                        forwarded_at = at
                        forward_rank = rng.randint(1, 50) if rng.random() < 0.5 else None
                    review_rev += 1
                    frm = to
            rows["work"].append({
                "id": work_id, "campaign_id": campaign_id, "owner_id": owner, "province_id": province_id,
                "unit_id": unit_id, "title": f"我在{name}话保密 {work_id}", "description": "基准测试作品。",
                "status": status, "current_version_id": current,
                "pending_version_id": version_ids[-1][0] if status == "processing" else None,
                "latest_version_id": version_ids[-1][0] if version_ids else None,
                "submitted_version_id": current if in_review else None, "submitted_at": submitted_at,
                "claimed_by_id": claimed_by, "claimed_at": claimed_at, "forward_rank": forward_rank,
                "forwarded_at": forwarded_at, "review_rev": review_rev, "created_at": created, "updated_at": at,
            })

    with engine.begin() as conn:
        national_id = conn.execute(select(User.id).where(User.username == "demo-admin")).scalar_one()  # type: ignore[call-overload]  # sqlmodel's stubs do not type Connection.execute of a column select
        for r in rows["review_decision"]:
            if r["actor_name"] == "demo-admin":
                r["actor_id"] = national_id
        for r in rows["audit_event"]:
            if r["actor_name"] == "demo-admin":
                r["actor_id"] = national_id
        built = time.perf_counter()
        # Parents first; the metadata's order is the foreign keys' order.
        order = [t.name for t in SQLModel.metadata.sorted_tables if t.name in rows]
        for table_name in order:
            table = SQLModel.metadata.tables[table_name]
            batch = rows[table_name]
            for start in range(0, len(batch), 5000):
                conn.execute(table.insert(), batch[start:start + 5000])
        for table_name in tables:
            conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table_name}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table_name}))"
            ))
    inserted = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        for table_name in tables:
            counts[table_name] = int(conn.execute(text(f"SELECT count(*) FROM {table_name}")).scalar_one())
        by_status: dict[str, int] = {
            str(k): int(v)
            for k, v in conn.execute(text("SELECT status, count(*) FROM work GROUP BY status ORDER BY 1"))
        }
    return {
        "rows": counts,
        "works_by_status": by_status,
        "build_s": round(built - started, 2),
        "insert_s": round(inserted - built, 2),
        "vacuum_analyze_s": round(time.perf_counter() - inserted, 2),
    }


# -- measuring -----------------------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class ServerTimer:
    """ASGI wrapper: the time from the call into the app to its return (the whole response sent)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app
        self.last_s = 0.0
        self.last_cpu_s = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # The process's CPU time over the request (all its threads; the client thread only waits): what
        # the request costs in Python, whatever else the machine is busy with. The database's is not in it.
        cpu_started = time.process_time()
        try:
            await self.app(scope, receive, send)
        finally:
            self.last_s = time.perf_counter() - started
            self.last_cpu_s = time.process_time() - cpu_started


class GcPauses:
    """Time spent in the garbage collector (every generation), to tell its pauses from the app's own work."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


GC = GcPauses()


@dataclass
class Statement:
    sql: str
    params: Any
    seconds: float


class StatementLog:
    """Every SQL statement the engine runs, with its parameters and how long the database took."""

    def __init__(self) -> None:
        self.statements: list[Statement] = []
        self._started: list[float] = []

    def install(self, engine: Any) -> None:
        from sqlalchemy import event

        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        self._started.append(time.perf_counter())

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        started = self._started.pop() if self._started else time.perf_counter()
        self.statements.append(Statement(statement, parameters, time.perf_counter() - started))

    def reset(self) -> None:
        self.statements = []


@dataclass
class Case:
    name: str
    client: Any
    path: str
    headers: dict[str, str] = field(default_factory=dict)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def measure(case: Case, timer: ServerTimer, log: StatementLog, requests: int, warmup: int) -> dict[str, Any]:
    server: list[float] = []
    cpu: list[float] = []
    client: list[float] = []
    statements: list[int] = []
    sql_ms: list[float] = []
    gc_ms: list[float] = []
    by_sql: dict[str, list[Statement]] = {}
    response: Any = None
    for i in range(warmup + requests):
        log.reset()
        GC.seconds = 0.0
        started = time.perf_counter()
        response = case.client.get(case.path, headers=case.headers)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{case.name}: GET {case.path} answered {response.status_code}: {response.text[:300]}")
        if i >= warmup:
            server.append(timer.last_s * 1000)
            cpu.append(timer.last_cpu_s * 1000)
            client.append(elapsed * 1000)
            statements.append(len(log.statements))
            sql_ms.append(sum(s.seconds for s in log.statements) * 1000)
            gc_ms.append(GC.seconds * 1000)
            for stmt in log.statements:
                by_sql.setdefault(stmt.sql, []).append(stmt)
    assert response is not None
    is_json = response.headers.get("content-type", "").startswith("application/json")
    # Per distinct statement: its median time per request (a statement run k times a request counts k times).
    per_request = {sql: statistics.median(s.seconds for s in runs) * len(runs) / requests * 1000
                   for sql, runs in by_sql.items()}
    slowest = sorted(per_request, key=lambda sql: per_request[sql], reverse=True)[:2]
    return {
        "name": case.name,
        "path": case.path,
        "server_ms_median": statistics.median(server),
        "server_ms_p95": percentile(server, 95),
        "server_ms_min": min(server),
        "server_ms_max": max(server),
        "cpu_ms_median": statistics.median(cpu),
        "client_ms_median": statistics.median(client),
        "sql_ms_median": statistics.median(sql_ms),
        # The garbage collector's time in the slowest request (it runs inside whichever request triggers it).
        "gc_ms_in_slowest": gc_ms[server.index(max(server))],
        "gc_ms_max": max(gc_ms),
        "statements": statements[-1],
        "statements_varied": len(set(statements)) > 1,
        "rows": len(response.json()) if is_json else None,
        "total": int(response.headers["x-total-count"]) if "x-total-count" in response.headers else None,
        "bytes": len(response.content),
        "ok": percentile(server, 95) < TARGET_MS,
        "slowest_sql": [{"sql": " ".join(sql.split())[:200], "ms_per_request": round(per_request[sql], 3),
                         "times_per_request": len(by_sql[sql]) / requests} for sql in slowest],
        "_explain": [by_sql[sql][-1] for sql in slowest],
    }


INDEX_RE = re.compile(r"(?:Bitmap )?Index (?:Only )?Scan(?: Backward)? (?:using|on) (\w+)(?: on (\w+))?")
SEQ_RE = re.compile(r"Seq Scan on (\w+)")
EXEC_RE = re.compile(r"Execution Time: ([\d.]+) ms")


def explain(engine: Any, stmt: Statement) -> dict[str, Any]:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + stmt.sql, stmt.params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        raw.rollback()
    finally:
        raw.close()
    execution = EXEC_RE.search(plan)
    return {
        "sql": " ".join(stmt.sql.split()),
        "params": {k: (v if isinstance(v, int | float | str | None) else str(v)) for k, v in dict(stmt.params).items()}
        if isinstance(stmt.params, dict) else str(stmt.params),
        "execution_ms": float(execution.group(1)) if execution else None,
        "indexes": sorted({m.group(1) for m in INDEX_RE.finditer(plan)}),
        "seq_scans": sorted(set(SEQ_RE.findall(plan))),
        "plan": plan,
    }


def has_route(app: Any, path: str) -> bool:
    """Whether the app answers GET ``path`` with a route of its own (included routers nest in FastAPI)."""
    from starlette.routing import Match

    scope = {"type": "http", "path": path, "method": "GET", "root_path": "", "headers": [], "query_string": b""}
    return any(route.matches(scope)[0] == Match.FULL for route in app.router.routes)


def login_api(client: Any, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": "demo"})
    if response.status_code != 200:
        raise RuntimeError(f"cannot log in {username}: {response.text}")
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def login_ui(app: Any, username: str) -> Any:
    from fastapi.testclient import TestClient

    client = TestClient(app)
    match = CSRF_RE.search(client.get("/login").text)
    if not match:
        raise RuntimeError("the login page has no CSRF token")
    response = client.post("/login", data={"username": username, "password": "demo", "csrf_token": match.group(1)},
                           follow_redirects=False)
    if response.status_code != 303:
        raise RuntimeError(f"cannot log in {username} to the web UI: {response.status_code}")
    return client


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpu_count": os.cpu_count()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = re.search(r"Model name:\s*(.+)", lscpu)
        info["cpu_model"] = model.group(1).strip() if model else None
    except OSError:
        info["cpu_model"] = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total = re.search(r"MemTotal:\s+(\d+) kB", meminfo.read_text())
        info["memory_gib"] = round(int(total.group(1)) / 2**20, 1) if total else None
    return info


# The UI pages of issue 4, by the account that opens them; measured when the app has the route.
UI_PAGES: list[tuple[str, str, str]] = [
    ("UI /review (reviewer)", "demo-reviewer", "/review"),
    ("UI /review (national admin)", "demo-admin", "/review"),
    ("UI /review/forward (provincial admin)", "demo-province-admin", "/review/forward"),
    ("UI /review/national (national admin)", "demo-admin", "/review/national"),
    ("UI /dashboard (national admin)", "demo-admin", "/dashboard"),
    ("UI /dashboard (provincial admin)", "demo-province-admin", "/dashboard"),
    ("UI /dashboard (coordinator)", "demo-coordinator", "/dashboard"),
]


def run(args: argparse.Namespace, db_name: str) -> dict[str, Any]:
    from fastapi.testclient import TestClient
    from sqlalchemy import text

    from api.app import create_app
    from clipjury.db import get_engine
    from clipjury.migrate import upgrade
    from clipjury.settings import get_settings

    load_before = os.getloadavg()
    upgrade(get_settings().database_url)
    rng = random.Random(args.seed)
    print(f"loading {len(PROVINCES)} provinces x {args.works_per_province} works into {db_name} ...", flush=True)
    data = seed(args.works_per_province, rng)
    print(f"loaded in {data['build_s'] + data['insert_s']:.1f} s (+{data['vacuum_analyze_s']:.1f} s VACUUM ANALYZE): "
          + ", ".join(f"{k} {v}" for k, v in data["rows"].items()), flush=True)

    engine = get_engine()
    log = StatementLog()
    log.install(engine)
    app = create_app()
    timer = ServerTimer(app)
    paths = {path for _, _, path in UI_PAGES if has_route(app, path)}

    with TestClient(timer) as api:
        if args.gc_freeze:
            # What the proposed fix does at the app's startup: the objects alive by then (modules, routes,
            # metadata: ~230k) move to a permanent generation that full collections no longer walk.
            gc.collect()
            gc.freeze()
        reviewer = login_api(api, "demo-reviewer")
        province_admin = login_api(api, "demo-province-admin")
        national = login_api(api, "demo-admin")
        coordinator = login_api(api, "demo-coordinator")
        submitted_total = int(api.get("/api/v1/review/works?status=submitted&limit=1",
                                      headers=reviewer).headers["x-total-count"])
        national_total = int(api.get("/api/v1/review/works?limit=1", headers=national).headers["x-total-count"])
        late = max(0, (submitted_total - 1) // PAGE * PAGE)
        national_late = max(0, (national_total - 1) // PAGE * PAGE)
        cases = [
            Case("API queue: reviewer, submitted, page 1", api, f"/api/v1/review/works?status=submitted&limit={PAGE}",
                 reviewer),
            Case("API queue: reviewer, submitted, last page", api,
                 f"/api/v1/review/works?status=submitted&limit={PAGE}&offset={late}", reviewer),
            Case("API queue: reviewer, unclaimed", api,
                 f"/api/v1/review/works?status=submitted&reviewer=none&limit={PAGE}", reviewer),
            Case("API queue: national admin, all, page 1", api, f"/api/v1/review/works?limit={PAGE}", national),
            Case("API queue: national admin, all, last page", api,
                 f"/api/v1/review/works?limit={PAGE}&offset={national_late}", national),
            Case("API queue: national admin, forwarded", api, f"/api/v1/review/works?status=forwarded&limit={PAGE}",
                 national),
            Case("API queue: coordinator (own unit)", api, f"/api/v1/review/works?limit={PAGE}", coordinator),
            Case("API quotas: national admin (all units)", api, "/api/v1/quotas", national),
            Case("API quotas: provincial admin", api, "/api/v1/quotas", province_admin),
            Case("API quotas: coordinator", api, "/api/v1/quotas", coordinator),
        ]
        missing_pages = sorted({p for _, _, p in UI_PAGES if p not in paths})
        ui_clients: dict[str, Any] = {}
        for name, username, path in UI_PAGES:
            if path in paths:
                if username not in ui_clients:
                    ui_clients[username] = login_ui(timer, username)
                cases.append(Case(name, ui_clients[username], path))

        results = []
        for case in cases:
            result = measure(case, timer, log, args.requests, args.warmup)
            results.append(result)
            print(f"  {case.name:<44} median {result['server_ms_median']:7.1f} ms  "
                  f"p95 {result['server_ms_p95']:7.1f} ms  {result['statements']:>3} statements", flush=True)

        # Each case's two slowest statements, run again under EXPLAIN ANALYZE (each distinct one once).
        to_explain: dict[str, Statement] = {}
        for result in results:
            for stmt in result.pop("_explain"):
                to_explain.setdefault(stmt.sql, stmt)
        plans = [explain(engine, stmt) for stmt in to_explain.values()]
        for client in ui_clients.values():
            client.close()

    with engine.connect() as conn:
        pg_version = conn.execute(text("SHOW server_version")).scalar_one()
        indexes = [r[0] for r in conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'work'"))]
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {**machine(), "postgresql": pg_version,
                    "load_average_before": load_before, "load_average_after": os.getloadavg()},
        "method": "in-process: FastAPI TestClient into an ASGI timer around the app (server time); "
                  f"{args.warmup} warm-up requests, then {args.requests} timed, one at a time",
        "gc_freeze": args.gc_freeze,
        "data": {**data, "provinces": len(PROVINCES), "works_per_province": args.works_per_province,
                 "submitted_in_reviewer_province": submitted_total, "national_queue_total": national_total},
        "target_ms": TARGET_MS,
        "results": results,
        "ui_pages_missing": missing_pages,
        "work_indexes": indexes,
        "explain": plans,
        "ok": all(r["ok"] for r in results),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=30, help="timed requests per case (default 30)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--works-per-province", type=int, default=400)
    parser.add_argument("--seed", type=int, default=20261123, help="random seed of the data set")
    parser.add_argument("--pg-admin", default=ADMIN_URL,
                        help="a PostgreSQL URL allowed to create databases")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() once the app has started (the proposed fix for the GC pauses)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards (its name is printed)")
    args = parser.parse_args(argv)

    from urllib.parse import urlparse

    # Stopped with SIGTERM (e.g. by run_all's caller), still drop the throw-away database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    admin = urlparse(args.pg_admin)
    db_name = f"clipjury_bench_review_{os.getpid()}"
    import psycopg

    try:
        create_database(args.pg_admin, db_name)
    except psycopg.Error as exc:
        print(f"bench_review needs a PostgreSQL that may create databases ({args.pg_admin}, --pg-admin): {exc}",
              file=sys.stderr)
        return 2
    user = f"{admin.username}@" if admin.username else ""
    # Settings are read once: point them at the throw-away database before anything asks for them.
    os.environ["CLIPJURY_DATABASE_URL"] = (
        f"postgresql+psycopg://{user}{admin.hostname or '127.0.0.1'}:{admin.port or 5432}/{db_name}"
    )
    os.environ.setdefault("CLIPJURY_LOG_LEVEL", "WARNING")
    from clipjury.settings import get_settings

    get_settings.cache_clear()
    try:
        result = run(args, db_name)
    finally:
        from clipjury.db import get_engine

        get_engine().dispose()
        if args.keep:
            print(f"database kept: {db_name}")
        else:
            drop_database(args.pg_admin, db_name)

    out = OUT.with_name("review-gc-freeze.json") if args.gc_freeze else OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))

    frozen = " (gc.freeze())" if args.gc_freeze else ""
    print(f"\n{len(PROVINCES)} provinces x {args.works_per_province} works{frozen}; "
          f"{result['data']['rows']['audit_event']} audit events, {result['data']['rows']['review_decision']} "
          f"decisions, {result['data']['rows']['notification']} notifications; target p95 < {TARGET_MS:.0f} ms")
    print(f"{'case':<44} {'median':>8} {'p95':>8} {'max':>8} {'CPU':>7} {'SQL':>7} {'GC max':>7} {'stmts':>5} "
          f"{'rows':>5}  ok")
    for r in result["results"]:
        print(f"{r['name']:<44} {r['server_ms_median']:>6.1f}ms {r['server_ms_p95']:>6.1f}ms "
              f"{r['server_ms_max']:>6.1f}ms {r['cpu_ms_median']:>5.1f}ms "
              f"{r['sql_ms_median']:>5.1f}ms {r['gc_ms_max']:>5.1f}ms {r['statements']:>5} "
              f"{r['rows'] if r['rows'] is not None else '-':>5}  {'yes' if r['ok'] else 'NO'}")
    if result["ui_pages_missing"]:
        print(f"UI pages not in the app (not measured): {', '.join(result['ui_pages_missing'])}")
    load = result["machine"]
    print(f"load average (1, 5, 15 min) before {load['load_average_before']}, after {load['load_average_after']}")
    print("\nslowest statements under EXPLAIN ANALYZE:")
    for p in result["explain"]:
        print(f"  {p['execution_ms']:>7.2f} ms  indexes {', '.join(p['indexes']) or '-'}; "
              f"seq scans {', '.join(p['seq_scans']) or '-'}\n      {p['sql'][:160]}")
    print(f"written to {out.relative_to(ROOT)}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
