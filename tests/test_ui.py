"""The Chinese web UI through Starlette's TestClient: login, CSRF, pages, forms, submit and withdraw."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import ROOT

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def login(client: Any, username: str = "demo-submitter", password: str = "demo") -> Any:
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}, follow_redirects=False
    )


def page_token(client: Any, path: str = "/works") -> str:
    return csrf_of(client.get(path).text)


def create_work_via_form(client: Any, title: str = "保密在身边") -> int:
    token = page_token(client, "/works/new")
    response = client.post(
        "/works/new",
        data={"title": title, "description": "一段测试简介", "agree": "yes", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/works/(\d+)", response.headers["location"])
    assert match, response.headers["location"]
    return int(match.group(1))


def add_checked_version(work_id: int, *, ok: bool) -> int:
    """A stored file that the worker has judged, through the same services the worker uses."""
    from clipjury.accounts.models import User
    from clipjury.db import session_scope
    from clipjury.media.rules import RejectionCode, Verdict
    from clipjury.timeutil import utcnow
    from clipjury.works.models import Work
    from clipjury.works.service import MeasuredMedia, add_version, apply_verdict

    with session_scope() as session:
        work = session.get(Work, work_id)
        assert work is not None
        owner = session.get(User, work.owner_id)
        version = add_version(
            session, work, actor=owner, object_key=f"test/ui/{work_id}/{utcnow().timestamp()}.mp4",
            size_bytes=123_456, filename="片子.mp4", upload_id=None, upload_started_at=utcnow(),
        )
        version_id = version.id or 0
    verdict = (
        Verdict(ok=True)
        if ok
        else Verdict(ok=False, code=RejectionCode.not_mp4, message="文件不是 MP4 格式。仅接受 MP4 文件，改扩展名无效。")
    )
    measured = MeasuredMedia(
        sha256="ab" * 32, duration_s=2.0, width=160, height=120, video_codec="h264",
        audio_codec="aac", major_brand="isom", playback="original",
    )
    with session_scope() as session:
        assert apply_verdict(session, version_id, verdict, measured if ok else MeasuredMedia())
    return version_id


def add_processing_version(work_id: int) -> int:
    from clipjury.accounts.models import User
    from clipjury.db import session_scope
    from clipjury.timeutil import utcnow
    from clipjury.works.models import Work
    from clipjury.works.service import add_version

    with session_scope() as session:
        work = session.get(Work, work_id)
        assert work is not None
        version = add_version(
            session, work, actor=session.get(User, work.owner_id), object_key=f"test/ui/{work_id}/p.mp4",
            size_bytes=1000, filename="a.mp4", upload_id=None, upload_started_at=utcnow(),
        )
        return version.id or 0


def test_root_redirects_and_login(client: Any, demo: dict[str, int]) -> None:
    first = client.get("/", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/login"
    page = client.get("/login")
    assert page.status_code == 200
    assert "登录" in page.text and 'lang="zh-CN"' in page.text and 'name="viewport"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]

    bad = login(client, password="wrong")
    assert bad.status_code == 401
    assert "用户名（或手机号）或密码错误" in bad.text
    assert 'value="demo-submitter"' in bad.text  # the username is kept, the password is not
    assert client.get("/works", follow_redirects=False).status_code == 303

    good = login(client)
    assert good.status_code == 303 and good.headers["location"] == "/works"
    works = client.get("/works")
    assert works.status_code == 200 and "我的作品" in works.text and "演示投稿人" in works.text
    assert client.get("/", follow_redirects=False).headers["location"] == "/works"
    assert client.get("/login", follow_redirects=False).headers["location"] == "/works"

    token = csrf_of(works.text)
    out = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert "您已安全退出" in client.get("/login").text
    assert client.get("/works", follow_redirects=False).status_code == 303


def test_login_next_is_local_only(client: Any, demo: dict[str, int]) -> None:
    redirect = client.get("/works/new", follow_redirects=False)
    assert redirect.status_code == 303 and redirect.headers["location"] == "/login?next=/works/new"
    token = csrf_of(client.get("/login?next=/works/new").text)
    ok = client.post(
        "/login", data={"username": "demo-submitter", "password": "demo", "csrf_token": token, "next": "/works/new"},
        follow_redirects=False,
    )
    assert ok.headers["location"] == "/works/new"
    client.cookies.clear()
    token = csrf_of(client.get("/login").text)
    evil = client.post(
        "/login",
        data={"username": "demo-submitter", "password": "demo", "csrf_token": token, "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert evil.headers["location"] == "/works"


def test_htmx_request_without_session_gets_hx_redirect(client: Any, demo: dict[str, int]) -> None:
    response = client.get("/works/1/status", headers={"HX-Request": "true"}, follow_redirects=False)
    assert response.status_code == 200 and response.headers["hx-redirect"] == "/login"


def test_csrf_is_required_on_every_post(client: Any, demo: dict[str, int]) -> None:
    client.get("/login")  # a session exists, so the refusal is about the token, not a missing session
    # Signed out, a refused token leads back to the login form (a session that ran out lost its token).
    no_token = client.post("/login", data={"username": "demo-submitter", "password": "demo"}, follow_redirects=False)
    assert no_token.status_code == 303 and no_token.headers["location"] == "/login"
    assert "页面已过期或登录已失效" in client.get("/login").text
    wrong = client.post(
        "/login", data={"username": "demo-submitter", "password": "demo", "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert wrong.status_code == 303 and wrong.headers["location"] == "/login"
    assert client.get("/works", follow_redirects=False).status_code == 303  # still logged out

    assert login(client).status_code == 303
    work_id = create_work_via_form(client)
    token = page_token(client)
    refused = client.post(
        "/works/new", data={"title": "无令牌", "agree": "yes"}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert "页面已过期或来源不明" in refused.text and "text/html" in refused.headers["content-type"]
    assert "无令牌" not in client.get("/works").text
    add_checked_version(work_id, ok=True)
    forged = client.post(f"/works/{work_id}/submit", data={"csrf_token": token + "x"}, follow_redirects=False)
    assert forged.status_code == 403
    assert "可提交" in client.get(f"/works/{work_id}").text
    # The token also travels in a header, the way htmx sends it (hx-headers on <body>).
    by_header = client.post(f"/works/{work_id}/submit", headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert by_header.status_code == 303
    assert "已提交" in client.get(f"/works/{work_id}").text
    # Logging in again starts a fresh session, with a new token: the old one is void.
    client.cookies.clear()
    assert login(client).status_code == 303
    stale = client.post(f"/works/{work_id}/withdraw", data={"csrf_token": token}, follow_redirects=False)
    assert stale.status_code == 403


def test_pages_render_for_the_submitter(client: Any, demo: dict[str, int]) -> None:
    login(client)
    empty = client.get("/works")
    assert "您还没有作品" in empty.text and 'href="/works/new"' in empty.text

    form = client.get("/works/new")
    assert form.status_code == 200
    text = form.text
    for expected in ("仅限 MP4", "300 MB", "2 分钟（120 秒）", "我在河北省话保密，今天我要讲的是……",
                     "主办方对征集作品拥有发表权和出版权", "我已阅读并同意", "北京时间"):
        assert expected in text, expected
    assert 'name="province"' not in text  # a unit's submitter does not choose a province
    assert "所属省份：河北省" in text

    work_id = create_work_via_form(client, title="我在河北省话保密")
    detail = client.get(f"/works/{work_id}")
    assert detail.status_code == 200
    assert "作品已创建，请上传视频文件" in detail.text
    assert 'class="badge badge-draft" id="work-status">待上传<' in detail.text
    assert 'id="uploader"' in detail.text and 'data-endpoint="/api/v1/uploads"' in detail.text
    assert f'data-work-id="{work_id}"' in detail.text and 'data-max-size="314572800"' in detail.text
    assert 'data-max-duration="120.0"' in detail.text
    assert "/static/vendor/uppy.min.css" in detail.text and "build/upload.js" in detail.text
    assert "hx-trigger" not in detail.text  # nothing to poll for a draft
    assert "在线试看" not in detail.text

    listing = client.get("/works")
    assert f'href="/works/{work_id}"' in listing.text and "badge-draft" in listing.text
    assert re.search(r"创建于 \d{4}-\d\d-\d\d \d\d:\d\d", listing.text)


def test_creation_dates_are_shown_in_beijing_time(client: Any, demo: dict[str, int]) -> None:
    from datetime import UTC, datetime

    from clipjury.db import session_scope
    from clipjury.works.models import Work

    login(client)
    work_id = create_work_via_form(client)
    with session_scope() as session:
        work = session.get(Work, work_id)
        assert work is not None
        work.created_at = datetime(2024, 1, 31, 17, 30, tzinfo=UTC)  # 2024-02-01 01:30 in Beijing
    assert "创建于 2024-02-01 01:30" in client.get("/works").text


def test_vendor_files_are_an_allow_list(client: Any) -> None:
    assert (ROOT / "node_modules").is_dir(), "run `sh scripts/build_assets.sh` first (npm ci + esbuild)"
    htmx = client.get("/static/vendor/htmx.min.js")
    assert htmx.status_code == 200 and "javascript" in htmx.headers["content-type"]
    assert b"htmx" in htmx.content[:2000]
    css = client.get("/static/vendor/uppy.min.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    for path in ("/static/vendor/uppy.min.js", "/static/vendor/../../package.json", "/static/vendor/",
                 "/static/vendor/%2e%2e%2fpackage.json", "/static/../node_modules/htmx.org/package.json"):
        assert client.get(path).status_code == 404, path
    assert client.get("/static/css/app.css").status_code == 200
    assert client.get("/static/").status_code == 404  # no directory listing
    assert (ROOT / "review_ui/static/build/upload.js").is_file(), "run `sh scripts/build_assets.sh`"
    assert client.get("/static/build/upload.js").status_code == 200


def test_someone_elses_work_is_a_404_page(client: Any, demo: dict[str, int]) -> None:
    login(client, "demo-coordinator")
    theirs = create_work_via_form(client, title="联络员的作品")
    client.cookies.clear()
    login(client)
    for path in (f"/works/{theirs}", f"/works/{theirs}/status", "/works/999999", "/works/abc"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "text/html" in response.headers["content-type"]
        assert "找不到" in response.text and "联络员的作品" not in response.text
    token = page_token(client)
    submit = client.post(f"/works/{theirs}/submit", data={"csrf_token": token}, follow_redirects=False)
    assert submit.status_code == 404 and "找不到该作品" in submit.text


def test_new_work_validation_errors_are_shown(client: Any, demo: dict[str, int]) -> None:
    login(client)
    token = page_token(client, "/works/new")
    no_consent = client.post("/works/new", data={"title": "保密故事", "csrf_token": token})
    assert no_consent.status_code == 422
    assert "我已阅读并同意" in no_consent.text and "请阅读作品权利说明" in no_consent.text
    assert 'value="保密故事"' in no_consent.text  # what was typed is kept

    no_title = client.post("/works/new", data={"title": "  ", "agree": "yes", "csrf_token": token})
    assert no_title.status_code == 422 and "请填写作品标题" in no_title.text
    assert 'aria-invalid="true"' in no_title.text

    too_long = client.post("/works/new", data={"title": "长" * 101, "agree": "yes", "csrf_token": token})
    assert too_long.status_code == 422 and "作品标题不能超过 100 个字" in too_long.text
    assert "您还没有作品" in client.get("/works").text


def test_province_choice_for_a_submitter_without_a_unit(client: Any, demo: dict[str, int], demo_hash: str) -> None:
    from sqlmodel import select

    from clipjury.accounts.models import Province, Role
    from clipjury.accounts.service import create_user
    from clipjury.db import session_scope
    from clipjury.works.models import Work

    with session_scope() as session:
        session.add(Province(code="beijing", name="北京市"))
        create_user(session, username="citizen", password_hash=demo_hash, role=Role.submitter, display_name="市民")
    login(client, "citizen")
    form = client.get("/works/new")
    assert 'name="province"' in form.text and "北京市" in form.text and "data-opening-lines" in form.text
    assert "我在北京市话保密" in form.text  # every province's opening line is ready for the choice
    assert '<option value="" selected>请选择省份</option>' in form.text  # no province chosen for them
    assert "“我在××省话保密" in form.text
    token = csrf_of(form.text)
    unchosen = client.post("/works/new", data={"title": "市民作品", "agree": "yes", "csrf_token": token})
    assert unchosen.status_code == 422 and "请选择作品所属的省份" in unchosen.text
    assert 'aria-describedby="province-error"' in unchosen.text and 'id="province-error"' in unchosen.text
    disagreed = client.post("/works/new", data={"title": "市民作品", "province": "beijing", "csrf_token": token})
    assert disagreed.status_code == 422 and 'aria-describedby="agree-error"' in disagreed.text
    assert '<option value="beijing" selected>' in disagreed.text  # the choice is kept
    assert "“我在北京市话保密" in disagreed.text
    unknown = client.post(
        "/works/new", data={"title": "市民作品", "province": "atlantis", "agree": "yes", "csrf_token": token}
    )
    assert unknown.status_code == 422 and "所选省份不存在" in unknown.text
    created = client.post(
        "/works/new", data={"title": "市民作品", "province": "beijing", "agree": "yes", "csrf_token": token},
        follow_redirects=False,
    )
    assert created.status_code == 303
    with session_scope() as session:
        work = session.exec(select(Work).where(Work.title == "市民作品")).one()
        province = session.get(Province, work.province_id)
        assert province is not None and province.code == "beijing"


def test_submit_and_withdraw_via_forms(client: Any, demo: dict[str, int]) -> None:
    login(client)
    work_id = create_work_via_form(client)
    token = page_token(client)
    early = client.post(f"/works/{work_id}/submit", data={"csrf_token": token}, follow_redirects=False)
    assert early.status_code == 303
    assert "请先上传一个通过校验的视频文件" in client.get(f"/works/{work_id}").text

    add_checked_version(work_id, ok=True)
    ready = client.get(f"/works/{work_id}")
    assert 'id="work-status">可提交<' in ready.text
    assert 'data-confirm="提交后不能再更换文件，确认提交？"' in ready.text
    assert "在线试看" in ready.text and 'id="preview-player"' in ready.text and 'preload="metadata"' in ready.text
    assert "X-Amz-Signature=" in ready.text  # a presigned URL: the browser streams from the store
    for fact in ("2.0 秒", "160 × 120", "120.6 KB", "h264", "aac", "isom"):
        assert fact in ready.text, fact
    assert "hx-trigger" not in ready.text

    submitted = client.post(f"/works/{work_id}/submit", data={"csrf_token": token}, follow_redirects=False)
    assert submitted.status_code == 303 and submitted.headers["location"] == f"/works/{work_id}"
    page = client.get(f"/works/{work_id}")
    assert "作品已提交" in page.text and 'id="work-status">已提交，待初评<' in page.text
    assert 'id="uploader"' not in page.text and "撤回提交" in page.text and "确认并提交作品" not in page.text
    assert re.search(r"提交于 \d{4}-\d\d-\d\d \d\d:\d\d", client.get("/works").text)

    again = client.post(f"/works/{work_id}/submit", data={"csrf_token": token}, follow_redirects=False)
    assert again.status_code == 303
    assert "作品已经提交过了" in client.get(f"/works/{work_id}").text

    withdrawn = client.post(f"/works/{work_id}/withdraw", data={"csrf_token": token}, follow_redirects=False)
    assert withdrawn.status_code == 303
    page = client.get(f"/works/{work_id}")
    assert "作品已撤回" in page.text and 'id="work-status">可提交<' in page.text and 'id="uploader"' in page.text

    twice = client.post(f"/works/{work_id}/withdraw", data={"csrf_token": token}, follow_redirects=False)
    assert twice.status_code == 303
    assert "作品尚未提交，无需撤回" in client.get(f"/works/{work_id}").text


def test_withdraw_after_the_deadline_is_refused(client: Any, demo: dict[str, int]) -> None:
    from datetime import timedelta

    from sqlmodel import select

    from clipjury.campaigns.models import Campaign
    from clipjury.db import session_scope
    from clipjury.timeutil import utcnow

    login(client)
    work_id = create_work_via_form(client)
    add_checked_version(work_id, ok=True)
    token = page_token(client)
    submitted = client.post(f"/works/{work_id}/submit", data={"csrf_token": token}, follow_redirects=False)
    assert submitted.status_code == 303
    with session_scope() as session:
        campaign = session.exec(select(Campaign)).one()
        campaign.submission_deadline = utcnow() - timedelta(hours=2)
    page = client.get(f"/works/{work_id}")
    assert "撤回提交" not in page.text and "提交已截止，不能再撤回作品" in page.text
    refused = client.post(f"/works/{work_id}/withdraw", data={"csrf_token": token}, follow_redirects=False)
    assert refused.status_code == 303
    assert "提交已截止，不能再撤回作品" in client.get(f"/works/{work_id}").text
    assert "新建作品" in client.get("/works").text
    closed = client.get("/works/new")
    assert "不能再上传新文件" in closed.text and 'name="title"' not in closed.text


def test_processing_state_polls_until_the_verdict(client: Any, demo: dict[str, int]) -> None:
    from clipjury.db import session_scope
    from clipjury.media.rules import RejectionCode, Verdict
    from clipjury.works.service import MeasuredMedia, apply_verdict

    login(client)
    work_id = create_work_via_form(client)
    version_id = add_processing_version(work_id)
    page = client.get(f"/works/{work_id}")
    assert 'id="work-status">校验中<' in page.text and 'hx-trigger="every 2s"' in page.text
    known = re.search(r'hx-get="(/works/\d+/status\?known=[0-9a-f]+)"', page.text)
    assert known
    unchanged = client.get(known.group(1))
    assert unchanged.status_code == 204  # nothing changed: htmx leaves the page alone

    message = "文件中没有视频画面（只有音频或为空轨道）。请上传包含画面的 MP4 视频。"
    with session_scope() as session:
        assert apply_verdict(
            session, version_id, Verdict(ok=False, code=RejectionCode.no_video_stream, message=message),
            MeasuredMedia(),
        )
    fragment = client.get(known.group(1))
    assert fragment.status_code == 200 and fragment.text.lstrip().startswith('<section id="work-live"')
    assert "hx-trigger" not in fragment.text  # final: the polling stops
    assert 'id="work-status">未通过校验<' in fragment.text
    assert message in fragment.text and 'data-code="no_video_stream"' in fragment.text


def test_a_failed_reupload_keeps_the_valid_file(client: Any, demo: dict[str, int]) -> None:
    login(client)
    work_id = create_work_via_form(client)
    add_checked_version(work_id, ok=True)
    add_checked_version(work_id, ok=False)
    page = client.get(f"/works/{work_id}").text
    assert 'id="work-status">可提交<' in page
    assert "最近一次上传未通过校验（此前的文件仍然有效）" in page and "改扩展名无效" in page
    assert 'id="preview-player"' in page and "确认并提交作品" in page


@pytest.mark.parametrize(
    ("username", "home"),
    [("demo-reviewer", "/review"), ("demo-admin", "/review/national"), ("demo-judge", "/judging")],
)
def test_other_roles_get_a_home_without_broken_links(
    client: Any, demo: dict[str, int], username: str, home: str
) -> None:
    login(client, username)
    landing = client.get("/works", follow_redirects=False)
    assert landing.status_code == 303 and landing.headers["location"] == home
    page = client.get(home)
    assert page.status_code == 200 and "<nav" in page.text
    assert 'href="/works/new"' not in page.text
    links = set(re.findall(r'href="(/[^"]*)"', page.text))
    for link in links:
        assert client.get(link).status_code == 200, link
    assert client.get("/works/new").status_code == 403


def _move_deadline(delta_from_now: Any, grace_minutes: int = 30) -> None:
    from sqlmodel import select

    from clipjury.campaigns.models import Campaign
    from clipjury.db import session_scope
    from clipjury.timeutil import utcnow

    with session_scope() as session:
        campaign = session.exec(select(Campaign)).one()
        campaign.submission_deadline = utcnow() + delta_from_now
        campaign.upload_grace_minutes = grace_minutes


def test_the_api_takes_the_session_cookie_only_with_the_pages_token(client: Any, demo: dict[str, int]) -> None:
    """Another site's page can make the browser send our cookie, not our header: a state change under
    /api authenticated by the cookie alone is refused, and nothing happens."""
    import base64

    login(client)
    token = csrf_of(client.get("/works").text)
    forged = client.post("/api/v1/works", json={"title": "跨站伪造", "description": ""})
    assert forged.status_code == 403 and forged.json()["code"] == "csrf_failed"
    assert "跨站伪造" not in client.get("/works").text
    made = client.post("/api/v1/works", json={"title": "页面脚本", "description": ""},
                       headers={"X-CSRF-Token": token})
    assert made.status_code == 201, made.text
    work_id = made.json()["id"]
    assert client.post("/api/v1/works", json={"title": "x"}, headers={"X-CSRF-Token": token + "x"}).status_code == 403
    # Reading needs no token; tus creation (what Uppy sends) does, and keeps the tus header on refusal.
    assert client.get(f"/api/v1/works/{work_id}").status_code == 200
    meta = "work_id " + base64.b64encode(str(work_id).encode()).decode()
    tus = {"Tus-Resumable": "1.0.0", "Upload-Length": "10", "Upload-Metadata": meta}
    refused = client.post("/api/v1/uploads", headers=tus)
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    assert refused.headers["tus-resumable"] == "1.0.0"
    created = client.post("/api/v1/uploads", headers={**tus, "X-CSRF-Token": token})
    assert created.status_code == 201, created.text
    upload_url = created.headers["location"]
    assert client.delete(upload_url, headers={"Tus-Resumable": "1.0.0"}).status_code == 403
    assert client.head(upload_url, headers={"Tus-Resumable": "1.0.0"}).status_code == 200
    # A submit through the API by cookie alone is refused too; bearer clients never need the token.
    assert client.post(f"/api/v1/works/{work_id}/submit").json()["code"] == "csrf_failed"
    bearer = client.post("/api/v1/auth/token", data={"username": "demo-submitter", "password": "demo"}).json()
    client.cookies.clear()
    by_token = client.post("/api/v1/works", json={"title": "脚本上传", "description": ""},
                           headers={"Authorization": f"Bearer {bearer['access_token']}"})
    assert by_token.status_code == 201


def test_a_post_after_the_session_ran_out_leads_to_the_login(client: Any, demo: dict[str, int]) -> None:
    login(client)
    work_id = create_work_via_form(client)
    token = page_token(client)
    client.cookies.clear()  # the session cookie expired: its token went with it
    client.get("/login")
    response = client.post(f"/works/{work_id}/submit", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert "页面已过期或登录已失效，请重新登录后再操作" in client.get("/login").text


def test_a_rendition_that_failed_is_said_and_not_polled_for_ever(client: Any, demo: dict[str, int]) -> None:
    from clipjury.db import session_scope
    from clipjury.works.models import WorkVersion

    login(client)
    work_id = create_work_via_form(client)
    version_id = add_checked_version(work_id, ok=True)
    with session_scope() as session:
        version = session.get(WorkVersion, version_id)
        assert version is not None
        version.playback = "rendition"
        version.rendition_status = "processing"
    preparing = client.get(f"/works/{work_id}").text
    assert "正在准备播放版本" in preparing and "hx-trigger" in preparing
    with session_scope() as session:
        version = session.get(WorkVersion, version_id)
        assert version is not None
        version.rendition_status = "failed"
    page = client.get(f"/works/{work_id}").text
    assert "正在准备播放版本" not in page and "hx-trigger" not in page
    assert 'id="playback-failed"' in page and "下载原文件" in page and "不影响提交" in page
    link = re.search(r'<a href="([^"]+)" download>下载原文件', page)
    assert link and "X-Amz-Signature" in link.group(1) and f"work-{work_id}-v{version_id}.mp4" in link.group(1)
    assert "response-content-disposition=attachment" in link.group(1)  # saved, not shown (another origin)
    assert "确认并提交作品" in page  # the verdict stands: the work can still be submitted
    api = client.get(f"/api/v1/works/{work_id}/playback").json()
    assert api["failed"] is True and api["preparing"] is False and api["video_url"] is None


def test_within_the_grace_an_unfinished_upload_can_be_finished_from_the_page(
    client: Any, demo: dict[str, int]
) -> None:
    import base64
    from datetime import timedelta

    login(client)
    work_id = create_work_via_form(client)
    token = page_token(client)

    meta = "work_id " + base64.b64encode(str(work_id).encode()).decode()
    created = client.post("/api/v1/uploads", headers={
        "Tus-Resumable": "1.0.0", "Upload-Length": "100", "Upload-Metadata": meta, "X-CSRF-Token": token,
    })
    assert created.status_code == 201
    from clipjury.db import session_scope
    from clipjury.timeutil import utcnow
    from clipjury.uploads.models import Upload

    with session_scope() as session:
        upload = session.get(Upload, created.headers["location"].rsplit("/", 1)[-1])
        assert upload is not None
        upload.created_at = utcnow() - timedelta(minutes=10)
    _move_deadline(timedelta(minutes=-5))  # the deadline passed while it was under way
    page = client.get(f"/works/{work_id}").text
    assert 'id="uploader"' in page and 'id="grace-resume"' in page and "继续未完成的上传" in page
    assert "请在下方重新选择同一个文件" in page and "不能再开始新的上传" in page
    assert "请在下方上传" not in page  # the draft's note does not invite a new upload

    _move_deadline(timedelta(minutes=-40))  # past the grace as well
    closed = client.get(f"/works/{work_id}").text
    assert 'id="uploader"' not in closed and 'id="grace-resume"' not in closed and "截止" in closed

    # A work with nothing under way gets no uploader after the deadline, grace or not.
    _move_deadline(timedelta(days=1))
    other = create_work_via_form(client, title="没有上传")
    _move_deadline(timedelta(minutes=-5))
    page = client.get(f"/works/{other}").text
    assert 'id="uploader"' not in page and "不能再上传新文件" in page


def test_after_the_grace_nothing_invites_a_submission(client: Any, demo: dict[str, int]) -> None:
    from datetime import timedelta

    login(client)
    work_id = create_work_via_form(client, title="错过截止")
    version_id = add_checked_version(work_id, ok=True)
    before = client.get("/works").text
    assert "可提交" in before and "已截止" not in before
    from clipjury.db import session_scope
    from clipjury.timeutil import utcnow
    from clipjury.works.models import WorkVersion

    with session_scope() as session:  # its upload began before the deadline below: the grace is for it
        version = session.get(WorkVersion, version_id)
        assert version is not None
        version.upload_started_at = utcnow() - timedelta(minutes=10)
    _move_deadline(timedelta(minutes=-5))  # within the grace the work may still be submitted
    assert "确认无误后请提交作品" in client.get(f"/works/{work_id}").text
    _move_deadline(timedelta(minutes=-40))
    page = client.get(f"/works/{work_id}").text
    assert "视频已通过校验。" in page and "确认无误后请提交作品" not in page and "确认并提交作品" not in page
    listing = client.get("/works").text
    assert "可提交（已截止，未提交）" in listing


def test_audit_reasons_are_shown_in_chinese() -> None:
    from review_ui.presenters.labels import actor_label, audit_reason_label

    assert audit_reason_label("submit", "grace_period").startswith("截止后的宽限期内提交")
    assert audit_reason_label("withdraw", "withdrawn in the web UI") == "投稿人在网页上撤回"
    assert audit_reason_label("revalidate", "ready") == "按现行规则重新校验：通过"
    assert audit_reason_label("revalidate", "too_long") == "按现行规则重新校验：未通过（时长超限）"
    assert audit_reason_label("withdraw", "ready") == "ready"  # a person's own words stay as written
    assert actor_label("system") == "系统"


def test_a_wrong_page_address_in_a_browser_is_a_chinese_page(client: Any, demo: dict[str, int]) -> None:
    html = {"Accept": "text/html,application/xhtml+xml"}
    login(client)
    missing = client.get("/works/1/edit", headers=html)
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert "找不到页面" in missing.text and "找不到该页面，地址可能有误或已失效" in missing.text
    assert "演示投稿人" in missing.text and 'action="/logout"' in missing.text  # the signed-in header
    client.cookies.clear()
    signed_out = client.get("/works/1/edit", headers=html)
    assert signed_out.status_code == 404 and 'action="/logout"' not in signed_out.text
    login(client)
    wrong_method = client.get("/logout", headers=html)
    assert wrong_method.status_code == 405 and "text/html" in wrong_method.headers["content-type"]
    assert "该地址不能直接打开" in wrong_method.text
    # The API, the health check and static files keep answering problem+json.
    for path in ("/api/v1/nothing", "/static/nothing.css"):
        api = client.get(path, headers=html)
        assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json", path
    assert client.get("/works/1/edit").headers["content-type"] == "application/problem+json"  # not a browser


def test_the_agreement_to_the_rights_notice_is_recorded(client: Any, demo: dict[str, int]) -> None:
    import hashlib

    from sqlmodel import select

    from clipjury.audit.models import AuditEvent
    from clipjury.campaigns.models import Campaign
    from clipjury.db import session_scope

    login(client)
    token = page_token(client, "/works/new")
    refused = client.post("/works/new", data={"title": "未同意", "csrf_token": token}, follow_redirects=False)
    assert refused.status_code == 422 and "我已阅读并同意" in refused.text
    work_id = create_work_via_form(client, title="同意权利说明")
    with session_scope() as session:
        notice = session.exec(select(Campaign)).one().rights_notice
        events = list(session.exec(select(AuditEvent).where(AuditEvent.work_id == work_id)))
    assert [(e.action, e.reason) for e in events] == [("create", "已阅读并同意作品权利说明")]
    assert events[0].data == {
        "rights_notice_agreed": True, "rights_notice_sha256": hashlib.sha256(notice.encode()).hexdigest(),
    }


def test_guessing_passwords_is_throttled_per_account_and_address(client: Any, demo: dict[str, int]) -> None:
    """Past the limit, logins from that address for that account are refused (even the right password)
    until the window ends; the same account from elsewhere, and the API token route, are counted apart."""
    from clipjury.settings import get_settings

    limit = get_settings().login_max_failures
    assert limit == 10
    for _ in range(limit):
        assert login(client, password="guess").status_code == 401
    refused = login(client)  # the right password, too late
    assert refused.status_code == 429 and "登录失败次数过多" in refused.text and "分钟后再试" in refused.text
    assert client.get("/works", follow_redirects=False).status_code == 303  # not logged in
    api = client.post("/api/v1/auth/token", data={"username": "demo-submitter", "password": "demo"})
    assert api.status_code == 429 and api.json()["code"] == "too_many_login_attempts"
    assert api.json()["retry_after_s"] > 800
    # Another account from the same address is still let in, and its success clears nothing of the other.
    assert login(client, "demo-coordinator").status_code == 303
    # Another address (behind a proxy, uvicorn gives the client's) is not locked out.
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(), client=("198.51.100.7", 50000)) as elsewhere:
        assert login(elsewhere).status_code == 303
        token = elsewhere.post("/api/v1/auth/token", data={"username": "demo-submitter", "password": "demo"})
        assert token.status_code == 200


def test_a_successful_login_clears_the_failures(client: Any, demo: dict[str, int]) -> None:
    from clipjury.settings import get_settings

    for _ in range(get_settings().login_max_failures - 1):
        assert login(client, password="typo").status_code == 401
    assert login(client).status_code == 303
    client.cookies.clear()
    for _ in range(get_settings().login_max_failures - 1):
        assert login(client, password="typo").status_code == 401
    assert login(client).status_code == 303
