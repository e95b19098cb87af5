"""Every route against every role (issue 4, item 8), driven by tests/access_rules.py.

One world of works in every review status is built per database and shared by the reads; a state change
an actor is allowed runs last in its case and the next case gets a rebuilt world. Refused requests are
checked to change nothing, out-of-scope answers to be byte for byte those for a work that does not
exist, and every read that shows works not to show an unpublished national decision to anyone but the
national office.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.access_rules import (
    ACTOR_NAMES,
    ACTORS,
    ANONYMOUS,
    EXEMPT,
    FOREIGN_NAMES,
    KNOWN_BUGS,
    MISSING,
    RULES,
    TARGETS,
    TITLES,
    UNITS,
    UNPUBLISHED,
    WORKS,
    Outcome,
    Rule,
    Scope,
    expected,
    sees,
)
from tests.review_support import ALL_ITEMS

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MISSING_ID = 987654
MISSING_UPLOAD = "no-such-upload-0000000000000000"
CSRF_RE = re.compile(r'"X-CSRF-Token": "([^"]+)"')
# What an unpublished national decision looks like in a body: its status or action values, its labels.
LEAK_VALUES = frozenset({"recommended", "not_recommended", "recommend", "not_recommend"})
LEAK_LABELS = ("复评推荐展播", "复评未推荐", "复评不推荐")
LEAK_WORD = re.compile(r"\b(?:not_)?recommend(?:ed)?\b")
OPTION_RE = re.compile(rb"<option\b[^>]*>.*?</option>", re.S)


# -- the route list --------------------------------------------------------------------------------

def app_routes(app: FastAPI, prefix: str = "") -> set[tuple[str, str]]:
    """(method, path) of every route the application answers, included routers and mounted FastAPI
    sub-apps (the public site) flattened; other mounts (static files) as ("MOUNT", path)."""
    from fastapi import FastAPI
    from fastapi.routing import iter_route_contexts
    from starlette.routing import Mount

    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            if isinstance(route.app, FastAPI):
                found |= app_routes(route.app, prefix + route.path)
            else:
                found.add(("MOUNT", prefix + route.path))
            continue
        methods = set(context.methods or ())
        assert context.path is not None and methods, f"a route without path or methods: {route!r}"
        path = prefix + context.path
        if "GET" in methods:
            methods.discard("HEAD")  # Starlette adds HEAD to every GET
        found.update((method, path) for method in methods)
    return found


def test_every_route_has_a_rule() -> None:
    from api.app import create_app

    routes = app_routes(create_app())
    ruled = set(RULES) | set(EXEMPT)
    assert not set(RULES) & set(EXEMPT), "a route is both ruled and exempt"
    unruled = sorted(routes - ruled)
    stale = sorted(ruled - routes)
    assert not unruled, f"routes without an access rule in tests/access_rules.py: {unruled}"
    assert not stale, f"rules for routes that no longer exist: {stale}"


def test_known_bugs_name_real_cases() -> None:
    for method, path, actor, target in KNOWN_BUGS:
        rule = RULES[(method, path)]
        assert actor in ACTOR_NAMES and target in TARGETS[rule.scope], (method, path, actor, target)


# -- the world -------------------------------------------------------------------------------------

@dataclass
class World:
    works: dict[str, int]
    users: dict[str, int]
    upload: str
    notification: int
    units: dict[str, int]
    activity_key: str
    document_decision: int

    def target_id(self, scope: Scope, target: str) -> str:
        if target == "-":
            return self.upload  # only OPTIONS /api/v1/uploads/{upload_id} has an id but no scope
        if scope == Scope.unit:
            return str(MISSING_ID if target == MISSING else self.units[target])
        if scope == Scope.own_upload:
            return MISSING_UPLOAD if target == MISSING else self.upload
        if scope == Scope.own_notification:
            return str(MISSING_ID if target == MISSING else self.notification)
        if scope == Scope.account:
            return str(MISSING_ID if target == MISSING else self.users[target])
        return str(MISSING_ID if target == MISSING else self.works[target])


def build_world(password_hash: str) -> World:
    """Tables emptied, the demo seeded, and demo-submitter's works taken to every review status."""
    from sqlmodel import col, select

    from clipjury.accounts.models import Province, Unit, User
    from clipjury.campaigns.service import active_campaign
    from clipjury.db import session_scope
    from clipjury.jobs import get_redis
    from clipjury.notifications.models import Notification
    from clipjury.reviews import service as reviews
    from clipjury.reviews.models import ReviewDecision
    from clipjury.seed import seed_demo
    from clipjury.uploads import service as uploads
    from clipjury.works import service as works
    from tests.conftest import _clean_tables
    from tests.review_support import submitted_works

    _clean_tables()
    get_redis().flushdb()
    with session_scope() as session:
        seed_demo(session, password_hash=password_hash)
        hebei = session.exec(select(Province).where(Province.code == "hebei")).one()
        for key, display in (("submitter_same_unit", "矩阵投稿人"), ("coordinator_other_unit", "矩阵联络员"),
                             ("coordinator_shanxi", "矩阵山西联络员"), ("submitter_no_unit", "矩阵无单位投稿人")):
            actor = ACTORS[key]
            province = session.exec(select(Province).where(Province.code == actor.province)).one()
            unit = session.exec(
                select(Unit).where(Unit.province_id == province.id, Unit.name == actor.unit)
            ).one() if actor.unit else None
            session.add(User(username=actor.username, display_name=display, password_hash=password_hash,
                             role=actor.role, province_id=province.id, unit_id=unit.id if unit else None))
        del hebei
    ids = {
        name: submitted_works(ACTORS[work.owner].username, 1, title=TITLES[name])[0]
        for name, work in WORKS.items() if work.status != "draft"
    }
    with session_scope() as session:
        user = {
            name: session.exec(select(User).where(User.username == actor.username)).one()
            for name, actor in ACTORS.items()
        }
        reviewer, padmin, nadmin = user["reviewer"], user["province_admin"], user["national_admin"]
        reviews.claim(session, reviewer, ids["claimed"])
        for name, decision in (("passed", "pass"), ("failed", "fail"), ("returned", "return"),
                               ("forwarded", "pass"), ("recommended", "pass"), ("not_recommended", "pass"),
                               ("disqualified", "pass")):
            reviews.verdict(session, reviewer, ids[name], decision, "矩阵理由", checklist=ALL_ITEMS)
        for name in ("forwarded", "recommended", "not_recommended"):
            reviews.forward(session, padmin, ids[name])
        reviews.recommend(session, nadmin, ids["recommended"], True, "")
        reviews.recommend(session, nadmin, ids["not_recommended"], False, "矩阵理由")
        reviews.disqualify(session, padmin, ids["disqualified"], "矩阵理由", document=("矩阵.pdf", b"%PDF-1.4 matrix"))
        # The same statuses in Shanxi, decided by Shanxi's own reviewer and admin.
        sx_reviewer, sx_admin = user["reviewer_shanxi"], user["province_admin_shanxi"]
        reviews.claim(session, sx_reviewer, ids["shanxi_claimed"])
        for name, decision in (("passed", "pass"), ("failed", "fail"), ("returned", "return"),
                               ("forwarded", "pass"), ("recommended", "pass"), ("not_recommended", "pass"),
                               ("disqualified", "pass")):
            reviews.verdict(session, sx_reviewer, ids[f"shanxi_{name}"], decision, "矩阵理由", checklist=ALL_ITEMS)
        for name in ("forwarded", "recommended", "not_recommended"):
            reviews.forward(session, sx_admin, ids[f"shanxi_{name}"])
        reviews.recommend(session, nadmin, ids["shanxi_recommended"], True, "")
        reviews.recommend(session, nadmin, ids["shanxi_not_recommended"], False, "矩阵理由")
        reviews.disqualify(session, sx_admin, ids["shanxi_disqualified"], "矩阵理由")
        works.withdraw(session, user["submitter"], ids["withdrawn"], reason="矩阵撤回")
        ids["shanxi_draft"] = works.create_work(session, user["submitter_shanxi"], title=TITLES["shanxi_draft"]).id or 0
        document = session.exec(
            select(ReviewDecision).where(ReviewDecision.work_id == ids["disqualified"],
                                         col(ReviewDecision.document_key).is_not(None))
        ).one()
        draft = works.create_work(session, user["submitter"], title=TITLES["draft"])
        ids["draft"] = draft.id or 0
        upload = uploads.create_upload(session, user["submitter"], work_id=draft.id, length=1000, filename="a.mp4")
        notification = session.exec(
            select(Notification).where(Notification.user_id == user["submitter"].id).order_by(col(Notification.id))
        ).first()
        assert notification is not None
        units = {
            name: session.exec(
                select(Unit).join(Province, col(Province.id) == Unit.province_id)
                .where(Province.code == code, Unit.name == unit_name)
            ).one().id or 0
            for name, (code, unit_name) in UNITS.items()
        }
        activity_key = str(active_campaign(session).report_activities[0]["key"])
        world = World(works=ids, users={name: u.id or 0 for name, u in user.items()}, upload=upload.id,
                      notification=notification.id or 0, units=units, activity_key=activity_key,
                      document_decision=document.id or 0)
    with session_scope() as session:  # the world is what the rules assume
        from clipjury.works.models import Work

        for name, work_id in ids.items():
            stored = session.get(Work, work_id)
            assert stored is not None and stored.status == WORKS[name].status, (name, stored)
    return world


