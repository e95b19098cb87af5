"""活动设置, the national admin's page: the form shows the current settings in Beijing time, saves a change
through the same rules as the API (refusals beside their field, nothing lost or saved), warns, and starts
next year's campaign."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

from sqlmodel import col, select

from clipjury.audit.models import AuditEvent
from clipjury.campaigns.models import Campaign
from clipjury.db import session_scope
from clipjury.timeutil import CAMPAIGN_TZ, as_utc
from tests.conftest import token_for
from tests.test_campaign_settings import _work_with_file
from tests.test_ui import login

FORM_TYPE = "application/x-www-form-urlencoded"


class _Form(HTMLParser):
    """The fields a browser would post for one form: inputs (checked boxes only), textareas, selects."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside = form_id, False
        self.fields: list[tuple[str, str]] = []
        self.textarea: str | None = None
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside or "name" not in a:
            return
        if tag == "input":
            if a.get("type") == "checkbox" and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value", "")))
        elif tag == "textarea":
            self.textarea, self.text = a["name"], ""

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea" and self.textarea is not None:
            self.fields.append((self.textarea, self.text))
            self.textarea = None
        if tag == "form":
            self.inside = False


def form_of(html: str, form_id: str = "campaign-settings") -> list[tuple[str, str]]:
    parser = _Form(form_id)
    parser.feed(html)
    assert parser.fields, f"no form #{form_id} on the page"
    return parser.fields


def with_values(fields: list[tuple[str, str]], **values: str) -> list[tuple[str, str]]:
    return [(name, values.get(name, value)) for name, value in fields]


def post_form(client: Any, url: str, fields: list[tuple[str, str]], **kwargs: Any) -> Any:
    """A form with repeated names (the checklist's rows), encoded as a browser does."""
    return client.post(url, content=urlencode(fields), headers={"Content-Type": FORM_TYPE}, **kwargs)


def _admin(client: Any) -> str:
    assert login(client, "demo-admin").status_code == 303
    page = client.get("/campaign")
    assert page.status_code == 200
    return str(page.text)


def _campaign() -> Campaign:
    with session_scope() as session:
        campaign = session.exec(select(Campaign).where(col(Campaign.is_active))).one()
        session.expunge(campaign)
        return campaign


def _local(value: datetime) -> str:
    return as_utc(value).astimezone(CAMPAIGN_TZ).strftime("%Y-%m-%dT%H:%M:%S")


def test_the_page_shows_the_settings_and_saves_a_moved_deadline(client: Any, demo: dict[str, int]) -> None:
    before = _campaign()
    html = _admin(client)
    fields = form_of(html)
    values = dict(fields)
    assert values["submission_deadline"] == _local(before.submission_deadline)  # Beijing wall-clock time
    assert values["max_size_mb"] == f"{before.max_size_bytes / 1024 / 1024:g}"
    assert values["opening_line_template"] == before.opening_line_template
    assert values["organiser"] == before.organiser == "中央保密办（国家保密局）"
    assert ("item_key", before.review_checklist[0]["key"]) in fields

    moved = as_utc(before.submission_deadline) + timedelta(hours=1)
    answer = post_form(
        client, "/campaign", with_values(fields, submission_deadline=_local(moved)), follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    page = client.get("/campaign").text
    assert "活动设置已保存" in page
    after = _campaign()
    assert after.revision == before.revision + 1
    assert as_utc(after.submission_deadline) == moved.replace(microsecond=0)
    # Only the moved deadline changed, and the audit says from what to what.
    with session_scope() as session:
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "campaign_update").order_by(col(AuditEvent.id).desc())
        ).first()
        assert event is not None
        assert set(event.data["after"]) == {"submission_deadline"}
        assert event.data["after"]["submission_deadline"] == moved.replace(microsecond=0).isoformat()
    # The submitter sees the new deadline on their works page.
    client.cookies.clear()
    assert login(client, "demo-submitter").status_code == 303
    deadline = re.search(r'id="submission-deadline"[^>]*>.*?<strong>(.*?)</strong>', client.get("/works").text, re.S)
    assert deadline and _local(moved).replace("T", " ")[:16] in deadline.group(1)


def test_a_refusal_is_shown_beside_its_field_and_keeps_what_was_typed(client: Any, demo: dict[str, int]) -> None:
    before = _campaign()
    fields = form_of(_admin(client))
    answer = post_form(client, "/campaign", with_values(
        fields, name="改过的名称", showcase_starts_at="2030-05-03T00:00", showcase_ends_at="2030-04-24T00:00",
    ))
    assert answer.status_code == 422
    assert 'id="showcase_starts_at-error"' in answer.text or 'id="showcase_ends_at-error"' in answer.text
    assert "须早于展示结束时间" in answer.text
    kept = dict(form_of(answer.text))
    assert kept["name"] == "改过的名称" and kept["showcase_ends_at"] == "2030-04-24T00:00"
    assert _campaign().revision == before.revision  # nothing saved, not even the name

    for name, value, message in (
        ("max_duration_s", "abc", "须为数字"),
        ("submission_deadline", "2030-02-30T10:00", "不是有效的日期和时间"),
        ("opening_line_template", "大家好，我是{city}", "{province}"),
        ("organiser", "  ", "不能为空"),
    ):
        answer = post_form(client, "/campaign", with_values(fields, **{name: value}))
        assert answer.status_code == 422, (name, answer.text[:200])
        assert message in answer.text and f'id="{name}-error"' in answer.text
    assert _campaign().revision == before.revision


