"""The web UI in real Chromium (Playwright): log in, create a work, upload through Uppy's Dashboard (tus),
see the worker's verdict arrive without a reload, play the preview, submit; and a rejected file's reason.

Runs against a live uvicorn server and a real worker subprocess. Screenshots of each step go to
test-artifacts/screenshots/ (desktop 1280x800 and a 390x844 phone).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from clipjury.db import session_scope
from clipjury.uploads.models import Upload
from storage import get_store
from tests import media
from tests.conftest import ROOT, LiveServer, start_server, start_worker

pytestmark = pytest.mark.browser

SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
VERDICT_TIMEOUT_MS = 90_000


@pytest.fixture()
def stack(demo: dict[str, int]) -> Iterator[LiveServer]:
    """The API + UI server and one worker, on the test database, Redis and object store."""
    assert (ROOT / "review_ui/static/build/upload.js").is_file(), "run `sh scripts/build_assets.sh` first"
    server = start_server()
    worker = start_worker("browser-test")
    try:
        yield server
    finally:
        from clipjury import devservices

        devservices.stop(worker)
        devservices.stop(server.proc)


def new_page(browser: Any, viewport: dict[str, int], errors: list[str]) -> Any:
    context = browser.new_context(viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
    return page


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_in(page: Any, base: str, username: str = "demo-submitter") -> None:
    page.goto(f"{base}/")
    assert page.url.endswith("/login")
    page.fill("#username", username)
    page.fill("#password", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/works")


def create_work(page: Any, base: str, title: str) -> str:
    page.goto(f"{base}/works/new")
    page.fill("#title", title)
    page.fill("#description", "浏览器测试作品")
    page.check("input[name=agree]")
    page.click("form.form button[type=submit]")
    page.wait_for_url(f"{base}/works/*")
    page.wait_for_selector("#uploader .uppy-Dashboard")
    return str(page.url)


def work_id_of(work_url: str) -> int:
    return int(work_url.rstrip("/").rsplit("/", 1)[-1])


def uploads_of(work_id: int) -> list[Upload]:
    with session_scope() as session:
        return list(session.exec(select(Upload).where(Upload.work_id == work_id)))


def choose_file(page: Any, path: Path) -> None:
    # Uppy's Dashboard has a hidden <input type=file> (and one for folders); set the file on it.
    page.set_input_files("#uploader input.uppy-Dashboard-input:not([webkitdirectory])", str(path))


def upload_button(page: Any) -> Any:
    return page.locator("#uploader .uppy-StatusBar-actionBtn--upload")


def wait_for_player(page: Any, condition: str) -> None:
    """Wait on the preview <video>; on a timeout, say what the element and its URL answered."""
    try:
        page.wait_for_function(
            f"() => {{ const v = document.getElementById('preview-player'); return v && ({condition}) }}",
            timeout=30_000,
        )
    except Exception:
        state = page.evaluate(
            "() => { const v = document.getElementById('preview-player');"
            " return v && {ready: v.readyState, network: v.networkState, error: v.error && v.error.code,"
            " time: v.currentTime, paused: v.paused, src: v.currentSrc} }"
        )
        answer = page.request.get(state["src"]) if state and state.get("src") else None
        pytest.fail(f"player never reached {condition}: {state}; GET src -> {answer and answer.status}")


def test_upload_verdict_preview_submit(stack: LiveServer, browser: Any, tmp_path: Path) -> None:
    base = stack.url
    errors: list[str] = []
    page = new_page(browser, DESKTOP, errors)
    log_in(page, base)
    shot(page, "01-works-empty-desktop")

    page.goto(f"{base}/works/new")
    assert page.locator("text=我在河北省话保密，今天我要讲的是……").count() == 1
    shot(page, "02-new-work-form-desktop")
    work_url = create_work(page, base, "我在河北省话保密：浏览器测试")
    assert page.locator("#work-status").inner_text() == "待上传"
    shot(page, "03-work-draft-desktop")

    # Advice before a byte is sent: a file over the duration limit is taken out with a Chinese reason.
    too_long = media.long_mp4(130)
    choose_file(page, too_long)
    page.wait_for_selector("#upload-advice:not([hidden])")
    assert "超过 2 分钟的上限" in page.inner_text("#upload-advice")
    assert page.locator("#uploader .uppy-Dashboard-Item").count() == 0
    shot(page, "04-too-long-refused-in-browser-desktop")

    # Hold the tus PATCH so the progress bar and the pause button can be seen, then let it go.
    held: list[Any] = []

    def hold_patch(route: Any) -> None:
        if route.request.method == "PATCH" and not held:
            held.append(route)
        else:
            route.continue_()

    page.route("**/api/v1/uploads/**", hold_patch)
    page.evaluate("window.__sameDocument = true")
    choose_file(page, media.valid_mp4(2))
    page.wait_for_selector("#uploader .uppy-Dashboard-Item")
    upload_button(page).click()
    page.wait_for_function("() => document.querySelector('#uploader .uppy-StatusBar.is-uploading') !== null")
    page.wait_for_selector("#uploader button[title='暂停上传'], #uploader .uppy-StatusBar-actionCircleBtn")
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "Uppy never sent the tus PATCH"
    shot(page, "05-uploading-progress-desktop")
    held[0].continue_()
    page.unroute("**/api/v1/uploads/**")

    # The verdict arrives without a reload (htmx polls the status fragment).
    page.wait_for_selector("#work-status:text('可提交')", timeout=VERDICT_TIMEOUT_MS)
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    shot(page, "06-verdict-ready-desktop")

    # 在线试看: the preview player loads and plays the video straight from the object store.
    page.wait_for_selector("#preview-player", timeout=VERDICT_TIMEOUT_MS)
    wait_for_player(page, "v.readyState >= 1")
    duration = page.evaluate("document.getElementById('preview-player').duration")
    assert 1.5 < duration < 2.5
    page.evaluate("() => { const v = document.getElementById('preview-player'); v.muted = true; return v.play() }")
    wait_for_player(page, "v.currentTime > 0.2")
    page.evaluate("document.getElementById('preview-player').pause()")
    assert "时长" in page.inner_text(".facts") and "160 × 120" in page.inner_text(".facts")
    shot(page, "07-preview-playing-desktop")

    # A page left open past the presigned URL's lifetime: the store refuses the player's next request
    # (here: a URL whose signature no longer holds); the page asks for fresh URLs and plays on.
    stale = page.evaluate(
        "() => { const v = document.getElementById('preview-player');"
        " v.src = v.currentSrc.replace(/X-Amz-Signature=[0-9a-f]+/, 'X-Amz-Signature=' + '0'.repeat(64));"
        " return v.src }"
    )
    assert page.request.get(stale).status == 403  # the store checks signatures
    wait_for_player(page, "v.readyState >= 1 && !v.currentSrc.includes('0'.repeat(64))")

    # Confirm and submit.
    dialogs: list[str] = []

    def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.click("#submit-work")
    page.wait_for_selector("#work-status:text('已提交')")
    assert dialogs == ["提交后不能再更换文件，确认提交？"]
    assert page.locator("text=作品已提交").count() >= 1
    assert page.locator("#uploader").count() == 0
    shot(page, "08-submitted-desktop")

    page.goto(f"{base}/works")
    assert page.locator(".badge-submitted").count() == 1
    shot(page, "09-works-list-desktop")

    # The same pages on a phone.
    phone = new_page(browser, PHONE, errors)
    log_in(phone, base)
    shot(phone, "10-works-list-phone")
    phone.goto(work_url)
    phone.wait_for_selector("#preview-player")
    shot(phone, "11-work-submitted-phone")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the phone layout scrolls sideways ({width}px)"
    phone.goto(f"{base}/works/new")
    shot(phone, "12-new-work-form-phone")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    assert not [e for e in errors if "Content Security Policy" in e or "pageerror" in e], errors


def test_rejected_file_shows_its_reason(stack: LiveServer, browser: Any, tmp_path: Path) -> None:
    base = stack.url
    errors: list[str] = []
    page = new_page(browser, PHONE, errors)
    log_in(page, base)
    create_work(page, base, "改了扩展名的 MKV")
    renamed = tmp_path / "我的视频.mp4"  # a Matroska file under an MP4 name: the browser cannot tell
    shutil.copyfile(media.matroska(), renamed)
    page.evaluate("window.__sameDocument = true")
    choose_file(page, renamed)
    page.wait_for_selector("#uploader .uppy-Dashboard-Item")
    upload_button(page).click()
    # Either the verdict, or (failing fast) the upload's own error message.
    page.wait_for_selector(
        "#work-status:text('未通过校验'), #upload-advice.notice-error", timeout=VERDICT_TIMEOUT_MS
    )
    advice = page.locator("#upload-advice.notice-error")
    assert advice.count() == 0, f"the upload failed: {advice.inner_text()}"
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    reason = page.locator(".verdict .reason")
    assert reason.get_attribute("data-code") == "not_mp4"
    assert "不是 MP4 格式" in reason.inner_text()
    assert page.locator("#submit-work").count() == 0
    page.wait_for_selector("#upload-advice", state="hidden")  # the "正在校验" advice went with the verdict
    shot(page, "13-rejected-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert not [e for e in errors if "pageerror" in e], errors


def test_a_large_file_goes_up_in_pieces_straight_into_the_final_object(
    stack: LiveServer, browser: Any, tmp_path: Path
) -> None:
    """Uppy sends a file of several parts as tus partials that declare their layout: the server writes
    them straight into the final object (no copy, no partial objects), and the verdict follows."""
    base = stack.url
    errors: list[str] = []
    page = new_page(browser, DESKTOP, errors)
    log_in(page, base)
    work_id = work_id_of(create_work(page, base, "分段上传的大文件"))
    path = media.large_mp4()
    store = get_store()
    assert path.stat().st_size > 3 * store.part_size
    choose_file(page, path)
    page.wait_for_selector("#uploader .uppy-Dashboard-Item")
    upload_button(page).click()
    page.wait_for_selector("#work-status:text('可提交')", timeout=VERDICT_TIMEOUT_MS)
    shot(page, "14-large-file-ready-desktop")
    uploads = uploads_of(work_id)
    finals = [u for u in uploads if u.concat == "final"]
    assert len(finals) == 1, [(u.id, u.concat, u.status) for u in uploads]
    final = finals[0]
    assert final.status == "complete" and final.length == path.stat().st_size
    assert final.concat_group is not None and final.part_base == 0  # written straight, no copy
    pieces = [u for u in uploads if u.concat == "partial"]
    assert sorted(u.id for u in pieces) == sorted(final.partial_ids) and len(pieces) == 3
    assert all(u.final_id == final.id and u.part_base is not None for u in pieces)
    assert [k for u in pieces for k in store.list_keys(f"uploads/{u.id}/")] == []
    assert not [e for e in errors if "pageerror" in e], errors


@dataclass
class CutOff:
    """A new work whose upload of ``path`` lost its connection after two chunks; ``before``: each piece's
    offset on the server then; ``seen``: the upload requests the page makes (method, URL, offset)."""

    page: Any
    errors: list[str]
    work_id: int
    path: Path
    seen: list[tuple[str, str, str | None]]
    before: dict[str, int]

    def reload(self) -> None:
        """The connection stays down until the page is gone (tus-js-client keeps retrying); reloaded, the
        page has it back."""
        self.page.reload()
        self.page.unroute("**/api/v1/uploads/**")
        self.page.wait_for_selector("#uploader .uppy-Dashboard")

    def resume(self) -> None:
        """Pick the same file again on the reloaded page: only the final is created, the pieces go on from
        where the server has them, straight into the same final object."""
        pieces = [u for u in uploads_of(self.work_id) if u.concat == "partial"]
        unfinished = {u.id: u.offset for u in pieces if u.offset < (u.length or 0)}
        self.seen.clear()
        choose_file(self.page, self.path)
        self.page.wait_for_selector("#uploader .uppy-Dashboard-Item")
        upload_button(self.page).click()
        self.page.wait_for_selector("#work-status:text('可提交')", timeout=VERDICT_TIMEOUT_MS)
        assert [m for m, _u, _o in self.seen if m == "POST"] == ["POST"], self.seen
        resumed = {u.rsplit("/", 1)[-1] for m, u, _o in self.seen if m == "HEAD"}
        assert resumed == set(self.before)
        first_offsets: dict[str, int] = {}
        for method, url, offset in self.seen:
            if method == "PATCH":
                first_offsets.setdefault(url.rsplit("/", 1)[-1], int(offset or 0))
        assert first_offsets == unfinished, f"{first_offsets} {unfinished} {self.before} {self.seen}"
        uploads = uploads_of(self.work_id)
        finals = [u for u in uploads if u.concat == "final"]
        assert len(finals) == 1 and finals[0].status == "complete" and finals[0].part_base == 0
        assert set(finals[0].partial_ids) == set(self.before)


def cut_off_new_upload(base: str, browser: Any, title: str) -> CutOff:
    errors: list[str] = []
    page = new_page(browser, DESKTOP, errors)
    log_in(page, base)
    work_id = work_id_of(create_work(page, base, title))
    path = media.large_mp4()
    seen = watch_uploads(page)
    return CutOff(page, errors, work_id, path, seen, cut_off_upload(page, work_id, path))


def cut_off_upload(page: Any, work_id: int, path: Path) -> dict[str, int]:
    """Start uploading ``path`` and drop the connection after two chunks went through (tus-js-client
    then keeps retrying until the page is gone). Returns each piece's offset on the server."""
    accepted: list[str] = []
    answered: list[int] = []
    page.on("response", lambda r: answered.append(r.status) if r.request.method == "PATCH" else None)

    def drop_after_two(route: Any) -> None:
        if route.request.method != "PATCH":
            route.continue_()
        elif len(accepted) < 2:
            accepted.append(route.request.url)
            route.continue_()
        else:
            route.abort("connectionreset")  # the office connection drops

    page.route("**/api/v1/uploads/**", drop_after_two)
    choose_file(page, path)
    page.wait_for_selector("#uploader .uppy-Dashboard-Item")
    upload_button(page).click()
    page.wait_for_function(
        "() => Object.keys(localStorage).some((k) => k.startsWith('tus::'))", timeout=20_000
    )  # tus-js-client saved the pieces' URLs: every piece was created
    for _ in range(400):  # until the two chunks that went through are answered
        if len(answered) == 2:
            break
        page.wait_for_timeout(50)
    assert answered == [204, 204]
    pieces = [u for u in uploads_of(work_id) if u.concat == "partial"]
    before = {u.id: u.offset for u in pieces}
    # Two chunks went through (a whole short last piece may be one of them), the rest was cut off.
    assert len(before) == 3 and sum(1 for offset in before.values() if offset) == 2, before
    return before