def snapshot() -> tuple[object, ...]:
    """Everything a request could change that matters here, to show a refusal changed nothing."""
    from sqlalchemy import text

    from clipjury.db import get_engine

    with get_engine().connect() as conn:
        return (
            tuple(tuple(row) for row in conn.execute(text(
                "SELECT id, status, review_rev, claimed_by_id, forward_rank, current_version_id, latest_version_id,"
                " title FROM work ORDER BY id"
            ))),
            tuple(conn.execute(text(
                "SELECT (SELECT count(*) FROM work_version), (SELECT count(*) FROM review_decision),"
                " (SELECT count(*) FROM audit_event), (SELECT count(*) FROM notification WHERE read_at IS NULL),"
                " (SELECT count(*) FROM activity_entry),"
                " (SELECT count(*) FROM campaign WHERE national_results_published_at IS NULL)"
            )).one()),
            tuple(tuple(row) for row in conn.execute(text("SELECT id, status, \"offset\" FROM upload ORDER BY id"))),
        )


Frozen = list[tuple[Any, list[dict[str, Any]]]]


def freeze() -> Frozen:
    """Every row of every table (the world is small), to restore it faster than building it again."""
    from sqlmodel import SQLModel

    import clipjury.models  # noqa: F401
    from clipjury.db import get_engine

    with get_engine().connect() as conn:
        return [(table, [dict(row._mapping) for row in conn.execute(table.select())])
                for table in SQLModel.metadata.sorted_tables]


