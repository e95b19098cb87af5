"""The preliminary review's web pages through Starlette's TestClient: the queue (filters, pages, no N+1),
a work's review page (claim, checklist, verdicts, stale pages, conflicts, scope), disqualification with a
document, undo, the submitter's view of the review (before and after the national results are published),
notifications and the audit log."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from tests.review_support import ALL_ITEMS, submitted_works
from tests.test_ui import csrf_of, login

T = TypeVar("T")
CHECKLIST_SIZE = 7


def as_user(client: Any, username: str) -> None:
    client.cookies.clear()
    assert login(client, username).status_code == 303


def token(client: Any, path: str = "/notifications") -> str:
    return csrf_of(client.get(path).text)


def act(username: str, fn: Callable[[Session, Any], T]) -> T:
    """Run a service call as ``username`` in its own unit of work (what another user does meanwhile)."""
    from clipjury.accounts.models import User
    from clipjury.db import session_scope

    with session_scope() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        return fn(session, user)


def work_status(work_id: int) -> str:
    from clipjury.db import session_scope
    from clipjury.works.models import Work

    with session_scope() as session:
        work = session.get(Work, work_id)
        assert work is not None
        return work.status


def review_rev(work_id: int) -> int:
    from clipjury.db import session_scope
    from clipjury.works.models import Work

    with session_scope() as session:
        work = session.get(Work, work_id)
        assert work is not None
        return work.review_rev


def post(client: Any, path: str, data: dict[str, Any] | None = None, *, page: str | None = None,
         **kwargs: Any) -> Any:
    """A form POST with the CSRF token of ``page`` (the page the form is on); never follows redirects."""
    form = {**(data or {}), "csrf_token": token(client, page or "/notifications")}
    return client.post(path, data=form, follow_redirects=False, **kwargs)


def flash_of(client: Any, path: str) -> str:
    """The page's flash messages (read once, like a browser after a redirect)."""
    html = client.get(path).text
    return " ".join(re.findall(r'<div class="notice notice-\w+" role="status">([^<]*)</div>', html))


@contextmanager
def counted_queries() -> Iterator[list[str]]:
    from clipjury.db import get_engine

    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def row_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-work-id="(\d+)"', html)]


# -- the queue -------------------------------------------------------------------------------------

