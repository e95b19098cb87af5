"""The organisers' pages through TestClient: forwarding to the national re-review, the national
re-review page, the quota dashboards per role, and CSRF on every POST. Real services, no mocks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest

from tests.review_support import ALL_ITEMS, submitted_works
from tests.test_ui import login

ROW_RE = re.compile(r'<tr class="[^"]*" data-label="([^"]+)">(.*?)</tr>', re.S)
CELL_RE = re.compile(r'data-col="(\w+)">(.*?)</td>', re.S)
HX_TOKEN_RE = re.compile(r'"X-CSRF-Token": "([^"]+)"')
DATA_RE = re.compile(r'<script type="application/json" id="dashboard-data">(.*?)</script>', re.S)


# -- builders ----------------------------------------------------------------------------------------

def _user(session: Any, username: str) -> Any:
    from sqlmodel import select

    from clipjury.accounts.models import User

    return session.exec(select(User).where(User.username == username)).one()


def passed_works(owner: str, count: int, *, reviewer: str = "demo-reviewer", title: str = "通过作品") -> list[int]:
    """Submitted works of ``owner`` that ``reviewer`` passed, through the reviews service."""
    from clipjury.db import session_scope
    from clipjury.reviews import service

    ids = submitted_works(owner, count, title=title)
    with session_scope() as session:
        judge = _user(session, reviewer)
        for work_id in ids:
            service.verdict(session, judge, work_id, "pass", "", checklist=ALL_ITEMS)
    return ids


def forwarded_works(owner: str, count: int, *, reviewer: str, admin: str, title: str) -> list[int]:
    from clipjury.db import session_scope
    from clipjury.reviews import service

    ids = passed_works(owner, count, reviewer=reviewer, title=title)
    with session_scope() as session:
        service.forward_many(session, _user(session, admin), work_ids=ids,
                             ranks={work_id: i + 1 for i, work_id in enumerate(ids)})
    return ids


def shanxi_admin(demo_hash: str) -> str:
    """山西省 has no provincial admin in the demo; the national tests need its works forwarded."""
    from clipjury.accounts.models import Province, Role, User
    from clipjury.db import session_scope

    with session_scope() as session:
        from sqlmodel import select

        shanxi = session.exec(select(Province).where(Province.code == "shanxi")).one()
        session.add(User(username="shanxi-admin", display_name="山西省管理员", password_hash=demo_hash,
                         role=Role.provincial_admin.value, province_id=shanxi.id))
    return "shanxi-admin"


def work_state(work_id: int) -> tuple[str, int | None]:
    from clipjury.db import session_scope
    from clipjury.works.models import Work

    with session_scope() as session:
        work = session.get(Work, work_id)
        assert work is not None
        return work.status, work.forward_rank


def set_forward_deadline(delta: timedelta) -> None:
    from sqlmodel import select

    from clipjury.campaigns.models import Campaign
    from clipjury.db import session_scope
    from clipjury.timeutil import utcnow

    with session_scope() as session:
        campaign = session.exec(select(Campaign)).one()
        campaign.forward_deadline = utcnow() + delta
        session.add(campaign)


def as_user(client: Any, username: str) -> str:
    """Log ``client`` in as ``username``; returns the session's CSRF token for its posts."""
    client.cookies.clear()
    assert login(client, username).status_code == 303
    # Every rendered page carries it for htmx (hx-headers on <body>), error pages included.
    match = HX_TOKEN_RE.search(client.get("/dashboard").text)
    assert match, "no CSRF token on the page"
    return match.group(1)


def flashes(html: str) -> list[str]:
    return re.findall(r'<div class="notice notice-\w+" role="status">(.*?)</div>', html, re.S)


def table(html: str) -> dict[str, dict[str, str]]:
    """The dashboard table: {row label: {column: cell text}}."""
    rows: dict[str, dict[str, str]] = {}
    for label, body in ROW_RE.findall(html):
        cells = {col: re.sub(r"<[^>]+>", "", text).strip() for col, text in CELL_RE.findall(body)}
        rows[label] = {k: re.sub(r"\s+", " ", v) for k, v in cells.items()}
    return rows


def province_counts(html: str) -> dict[str, list[int]]:
    """The national page's counts: {province code: [total, forwarded, recommended, not recommended, disqualified]}."""
    counts = {}
    for code, body in re.findall(r'<tr data-province="(\w+)">(.*?)</tr>', html, re.S):
        counts[code] = [int(n) for n in re.findall(r'<td class="num">(\d+)</td>', body)]
    return counts