def test_a_stale_page_is_told_and_shown_the_fresh_settings(client: Any, demo: dict[str, int]) -> None:
    fields = form_of(_admin(client))
    headers = {"Authorization": f"Bearer {token_for(client, 'demo-admin')}"}
    other = client.patch("/api/v1/campaigns/current", json={"name": "另一位管理员的修改"}, headers=headers)
    assert other.status_code == 200
    answer = post_form(client, "/campaign", with_values(fields, name="我的修改"))
    assert answer.status_code == 409
    assert "已被他人修改" in answer.text
    assert dict(form_of(answer.text))["name"] == "另一位管理员的修改"
    assert _campaign().name == "另一位管理员的修改"


def test_a_lowered_limit_names_the_works_over_it_until_confirmed(client: Any, demo: dict[str, int]) -> None:
    work_id = _work_with_file("超大作品", 300 * 1024 * 1024, 60.0)
    fields = form_of(_admin(client))
    answer = post_form(client, "/campaign", with_values(fields, max_size_mb="200"))
    assert answer.status_code == 422
    assert f"编号 {work_id}" in answer.text and 'name="force"' in answer.text
    assert _campaign().max_size_bytes != 200 * 1024 * 1024
    confirmed = [*with_values(form_of(answer.text), max_size_mb="200"), ("force", "1")]
    answer = post_form(client, "/campaign", confirmed)
    assert answer.status_code == 200
    assert 'data-warning="limit_below_works"' in answer.text
    assert _campaign().max_size_bytes == 200 * 1024 * 1024


def test_an_overlapping_showcase_saves_with_a_warning(client: Any, demo: dict[str, int]) -> None:
    before = _campaign()
    fields = form_of(_admin(client))
    opens = _local(before.submission_opens_at)
    answer = post_form(client, "/campaign", with_values(
        fields, showcase_starts_at=opens, showcase_ends_at=_local(before.submission_deadline),
    ))
    assert answer.status_code == 200
    assert 'data-warning="showcase_overlaps_submission"' in answer.text
    assert _campaign().revision == before.revision + 1


def test_the_checklist_is_edited_on_the_page_and_read_by_the_api(client: Any, demo: dict[str, int]) -> None:
    fields = form_of(_admin(client))
    keys = [v for n, v in fields if n == "item_key"]
    filled = len([k for k in keys if k])
    # Fill the first blank row: a new optional item (its box unticked).
    posted: list[tuple[str, str]] = []
    seen_blank = False
    for name, value in fields:
        if name == "item_key" and not value and not seen_blank:
            value = "no_faces"
        if name == "item_label" and not value and not seen_blank:
            value, seen_blank = "画面中无未经同意的人脸特写", True
        if name == "item_required" and value == str(filled):
            continue
        posted.append((name, value))
    assert post_form(client, "/campaign", posted, follow_redirects=False).status_code == 303
    headers = {"Authorization": f"Bearer {token_for(client, 'demo-reviewer')}"}
    items = client.get("/api/v1/review/checklist", headers=headers).json()
    assert items[-1] == {"key": "no_faces", "label": "画面中无未经同意的人脸特写", "required": False}
    assert len(items) == filled + 1
    # A duplicate key is refused beside the checklist.
    fields = form_of(client.get("/campaign").text)
    dup = [(n, keys[0] if (n == "item_key" and v == "no_faces") else v) for n, v in fields]
    answer = post_form(client, "/campaign", dup)
    assert answer.status_code == 422 and 'id="review_checklist-error"' in answer.text


def test_next_years_campaign_starts_from_the_page(client: Any, demo: dict[str, int]) -> None:
    before = _campaign()
    html = _admin(client)
    token = dict(form_of(html, "next-campaign"))["csrf_token"]
    answer = client.post("/campaign/next", data={"csrf_token": token, "name": "", "year": str(before.year + 1)})
    assert answer.status_code == 422 and 'id="next-error"' in answer.text
    answer = client.post("/campaign/next", data={"csrf_token": token, "name": "下一届", "year": str(before.year)})
    assert answer.status_code == 422 and "须晚于当前活动的年度" in answer.text
    answer = client.post(
        "/campaign/next", data={"csrf_token": token, "name": "下一届", "year": str(before.year + 1)},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    page = client.get("/campaign").text
    assert "已开始" in page and 'id="campaign-list"' in page
    now = _campaign()
    assert (now.name, now.year, now.revision) == ("下一届", before.year + 1, 1)
    assert as_utc(now.submission_deadline).year == as_utc(before.submission_deadline).year + 1


def test_only_the_national_admin_opens_the_page(client: Any, demo: dict[str, int]) -> None:
    assert login(client, "demo-province-admin").status_code == 303
    answer = client.get("/campaign")
    assert answer.status_code == 403 and "全国管理员" in answer.text
    assert "/campaign" not in re.findall(r'href="([^"]+)"', client.get("/review").text)
