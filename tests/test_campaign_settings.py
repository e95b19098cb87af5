"""The campaign settings API: reading, changing any subset with its consistency rules, compare-and-set on the
revision, the audit's before and after, and next year's campaign as a copy of the current one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from clipjury.accounts.models import Province
from clipjury.audit.models import AuditEvent
from clipjury.campaigns.models import Campaign, ProvinceQuota, UnitQuota
from clipjury.db import session_scope
from clipjury.timeutil import CAMPAIGN_TZ, as_utc, fmt_local
from clipjury.works.models import Work, WorkVersion
from tests.conftest import token_for
from tests.test_ui import login

URL = "/api/v1/campaigns/current"
NON_NATIONAL = (
    "demo-submitter", "demo-coordinator", "demo-reviewer", "demo-province-admin", "demo-judge",
    "demo2-province-admin",
)


def _headers(client: Any, username: str = "demo-admin") -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(client, username)}"}


def _read(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(URL, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _patch(client: Any, headers: dict[str, str], **changes: Any) -> Any:
    revision = changes.pop("revision", None) or _read(client, headers)["revision"]
    return client.patch(URL, json={"revision": revision, **changes}, headers=headers)


def _iso(value: datetime) -> str:
    return value.astimezone(CAMPAIGN_TZ).isoformat()


def _at(response_value: str) -> datetime:
    return datetime.fromisoformat(response_value.replace("Z", "+00:00"))


def _work_with_file(title: str, size_bytes: int, duration_s: float, status: str = "submitted") -> int:
    """A work of the current campaign holding an accepted, submitted file of this size and duration."""
    from clipjury.accounts.models import User

    with session_scope() as session:
        owner = session.exec(select(User).where(User.username == "demo-submitter")).one()
        campaign = session.exec(select(Campaign).where(col(Campaign.is_active))).one()
        work = Work(
            campaign_id=campaign.id or 0, owner_id=owner.id or 0, province_id=owner.province_id or 0,
            unit_id=owner.unit_id, title=title, status=status, submitted_at=datetime.now(UTC),
        )
        session.add(work)
        session.flush()
        version = WorkVersion(
            work_id=work.id or 0, object_key=f"test/{work.id}", size_bytes=size_bytes, status="valid",
            duration_s=duration_s,
        )
        session.add(version)
        session.flush()
        work.current_version_id = work.submitted_version_id = version.id
        session.add(work)
        return work.id or 0


def test_any_signed_in_user_reads_the_settings_named_as_the_campaigns_columns(
    client: Any, demo: dict[str, int]
) -> None:
    for username in ("demo-submitter", "demo-judge", "demo-admin"):
        settings = _read(client, _headers(client, username))
        for name in ("name", "submission_opens_at", "submission_deadline", "forward_deadline",
                     "showcase_starts_at", "showcase_ends_at", "max_size_bytes", "max_duration_s",
                     "upload_grace_minutes", "report_due_at", "revision", "rights_notice", "quota_by_kind"):
            assert name in settings, name
        assert settings["max_size_bytes"] == 300 * 1024 * 1024 and settings["is_active"] is True
    assert client.get(URL).status_code == 401


@pytest.mark.parametrize("username", NON_NATIONAL)
def test_only_the_national_admin_changes_the_settings(client: Any, demo: dict[str, int], username: str) -> None:
    headers = _headers(client, username)
    before = _read(client, headers)
    response = _patch(client, headers, name="改名")
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "forbidden"
    response = client.post("/api/v1/campaigns", json={"name": "下一届", "year": 2030}, headers=headers)
    assert response.status_code == 403, response.text
    assert _read(client, headers) == before


def test_each_kind_of_field_is_changed_and_audited_with_before_and_after(client: Any, demo: dict[str, int]) -> None:
    headers = _headers(client)
    before = _read(client, headers)
    deadline = _at(before["submission_deadline"]) + timedelta(days=3)
    changes: dict[str, Any] = {
        "name": "“人人话保密”微视频征集评选活动（2023 改）",
        "submission_deadline": _iso(deadline),
        "forward_deadline": _iso(deadline + timedelta(days=6)),
        "upload_grace_minutes": 0,
        "max_size_bytes": 400 * 1024 * 1024,
        "max_duration_s": 150,
        "allowed_brands": ["isom", "mp42"],
        "opening_line_template": "我在{province}讲保密：",
        "rights_notice": "新的权利说明。",
        "organiser": "河北省国家保密局",
        "quota_by_kind": {"city": 12, "county_city": 3},
        "claim_ttl_hours": 24,
    }
    response = _patch(client, headers, **changes)
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["revision"] == before["revision"] + 1 and after["warnings"] == []
    assert _at(after["submission_deadline"]) == deadline
    assert _at(after["forward_deadline"]) == deadline + timedelta(days=6)
    for name in ("name", "upload_grace_minutes", "max_size_bytes", "allowed_brands", "opening_line_template",
                 "rights_notice", "organiser", "claim_ttl_hours"):
        assert after[name] == changes[name], name
    assert before["organiser"] == "中央保密办（国家保密局）"  # the notice's value by default
    # The kinds not named keep their minimum.
    assert after["quota_by_kind"] == {**before["quota_by_kind"], "city": 12, "county_city": 3}
    assert after["max_duration_s"] == 150.0
    assert _read(client, headers) == {k: v for k, v in after.items() if k != "warnings"}
    # Nullable dates go back to the notice's default.
    response = _patch(client, headers, forward_deadline=None)
    assert response.status_code == 200, response.text
    assert response.json()["forward_deadline"] is None
    assert _at(response.json()["effective_forward_deadline"]) == deadline + timedelta(days=5)

    with session_scope() as session:
        events = session.exec(
            select(AuditEvent).where(AuditEvent.action == "campaign_update").order_by(col(AuditEvent.id))
        ).all()
        assert len(events) == 2
        first = events[0].data
        assert events[0].actor_name == "demo-admin"
        assert set(first["before"]) == set(changes) == set(first["after"])
        assert first["before"]["max_size_bytes"] == 300 * 1024 * 1024 and first["after"]["max_size_bytes"] == (
            400 * 1024 * 1024
        )
        assert _at(first["before"]["submission_deadline"]) == _at(before["submission_deadline"])
        assert _at(first["after"]["submission_deadline"]) == deadline
        assert events[1].data["after"] == {"forward_deadline": None}


def test_a_change_that_changes_nothing_keeps_the_revision(client: Any, demo: dict[str, int]) -> None:
    headers = _headers(client)
    before = _read(client, headers)
    response = _patch(client, headers, name=before["name"])
    assert response.status_code == 200 and response.json()["revision"] == before["revision"]


@pytest.mark.parametrize(("changes", "field", "code"), [
    ({"submission_opens_at": "+30d"}, "submission_opens_at", "window_inverted"),
    ({"submission_deadline": "-40d"}, "submission_deadline", "window_inverted"),
    ({"forward_deadline": "-1d"}, "forward_deadline", "forward_before_deadline"),
    ({"submission_deadline": "+40d"}, "submission_deadline", "forward_before_deadline"),
    ({"report_due_at": "-1d"}, "report_due_at", "report_before_deadline"),
    ({"showcase_starts_at": "+60d", "showcase_ends_at": "+50d"}, "showcase_ends_at", "bad_window"),
    ({"showcase_ends_at": None}, "showcase_ends_at", "showcase_incomplete"),
    ({"upload_grace_minutes": -1}, "upload_grace_minutes", "not_positive"),
    ({"max_size_bytes": 0}, "max_size_bytes", "not_positive"),
    ({"max_duration_s": -5}, "max_duration_s", "not_positive"),
    ({"claim_ttl_hours": 0}, "claim_ttl_hours", "not_positive"),
    ({"quota_by_kind": {"city": -1}}, "quota_by_kind", "not_positive"),
    ({"quota_by_kind": {"planet": 1}}, "quota_by_kind", "unknown_unit_kind"),
    ({"name": "  "}, "name", "setting_required"),
    ({"organiser": " "}, "organiser", "setting_required"),
    ({"submission_deadline": None}, "submission_deadline", "setting_required"),
    ({"allowed_brands": ["mp4"]}, "allowed_brands", "invalid_brands"),
    ({"opening_line_template": "我在{city}"}, "opening_line_template", "invalid_template"),
    ({"duration_step_s": 200}, "duration_step_s", "step_over_limit"),
])
def test_each_inconsistency_is_a_422_naming_the_field(
    client: Any, demo: dict[str, int], changes: dict[str, Any], field: str, code: str
) -> None:
    headers = _headers(client)
    before = _read(client, headers)
    deadline = _at(before["submission_deadline"])
    body = {
        name: _iso(deadline + timedelta(days=int(value[:-1]))) if isinstance(value, str) and value[-1:] == "d"
        and value[0] in "+-" else value
        for name, value in changes.items()
    }
    response = _patch(client, headers, **body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert (problem["code"], problem["field"]) == (code, field), problem
    assert problem["detail"] and problem["detail"].isascii() is False  # a Chinese message
    assert _read(client, headers) == before


def test_times_without_an_offset_are_refused(client: Any, demo: dict[str, int]) -> None:
    headers = _headers(client)
    before = _read(client, headers)
    response = _patch(client, headers, submission_deadline="2099-04-13T23:59:59")
    assert response.status_code == 422, response.text
    assert (response.json()["code"], response.json()["field"]) == ("naive_time", "submission_deadline")
    assert _read(client, headers) == before
    # A number is not a time (read leniently it would be seconds since 1970: schemathesis found that).
    for number in (0, 0.0, 1_700_000_000):
        response = _patch(client, headers, submission_opens_at=number)
        assert response.status_code == 422 and response.json()["code"] == "invalid", response.text
    assert _read(client, headers) == before
    # The same instant with an offset is taken, and read back in UTC.
    response = _patch(client, headers, submission_deadline="2099-04-13T23:59:59+08:00", forward_deadline=None,
                      report_due_at=None, showcase_starts_at=None, showcase_ends_at=None)
    assert response.status_code == 200, response.text
    assert _at(response.json()["submission_deadline"]) == datetime(2099, 4, 13, 15, 59, 59, tzinfo=UTC)


def test_report_activities_and_unknown_fields_are_not_patched_here(client: Any, demo: dict[str, int]) -> None:
    headers = _headers(client)
    changes: list[dict[str, Any]] = [{"report_activities": []}, {"no_such_setting": 1}]
    for change in changes:
        response = _patch(client, headers, **change)
        assert response.status_code == 422 and response.json()["code"] == "invalid", response.text


def test_the_review_checklist_is_a_setting_and_names_the_duration_limit(client: Any, demo: dict[str, int]) -> None:
    headers = _headers(client)
    reviewer = _headers(client, "demo-reviewer")
    items = [
        {"key": "opening_line", "label": "开头语为“{opening_line}”", "required": True},
        {"key": "duration", "label": "时长不超过 {max_duration}", "required": True},
        {"key": "subtitles", "label": "有中文字幕", "required": True},
        {"key": "credits", "label": "片尾注明作者", "required": False},
    ]
    changed = _patch(client, headers, review_checklist=items, max_duration_s=90)
    assert changed.status_code == 200, changed.text
    assert changed.json()["review_checklist"] == items
    shown = client.get("/api/v1/review/checklist", headers=reviewer)
    assert shown.status_code == 200, shown.text
    labels = {item["key"]: item["label"] for item in shown.json()}
    assert labels["duration"] == "时长不超过 90 秒" and "{" not in labels["opening_line"]
    assert [item["required"] for item in shown.json()] == [True, True, True, False]
    # The label follows the limit it names.
    with session_scope() as session:
        campaign = session.exec(select(Campaign).where(col(Campaign.is_active))).one()
        campaign.max_duration_s = 120
        session.add(campaign)
    assert client.get("/api/v1/review/checklist", headers=reviewer).json()[1]["label"] == "时长不超过 2 分钟"

    for bad, code in [
        ([], "invalid_checklist"),
        ([{"key": "Bad Key", "label": "x"}], "invalid_checklist_key"),
        ([{"key": "a", "label": "x"}, {"key": "a", "label": "y"}], "duplicate_checklist_key"),
        ([{"key": "a", "label": "  "}], "invalid_checklist_label"),
        ([{"key": "a", "label": "时长不超过{max_minutes}"}], "invalid_checklist_label"),
    ]:
        refused = _patch(client, headers, review_checklist=bad)
        assert refused.status_code == 422, (bad, refused.text)
        assert (refused.json()["code"], refused.json()["field"]) == (code, "review_checklist"), refused.text
    assert _read(client, headers)["review_checklist"] == items


def test_a_showcase_overlapping_the_submission_window_is_allowed_with_a_warning(
    client: Any, demo: dict[str, int]
) -> None:
    headers = _headers(client)
    deadline = _at(_read(client, headers)["submission_deadline"])
    response = _patch(
        client, headers, showcase_starts_at=_iso(deadline - timedelta(days=2)),
        showcase_ends_at=_iso(deadline + timedelta(days=5)),
    )
    assert response.status_code == 200, response.text
    assert [w["code"] for w in response.json()["warnings"]] == ["showcase_overlaps_submission"]
    assert _at(response.json()["showcase_starts_at"]) == deadline - timedelta(days=2)


def test_a_limit_is_not_lowered_below_works_already_in_without_naming_them(
    client: Any, demo: dict[str, int]
) -> None:
    headers = _headers(client)
    big = _work_with_file("大文件作品", 200 * 1024 * 1024, 60.0)
    long = _work_with_file("长作品", 10 * 1024 * 1024, 115.0)
    _work_with_file("短作品", 10 * 1024 * 1024, 30.0)
    before = _read(client, headers)

    response = _patch(client, headers, max_size_bytes=100 * 1024 * 1024)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert (problem["code"], problem["field"]) == ("limit_below_works", "max_size_bytes")
    assert [w["id"] for w in problem["works"]] == [big] and problem["works_count"] == 1
    assert "大文件作品" in problem["detail"]
    response = _patch(client, headers, max_duration_s=90)
    assert response.status_code == 422 and response.json()["field"] == "max_duration_s", response.text
    assert [(w["id"], w["title"]) for w in response.json()["works"]] == [(long, "长作品")]
    assert _read(client, headers) == before

    # Lowered to what every work still meets: no question asked.
    response = _patch(client, headers, max_duration_s=115)
    assert response.status_code == 200 and response.json()["warnings"] == [], response.text
    # With force the change applies, and the answer and the audit still say which works exceed it.
    response = _patch(client, headers, max_size_bytes=100 * 1024 * 1024, force=True)
    assert response.status_code == 200, response.text
    assert response.json()["max_size_bytes"] == 100 * 1024 * 1024
    assert [(w["code"], [x["id"] for x in w["works"]]) for w in response.json()["warnings"]] == [
        ("limit_below_works", [big])
    ]
    with session_scope() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "campaign_update")
                             .order_by(col(AuditEvent.id).desc())).first()
        assert event is not None and event.data["works_over_limit"] == [big] and event.reason == "force"


def test_a_change_on_an_older_revision_is_a_409_and_changes_nothing(client: Any, demo: dict[str, int]) -> None:
    headers = _headers(client)
    read = _read(client, headers)
    first = _patch(client, headers, revision=read["revision"], name="甲管理员的改动")
    assert first.status_code == 200, first.text
    second = _patch(client, headers, revision=read["revision"], name="乙管理员的改动")
    assert second.status_code == 409, second.text
    assert second.json()["code"] == "campaign_changed"
    assert _read(client, headers)["name"] == "甲管理员的改动"


def test_a_moved_deadline_is_what_the_submitter_is_shown_and_held_to(client: Any, demo: dict[str, int]) -> None:
    headers = _headers(client)
    submitter = _headers(client, "demo-submitter")
    before = _read(client, headers)
    moved = _at(before["submission_deadline"]) + timedelta(days=2, hours=3)
    assert _patch(client, headers, submission_deadline=_iso(moved)).status_code == 200
    assert _at(_read(client, submitter)["submission_deadline"]) == moved
    assert login(client).status_code == 303
    page = client.get("/works/new")
    assert page.status_code == 200 and f"提交截止：<strong>{fmt_local(moved)}</strong>" in page.text

    # Moved into the past: the works API refuses a new work, naming the new deadline.
    past = datetime.now(UTC) - timedelta(hours=1)
    response = _patch(client, headers, submission_opens_at=_iso(past - timedelta(days=30)),
                      submission_deadline=_iso(past), forward_deadline=None, report_due_at=None)
    assert response.status_code == 200, response.text
    response = client.post("/api/v1/works", json={"title": "截止后的作品"}, headers=submitter)
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "deadline_passed" and fmt_local(past) in response.json()["detail"]


def test_next_years_campaign_copies_settings_and_quotas_but_not_works(client: Any, demo: dict[str, int]) -> None:
    headers = _headers(client)
    submitter = _headers(client, "demo-submitter")
    draft = client.post("/api/v1/works", json={"title": "上一届的草稿"}, headers=submitter)
    assert draft.status_code == 201, draft.text
    old_work = _work_with_file("上一届的作品", 1024, 10.0)
    ready = _work_with_file("上一届未提交的作品", 1024, 10.0, status="ready")
    assert _patch(client, headers, max_duration_s=100, quota_by_kind={"city": 11}).status_code == 200
    with session_scope() as session:
        hebei = session.exec(select(Province).where(Province.code == "hebei")).one()
        campaign_id = session.exec(select(Campaign).where(col(Campaign.is_active))).one().id or 0
        session.add(ProvinceQuota(campaign_id=campaign_id, province_id=hebei.id or 0, required=42))
    old = _read(client, headers)

    response = client.post("/api/v1/campaigns", json={"name": "“人人话保密”2025", "year": old["year"] + 2},
                           headers=headers)
    assert response.status_code == 201, response.text
    new = response.json()
    assert new["id"] != old["id"] and new["year"] == old["year"] + 2 and new["is_active"] is True
    assert new["name"] == "“人人话保密”2025" and new["revision"] == 1
    for name in ("max_size_bytes", "max_duration_s", "upload_grace_minutes", "allowed_brands", "rights_notice",
                 "opening_line_template", "organiser", "quota_by_kind", "review_checklist", "claim_ttl_hours"):
        assert new[name] == old[name], name
    # Dates: the same Beijing wall-clock time two years later.
    for name in ("submission_opens_at", "submission_deadline", "showcase_starts_at", "showcase_ends_at",
                 "report_due_at", "forward_deadline"):
        was = _at(old[name]).astimezone(CAMPAIGN_TZ)
        assert _at(new[name]).astimezone(CAMPAIGN_TZ) == was.replace(year=was.year + 2), name
    assert _read(client, headers)["id"] == new["id"]

    with session_scope() as session:
        old_quotas = {q.unit_id: q.required for q in session.exec(
            select(UnitQuota).where(UnitQuota.campaign_id == old["id"]))}
        new_quotas = {q.unit_id: q.required for q in session.exec(
            select(UnitQuota).where(UnitQuota.campaign_id == new["id"]))}
        assert old_quotas and new_quotas == old_quotas
        minimums = {q.province_id: q.required for q in session.exec(
            select(ProvinceQuota).where(ProvinceQuota.campaign_id == new["id"]))}
        assert list(minimums.values()) == [42]
        assert session.exec(select(Work).where(Work.campaign_id == new["id"])).first() is None
        assert len(session.exec(select(Work).where(Work.campaign_id == old["id"])).all()) == 3
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "campaign_create")).one()
        assert event.data["copied_from"] == old["id"] and event.data["years_shifted"] == 2

    # The earlier campaign stays readable and takes no new works; a new work goes to the new campaign.
    listed = client.get("/api/v1/campaigns", headers=submitter).json()
    assert [(c["id"], c["is_active"]) for c in listed] == [(new["id"], True), (old["id"], False)]
    assert client.get(f"/api/v1/works/{old_work}", headers=submitter).status_code == 200
    for work_id in (ready, draft.json()["id"]):
        response = client.post(f"/api/v1/works/{work_id}/submit", headers=submitter)
        assert response.status_code == 409 and response.json()["code"] == "campaign_closed", response.text
    response = client.post(
        "/api/v1/uploads", headers={**submitter, "Tus-Resumable": "1.0.0", "Upload-Length": "1024",
                                    "Upload-Metadata": f"work_id {_b64(str(draft.json()['id']))}"},
    )
    assert response.status_code == 409 and response.json()["code"] == "campaign_closed", response.text
    # The copy opens two years later; opened now for the rehearsal, a new work goes to it.
    opened = _patch(client, headers, revision=new["revision"],
                    submission_opens_at=_iso(datetime.now(UTC) - timedelta(days=1)))
    assert opened.status_code == 200, opened.text
    created = client.post("/api/v1/works", json={"title": "新一届的作品"}, headers=submitter)
    assert created.status_code == 201, created.text
    with session_scope() as session:
        work = session.get(Work, created.json()["id"])
        assert work is not None and work.campaign_id == new["id"]

    # The year is next year's or later, once.
    again = client.post("/api/v1/campaigns", json={"name": "重复", "year": new["year"]}, headers=headers)
    assert again.status_code == 422 and again.json()["code"] == "year_not_after_current", again.text


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def test_a_29_february_date_moves_to_the_28th(client: Any, demo: dict[str, int]) -> None:
    headers = _headers(client)
    leap = datetime(2024, 2, 29, 23, 59, tzinfo=CAMPAIGN_TZ)
    with session_scope() as session:
        campaign = session.exec(select(Campaign).where(col(Campaign.is_active))).one()
        campaign.submission_deadline = leap
        campaign.submission_opens_at = leap - timedelta(days=30)
        campaign.forward_deadline = campaign.report_due_at = None
        campaign.showcase_starts_at = campaign.showcase_ends_at = None
        session.add(campaign)
        year = campaign.year
    response = client.post("/api/v1/campaigns", json={"name": "下一届", "year": year + 1}, headers=headers)
    assert response.status_code == 201, response.text
    # One year later: 2025 has no 29 February.
    shifted = as_utc(_at(response.json()["submission_deadline"])).astimezone(CAMPAIGN_TZ)
    assert shifted == datetime(2025, 2, 28, 23, 59, tzinfo=CAMPAIGN_TZ)


def test_two_admins_changing_at_once_cannot_overwrite_each_other(demo: dict[str, int]) -> None:
    """Both read the same revision; the second to write, past the first's commit, is refused by the
    compare-and-set itself (not only by the revision it was sent)."""
    from clipjury.accounts.models import User
    from clipjury.campaigns import settings_service
    from clipjury.campaigns.service import active_campaign

    with session_scope() as first, session_scope() as second:
        admin_a = first.exec(select(User).where(User.username == "demo-admin")).one()
        admin_b = second.exec(select(User).where(User.username == "demo-admin")).one()
        revision = active_campaign(first).revision
        # Held, so the second session's identity map keeps what it read, as a request in flight would.
        seen_by_second = active_campaign(second)
        assert seen_by_second.revision == revision
        settings_service.update_settings(first, admin_a, {"name": "甲"}, revision=revision)
        first.commit()
        with pytest.raises(settings_service.CampaignChanged):
            settings_service.update_settings(second, admin_b, {"name": "乙"}, revision=revision)
        second.rollback()
    with session_scope() as session:
        campaign = active_campaign(session)
        assert (campaign.name, campaign.revision) == ("甲", revision + 1)


def test_the_fixed_contract_patches_without_a_revision(client: Any, demo: dict[str, int]) -> None:
    """Outside checks send any subset of the settings and nothing else: the revision is optional."""
    headers = _headers(client)
    before = _read(client, headers)
    deadline = _at(before["submission_deadline"]) + timedelta(days=2)
    done = client.patch(URL, json={"submission_deadline": deadline.isoformat()}, headers=headers)
    assert done.status_code == 200, done.text
    assert _at(done.json()["submission_deadline"]) == deadline
    assert done.json()["revision"] == before["revision"] + 1
    stale = client.patch(URL, json={"revision": before["revision"], "name": "旧页面"}, headers=headers)
    assert stale.status_code == 409 and stale.json()["code"] == "campaign_changed", stale.text