def thaw(frozen: Frozen) -> None:
    # DELETE rather than TRUNCATE: PostgreSQL's sequences keep counting, so new rows never reuse an id.
    from clipjury.db import get_engine
    from clipjury.jobs import get_redis

    with get_engine().begin() as conn:
        for table, _rows in reversed(frozen):
            conn.execute(table.delete())
        for table, rows in frozen:
            if rows:
                conn.execute(table.insert(), rows)
    get_redis().flushdb()


# -- the clients -----------------------------------------------------------------------------------

class Env:
    """The app, a cookie-less API client, one logged-in browser session per actor, and the world."""

    def __init__(self, app: FastAPI, stack: ExitStack, password_hash: str) -> None:
        self.app = app
        self.stack = stack
        self.password_hash = password_hash
        self.api = stack.enter_context(TestClient(app))
        self.ui: dict[str, TestClient] = {}
        self.csrf: dict[str, str] = {}
        self.tokens: dict[str, str] = {}
        self.dirty = True
        self._world: World | None = None
        self._frozen: Frozen = []
        self.builds = 0

    def world(self) -> World:
        """The world as built: built once, then restored from its rows whenever a case changed it."""
        if self._world is None:
            self._world = build_world(self.password_hash)
            # Signed in before the freeze: the web sessions are rows, which a thaw must bring back.
            self._sign_in(self._world)
            self._frozen = freeze()
            self.builds += 1
        elif self.dirty:
            thaw(self._frozen)
            self.builds += 1
        self.dirty = False
        return self._world

    def _sign_in(self, world: World) -> None:
        from clipjury.accounts.security import create_access_token

        self.tokens = {name: create_access_token(uid, 0) for name, uid in world.users.items()}
        for name in ACTOR_NAMES:
            if name not in self.ui:
                self.ui[name] = self.stack.enter_context(TestClient(self.app))
            self.csrf[name] = self._log_in(self.ui[name], name)

    @staticmethod
    def _log_in(client: TestClient, name: str) -> str:
        """Signs ``client`` in as the actor (a new session); returns its CSRF token."""
        client.cookies.clear()
        page = client.get("/login")
        token = CSRF_RE.search(page.text)
        assert token, "the login page has no CSRF token"
        if name != ANONYMOUS:
            done = client.post("/login", data={"username": ACTORS[name].username, "password": "demo"},
                               headers={"X-CSRF-Token": token.group(1)}, follow_redirects=False)
            assert done.status_code == 303, (name, done.status_code)
            token = CSRF_RE.search(client.get(f"/works/{MISSING_ID}").text)
            assert token, "a signed-in page has no CSRF token"
        return token.group(1)

    def request(self, rule: Rule, method: str, path: str, actor: str, world: World, target: str,
                query: str = "") -> Any:
        target_id = world.target_id(rule.scope, target)
        url = path.replace("{work_id}", target_id).replace("{upload_id}", target_id)
        url = url.replace("{notification_id}", target_id).replace("{unit_id}", target_id)
        url = url.replace("{account_id}", target_id).replace("{token}", "matrix-no-such-invite")
        url = url.replace("{username}", "demo-judge").replace("{version}", "latest")
        url = url.replace("{code}", "7M2QK-X4D9B")  # a well-formed certificate code nobody was given
        url = url.replace("{nomination_id}", "987654")
        url = url.replace("{pair_id}", "999999")  # no similar pair exists in the matrix's world
        url = url.replace("{activity_key}", world.activity_key).replace("{decision_id}", str(world.document_decision))
        probe_query = rule.probe.query
        if "format=" in query:  # a variant's own format (e.g. format=xlsx) replaces the probe's
            probe_query = "&".join(q for q in probe_query.split("&") if not q.startswith("format="))
        query = "&".join(q for q in (probe_query, query) if q)
        query = query.replace("{unit}", target_id).replace("{work}", target_id)
        # "{own_recommended}": the unpublished decision of the actor's own province (Hebei's by default).
        home = ACTORS[actor].province if actor in ACTORS else None
        query = query.replace("{own_recommended}", "{shanxi_recommended}" if home == "shanxi" else "{recommended}")
        for name, work_id in world.works.items():
            query = query.replace("{" + name + "}", str(work_id))
        if query:
            url += "?" + query
        work_b64 = base64.b64encode(target_id.encode()).decode() if target_id else ""
        headers = {k: v.replace("{work_b64}", work_b64) for k, v in rule.probe.headers.items()}
        is_api = path.startswith("/api/") or path == "/healthz"
        if is_api:
            client = self.api
            if actor != ANONYMOUS:
                headers["Authorization"] = f"Bearer {self.tokens[actor]}"
        else:
            client = self.ui[actor]
            if method not in SAFE_METHODS:
                headers["X-CSRF-Token"] = self.csrf[actor]
        kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
        if rule.probe.json is not None:
            kwargs["json"] = _fill(rule.probe.json, target_id)
        elif rule.probe.form is not None:
            kwargs["data"] = {k: v.replace("{work}", target_id) for k, v in rule.probe.form.items()}
        elif rule.probe.content is not None:
            kwargs["content"] = rule.probe.content
        if rule.own_session and not is_api:
            # A session of its own, not a copy of the cookie: ending a session ends it for every copy.
            with TestClient(self.app) as own:
                kwargs["headers"] = {**headers, "X-CSRF-Token": self._log_in(own, actor)}
                return own.request(method, url, **kwargs)
        response = client.request(method, url, **kwargs)
        if is_api:
            # The API client is every actor's (each with its own bearer token): a cookie one route sets
            # (POST /api/v1/auth/web-session) must not ride along on the next actor's request.
            client.cookies.clear()
        return response