def watch_uploads(page: Any) -> list[tuple[str, str, str | None]]:
    seen: list[tuple[str, str, str | None]] = []
    page.on("request", lambda r: seen.append((r.method, r.url, r.headers.get("upload-offset")))
            if "/api/v1/uploads" in r.url else None)
    return seen


def test_an_upload_cut_off_by_a_reload_resumes_in_the_same_pieces(
    stack: LiveServer, browser: Any, tmp_path: Path
) -> None:
    """The connection drops mid-upload and the submitter reloads the page and picks the file again:
    tus-js-client finds the pieces it made (by Uppy's fingerprint), asks each for its offset and sends
    only what is missing into the same final object."""
    cut = cut_off_new_upload(stack.url, browser, "断线后续传")
    cut.reload()
    cut.resume()
    shot(cut.page, "15-resumed-after-reload-ready-desktop")
    assert not [e for e in cut.errors if "pageerror" in e], cut.errors


def test_after_the_deadline_the_page_finishes_an_upload_begun_before_it(
    stack: LiveServer, browser: Any, tmp_path: Path
) -> None:
    """The deadline passes while an upload is cut off. Within the grace period the reloaded page still
    offers the uploader and says so; a new file is refused with the server's Chinese reason (never
    tus-js-client's English one), the same file resumes, and the work can be submitted."""
    from datetime import timedelta

    from clipjury.campaigns.models import Campaign
    from clipjury.timeutil import utcnow

    cut = cut_off_new_upload(stack.url, browser, "截止时仍在上传")
    page, errors = cut.page, cut.errors
    with session_scope() as session:
        for upload in session.exec(select(Upload).where(Upload.work_id == cut.work_id)):
            upload.created_at = utcnow() - timedelta(minutes=3)  # begun before the deadline
        campaign = session.exec(select(Campaign)).one()
        campaign.submission_deadline = utcnow() - timedelta(minutes=1)
        campaign.upload_grace_minutes = 30
    cut.reload()
    note = page.locator("#grace-resume").inner_text()
    assert "不能再开始新的上传" in note and "重新选择同一个文件" in note

    # Another file is a new upload: refused, in Chinese everywhere Uppy shows it.
    choose_file(page, media.valid_mp4())
    page.wait_for_selector("#uploader .uppy-Dashboard-Item")
    upload_button(page).click()
    page.wait_for_selector("#upload-advice.notice-error")
    assert "截止" in page.locator("#upload-advice").inner_text()
    state = page.evaluate(
        "() => { const s = window.clipjuryUppy.getState();"
        " return {error: s.error, files: Object.values(s.files).map((f) => f.error),"
        " info: s.info.map((i) => `${i.message} ${i.details || ''}`)} }"
    )
    shown = [state["error"], *state["files"], *state["info"], page.locator("#uploader").inner_text()]
    assert all("tus:" not in (text or "") and "response text" not in (text or "") for text in shown), shown
    assert "截止" in state["error"] and all("截止" in (e or "") for e in state["files"]), state
    shot(page, "16-grace-new-file-refused-desktop")
    page.evaluate("window.clipjuryUppy.cancelAll()")  # picking a file again clears the error

    cut.resume()
    shot(page, "17-grace-resumed-ready-desktop")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#submit-work")
    page.wait_for_selector("#work-status:text('已提交')")
    assert not [e for e in errors if "pageerror" in e], errors