def chart_data(html: str) -> dict[str, Any]:
    match = DATA_RE.search(html)
    assert match, "the dashboard embeds no chart data"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


@contextmanager
def counted_queries() -> Iterator[list[str]]:
    """The SQL statements the app runs meanwhile (same process as TestClient)."""
    from sqlalchemy import event

    from clipjury.db import get_engine

    statements: list[str] = []
    engine = get_engine()

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


# -- forwarding ----------------------------------------------------------------------------------------

def test_forward_page_lists_quota_deadline_and_passed_works(client: Any, demo: dict[str, int]) -> None:
    ids = passed_works("demo-submitter", 3)
    submitted_works("demo-submitter", 1, title="待评作品")
    as_user(client, "demo-province-admin")
    page = client.get("/review/forward")
    assert page.status_code == 200, page.text
    text = page.text
    # Units under quota come first: 石家庄市 has 4 of 10, every other city none.
    under = text[text.index('id="under-quota"'):text.index('id="passed-h"')]
    assert "石家庄市" in under and "差 6 件" in under and "差 10 件" in under
    assert under.index("唐山市") < under.index("石家庄市")  # the furthest behind first
    assert "太原市" not in under  # another province's unit
    assert "报送全国复评截止" in text and "北京时间" in text and "还剩" in text
    for work_id in ids:
        assert f'name="work_id" value="{work_id}"' in text and f'name="rank_{work_id}"' in text
    assert "待评作品" not in text  # only passed works can be forwarded
    assert "报送所选" in text and "全部报送" in text and 'formaction="/review/forward?scope=all"' in text