def _fill(value: object, target_id: str) -> object:
    if value == "{work}":
        return int(target_id)
    if isinstance(value, list):
        return [_fill(v, target_id) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, target_id) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def env(database: str, demo_hash: str) -> Iterator[Env]:
    from api.app import create_app
    from clipjury.jobs import get_redis
    from tests.conftest import _clean_tables

    with ExitStack() as stack:
        yield Env(create_app(), stack, demo_hash)
    _clean_tables()
    get_redis().flushdb()


@pytest.fixture(autouse=True)
def clean_state() -> None:
    """Overrides conftest's per-test cleaning: the module's world is shared and rebuilt when needed."""


# -- checking one answer ---------------------------------------------------------------------------

def _leaks(body: bytes, content_type: str) -> list[str]:
    text, _rows = _as_text(body, content_type)
    found = [label for label in LEAK_LABELS if label in text]
    if "json" in content_type:
        def walk(value: object) -> Iterator[str]:
            if isinstance(value, str):
                yield value
            elif isinstance(value, list):
                for v in value:
                    yield from walk(v)
            elif isinstance(value, dict):
                for v in value.values():
                    yield from walk(v)

        found += sorted({v for v in walk(json.loads(text)) if v in LEAK_VALUES})
    else:  # pages, CSV and XLSX exports
        found += sorted(set(LEAK_WORD.findall(text)))
    return found


