"""Old versions' stored files are deleted after the retention; the submitted and current ones stay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from clipjury.db import session_scope
from clipjury.media.rules import RejectionCode, Verdict
from clipjury.timeutil import utcnow
from clipjury.works import service
from clipjury.works.models import Work, WorkVersion
from clipjury.works.retention import purge_old_versions
from storage import get_store
from tests.test_uploads import new_work, payload
from workers.tasks import sweep

MEASURED = service.MeasuredMedia(duration_s=30.0, width=1280, height=720, video_codec="h264", audio_codec="aac")


def upload_version(client: Any, auth: dict[str, str], work_id: int, ok: bool, seed: int) -> int:
    """A file through the raw PUT, then the verdict as the worker records it, and a poster as it stores one."""
    answer = client.put(f"/api/v1/works/{work_id}/video", content=payload(1000, seed=seed),
                        headers={**auth, "Content-Type": "video/mp4"})
    assert answer.status_code == 202, answer.text
    with session_scope() as session:
        work = session.get(Work, work_id)
        assert work is not None and work.pending_version_id is not None
        version_id = work.pending_version_id
        verdict = Verdict(ok=True) if ok else Verdict(ok=False, code=RejectionCode.corrupt, message="文件已损坏。")
        service.apply_verdict(session, version_id, verdict, MEASURED)
        poster = f"works/{work_id}/v{version_id}/poster.jpg"
        get_store().put_bytes(poster, b"jpeg", content_type="image/jpeg")
        session.execute(update(WorkVersion).where(col(WorkVersion.id) == version_id).values(poster_key=poster))
    return version_id


def age(version_ids: list[int], days: int) -> None:
    with session_scope() as session:
        session.execute(update(WorkVersion).where(col(WorkVersion.id).in_(version_ids))
                        .values(created_at=utcnow() - timedelta(days=days)))


def stored(version_id: int) -> set[str]:
    store = get_store()
    with session_scope() as session:
        version = session.get(WorkVersion, version_id)
        assert version is not None
        keys = [version.object_key, version.poster_key or ""]
    return {key for key in keys if store.head(key) is not None}


def purged_at(version_id: int) -> Any:
    with session_scope() as session:
        version = session.get(WorkVersion, version_id)
        assert version is not None
        return version.purged_at


def test_old_versions_lose_their_files_after_the_retention(client: Any, auth: dict[str, str]) -> None:
    work_id = new_work(client, auth)
    replaced = upload_version(client, auth, work_id, ok=True, seed=1)
    rejected = upload_version(client, auth, work_id, ok=False, seed=2)
    current = upload_version(client, auth, work_id, ok=True, seed=3)
    assert client.post(f"/api/v1/works/{work_id}/submit", headers=auth).status_code == 200
    young = new_work(client, auth, "新作品")
    recent = upload_version(client, auth, young, ok=False, seed=4)
    upload_version(client, auth, young, ok=True, seed=5)
    age([replaced, rejected, current], days=31)
    age([recent], days=29)
    assert all(len(stored(v)) == 2 for v in (replaced, rejected, current, recent))

    sweep()

    assert stored(replaced) == stored(rejected) == set()
    assert purged_at(replaced) is not None and purged_at(rejected) is not None
    assert len(stored(current)) == 2 and purged_at(current) is None  # submitted and current
    assert len(stored(recent)) == 2 and purged_at(recent) is None  # within the retention
    assert client.get(f"/api/v1/works/{work_id}", headers=auth).status_code == 200  # history intact
    with session_scope() as session:
        assert purge_old_versions(session, get_store(), utcnow()) == 0  # a second run has nothing to do


def test_the_submitted_version_stays_when_a_newer_one_is_current(client: Any, auth: dict[str, str]) -> None:
    """A returned work keeps the version the review saw while the submitter uploads a new one."""
    work_id = new_work(client, auth)
    submitted = upload_version(client, auth, work_id, ok=True, seed=6)
    current = upload_version(client, auth, work_id, ok=True, seed=7)
    with session_scope() as session:
        session.execute(update(Work).where(col(Work.id) == work_id).values(submitted_version_id=submitted))
    age([submitted, current], days=60)
    with session_scope() as session:
        assert purge_old_versions(session, get_store(), utcnow()) == 0
    assert len(stored(submitted)) == 2 and len(stored(current)) == 2
