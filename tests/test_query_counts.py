"""No N+1 queries: the SQL statements a review list, the quotas or a dashboard run per request must not grow
with the number of works they show. Each surface is requested with 5 works in the data, then with 50 of
the same mix (every review stage, several owners, units, claimers and both demo provinces), and the two
statement counts are compared."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.review_support import ALL_ITEMS, headers_for, submitted_works
from tests.test_ui import login

# Each work's stage, by its index modulo 5; the 5-work data set holds one of each.
STAGES = ("submitted", "claimed", "passed", "forwarded", "recommended")
HEBEI_UNITS = (
    "石家庄市", "唐山市", "秦皇岛市", "邯郸市", "邢台市", "保定市", "张家口市", "承德市", "雄安新区", "定州市",
)

# (who, path): the API's review lists and quotas.
API_REQUESTS: list[tuple[str, str]] = [
    ("demo-reviewer", "/api/v1/review/works?status=submitted"),
    ("demo-reviewer", "/api/v1/review/works"),
    ("demo-province-admin", "/api/v1/review/works?status=passed"),
    ("demo-province-admin", "/api/v1/quotas"),
    ("demo-admin", "/api/v1/review/works"),
    ("demo-admin", "/api/v1/review/works?status=forwarded"),
    ("demo-admin", "/api/v1/quotas"),
    ("demo-coordinator", "/api/v1/review/works"),
    ("demo-coordinator", "/api/v1/quotas"),
]
# The pages, measured as soon as the app has them.
UI_REQUESTS: list[tuple[str, str]] = [
    ("demo-reviewer", "/review"),
    ("demo-admin", "/review"),
    ("demo-province-admin", "/review/forward"),
    ("demo-admin", "/review/national"),
    ("demo-admin", "/dashboard"),
    ("demo-province-admin", "/dashboard"),
    ("demo-coordinator", "/dashboard"),
]


@dataclass
class StatementCounter:
    """Counts what the engine sends to the database while ``active``."""

    active: bool = False
    statements: list[str] = field(default_factory=list)

    def __call__(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if self.active:
            self.statements.append(statement)


@pytest.fixture()
def counter() -> Iterator[StatementCounter]:
    from sqlalchemy import event

    from clipjury.db import get_engine

    listener = StatementCounter()
    event.listen(get_engine(), "before_cursor_execute", listener)
    yield listener
    event.remove(get_engine(), "before_cursor_execute", listener)


@dataclass
class Cast:
    """Who owns, claims and decides the works: several of each, so a per-row lookup shows up."""

    owners: list[str]
    reviewers: dict[int, list[str]]  # province id -> reviewers
    admins: dict[int, str]  # province id -> provincial admin


def make_cast(demo_hash: str) -> Cast:
    from sqlmodel import select

    from clipjury.accounts.models import Province, Role, Unit
    from clipjury.accounts.service import create_user
    from clipjury.db import session_scope

    with session_scope() as session:
        hebei = session.exec(select(Province).where(Province.code == "hebei")).one()
        shanxi = session.exec(select(Province).where(Province.code == "shanxi")).one()
        owners = ["demo-submitter"]
        for i, name in enumerate(HEBEI_UNITS[1:], 1):
            unit = session.exec(select(Unit).where(Unit.province_id == hebei.id, Unit.name == name)).one()
            create_user(session, username=f"nplus1-s{i}", password_hash=demo_hash, role=Role.submitter, unit=unit)
            owners.append(f"nplus1-s{i}")
        # 11 owners (10 in 河北省, 1 in 山西省): coprime with the 5 stages, so owners and stages mix.
        owners.append("demo2-submitter")
        for i in (1, 2):
            create_user(session, username=f"nplus1-r{i}", password_hash=demo_hash, role=Role.reviewer, province=hebei)
        create_user(session, username="nplus1-admin2", password_hash=demo_hash, role=Role.provincial_admin,
                    province=shanxi)
        return Cast(
            owners=owners,
            reviewers={hebei.id or 0: ["nplus1-r1", "nplus1-r2", "demo-reviewer"], shanxi.id or 0: ["demo2-reviewer"]},
            admins={hebei.id or 0: "demo-province-admin", shanxi.id or 0: "nplus1-admin2"},
        )


def add_works(cast: Cast, start: int, stop: int) -> None:
    """Works ``start``..``stop - 1``, each taken through the review services to its stage.

    The first five belong to one unit (the coordinator's) and are claimed by a reviewer who is not the
    viewer, so every viewer's 5-work list already holds each kind of related row the 50-work list does.
    """
    from sqlmodel import select

    from clipjury.accounts.models import User
    from clipjury.db import session_scope
    from clipjury.reviews import service
    from clipjury.works.models import Work

    owner_of = {i: "demo-submitter" if i < 5 else cast.owners[i % len(cast.owners)] for i in range(start, stop)}
    work_of: dict[int, int] = {}
    for owner in dict.fromkeys(owner_of.values()):
        mine = [i for i, o in owner_of.items() if o == owner]
        work_of.update(zip(mine, submitted_works(owner, len(mine), title="作品"), strict=True))
    with session_scope() as session:
        def user(username: str) -> User:
            return session.exec(select(User).where(User.username == username)).one()

        for i in range(start, stop):
            stage = STAGES[i % len(STAGES)]
            work = session.get(Work, work_of[i])
            assert work is not None
            if stage == "submitted":
                continue
            names = cast.reviewers[work.province_id]
            reviewer = user(names[(i // len(STAGES)) % len(names)])
            service.claim(session, reviewer, work_of[i])
            if stage == "claimed":
                continue
            service.verdict(session, reviewer, work_of[i], "pass", "画面清晰", checklist=ALL_ITEMS)
            if stage == "passed":
                continue
            service.forward(session, user(cast.admins[work.province_id]), work_of[i], rank=i)
            if stage == "forwarded":
                continue
            service.recommend(session, user("demo-admin"), work_of[i], True, "推荐展播")


def count(client: Any, counter: StatementCounter, path: str, headers: dict[str, str]) -> tuple[int, list[str], Any]:
    counter.statements = []
    counter.active = True
    try:
        response = client.get(path, headers=headers)
    finally:
        counter.active = False
    assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text[:300]}"
    return len(counter.statements), list(counter.statements), response


def has_route(app: Any, path: str) -> bool:
    """Whether the app has a GET route for ``path`` (FastAPI nests included routers, so ask each route)."""
    from starlette.routing import Match

    scope = {"type": "http", "path": path, "method": "GET", "root_path": "", "headers": [], "query_string": b""}
    return any(route.matches(scope)[0] == Match.FULL for route in app.router.routes)


def repeated(statements: list[str]) -> str:
    top = Counter(" ".join(s.split())[:110] for s in statements).most_common(3)
    return "; ".join(f"{n}x {sql}" for n, sql in top)


def test_statements_per_request_do_not_grow_with_the_works(
    client: Any, demo: dict[str, int], demo_hash: str, counter: StatementCounter
) -> None:
    from fastapi.testclient import TestClient

    cast = make_cast(demo_hash)
    ui = [(who, path) for who, path in UI_REQUESTS if has_route(client.app, path)]
    api_headers = {who: headers_for(client, who) for who in {who for who, _ in API_REQUESTS}}
    ui_clients: dict[str, Any] = {}
    for who, _ in ui:
        if who not in ui_clients:
            ui_clients[who] = TestClient(client.app)
            assert login(ui_clients[who], who).status_code == 303
    requests = [(who, path, client, api_headers[who]) for who, path in API_REQUESTS]
    requests += [(who, path, ui_clients[who], {}) for who, path in ui]

    def measure() -> dict[tuple[str, str], tuple[int, list[str], Any]]:
        return {(who, path): count(c, counter, path, h) for who, path, c, h in requests}

    add_works(cast, 0, 5)
    few = measure()
    add_works(cast, 5, 50)
    many = measure()
    for c in ui_clients.values():
        c.close()

    # The lists really did grow, so equal counts mean something.
    for who, path in API_REQUESTS:
        if "/review/works" in path:
            small, large = len(few[(who, path)][2].json()), len(many[(who, path)][2].json())
            assert large > small > 0, f"{who} {path}: {small} -> {large} works"
    for who, path in ui:
        if path.startswith("/review"):
            assert len(many[(who, path)][2].text) > len(few[(who, path)][2].text), f"{who} {path} shows no more works"
    grew = {
        f"{who} GET {path}": f"{few[(who, path)][0]} -> {many[(who, path)][0]} statements "
                             f"(most repeated with 50 works: {repeated(many[(who, path)][1])})"
        for who, path, _, _ in requests
        if many[(who, path)][0] > few[(who, path)][0]
    }
    assert not grew, "statements per request grow with the number of works (N+1):\n" + "\n".join(
        f"  {k}: {v}" for k, v in grew.items()
    )