def _leaks_of(body: bytes, content_type: str) -> list[str]:
    """The leaks of a body; a page's filter choices (<option>) are vocabulary, not any work's state."""
    if "html" in content_type:
        body = OPTION_RE.sub(b"", body)
    return _leaks(body, content_type)


FLASH_RE = re.compile(rb'<div class="notice notice-[a-z]+" role="status">.*?</div>\s*', re.S)


def _unflashed(body: bytes) -> bytes:
    """The page without the flash messages earlier requests of the session left (they show once, anywhere)."""
    return re.sub(rb"\s+", b" ", FLASH_RE.sub(b"", body))


def _first_difference(body: bytes, reference: bytes) -> str:
    a, b = _unflashed(body), _unflashed(reference)
    at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return f"{a[max(0, at - 80):at + 80]!r} vs {b[max(0, at - 80):at + 80]!r}"


# Where a page names a work by id: its links and forms, the pick/rank fields of the lists, "#12" in the
# audit log (not "&#39;", an escaped quote).
HTML_WORK_ID = re.compile(r"(?:/works/|/review/national/|/review/forward/|pick-|rank_|work-|(?<![&\w])#)(\d+)\b")
PRESIGNED_URL = re.compile(r"https?://[^\s\"'<>]+?X-Amz-Signature=[0-9a-f]+")
# Object keys that belong to a work: originals, renditions and posters, disqualification documents (and
# the test world's own version keys).
WORK_KEY = re.compile(r"^(?:originals|works|test)/(\d+)/|^documents/work-(\d+)/")
XLSX = "spreadsheetml"


def _as_text(body: bytes, content_type: str) -> tuple[str, list[list[str]]]:
    """The body as text (an XLSX workbook: its cells, one per line) and, for exports, its rows."""
    if XLSX in content_type:
        import io

        from python_calamine import CalamineWorkbook

        book = CalamineWorkbook.from_filelike(io.BytesIO(body))
        rows = [[str(c) for c in row] for name in book.sheet_names for row in book.get_sheet_by_name(name).to_python()]
        return "\n".join("\t".join(row) for row in rows), rows
    text = body.decode("utf-8", "replace")
    if "text/csv" in content_type:
        import csv
        import io

        return text, [list(row) for row in csv.reader(io.StringIO(text.lstrip("\ufeff")))]
    return text, []


def _work_ids(body: bytes, content_type: str) -> set[int]:
    """Every work id a body names: works and audit rows in JSON, links and fields in pages, the 作品编号
    column of exports."""
    text, rows = _as_text(body, content_type)
    found: set[int] = set()
    if "json" in content_type:
        def walk(value: object) -> None:
            if isinstance(value, list):
                for v in value:
                    walk(v)
            elif isinstance(value, dict):
                if isinstance(value.get("work_id"), int):
                    found.add(value["work_id"])
                if isinstance(value.get("id"), int) and "title" in value and "status" in value:
                    found.add(value["id"])
                for v in value.values():
                    walk(v)

        walk(json.loads(text))
    elif "html" in content_type:
        found.update(int(i) for i in HTML_WORK_ID.findall(text))
    column: int | None = None
    for row in rows:
        if "作品编号" in row:
            column = row.index("作品编号")
            continue
        if column is not None and column < len(row):
            cell = row[column].removesuffix(".0")
            if cell.isdigit():
                found.add(int(cell))
    return found


def _presigned_work_ids(body: bytes, content_type: str) -> tuple[set[int], list[str]]:
    """The works whose objects the body's presigned URLs name, and the keys that name no work."""
    from urllib.parse import unquote, urlsplit

    text, _rows = _as_text(body, content_type)
    ids: set[int] = set()
    strays: list[str] = []
    for url in PRESIGNED_URL.findall(text.replace("&amp;", "&")):
        path = unquote(urlsplit(url).path).lstrip("/")
        key = path.split("/", 1)[1] if "/" in path else ""  # path-style: /bucket/key
        match = WORK_KEY.match(key)
        if match is None:
            strays.append(key)
        else:
            ids.add(int(match.group(1) or match.group(2)))
    return ids, strays