def test_forward_a_ranked_selection(client: Any, demo: dict[str, int]) -> None:
    a, b, c = passed_works("demo-submitter", 3)
    token = as_user(client, "demo-province-admin")
    done = client.post(
        "/review/forward",
        data={"csrf_token": token, "work_id": [str(a), str(b)], f"rank_{a}": "2", f"rank_{b}": "1", f"rank_{c}": "5"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/review/forward"
    assert work_state(a) == ("forwarded", 2)
    assert work_state(b) == ("forwarded", 1)
    assert work_state(c) == ("passed", None)  # not ticked: its rank is ignored
    page = client.get("/review/forward").text
    assert "已将 2 件作品报送全国复评" in page
    forwarded = page[page.index('id="forwarded-table"'):]
    assert forwarded.index("通过作品 2") < forwarded.index("通过作品 1")  # in rank order
    assert f'name="work_id" value="{c}"' in page and f'name="work_id" value="{a}"' not in page


def test_forward_refuses_ids_the_page_never_wrote(client: Any, demo: dict[str, int]) -> None:
    """Selections and ranks are ASCII ids within the database's range: anything else is a clear refusal
    and nothing is forwarded (a 31-digit id used to reach the database; '٣' was read as work 3)."""
    a, b = passed_works("demo-submitter", 2)
    token = as_user(client, "demo-province-admin")
    for data in (
        {"work_id": [str(a), "9" * 31]},
        {"work_id": [str(a), "٣"]},
        {"work_id": [str(a), "2147483648"]},
        {"work_id": [str(a)], "rank_" + "9" * 31: "1"},
        {"work_id": [str(a)], f"rank_{a}": "٣"},
    ):
        page = client.post("/review/forward", data={"csrf_token": token, **data}, follow_redirects=True)
        assert page.status_code == 200, (data, page.status_code)
        assert "所选作品无效" in page.text or "排序号必须是" in page.text, data
        assert work_state(a) == ("passed", None) and work_state(b) == ("passed", None), data


def test_forward_all(client: Any, demo: dict[str, int]) -> None:
    ids = passed_works("demo-submitter", 3)
    token = as_user(client, "demo-province-admin")
    done = client.post("/review/forward?scope=all", data={"csrf_token": token, f"rank_{ids[2]}": "1"},
                       follow_redirects=False)
    assert done.status_code == 303
    assert [work_state(i) for i in ids] == [("forwarded", None), ("forwarded", None), ("forwarded", 1)]
    assert "已将 3 件作品报送全国复评" in client.get("/review/forward").text
    # Nothing left: a second 全部报送 is refused in words.
    again = client.post("/review/forward?scope=all", data={"csrf_token": token}, follow_redirects=True)
    assert again.status_code == 200 and "本省没有待报送的初评通过作品" in again.text


def test_forward_is_all_or_nothing(client: Any, demo: dict[str, int]) -> None:
    from sqlmodel import select

    from clipjury.db import session_scope
    from clipjury.reviews.models import ReviewDecision

    a, b = passed_works("demo-submitter", 2)
    (pending,) = submitted_works("demo-submitter", 1, title="未评")
    token = as_user(client, "demo-province-admin")
    refused = client.post(
        "/review/forward", data={"csrf_token": token, "work_id": [str(a), str(pending), str(b)]},
        follow_redirects=True,
    )
    assert refused.status_code == 200
    messages = " ".join(flashes(refused.text))
    assert f"作品 {pending}" in messages and "只有初评通过的作品才能报送" in messages and "本次报送未生效" in messages
    assert work_state(a) == ("passed", None) and work_state(b) == ("passed", None)
    with session_scope() as session:
        assert not list(session.exec(select(ReviewDecision).where(ReviewDecision.action == "forward")))

    for data, expected in (
        ({"work_id": str(a), f"rank_{a}": "第一"}, "排序号必须是 1 到 10000 之间的整数"),
        ({"work_id": str(a), f"rank_{a}": "0"}, "排序号应为 1 到 10000 之间的整数"),
        ({}, "请先勾选要报送的作品"),
        ({"work_id": "abc"}, "所选作品无效"),
        ({"work_id": "999999"}, "找不到"),
    ):
        answer = client.post("/review/forward", data={"csrf_token": token, **data}, follow_redirects=True)
        assert answer.status_code == 200, answer.text
        assert expected in " ".join(flashes(answer.text)), (data, flashes(answer.text))
    assert work_state(a) == ("passed", None)


def test_forward_after_the_deadline(client: Any, demo: dict[str, int]) -> None:
    (a,) = passed_works("demo-submitter", 1)
    set_forward_deadline(timedelta(hours=-1))
    token = as_user(client, "demo-province-admin")
    page = client.get("/review/forward").text
    assert "报送全国复评已于" in page and "截止，不能再报送或撤销报送" in page and "已截止" in page
    assert 'id="forward-form"' not in page and 'name="work_id"' not in page
    assert 'action="/review/forward/' not in page  # no undo forms either
    assert "通过作品 1" in page  # still listed, for the record
    refused = client.post("/review/forward", data={"csrf_token": token, "work_id": str(a)}, follow_redirects=True)
    assert "报送全国复评已于" in " ".join(flashes(refused.text))
    assert work_state(a) == ("passed", None)
    all_refused = client.post("/review/forward?scope=all", data={"csrf_token": token}, follow_redirects=True)
    assert "报送全国复评已于" in " ".join(flashes(all_refused.text))
    assert work_state(a) == ("passed", None)


def test_undo_a_forward(client: Any, demo: dict[str, int]) -> None:
    (a,) = forwarded_works("demo-submitter", 1, reviewer="demo-reviewer", admin="demo-province-admin", title="报送")
    token = as_user(client, "demo-province-admin")
    page = client.get("/review/forward").text
    rev = re.search(rf'action="/review/forward/{a}/undo".*?name="expected_rev" value="(\d+)"', page, re.S)
    assert rev, "no undo form"
    no_reason = client.post(f"/review/forward/{a}/undo", data={"csrf_token": token, "expected_rev": rev.group(1)},
                            follow_redirects=True)
    assert "请填写撤销决定的理由" in " ".join(flashes(no_reason.text))
    assert work_state(a) == ("forwarded", 1)
    stale = client.post(f"/review/forward/{a}/undo",
                        data={"csrf_token": token, "expected_rev": "0", "reason": "报错了"}, follow_redirects=True)
    assert "已被他人处理" in " ".join(flashes(stale.text))
    done = client.post(f"/review/forward/{a}/undo",
                       data={"csrf_token": token, "expected_rev": rev.group(1), "reason": "排序有误，重新报送"},
                       follow_redirects=True)
    assert "已撤销《报送 1》的报送" in " ".join(flashes(done.text))
    assert work_state(a) == ("passed", None)
    # A passed work is no forward to undo: refused in words, not undone further.
    again = client.post(f"/review/forward/{a}/undo",
                        data={"csrf_token": token, "reason": "再撤"}, follow_redirects=True)
    assert "无法撤销报送" in " ".join(flashes(again.text))
    assert work_state(a) == ("passed", None)


def test_forwarding_is_for_the_provincial_admin(client: Any, demo: dict[str, int]) -> None:
    (a,) = passed_works("demo-submitter", 1)
    for username in ("demo-reviewer", "demo-admin", "demo-coordinator", "demo-submitter", "demo-judge"):
        token = as_user(client, username)
        assert client.get("/review/forward").status_code == 403, username
        for path, data in (
            ("/review/forward", {"work_id": str(a)}),
            ("/review/forward?scope=all", {}),
            (f"/review/forward/{a}/undo", {"reason": "x"}),
        ):
            refused = client.post(path, data={"csrf_token": token, **data}, follow_redirects=False)
            assert refused.status_code == 403 and "只有省级管理员可以" in refused.text, (username, path)
    assert work_state(a) == ("passed", None)


def test_pages_need_a_login(client: Any, demo: dict[str, int]) -> None:
    for path in ("/review/forward", "/review/national", "/dashboard"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == f"/login?next={path}"


# -- national re-review ----------------------------------------------------------------------------

@pytest.fixture()
def national_setup(demo: dict[str, int], demo_hash: str) -> dict[str, list[int]]:
    admin = shanxi_admin(demo_hash)
    hebei = forwarded_works("demo-submitter", 2, reviewer="demo-reviewer", admin="demo-province-admin",
                            title="河北作品")
    shanxi = forwarded_works("demo2-submitter", 1, reviewer="demo2-reviewer", admin=admin, title="山西作品")
    passed = passed_works("demo-submitter", 1, title="未报送")
    return {"hebei": hebei, "shanxi": shanxi, "passed": passed}


def _rev_of(html: str, work_id: int) -> str:
    match = re.search(rf'<tr id="work-{work_id}">.*?name="expected_rev" value="(\d+)"', html, re.S)
    assert match, f"no decision form for work {work_id}"
    return match.group(1)


def test_national_page_lists_every_province(client: Any, national_setup: dict[str, list[int]]) -> None:
    as_user(client, "demo-admin")
    page = client.get("/review/national")
    assert page.status_code == 200, page.text
    text = page.text
    assert province_counts(text) == {"hebei": [2, 2, 0, 0, 0], "shanxi": [1, 1, 0, 0, 0]}
    assert "河北省" in text and "山西省" in text
    works = text[text.index('id="national-works"'):]
    # Province, then the province's rank.
    assert works.index("河北作品 1") < works.index("河北作品 2") < works.index("山西作品 1")
    assert "未报送" not in works
    for work_id in (*national_setup["hebei"], *national_setup["shanxi"]):
        assert f'href="/review/works/{work_id}"' in works
        assert f'action="/review/national/{work_id}/recommendation"' in works
    assert "复评结果尚未发布" in text and 'id="publish"' in text

    only_shanxi = client.get("/review/national?province=shanxi").text
    listed = only_shanxi[only_shanxi.index('id="national-works"'):]
    assert "山西作品 1" in listed and "河北作品" not in listed
    searched = client.get("/review/national", params={"q": "作品 2"}).text
    listed = searched[searched.index('id="national-works"'):]
    assert "河北作品 2" in listed and "河北作品 1" not in listed and "山西作品" not in listed
    assert "没有符合条件的作品" in client.get("/review/national?status=recommended").text


def test_national_decisions_and_publishing(client: Any, national_setup: dict[str, list[int]]) -> None:
    h1, h2 = national_setup["hebei"]
    (s1,) = national_setup["shanxi"]
    token = as_user(client, "demo-admin")
    page = client.get("/review/national").text

    def decide(work_id: int, recommended: str, reason: str = "") -> Any:
        data = {"csrf_token": token, "recommended": recommended, "reason": reason,
                "expected_rev": _rev_of(page, work_id)}
        return client.post(f"/review/national/{work_id}/recommendation", data=data, follow_redirects=True)

    missing = decide(h2, "0", "  ")
    assert "请填写不推荐的理由" in " ".join(flashes(missing.text))
    assert work_state(h2)[0] == "forwarded"

    yes = client.post(f"/review/national/{h1}/recommendation",
                      data={"csrf_token": token, "recommended": "1", "expected_rev": _rev_of(page, h1),
                            "next": "/review/national?province=hebei"},
                      follow_redirects=False)
    assert yes.status_code == 303 and yes.headers["location"] == "/review/national?province=hebei"
    assert work_state(h1)[0] == "recommended"
    # The same (now stale) page cannot decide h1 again.
    twice = decide(h1, "0", "改主意")
    assert "已有复评决定" in " ".join(flashes(twice.text))
    no = decide(h2, "0", "画面不清晰")
    assert "不推荐" in " ".join(flashes(no.text))
    assert work_state(h2)[0] == "not_recommended"
    assert "理由：画面不清晰" in no.text
    # Undo, then decide again.
    undone = client.post(f"/review/national/{s1}/undo", data={"csrf_token": token, "reason": "无可撤销"},
                         follow_redirects=True)
    assert "还没有复评决定" in " ".join(flashes(undone.text))
    client.post(f"/review/national/{s1}/recommendation", data={"csrf_token": token, "recommended": "1"})
    assert work_state(s1)[0] == "recommended"
    client.post(f"/review/national/{s1}/undo", data={"csrf_token": token, "reason": "误点"})
    assert work_state(s1)[0] == "forwarded"

    # Before publishing, the province still sees "forwarded".
    province = client.__class__(client.app)
    with province:
        as_user(province, "demo-province-admin")
        forward_page = province.get("/review/forward").text
        assert "复评推荐展播" not in forward_page and "复评未推荐" not in forward_page
        assert forward_page.count("已报送全国复评</span>") == 2

    published = client.post("/review/national/publish", data={"csrf_token": token}, follow_redirects=True)
    assert "全国复评结果已发布，已通知 2 件作品的投稿人" in " ".join(flashes(published.text))
    assert "复评结果已于" in published.text and 'id="publish"' not in published.text
    # No decision forms any more (the showcase's publish buttons are another matter).
    assert not re.search(r'action="/review/national/\d+/(recommendation|undo)"', published.text)
    assert 'action="/review/national/publish"' not in published.text
    again = client.post("/review/national/publish", data={"csrf_token": token}, follow_redirects=True)
    assert "已经发布过了" in " ".join(flashes(again.text))
    late = client.post(f"/review/national/{s1}/recommendation", data={"csrf_token": token, "recommended": "1"},
                       follow_redirects=True)
    assert "全国复评结果已发布，不能再更改" in " ".join(flashes(late.text))
    assert work_state(s1)[0] == "forwarded"
    assert province_counts(client.get("/review/national").text) == {
        "hebei": [2, 0, 1, 1, 0], "shanxi": [1, 1, 0, 0, 0]}


def test_national_status_filter_and_disqualified(client: Any, national_setup: dict[str, list[int]]) -> None:
    from clipjury.db import session_scope
    from clipjury.reviews import service

    h2 = national_setup["hebei"][1]
    with session_scope() as session:
        service.disqualify(session, _user(session, "demo-admin"), h2, "版权纠纷")
    as_user(client, "demo-admin")
    default = client.get("/review/national").text
    listed = default[default.index('id="national-works"'):]
    assert "河北作品 1" in listed and "河北作品 2" not in listed
    disq = client.get("/review/national?status=disqualified").text
    listed = disq[disq.index('id="national-works"'):]
    assert "河北作品 2" in listed and "河北作品 1" not in listed and "已取消参选资格" in listed
    assert "未报送" not in listed
    assert province_counts(disq) == {"hebei": [2, 1, 0, 0, 1], "shanxi": [1, 1, 0, 0, 0]}


def test_national_pagination(client: Any, demo: dict[str, int]) -> None:
    forwarded_works("demo-submitter", 52, reviewer="demo-reviewer", admin="demo-province-admin", title="批量")
    as_user(client, "demo-admin")
    first = client.get("/review/national").text
    assert "共 52 件，第 1/2 页" in first and "下一页" in first
    assert first.count('<tr id="work-') == 50
    second = client.get("/review/national?page=2").text
    assert second.count('<tr id="work-') == 2 and "上一页" in second
    assert "批量 51" in second and "批量 52" in second
    # Past the end is the last page, not an error.
    assert client.get("/review/national?page=9").text.count('<tr id="work-') == 2


def test_national_page_is_for_the_national_admin(client: Any, national_setup: dict[str, list[int]]) -> None:
    h1 = national_setup["hebei"][0]
    for username in ("demo-province-admin", "demo-reviewer", "demo-coordinator", "demo-submitter", "demo-judge"):
        token = as_user(client, username)
        assert client.get("/review/national").status_code == 403, username
        for path, data in (
            (f"/review/national/{h1}/recommendation", {"recommended": "1"}),
            (f"/review/national/{h1}/undo", {"reason": "x"}),
            ("/review/national/publish", {}),
        ):
            refused = client.post(path, data={"csrf_token": token, **data}, follow_redirects=False)
            assert refused.status_code == 403 and "只有全国管理员可以" in refused.text, (username, path)
    assert work_state(h1)[0] == "forwarded"


# -- dashboards ------------------------------------------------------------------------------------

@pytest.fixture()
def dashboard_data(demo: dict[str, int]) -> None:
    """石家庄市: 4 submitted, 3 passed, 1 of them forwarded; 太原市 (山西省): 2 submitted."""
    from clipjury.db import session_scope
    from clipjury.reviews import service

    ids = passed_works("demo-submitter", 3, title="石家庄")
    submitted_works("demo-submitter", 1, title="待评")
    submitted_works("demo2-submitter", 2, title="太原")
    with session_scope() as session:
        service.forward(session, _user(session, "demo-province-admin"), ids[0])


def test_dashboard_for_the_province(client: Any, dashboard_data: None) -> None:
    for username in ("demo-province-admin", "demo-reviewer"):
        as_user(client, username)
        page = client.get("/dashboard")
        assert page.status_code == 200, page.text
        rows = table(page.text)
        assert rows["石家庄市"] == {"required": "10", "submitted": "4", "passed": "3", "forwarded": "1",
                                  "met": "✘ 未达标，差 6 件"}
        assert rows["雄安新区"]["required"] == "10" and rows["定州市"]["required"] == "2"
        assert rows["省委宣传部"]["required"] == "1" and rows["省委宣传部"]["met"] == "✘ 未达标，差 1 件"
        assert "太原市" not in rows
        assert len(rows) == 24  # 11 cities, 雄安新区, 2 county-level cities, 10 provincial units
        assert "河北省配额看板" in page.text
        assert "作品提交截止" in page.text and "报送全国复评截止" in page.text and "还剩" in page.text
        data = chart_data(page.text)
        assert data["level"] == "units"
        chart = {r["label"]: r for r in data["rows"]}
        assert chart["石家庄市"] == {"label": "石家庄市", "required": 10, "submitted": 4, "passed": 3, "forwarded": 1,
                                 "failed": 0, "pending": 1, "met": False, "href": ""}
        assert list(chart) == list(rows)  # the charts follow the table's order
        assert 'src="/static/build/charts.js' in page.text and 'id="chart-quota"' in page.text


def test_dashboard_sorting_puts_the_furthest_behind_first(client: Any, dashboard_data: None) -> None:
    as_user(client, "demo-province-admin")
    under_first = list(table(client.get("/dashboard").text))
    assert under_first[0] == "唐山市" and under_first.index("石家庄市") > under_first.index("保定市")
    assert under_first.index("石家庄市") < under_first.index("定州市")  # 6 missing before 2 missing
    in_order = list(table(client.get("/dashboard?sort=order").text))
    assert in_order[0] == "石家庄市" and in_order[-1] == "长城新媒体集团"


def test_dashboard_met_units(client: Any, demo: dict[str, int]) -> None:
    from sqlmodel import select

    from clipjury.accounts.models import Unit
    from clipjury.campaigns.models import UnitQuota
    from clipjury.db import session_scope

    submitted_works("demo-submitter", 2)
    with session_scope() as session:
        unit = session.exec(select(Unit).where(Unit.name == "石家庄市")).one()
        quota = session.exec(select(UnitQuota).where(UnitQuota.unit_id == unit.id)).one()
        quota.required = 2
        session.add(quota)
    as_user(client, "demo-coordinator")
    rows = table(client.get("/dashboard").text)
    assert rows["石家庄市"]["met"] == "✔ 已达标"
    assert chart_data(client.get("/dashboard").text)["rows"][0]["met"] is True


def test_dashboard_for_the_coordinator_shows_only_its_unit(client: Any, dashboard_data: None) -> None:
    as_user(client, "demo-coordinator")
    page = client.get("/dashboard")
    assert page.status_code == 200
    rows = table(page.text)
    assert list(rows) == ["石家庄市"]
    assert rows["石家庄市"]["submitted"] == "4" and rows["石家庄市"]["forwarded"] == "1"
    assert "石家庄市配额" in page.text and "唐山市" not in page.text and "太原市" not in page.text
    # A province parameter does not widen the scope.
    assert list(table(client.get("/dashboard?province=shanxi").text)) == ["石家庄市"]


def test_dashboard_for_the_national_admin(client: Any, dashboard_data: None) -> None:
    as_user(client, "demo-admin")
    page = client.get("/dashboard")
    assert page.status_code == 200
    rows = table(page.text)
    assert set(rows) == {"河北省", "山西省"}
    assert rows["河北省"]["required"] == str(11 * 10 + 10 + 2 * 2 + 10)
    assert rows["河北省"]["submitted"] == "4" and rows["河北省"]["passed"] == "3" and rows["河北省"]["forwarded"] == "1"
    assert rows["山西省"] == {"required": "10", "submitted": "2", "passed": "0", "forwarded": "0",
                            "met": "✘ 未达标，差 8 件 1 个单位未达标"}
    assert 'href="/dashboard?province=shanxi"' in page.text
    data = chart_data(page.text)
    assert data["level"] == "provinces"
    assert {r["label"]: r["href"] for r in data["rows"]} == {
        "河北省": "/dashboard?province=hebei", "山西省": "/dashboard?province=shanxi"}

    drill = client.get("/dashboard?province=shanxi")
    assert drill.status_code == 200 and "山西省配额看板" in drill.text
    assert table(drill.text) == {"太原市": {"required": "10", "submitted": "2", "passed": "0", "forwarded": "0",
                                         "met": "✘ 未达标，差 8 件"}}
    assert 'href="/dashboard">全国</a>' in drill.text
    missing = client.get("/dashboard?province=nowhere")
    assert missing.status_code == 404 and "找不到该省份" in missing.text


def test_dashboard_refuses_submitters_and_judges(client: Any, demo: dict[str, int]) -> None:
    for username in ("demo-submitter", "demo-judge"):
        as_user(client, username)
        refused = client.get("/dashboard")
        assert refused.status_code == 403 and "只有单位联络员、省级评审人员和管理员可以查看配额" in refused.text


def test_dashboard_and_national_page_run_a_fixed_number_of_queries(client: Any, demo: dict[str, int]) -> None:
    def queries(path: str) -> int:
        with counted_queries() as statements:
            assert client.get(path).status_code == 200
        return len(statements)

    forwarded_works("demo-submitter", 2, reviewer="demo-reviewer", admin="demo-province-admin", title="少")
    as_user(client, "demo-admin")
    small = {path: queries(path) for path in ("/dashboard", "/dashboard?province=hebei", "/review/national")}
    forwarded_works("demo-submitter", 20, reviewer="demo-reviewer", admin="demo-province-admin", title="多")
    submitted_works("demo2-submitter", 5)
    large = {path: queries(path) for path in small}
    assert large == small


# -- CSRF --------------------------------------------------------------------------------------------

def test_csrf_on_every_post(client: Any, national_setup: dict[str, list[int]]) -> None:
    h1 = national_setup["hebei"][0]
    (passed,) = national_setup["passed"]
    as_user(client, "demo-province-admin")
    for path, data in (
        ("/review/forward", {"work_id": str(passed)}),
        ("/review/forward?scope=all", {}),
        (f"/review/forward/{h1}/undo", {"reason": "x"}),
    ):
        for token in (None, "forged"):
            refused = client.post(path, data={**data, **({"csrf_token": token} if token else {})},
                                  follow_redirects=False)
            assert refused.status_code == 403 and "页面已过期或来源不明" in refused.text, path
    assert work_state(passed) == ("passed", None) and work_state(h1) == ("forwarded", 1)

    as_user(client, "demo-admin")
    for path, data in (
        (f"/review/national/{h1}/recommendation", {"recommended": "1"}),
        (f"/review/national/{h1}/undo", {"reason": "x"}),
        ("/review/national/publish", {}),
    ):
        for token in (None, "forged"):
            refused = client.post(path, data={**data, **({"csrf_token": token} if token else {})},
                                  follow_redirects=False)
            assert refused.status_code == 403 and "页面已过期或来源不明" in refused.text, path
    assert work_state(h1) == ("forwarded", 1)
    assert "复评结果尚未发布" in client.get("/review/national").text
