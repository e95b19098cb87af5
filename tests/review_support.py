"""Builders for the review tests: submitted works, through the real upload path or straight through the
works service (a ready version recorded as a worker would, then ``submit``) when a test needs many."""

from __future__ import annotations

from typing import Any

from clipjury.campaigns.models import DEFAULT_REVIEW_CHECKLIST
from tests.conftest import run_jobs, token_for

# Every item of the default review checklist, by key: what a pass must tick.
ALL_ITEMS = [str(item["key"]) for item in DEFAULT_REVIEW_CHECKLIST]
# An API verdict body that passes a work.
PASS: dict[str, object] = {"decision": "pass", "checklist": ALL_ITEMS}


def headers_for(client: Any, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(client, username)}"}


def uploaded_and_submitted(client: Any, headers: dict[str, str], title: str = "我在河北省话保密") -> int:
    """A work through the real path: create, PUT an MP4, validate with the worker, submit."""
    from tests import media

    work = client.post("/api/v1/works", json={"title": title}, headers=headers)
    assert work.status_code == 201, work.text
    work_id = int(work.json()["id"])
    body = media.valid_mp4(1).read_bytes()
    put = client.put(
        f"/api/v1/works/{work_id}/video", content=body,
        headers={**headers, "Content-Type": "video/mp4", "Content-Disposition": "attachment; filename=a.mp4"},
    )
    assert put.status_code in (200, 201, 202), put.text
    run_jobs()
    submitted = client.post(f"/api/v1/works/{work_id}/submit", headers=headers)
    assert submitted.status_code == 200, submitted.text
    return work_id


def submitted_works(username: str, count: int, *, title: str = "作品") -> list[int]:
    """``count`` submitted works of ``username`` without ffmpeg: each gets a version recorded as ready
    through ``apply_verdict`` (what the worker calls), then ``submit``."""
    from sqlmodel import select

    from clipjury.accounts.models import User
    from clipjury.db import session_scope
    from clipjury.media.rules import Verdict
    from clipjury.timeutil import utcnow
    from clipjury.works import service

    ids: list[int] = []
    with session_scope() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        for i in range(count):
            work = service.create_work(session, user, title=f"{title} {i + 1}")
            version = service.add_version(
                session, work, actor=user, object_key=f"test/{work.id}/v.mp4", size_bytes=1000,
                filename="v.mp4", upload_id=None, upload_started_at=utcnow(),
            )
            measured = service.MeasuredMedia(sha256=f"{work.id:064d}", duration_s=30.0, width=1280, height=720,
                                             video_codec="h264", audio_codec="aac", major_brand="isom")
            service.apply_verdict(session, version.id or 0, Verdict(ok=True), measured)
            service.submit(session, user, work.id or 0)
            ids.append(work.id or 0)
    return ids
