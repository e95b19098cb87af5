"""Decisions racing each other against a live server (real HTTP, one uvicorn process, many threads).

Each race is run on ten works at once, every pair released by one barrier, so a missing compare-and-set
shows up as two winners, a lost or doubled decision row, or a 500. The invariants after every race: as many
decision rows as 200s, the work's status is the last decision's, and every loser is a specific 409.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from clipjury import devservices
from clipjury.accounts.models import Province, Role, User
from clipjury.accounts.security import create_access_token
from clipjury.audit.models import AuditEvent
from clipjury.db import session_scope
from clipjury.notifications.models import Notification
from clipjury.reviews.models import ReviewDecision
from clipjury.works.models import Work
from tests.conftest import LiveServer, start_server
from tests.review_support import PASS, submitted_works

N = 10


@pytest.fixture(scope="module")
def server(database: str) -> Iterator[LiveServer]:
    live = start_server()
    yield live
    devservices.stop(live.proc)


@dataclass
class Call:
    who: str
    path: str
    body: Any = None


class Racer:
    def __init__(self, server: LiveServer, ids: dict[str, int], http: httpx.Client) -> None:
        self.url = server.url
        self.ids = ids
        self.http = http

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {create_access_token(self.ids[who], 0)}"}

    def post(self, who: str, path: str, body: Any = None) -> httpx.Response:
        """One call on its own (setting a race up)."""
        return self.http.post(path, json=body, headers=self.headers(who))

    def race(self, groups: list[list[Call]]) -> list[list[httpx.Response]]:
        """Every call of every group at once (one thread each, one barrier); responses per group."""
        flat = [(g, i, call) for g, group in enumerate(groups) for i, call in enumerate(group)]
        barrier = threading.Barrier(len(flat))
        out: list[list[Any]] = [[None] * len(group) for group in groups]
        errors: list[BaseException] = []

        def run(g: int, i: int, call: Call) -> None:
            try:
                with httpx.Client(base_url=self.url, timeout=60) as http:
                    headers = self.headers(call.who)
                    http.get("/api/v1/health")  # open the connection before the barrier
                    barrier.wait(timeout=30)
                    out[g][i] = http.post(call.path, json=call.body, headers=headers)
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=run, args=item) for item in flat]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert errors == []
        return out


@pytest.fixture()
def racer(server: LiveServer, demo: dict[str, int]) -> Iterator[Racer]:
    ids = dict(demo)
    with session_scope() as session:
        hebei = session.exec(select(Province).where(Province.code == "hebei")).one()
        second = User(username="reviewer-2", display_name="reviewer-2", password_hash="!",
                      role=Role.reviewer.value, province_id=hebei.id)
        session.add(second)
        session.flush()
        ids["reviewer-2"] = second.id or 0
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield Racer(server, ids, http)


def code(response: httpx.Response) -> str:
    assert response.status_code != 500, response.text
    return "ok" if response.status_code == 200 else str(response.json()["code"])


def decisions(work_id: int) -> list[ReviewDecision]:
    with session_scope() as session:
        return list(session.exec(select(ReviewDecision).where(ReviewDecision.work_id == work_id)
                                 .order_by(col(ReviewDecision.id))))


def work_row(work_id: int) -> Work:
    with session_scope() as session:
        work = session.get(Work, work_id)
        assert work is not None
        return work


def test_two_reviewers_claim_at_once(racer: Racer) -> None:
    works = submitted_works("demo-submitter", N)
    results = racer.race([[Call("demo-reviewer", f"/api/v1/works/{w}/claim"),
                           Call("reviewer-2", f"/api/v1/works/{w}/claim")] for w in works])
    for work_id, pair in zip(works, results, strict=True):
        assert sorted(code(r) for r in pair) == ["claimed", "ok"], [r.text for r in pair]
        winner = next(r for r in pair if r.status_code == 200).json()["claimed_by"]
        assert work_row(work_id).claimed_by_id == racer.ids[winner]
        with session_scope() as session:
            claims = session.exec(select(AuditEvent).where(AuditEvent.work_id == work_id,
                                                           AuditEvent.action == "claim")).all()
            assert [e.actor_name for e in claims] == [winner]


def test_conflicting_verdicts_at_once(racer: Racer, demo: dict[str, int]) -> None:
    works = submitted_works("demo-submitter", N)
    results = racer.race([[Call("demo-reviewer", f"/api/v1/works/{w}/verdict", PASS),
                           Call("reviewer-2", f"/api/v1/works/{w}/verdict", {"decision": "fail", "reason": "超时"})]
                          for w in works])
    for work_id, pair in zip(works, results, strict=True):
        codes = [code(r) for r in pair]
        assert codes.count("ok") == 1 and set(codes) - {"ok"} <= {"already_decided", "claimed"}, codes
        winner = next(r for r in pair if r.status_code == 200).json()
        [row] = decisions(work_id)  # exactly one decision recorded, the winner's
        assert (row.action, row.to_status) == (winner["decisions"][0]["action"], winner["status"])
        assert work_row(work_id).status == winner["status"]
    with session_scope() as session:
        told = session.exec(select(Notification).where(Notification.user_id == demo["demo-submitter"])).all()
        assert len(told) == N  # the losers' notifications were rolled back with their decisions


def test_claim_against_verdict_at_once(racer: Racer) -> None:
    works = submitted_works("demo-submitter", N)
    results = racer.race([[Call("demo-reviewer", f"/api/v1/works/{w}/claim"),
                           Call("reviewer-2", f"/api/v1/works/{w}/verdict", PASS)] for w in works])
    for work_id, (claim, verdict) in zip(works, results, strict=True):
        codes = (code(claim), code(verdict))
        assert codes in (("ok", "claimed"), ("already_decided", "ok")), codes
        rows = decisions(work_id)
        assert len(rows) == (codes[1] == "ok")
        assert work_row(work_id).status == ("passed" if rows else "submitted")


def test_double_forward_and_forward_against_disqualify(racer: Racer) -> None:
    works = submitted_works("demo-submitter", 2 * N)
    for w in works:
        assert racer.post("demo-reviewer", f"/api/v1/works/{w}/verdict", PASS).status_code == 200
    double, mixed = works[:N], works[N:]
    groups = [[Call("demo-province-admin", f"/api/v1/works/{w}/forward"),
               Call("demo-province-admin", f"/api/v1/works/{w}/forward")] for w in double]
    groups += [[Call("demo-province-admin", f"/api/v1/works/{w}/forward"),
                Call("demo-admin", f"/api/v1/works/{w}/disqualify", {"reason": "版权纠纷"})] for w in mixed]
    results = racer.race(groups)
    for work_id, pair in zip(double, results[:N], strict=True):
        codes = [code(r) for r in pair]
        assert codes.count("ok") == 1 and set(codes) - {"ok"} <= {"already_decided", "already_forwarded",
                                                                  "stale_state"}, codes
        assert [d.action for d in decisions(work_id)] == ["pass", "forward"]
        assert work_row(work_id).status == "forwarded"
    for work_id, (forward, dq) in zip(mixed, results[N:], strict=True):
        mixed_codes = (code(forward), code(dq))
        # Disqualifying is allowed at any stage, so both may win one after the other; a loser is a 409.
        assert mixed_codes in (("ok", "ok"), ("ok", "already_decided"), ("not_passed", "ok"),
                               ("already_decided", "ok"), ("stale_state", "ok"), ("ok", "stale_state")), mixed_codes
        rows = decisions(work_id)
        won = [a for a, c in zip(("forward", "disqualify"), mixed_codes, strict=True) if c == "ok"]
        # Both winning means the forward came first: a disqualified work cannot be forwarded.
        assert [d.action for d in rows] == ["pass", *won], (mixed_codes, [d.action for d in rows])
        assert work_row(work_id).status == rows[-1].to_status


def test_two_undos_at_once(racer: Racer) -> None:
    works = submitted_works("demo-submitter", N)
    for w in works:
        assert racer.post("demo-reviewer", f"/api/v1/works/{w}/verdict", PASS).status_code == 200
    results = racer.race([[Call("demo-reviewer", f"/api/v1/works/{w}/undo", {"reason": "看错了"}),
                           Call("demo-province-admin", f"/api/v1/works/{w}/undo", {"reason": "复核"})]
                          for w in works])
    for work_id, pair in zip(works, results, strict=True):
        codes = [code(r) for r in pair]
        assert codes.count("ok") == 1 and set(codes) - {"ok"} <= {"nothing_to_undo", "stale_state"}, codes
        rows = decisions(work_id)
        assert [d.action for d in rows] == ["pass", "undo"]
        assert rows[0].undone_at is not None and rows[1].undoes_id == rows[0].id
        assert work_row(work_id).status == "submitted"


def test_verdict_against_withdraw_at_once(racer: Racer) -> None:
    works = submitted_works("demo-submitter", N)
    results = racer.race([[Call("demo-reviewer", f"/api/v1/works/{w}/verdict", PASS),
                           Call("demo-submitter", f"/api/v1/works/{w}/withdraw")] for w in works])
    for work_id, (verdict, withdraw) in zip(works, results, strict=True):
        codes = (code(verdict), code(withdraw))
        # The loser: the submitter is told it is under review, the reviewer that it is no longer in it.
        assert codes in (("ok", "under_review"), ("ok", "stale_state"), ("ok", "already_submitted"),
                         ("already_decided", "ok"), ("work_not_found", "ok"), ("stale_state", "ok")), codes
        rows = decisions(work_id)
        if codes[0] == "ok":
            assert [d.action for d in rows] == ["pass"] and work_row(work_id).status == "passed"
        else:
            assert rows == [] and work_row(work_id).status == "ready"


def test_publish_twice_at_once(racer: Racer, demo: dict[str, int]) -> None:
    works = submitted_works("demo-submitter", 3)
    for w in works:
        assert racer.post("demo-reviewer", f"/api/v1/works/{w}/verdict", PASS).status_code == 200
        assert racer.post("demo-province-admin", f"/api/v1/works/{w}/forward").status_code == 200
        assert racer.post("demo-admin", f"/api/v1/works/{w}/recommendation", {"recommended": True}).status_code == 200
    [pair] = racer.race([[Call("demo-admin", "/api/v1/review/publish"), Call("demo-admin", "/api/v1/review/publish")]])
    assert sorted(code(r) for r in pair) == ["ok", "results_published"]
    with session_scope() as session:
        told = session.exec(select(Notification).where(Notification.user_id == demo["demo-submitter"],
                                                       Notification.kind == "recommend")).all()
        assert len(told) == 3