def _location(response: Any) -> str:
    return str(response.headers.get("location", ""))


def _foreign(actor: str, body: bytes, content_type: str = "", world: World | None = None) -> list[str]:
    """Titles and ids of works the actor may not see, names of units or provinces outside its scope,
    and presigned URLs to objects of works it may not see (or of no work at all)."""
    if actor in (ANONYMOUS, "national_admin"):
        return []
    text, _rows = _as_text(body, content_type)
    found = [TITLES[name] for name in WORKS if not sees(actor, name) and TITLES[name] in text]
    found += [name for name in FOREIGN_NAMES.get(actor, ()) if name in text]
    if world is not None:
        unseen = {world.works[name]: name for name in WORKS if not sees(actor, name)}
        found += [f"id of {unseen[i]}" for i in sorted(_work_ids(body, content_type) & set(unseen))]
        signed, strays = _presigned_work_ids(body, content_type)
        found += [f"presigned object of {unseen[i]}" for i in sorted(signed & set(unseen))]
        found += [f"presigned object of no work: {key}" for key in strays]
    return found


def _verdict(rule: Rule, method: str, path: str, outcome: Outcome, response: Any, reference: Any) -> str | None:
    """None if the answer is the outcome the rule expects, else what is wrong. ``reference`` is the answer
    for an object that does not exist, when this one should look the same."""
    is_api = path.startswith("/api/") or path == "/healthz"
    status = response.status_code
    ctype = response.headers.get("content-type", "")
    location = _location(response)
    if status >= 500:
        return f"server error {status}"
    if outcome == Outcome.login:
        if is_api:
            ok = status == 401 and (method == "HEAD" or "application/problem+json" in ctype)
            return None if ok else f"expected 401 problem+json, got {status} {ctype}"
        ok = status == 303 and location.startswith("/login")
        return None if ok else f"expected 303 to /login, got {status} {location}"
    if outcome == Outcome.forbidden:
        return None if status == 403 else f"expected 403, got {status}"
    if outcome == Outcome.home:
        ok = status == 303 and not location.startswith("/login")
        return None if ok else f"expected 303 to the role's home, got {status} {location}"
    if outcome == Outcome.gone:
        return None if status == 404 else f"expected 404, got {status}"
    if outcome == Outcome.not_found:
        if status != 404:
            return f"expected 404, got {status}"
        if reference is not None and _unflashed(response.content) != _unflashed(reference.content):
            return f"404 differs from a missing object's 404: {_first_difference(response.content, reference.content)}"
        return None
    if outcome == Outcome.bounced:
        if status != 303 or location.startswith("/login"):
            return f"expected 303 back with a flash message, got {status} {location}"
        if reference is not None and (reference.status_code, _location(reference)) != (status, location):
            return f"differs from a missing object's answer: {status} {location} vs {_location(reference)}"
        return None
    if rule.mutates and method not in SAFE_METHODS:
        if status in (401, 403, 404):
            return f"allowed, but refused with {status}"
        if not is_api and status == 303 and location.startswith("/login") and not rule.own_session:
            return "allowed, but sent to the login page"
        return None
    return None if status in rule.ok else f"expected {sorted(rule.ok)}, got {status}"


# -- the matrix ------------------------------------------------------------------------------------

def _cases() -> Iterator[Any]:
    # Reads first (one world serves them all), then the state changes.
    ordered = sorted(RULES.items(), key=lambda item: (item[1].mutates and item[0][0] not in SAFE_METHODS))
    for (method, path), rule in ordered:
        for actor in ACTOR_NAMES:
            targets = TARGETS[rule.scope]
            refused_first = actor == ANONYMOUS or (
                rule.role_first and rule.roles is not None and ACTORS[actor].role not in rule.roles
            )
            if refused_first:
                # Refused before any lookup: the first target and a missing one tell as much as all.
                targets = tuple(dict.fromkeys((targets[0], targets[-1])))
            bugs = [t for t in targets if (method, path, actor, t) in KNOWN_BUGS]
            normal = tuple(t for t in targets if t not in bugs)
            if normal:
                yield pytest.param(method, path, actor, normal, id=f"{method} {path} {actor}")
            for t in bugs:
                yield pytest.param(
                    method, path, actor, (t,), id=f"{method} {path} {actor} {t}",
                    marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[(method, path, actor, t)]),
                )