def test_queue_filters_pages_and_scope(client: Any, demo: dict[str, int]) -> None:
    from clipjury.reviews import service

    hebei = submitted_works("demo-submitter", 55)
    shanxi = submitted_works("demo2-submitter", 1, title="山西作品")
    act("demo-province-admin", lambda s, u: service.claim(s, u, hebei[0]))
    act("demo-reviewer", lambda s, u: service.verdict(s, u, hebei[1], "pass", "", checklist=ALL_ITEMS))

    as_user(client, "demo-reviewer")
    first = client.get("/review")
    assert first.status_code == 200
    assert "初评 · 河北省" in first.text and "共 55 件，第 1/2 页" in first.text
    assert len(row_ids(first.text)) == 50 and shanxi[0] not in row_ids(first.text)
    assert row_ids(first.text)[:2] == hebei[:2]  # oldest submission first
    assert "认领并评审" in first.text and "演示省级管理员（河北省）" in first.text
    assert 'value="disqualified"' not in first.text  # reviewers never see disqualified works
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", first.text) and "30.0 秒" in first.text
    second = client.get("/review?page=2")
    assert len(row_ids(second.text)) == 5 and "第 2/2 页" in second.text
    assert row_ids(client.get("/review?page=99").text) == row_ids(second.text)  # clamped to the last page

    assert row_ids(client.get("/review?status=passed").text) == [hebei[1]]
    assert row_ids(client.get("/review?reviewer=me").text) == [hebei[1]]
    assert len(row_ids(client.get("/review?reviewer=none").text)) == 50
    assert "共 53 件" in client.get("/review?reviewer=none").text
    assert row_ids(client.get("/review?reviewer=demo-province-admin").text) == [hebei[0]]
    assert row_ids(client.get("/review?q=作品 7").text) == [hebei[6]]
    page = client.get("/review?q=作品 7").text
    assert 'value="作品 7"' in page  # the filter is kept in the form
    units = dict((name, int(i)) for i, name in re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', page))
    assert "共 55 件" in client.get(f"/review?unit={units['石家庄市']}").text
    assert "没有符合条件的作品" in client.get(f"/review?unit={units['唐山市']}").text
    link = re.search(r'href="(/review\?[^"]*page=2[^"]*)"', client.get("/review?status=submitted").text)
    assert link and "status=submitted" in link.group(1)
    bad = client.get("/review?status=bogus")
    assert bad.status_code == 422 and "未知的状态筛选条件" in bad.text

    as_user(client, "demo2-reviewer")
    assert row_ids(client.get("/review").text) == shanxi

    as_user(client, "demo-province-admin")
    assert 'value="disqualified"' in client.get("/review").text


def test_queue_page_costs_a_fixed_number_of_queries(client: Any, demo: dict[str, int]) -> None:
    from clipjury.reviews import service

    few = submitted_works("demo-submitter", 3)
    act("demo-province-admin", lambda s, u: service.claim(s, u, few[0]))  # both pages show a holder
    as_user(client, "demo-reviewer")
    client.get("/review")  # warm up (templates, settings)
    with counted_queries() as small:
        assert len(row_ids(client.get("/review").text)) == 3
    many = submitted_works("demo-submitter", 60, title="更多")
    def claim_some(session: Session, user: Any) -> None:
        for work_id in many[:10]:
            service.claim(session, user, work_id)

    def fail_some(session: Session, user: Any) -> None:
        for work_id in many[10:15]:
            service.verdict(session, user, work_id, "fail", "不符合要求")

    act("demo-reviewer", claim_some)
    act("demo-province-admin", fail_some)
    with counted_queries() as large:
        assert len(row_ids(client.get("/review").text)) == 50
    assert len(large) == len(small), "\n".join(s[:150] for s in large)


@pytest.mark.parametrize("username", ["demo-submitter", "demo-coordinator", "demo-judge"])
def test_queue_is_for_reviewers_and_provincial_admins(client: Any, demo: dict[str, int], username: str) -> None:
    as_user(client, username)
    for path in ("/review", "/audit"):
        refused = client.get(path)
        assert refused.status_code == 403 and "text/html" in refused.headers["content-type"], path
        assert "只有" in refused.text


def test_national_admin_and_anonymous_are_sent_elsewhere(client: Any, demo: dict[str, int]) -> None:
    anonymous = client.get("/review", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=/review"
    as_user(client, "demo-admin")
    national = client.get("/review", follow_redirects=False)
    assert national.status_code == 303 and national.headers["location"] == "/review/national"


# -- the review page -------------------------------------------------------------------------------

def test_claim_checklist_and_pass(client: Any, demo: dict[str, int]) -> None:
    [work_id] = submitted_works("demo-submitter", 1, title="保密在身边")
    path = f"/review/works/{work_id}"
    as_user(client, "demo-reviewer")
    before = client.get(path)
    assert before.status_code == 200
    for expected in ("保密在身边", "已提交，待初评", "石家庄市", "1280 × 720", "h264", "aac", "isom",
                     f"{work_id:064d}", "尚无人认领", "认领并评审", "我在河北省话保密，今天我要讲的是……",
                     "不涉及国家秘密、工作秘密和内部敏感信息", "X-Amz-Signature="):
        assert expected in before.text, expected
    assert 'id="verdict-form"' not in before.text  # claim first

    claimed = post(client, f"{path}/claim", page=path)
    assert claimed.status_code == 303 and claimed.headers["location"] == path
    page = client.get(path).text
    assert "已认领该作品" in page and 'id="verdict-form"' in page and "您已认领该作品" in page
    assert f'name="expected_rev" value="{review_rev(work_id)}"' in page
    assert page.count('name="checked"') == CHECKLIST_SIZE and "js/review.js" in page
    assert 'value="return"' in page and "提交截止前修改后重新提交" in page

    unchecked = post(client, f"{path}/verdict", {"decision": "pass", "reason": "画面清晰",
                                                 "checked": ALL_ITEMS[:2], "expected_rev": review_rev(work_id)},
                     page=path)
    assert unchecked.status_code == 303
    page = client.get(path).text
    assert "请逐项核对并勾选全部 7 项审核要点（已勾选 2 项）" in page
    assert ">画面清晰</textarea>" in page  # what was typed is kept
    assert work_status(work_id) == "submitted"

    no_choice = post(client, f"{path}/verdict", {"reason": "x", "expected_rev": review_rev(work_id)}, page=path)
    assert no_choice.status_code == 303 and "请选择初评结论" in flash_of(client, path)

    passed = post(client, f"{path}/verdict", {
        "decision": "pass", "reason": "", "checked": ALL_ITEMS,
        "expected_rev": review_rev(work_id),
    }, page=path)
    assert passed.status_code == 303
    page = client.get(path).text
    assert "已作出结论：初评通过" in page and 'id="review-status">初评通过<' in page
    assert 'id="verdict-form"' not in page and "认领并评审" not in page
    assert '<span class="who">demo-reviewer</span>' in page  # staff see who decided, by account
    assert 'id="undo"' in page  # the reviewer may undo their own verdict
    assert work_status(work_id) == "passed"

    as_user(client, "demo-submitter")
    mine = client.get("/works").text
    assert "已通过初评，等待省级保密部门报送全国复评" in mine and "badge-passed" in mine
    detail = client.get(f"/works/{work_id}").text
    assert 'id="review-progress"' in detail and "省级评审员" in detail and "demo-reviewer" not in detail
    assert 'id="uploader"' not in detail and "确认并提交作品" not in detail


def test_review_posts_need_the_csrf_token(client: Any, demo: dict[str, int]) -> None:
    from clipjury.reviews import service

    [work_id] = submitted_works("demo-submitter", 1)
    act("demo-reviewer", lambda s, u: service.claim(s, u, work_id))
    as_user(client, "demo-province-admin")
    client.get("/review")
    for action, data in (("claim", {}), ("release", {}), ("verdict", {"decision": "pass"}),
                         ("disqualify", {"reason": "侵权"}), ("undo", {"reason": "误操作"})):
        for sent in ({}, {"csrf_token": "forged"}):
            refused = client.post(f"/review/works/{work_id}/{action}", data={**data, **sent}, follow_redirects=False)
            assert refused.status_code == 403, action
            assert "页面已过期或来源不明" in refused.text
    multipart = client.post(f"/review/works/{work_id}/disqualify", data={"reason": "侵权"},
                            files={"document": ("a.pdf", b"%PDF-1.4", "application/pdf")}, follow_redirects=False)
    assert multipart.status_code == 403
    for path in ("/notifications/read-all", "/notifications/1/read"):
        assert client.post(path, follow_redirects=False).status_code == 403, path
    assert work_status(work_id) == "submitted"


def test_claim_conflict_and_stale_pages_are_explained(client: Any, demo: dict[str, int]) -> None:
    from clipjury.reviews import service

    held, stale, decided = submitted_works("demo-submitter", 3)
    act("demo-province-admin", lambda s, u: service.claim(s, u, held))
    as_user(client, "demo-reviewer")

    # Someone else holds it: back to the queue with who, in Chinese.
    conflict = post(client, f"/review/works/{held}/claim", {"next": "/review?status=submitted"}, page="/review")
    assert conflict.status_code == 303 and conflict.headers["location"] == "/review?status=submitted"
    assert "该作品已由演示省级管理员（河北省）认领评审，请选择其他作品" in flash_of(client, "/review")
    page = client.get(f"/review/works/{held}").text
    assert "由 <strong>演示省级管理员（河北省）</strong> 认领" in page and 'id="verdict-form"' not in page
    assert 'id="claim-work"' not in page

    # A page opened before an admin disqualified and restored the work: its decision is refused.
    path = f"/review/works/{stale}"
    assert post(client, f"{path}/claim", page=path).status_code == 303
    seen_rev = review_rev(stale)
    act("demo-province-admin", lambda s, u: service.disqualify(s, u, stale, "核查版权"))
    act("demo-province-admin", lambda s, u: service.undo(s, u, stale, "核查无误"))
    act("demo-reviewer", lambda s, u: service.claim(s, u, stale))
    refused = post(client, f"{path}/verdict", {"decision": "fail", "reason": "不符合要求", "expected_rev": seen_rev},
                   page=path)
    assert refused.status_code == 303 and refused.headers["location"] == path
    page = client.get(path)
    assert page.status_code == 200
    assert "该作品在您打开页面后已被他人处理，请刷新页面查看最新状态后再操作" in page.text
    assert ">不符合要求</textarea>" in page.text and f'name="expected_rev" value="{review_rev(stale)}"' in page.text
    assert work_status(stale) == "submitted"

    # Two reviewers at once: the second verdict is refused, never written over the first.
    path = f"/review/works/{decided}"
    assert post(client, f"{path}/claim", page=path).status_code == 303
    rev = review_rev(decided)
    act("demo-province-admin", lambda s, u: service.release(s, u, decided))
    act("demo-province-admin", lambda s, u: service.verdict(s, u, decided, "pass", "", checklist=ALL_ITEMS))
    late = post(client, f"{path}/verdict", {"decision": "fail", "reason": "不合格", "expected_rev": rev},
                page="/review")
    assert late.status_code == 303
    assert "该作品已有结论（初评通过），不能再次作出初评结论" in flash_of(client, path)
    assert work_status(decided) == "passed"


def test_scope_and_roles_on_the_review_page(client: Any, demo: dict[str, int]) -> None:
    [hebei] = submitted_works("demo-submitter", 1)
    as_user(client, "demo2-reviewer")
    for path in (f"/review/works/{hebei}", "/review/works/999999", "/review/works/abc"):
        missing = client.get(path)
        assert missing.status_code == 404 and "找不到" in missing.text, path
    for action in ("claim", "release", "verdict", "undo", "disqualify"):
        response = post(client, f"/review/works/{hebei}/{action}", {"decision": "pass", "reason": "x"})
        assert response.status_code == 404 and "找不到该作品" in response.text, action
    assert work_status(hebei) == "submitted"

    as_user(client, "demo-submitter")
    own = client.get(f"/review/works/{hebei}")
    assert own.status_code == 403 and "只有" in own.text
    as_user(client, "demo-admin")  # the national admin reads every province's works, but does not claim
    page = client.get(f"/review/works/{hebei}").text
    assert 'id="claim-work"' not in page and 'id="disqualify"' in page and 'href="/review/national"' in page


def test_return_and_resubmit(client: Any, demo: dict[str, int]) -> None:
    [work_id] = submitted_works("demo-submitter", 1, title="待修改的作品")
    path = f"/review/works/{work_id}"
    as_user(client, "demo-reviewer")
    post(client, f"{path}/claim", page=path)
    no_reason = post(client, f"{path}/verdict",
                     {"decision": "return", "reason": " ", "expected_rev": review_rev(work_id)}, page=path)
    assert no_reason.status_code == 303 and "请填写退回修改的理由" in flash_of(client, path)
    returned = post(client, f"{path}/verdict", {
        "decision": "return", "reason": "开头语不规范，请改为“我在河北省话保密”。", "expected_rev": review_rev(work_id),
    }, page=path)
    assert returned.status_code == 303
    assert "已退回修改" in flash_of(client, path) and work_status(work_id) == "returned"

    as_user(client, "demo-submitter")
    listing = client.get("/works").text
    assert "作品被退回修改，请按评审意见修改后重新提交" in listing
    assert "退回修改的理由：开头语不规范" in listing and f'href="/works/{work_id}">去修改' in listing
    detail = client.get(f"/works/{work_id}").text
    assert 'id="review-reason">开头语不规范，请改为“我在河北省话保密”。<' in detail
    assert re.search(r"请在 \d{4}-\d\d-\d\d \d\d:\d\d（北京时间）前修改", detail)
    assert 'id="uploader"' in detail and "上传修改后的视频" in detail and 'id="submit-work"' in detail
    assert "省级评审员" in detail and "demo-reviewer" not in detail

    resubmitted = post(client, f"/works/{work_id}/submit", page=f"/works/{work_id}")
    assert resubmitted.status_code == 303 and work_status(work_id) == "submitted"
    again = client.get(f"/works/{work_id}").text
    assert 'id="work-status">已提交，待初评<' in again and "已提交，等待省级保密部门初评" in again

    as_user(client, "demo-reviewer")
    assert work_id in row_ids(client.get("/review?status=submitted").text)


def test_return_is_closed_after_the_deadline(client: Any, demo: dict[str, int]) -> None:
    from clipjury.campaigns.models import Campaign
    from clipjury.db import session_scope
    from clipjury.timeutil import utcnow

    [work_id] = submitted_works("demo-submitter", 1)
    path = f"/review/works/{work_id}"
    as_user(client, "demo-reviewer")
    post(client, f"{path}/claim", page=path)
    released = post(client, f"{path}/release", page=path)
    assert released.status_code == 303 and "已释放认领" in flash_of(client, path)
    assert 'id="claim-work"' in client.get(path).text and 'id="verdict-form"' not in client.get(path).text
    post(client, f"{path}/claim", page=path)
    with session_scope() as session:
        campaign = session.exec(select(Campaign)).one()
        campaign.submission_deadline = utcnow() - timedelta(hours=1)
    page = client.get(path).text
    assert 'value="return" disabled' in page and 'id="return-closed"' in page and "不能退回" in page
    refused = post(client, f"{path}/verdict",
                   {"decision": "return", "reason": "请修改", "expected_rev": review_rev(work_id)}, page=path)
    assert refused.status_code == 303
    assert "投稿人无法再修改，不能退回" in flash_of(client, path) and work_status(work_id) == "submitted"
    failed = post(client, f"{path}/verdict", {"decision": "fail", "reason": "画面模糊，无法辨认。",
                                               "expected_rev": review_rev(work_id)}, page=path)
    assert failed.status_code == 303 and work_status(work_id) == "failed"

    as_user(client, "demo-submitter")
    detail = client.get(f"/works/{work_id}").text
    assert "作品未通过初评" in detail and "未通过初评的理由：" in detail and "画面模糊，无法辨认。" in detail
    assert 'id="uploader"' not in detail


def test_disqualify_with_a_document_and_undo(client: Any, demo: dict[str, int]) -> None:
    [work_id] = submitted_works("demo-submitter", 1, title="有版权争议的作品")
    path = f"/review/works/{work_id}"
    as_user(client, "demo-reviewer")
    assert 'id="disqualify"' not in client.get(path).text  # reviewers do not disqualify

    as_user(client, "demo-province-admin")
    page = client.get(path).text
    assert 'enctype="multipart/form-data"' in page and 'id="disqualify-work"' in page
    without = post(client, f"{path}/disqualify", {"reason": ""}, page=path)
    assert without.status_code == 303 and "请填写取消参选资格的理由" in flash_of(client, path)
    wrong_type = post(client, f"{path}/disqualify", {"reason": "侵权", "expected_rev": review_rev(work_id)},
                      page=path, files={"document": ("x.exe", b"MZ", "application/octet-stream")})
    assert wrong_type.status_code == 303 and "附件只能是" in flash_of(client, path)
    assert work_status(work_id) == "submitted"

    pdf = b"%PDF-1.4\n% a copyright complaint\n"
    done = post(client, f"{path}/disqualify",
                {"reason": "经核实，画面素材存在版权纠纷。", "expected_rev": review_rev(work_id)},
                page=path, files={"document": ("投诉函.pdf", pdf, "application/pdf")})
    assert done.status_code == 303 and work_status(work_id) == "disqualified"
    page = client.get(path).text
    assert "已取消该作品的参选资格" in page and 'id="review-status">已取消参选资格<' in page
    link = re.search(rf'href="(/review/works/{work_id}/documents/\d+)"[^>]*>附件：投诉函.pdf<', page)
    assert link, "no document link"
    presigned = client.get(link.group(1), follow_redirects=False)
    assert presigned.status_code == 303 and "X-Amz-Signature=" in presigned.headers["location"]
    assert httpx.get(presigned.headers["location"]).content == pdf
    assert client.get(f"/review/works/{work_id}/documents/999999").status_code == 404
    assert 'id="disqualify"' not in page and 'id="undo"' in page and "取消参选资格" in page

    as_user(client, "demo-reviewer")
    assert client.get(path).status_code == 404  # out of every reviewer's queue
    assert client.get(link.group(1)).status_code == 403
    as_user(client, "demo-submitter")
    detail = client.get(f"/works/{work_id}").text
    assert "作品已被取消参选资格" in detail and "取消参选资格的理由：" in detail
    assert "经核实，画面素材存在版权纠纷。" in detail and "投诉函" not in detail

    as_user(client, "demo-province-admin")
    no_reason = post(client, f"{path}/undo", {"reason": "", "expected_rev": review_rev(work_id)}, page=path)
    assert no_reason.status_code == 303 and "请填写撤销决定的理由" in flash_of(client, path)
    undone = post(client, f"{path}/undo", {"reason": "权利人已撤回投诉。", "expected_rev": review_rev(work_id)},
                  page=path)
    assert undone.status_code == 303 and work_status(work_id) == "submitted"
    page = client.get(path).text
    assert "已撤销该决定" in page and "（已撤销）" in page and "权利人已撤回投诉。" in page


def test_submitter_sees_national_results_only_once_published(client: Any, demo: dict[str, int]) -> None:
    from clipjury.reviews import service

    [work_id] = submitted_works("demo-submitter", 1)
    act("demo-reviewer", lambda s, u: service.verdict(s, u, work_id, "pass", "", checklist=ALL_ITEMS))
    act("demo-province-admin", lambda s, u: service.forward(s, u, work_id))
    act("demo-admin", lambda s, u: service.recommend(s, u, work_id, False, "与主题关联不够紧密。"))

    as_user(client, "demo-submitter")
    for path in ("/works", f"/works/{work_id}", f"/works/{work_id}/status"):
        text = client.get(path).text
        assert "已报送全国复评" in text, path
        assert "未推荐" not in text and "未获推荐" not in text and "与主题关联" not in text, path
    for username in ("demo-reviewer", "demo-province-admin"):
        as_user(client, username)
        text = client.get(f"/review/works/{work_id}").text
        assert 'id="review-status">已报送全国复评<' in text and "与主题关联" not in text and "复评不推荐" not in text
    as_user(client, "demo-admin")
    text = client.get(f"/review/works/{work_id}").text
    assert 'id="review-status">复评未推荐<' in text and "与主题关联不够紧密。" in text

    act("demo-admin", lambda s, u: service.publish_national_results(s, u))
    as_user(client, "demo-submitter")
    detail = client.get(f"/works/{work_id}").text
    assert 'id="work-status">复评未推荐<' in detail and "经全国复评，作品未获推荐" in detail
    assert "未获推荐的理由：" in detail and "与主题关联不够紧密。" in detail
    assert "复评未推荐" in client.get("/works").text


# -- notifications ---------------------------------------------------------------------------------

def test_notifications_page_and_unread_badge(client: Any, demo: dict[str, int]) -> None:
    from clipjury.reviews import service

    first, second = submitted_works("demo-submitter", 2)
    act("demo-reviewer", lambda s, u: service.verdict(s, u, first, "return", "请补充字幕。"))
    act("demo-reviewer", lambda s, u: service.verdict(s, u, second, "fail", "内容不符合主题。"))

    as_user(client, "demo-submitter")
    works = client.get("/works").text
    assert '<span class="nav-badge" aria-label="2 条未读">2</span>' in works
    page = client.get("/notifications").text
    assert "（2 条未读）" in page and "作品被退回修改" in page and "请补充字幕。" in page and "初评未通过" in page
    assert page.count('class="note unread"') == 2 and f'value="/works/{first}"' in page
    ids = [int(i) for i in re.findall(r'<li class="note[^"]*" data-id="(\d+)"', page)]
    assert len(ids) == 2

    opened = post(client, f"/notifications/{ids[-1]}/read", {"next": f"/works/{first}"})
    assert opened.status_code == 303 and opened.headers["location"] == f"/works/{first}"
    assert 'aria-label="1 条未读">1<' in client.get("/notifications").text
    evil = post(client, f"/notifications/{ids[0]}/read", {"next": "//evil.example/"})
    assert evil.headers["location"] == "/notifications"
    assert "nav-badge" not in client.get("/works").text

    as_user(client, "demo2-submitter")
    assert post(client, f"/notifications/{ids[0]}/read").status_code == 404  # not theirs
    assert "暂无消息" in client.get("/notifications").text

    act("demo-reviewer", lambda s, u: service.undo(s, u, second, "误判，重新评审。"))
    as_user(client, "demo-submitter")
    assert "“初评不通过”决定已撤销" in client.get("/notifications").text
    all_read = post(client, "/notifications/read-all")
    assert all_read.status_code == 303 and "已将 1 条消息标为已读" in flash_of(client, "/notifications")
    assert "nav-badge" not in client.get("/notifications").text and 'id="read-all"' not in client.get(
        "/notifications").text


# -- the audit log ---------------------------------------------------------------------------------

def test_audit_log_scope_filters_and_pages(client: Any, demo: dict[str, int]) -> None:
    from clipjury.reviews import service

    hebei = submitted_works("demo-submitter", 15, title="河北作品")  # 4 events each: create, upload, verdict, submit
    [shanxi] = submitted_works("demo2-submitter", 1, title="山西作品")
    act("demo-reviewer", lambda s, u: service.claim(s, u, hebei[0]))
    act("demo-reviewer", lambda s, u: service.verdict(s, u, hebei[0], "fail", "开头语缺失。"))
    act("demo2-reviewer", lambda s, u: service.claim(s, u, shanxi))

    as_user(client, "demo-reviewer")
    assert client.get("/audit").status_code == 403

    as_user(client, "demo-province-admin")
    page = client.get("/audit")
    assert page.status_code == 200 and "审计日志 · 河北省" in page.text
    assert "共 62 条，第 1/2 页" in page.text and 'name="province"' not in page.text
    assert "山西作品" not in page.text
    first_row = re.search(r'<tr data-event-id="\d+">(.*?)</tr>', page.text, re.S)
    assert first_row and "初评不通过" in first_row.group(1) and "开头语缺失。" in first_row.group(1)
    assert f'href="/review/works/{hebei[0]}"' in page.text and "已提交，待初评 → 初评未通过" in page.text
    claims = client.get("/audit?action=claim").text
    assert "共 1 条" in claims and "认领评审" in claims and "demo-reviewer" in claims
    one = client.get(f"/audit?work={hebei[1]}").text
    assert "共 4 条" in one and "提交作品" in one and "上传文件" in one
    # Another province's work or log: refused as in GET /api/v1/audit (clipjury.audit.query).
    assert client.get(f"/audit?work={shanxi}").status_code == 404
    other = client.get("/audit?province=shanxi")
    assert other.status_code == 403 and "省级管理员只能查看本省的日志" in other.text and "山西作品" not in other.text
    own = client.get("/audit?province=hebei").text
    assert "审计日志 · 河北省" in own and "共 62 条" in own and "山西作品" not in own
    assert client.get("/audit?action=bogus").status_code == 422
    assert client.get("/audit?work=abc").status_code == 422
    assert len(re.findall(r"<tr data-event-id=", client.get("/audit?page=2").text)) == 12

    as_user(client, "demo-admin")
    everything = client.get("/audit").text
    assert "审计日志 · 全国" in everything and "共 67 条" in everything and 'name="province"' in everything
    only_shanxi = client.get("/audit?province=shanxi").text
    assert "审计日志 · 山西省" in only_shanxi and "共 5 条" in only_shanxi and "山西作品" in only_shanxi
    assert client.get("/audit?province=atlantis").status_code == 422
