"""The submitter's options (clipjury.works.policy) read the same on the work page and in the API: at the
grace boundary the page offers 确认并提交作品 exactly when ``POST /api/v1/works/{id}/submit`` succeeds,
and when both refuse the page says what the API says."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import token_for
from tests.test_ui import add_checked_version, create_work_via_form, login

GRACE_MINUTES = 30


def _place(work_id: int, *, grace_left: timedelta, started_after_deadline: bool) -> None:
    """The deadline passed a while ago and the grace ends in ``grace_left`` (negative: ended); the work's
    file began an hour before the deadline, or a minute after it."""
    from sqlmodel import select

    from clipjury.campaigns.models import Campaign
    from clipjury.db import session_scope
    from clipjury.timeutil import utcnow
    from clipjury.works.models import Work, WorkVersion

    deadline = utcnow() + grace_left - timedelta(minutes=GRACE_MINUTES)
    with session_scope() as session:
        campaign = session.exec(select(Campaign)).one()
        campaign.submission_deadline = deadline
        campaign.upload_grace_minutes = GRACE_MINUTES
        work = session.get(Work, work_id)
        assert work is not None
        version = session.get(WorkVersion, work.current_version_id)
        assert version is not None
        version.upload_started_at = deadline + (
            timedelta(minutes=1) if started_after_deadline else -timedelta(hours=1)
        )


@pytest.mark.parametrize(
    ("grace_left", "late_file", "allowed"),
    [
        pytest.param(timedelta(minutes=1), False, True, id="just-inside-the-grace"),
        pytest.param(timedelta(minutes=-1), False, False, id="just-outside-the-grace"),
        pytest.param(timedelta(minutes=1), True, False, id="inside-the-grace-but-the-file-began-late"),
    ],
)
def test_page_and_api_agree_at_the_grace_boundary(
    client: Any, demo: dict[str, int], grace_left: timedelta, late_file: bool, allowed: bool
) -> None:
    login(client)
    work_id = create_work_via_form(client)
    add_checked_version(work_id, ok=True)
    _place(work_id, grace_left=grace_left, started_after_deadline=late_file)

    page = html.unescape(client.get(f"/works/{work_id}").text)
    fragment = html.unescape(client.get(f"/works/{work_id}/status").text)
    offered = "确认并提交作品" in page
    assert ("确认并提交作品" in fragment) == offered

    headers = {"Authorization": f"Bearer {token_for(client, 'demo-submitter')}"}
    answer = client.post(f"/api/v1/works/{work_id}/submit", headers=headers)
    assert offered == allowed
    if allowed:
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "submitted"
    else:
        assert answer.status_code == 409, answer.text
        assert answer.json()["code"] == "deadline_passed"
        # The page explains the refusal with the API's own words.
        assert answer.json()["detail"] in page