@pytest.mark.parametrize(("method", "path", "actor", "targets"), list(_cases()))
def test_access(env: Env, method: str, path: str, actor: str, targets: tuple[str, ...]) -> None:
    rule = RULES[(method, path)]
    world = env.world()
    changes = method not in SAFE_METHODS
    cases = [(t, expected(rule, actor, t)) for t in targets]
    refused = [(t, o) for t, o in cases if o != Outcome.allow]
    allowed = [(t, o) for t, o in cases if o == Outcome.allow]
    problems: list[str] = []
    as_missing = expected(rule, actor, MISSING) if rule.scope != Scope.none else None
    reference = None
    if as_missing in (Outcome.not_found, Outcome.bounced) and actor != ANONYMOUS:
        reference = env.request(rule, method, path, actor, world, MISSING)
    before = snapshot() if changes else None

    def run(target: str, outcome: Outcome, query: str = "") -> None:
        response = env.request(rule, method, path, actor, world, target, query)
        wrong = _verdict(rule, method, path, outcome, response, reference if outcome == as_missing else None)
        label = f"{target}{'?' + query if query else ''}"
        if wrong:
            problems.append(f"{label}: {wrong} — {response.text[:200]!r}")
            return
        if outcome != Outcome.allow or method != "GET":
            return
        ctype = response.headers.get("content-type", "")
        if rule.shows_works and actor != "national_admin":
            leaks = _leaks_of(response.content, ctype)
            if leaks:
                problems.append(f"{label}: shows an unpublished national decision: {leaks}")
        foreign = _foreign(actor, response.content, ctype, world)
        if foreign:
            problems.append(f"{label}: shows what is outside the actor's scope: {foreign}")

    for target, outcome in refused:
        run(target, outcome)
        for query in rule.variants:
            run(target, outcome, query)
    if before is not None and snapshot() != before:
        problems.append("a refused request changed the world")
    if allowed and rule.mutates and changes:
        env.dirty = True
    for target, allow in allowed:
        run(target, allow)
        for query in rule.variants:
            run(target, allow, query)
    if before is not None and not (rule.mutates and allowed) and snapshot() != before:
        problems.append("a request the rule says changes nothing changed the world")
    assert not problems, f"{method} {path} as {actor}:\n" + "\n".join(problems)


def test_the_checks_can_fail(env: Env) -> None:
    """The leak and scope checks above can fail: the national admin, who may see everything, does."""
    world = env.world()
    for name in UNPUBLISHED:
        response = env.api.get(f"/api/v1/works/{world.works[name]}",
                               headers={"Authorization": f"Bearer {env.tokens['national_admin']}"})
        assert response.status_code == 200
        assert _leaks(response.content, response.headers["content-type"]), name
    page = env.ui["national_admin"].get(f"/works/{world.works['recommended']}")
    assert page.status_code == 200 and _leaks_of(page.content, page.headers["content-type"])
    export = env.api.get("/api/v1/review/works/export?format=csv",
                         headers={"Authorization": f"Bearer {env.tokens['national_admin']}"})
    assert export.status_code == 200 and _leaks_of(export.content, export.headers["content-type"])
    # ...and the scope check too: what the national admin reads names works a Hebei reviewer may not see.
    listing = env.api.get("/api/v1/review/works?status=submitted",
                          headers={"Authorization": f"Bearer {env.tokens['national_admin']}"})
    assert TITLES["shanxi"] in _foreign("reviewer", listing.content)
    national = {"Authorization": f"Bearer {env.tokens['national_admin']}"}
    # ...by ids alone: the national audit log names works (no titles) a Hebei admin may not see,
    log = env.api.get("/api/v1/audit", headers=national)
    assert f"id of {'shanxi'}" in _foreign("province_admin", log.content, log.headers["content-type"], world)
    assert "id of draft" in _foreign("province_admin", log.content, log.headers["content-type"], world)
    # ...in XLSX exports as in CSV,
    xlsx = env.api.get("/api/v1/review/works/export?format=xlsx", headers=national)
    assert xlsx.status_code == 200 and XLSX in xlsx.headers["content-type"]
    assert _leaks_of(xlsx.content, xlsx.headers["content-type"])
    assert "id of shanxi_passed" in _foreign("reviewer", xlsx.content, xlsx.headers["content-type"], world)
    # ...and presigned URLs: the national admin's playback of a Shanxi work names that work's object.
    play = env.api.get(f"/api/v1/works/{world.works['shanxi']}/playback", headers=national)
    assert play.status_code == 200
    assert "presigned object of shanxi" in _foreign("reviewer", play.content, play.headers["content-type"], world)


def test_an_incomplete_account_is_refused_on_every_route(env: Env) -> None:
    """A unit coordinator without a unit (a row the database no longer accepts, made before it did):
    every route but the public ones answers 403 account_incomplete, whatever the target, and changes
    nothing; it never reads as a coordinator of every unit-less work."""
    from sqlmodel import select

    from clipjury.accounts.models import Province
    from clipjury.accounts.security import create_access_token
    from clipjury.db import session_scope
    from tests.scope_support import INCOMPLETE_USERNAME, insert_incomplete_coordinator

    world = env.world()
    with session_scope() as session:
        hebei = session.exec(select(Province).where(Province.code == "hebei")).one().id or 0
    before = snapshot()
    problems: list[str] = []
    with insert_incomplete_coordinator(env.password_hash, hebei) as user_id, \
            TestClient(env.app) as page_client:
        token = CSRF_RE.search(page_client.get("/login").text)
        assert token
        done = page_client.post("/login", data={"username": INCOMPLETE_USERNAME, "password": "demo"},
                                headers={"X-CSRF-Token": token.group(1)}, follow_redirects=False)
        assert done.status_code == 303, done.text
        csrf = CSRF_RE.search(page_client.get(f"/works/{MISSING_ID}").text)
        assert csrf
        bearer = create_access_token(user_id, 0)
        for (method, path), rule in RULES.items():
            if rule.kind == "public":
                continue
            for target in dict.fromkeys((TARGETS[rule.scope][0], "unitless", MISSING)):
                if target not in TARGETS[rule.scope] and target != MISSING:
                    continue
                target_id = world.target_id(rule.scope, target) if rule.scope != Scope.none else world.upload
                url = path
                for name in ("work_id", "upload_id", "notification_id", "unit_id", "account_id"):
                    url = url.replace("{" + name + "}", target_id)
                url = url.replace("{activity_key}", world.activity_key)
                url = url.replace("{decision_id}", str(world.document_decision))
                url = url.replace("{username}", "demo-judge").replace("{version}", "latest")
                url = url.replace("{code}", "7M2QK-X4D9B").replace("{nomination_id}", "987654")
                is_api = path.startswith("/api/")
                headers = {k: v.replace("{work_b64}", base64.b64encode(target_id.encode()).decode())
                           for k, v in rule.probe.headers.items()}
                kwargs: dict[str, Any] = {"follow_redirects": False}
                if rule.probe.json is not None:
                    kwargs["json"] = _fill(rule.probe.json, target_id if target_id.isdigit() else "0")
                elif rule.probe.form is not None:
                    kwargs["data"] = {k: v.replace("{work}", target_id) for k, v in rule.probe.form.items()}
                elif rule.probe.content is not None:
                    kwargs["content"] = rule.probe.content
                if is_api:
                    response = env.api.request(method, url, headers={**headers, "Authorization": f"Bearer {bearer}"},
                                               **kwargs)
                else:
                    if method not in SAFE_METHODS:
                        headers["X-CSRF-Token"] = csrf.group(1)
                    response = page_client.request(method, url, headers=headers, **kwargs)
                label = f"{method} {url}"
                if response.status_code != 403:
                    problems.append(f"{label}: expected 403, got {response.status_code} {response.text[:120]!r}")
                elif method != "HEAD" and "account_incomplete" not in response.text:
                    problems.append(f"{label}: 403 without account_incomplete: {response.text[:120]!r}")
                elif is_api and method != "HEAD" and not response.headers["content-type"].startswith(
                        "application/problem+json"):
                    problems.append(f"{label}: not problem+json")
                if TITLES["unitless"] in response.text:
                    problems.append(f"{label}: names the unit-less work")
    env.dirty = True  # the sign-in left traces (sessions, counters): the next case gets a clean world
    assert snapshot()[0] == before[0], "a refused request changed a work"
    assert not problems, "\n".join(problems)
