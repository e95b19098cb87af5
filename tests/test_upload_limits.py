"""Per-account limits on works and uploads, and who may upload at all, on tus and the raw PUT alike."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from clipjury.db import session_scope
from clipjury.settings import get_settings
from clipjury.timeutil import utcnow
from clipjury.uploads.models import Upload
from tests.conftest import token_for
from tests.test_uploads import MIB, TUS, create, meta, new_work, patch, payload

ENDPOINT = "/api/v1/uploads"


def tus_create(client: Any, auth: dict[str, str], length: int, **metadata: str) -> Any:
    headers = {**auth, **TUS, "Upload-Length": str(length)}
    if metadata:
        headers["Upload-Metadata"] = meta(**metadata)
    return client.post(ENDPOINT, headers=headers)


def tus_partial(client: Any, auth: dict[str, str], length: int) -> Any:
    return client.post(ENDPOINT, headers={**auth, **TUS, "Upload-Length": str(length), "Upload-Concat": "partial"})


def put(client: Any, auth: dict[str, str], work_id: int, data: bytes) -> Any:
    return client.put(f"/api/v1/works/{work_id}/video", content=data,
                      headers={**auth, "Content-Type": "video/mp4"})


def refused(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["detail"])  # a message the user can read


@pytest.mark.parametrize("username", ["demo-reviewer", "demo-province-admin", "demo-admin", "demo-judge"])
def test_roles_that_cannot_submit_cannot_create_uploads(client: Any, auth: dict[str, str], username: str) -> None:
    work_id = new_work(client, auth)
    other = {"Authorization": f"Bearer {token_for(client, username)}"}
    # A partial needs no work: it was the way around the ownership check.
    answer = tus_partial(client, other, 1000)
    refused(answer, 403, "role_cannot_submit")
    assert answer.headers["tus-resumable"] == "1.0.0"
    refused(tus_create(client, other, 1000, work_id=str(work_id)), 403, "role_cannot_submit")
    refused(put(client, other, work_id, b"x" * 100), 403, "role_cannot_submit")
    keyed = client.put(f"/api/v1/works/{work_id}/video", content=b"x" * 100,
                       headers={**other, "Content-Type": "video/mp4", "Idempotency-Key": "same-file-1"})
    refused(keyed, 403, "role_cannot_submit")
    with session_scope() as session:
        assert session.exec(select(Upload)).first() is None


def test_drafts_per_account(client: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "max_draft_works_per_account", 2)
    first, _second = new_work(client, auth), new_work(client, auth)
    refused(client.post("/api/v1/works", json={"title": "第三个"}, headers=auth), 429, "too_many_drafts")
    # A draft that gets its file is no longer a draft: room for a new one.
    assert put(client, auth, first, payload(1000)).status_code == 202
    new_work(client, auth)
    coordinator = {"Authorization": f"Bearer {token_for(client, 'demo-coordinator')}"}
    new_work(client, coordinator), new_work(client, coordinator)  # counted per account


def test_uploads_in_progress_per_account(client: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "max_active_uploads_per_account", 2)
    work_id = new_work(client, auth)
    first = create(client, auth, work_id, 1000)
    create(client, auth, work_id, 1000)
    answer = tus_create(client, auth, 1000, work_id=str(work_id))
    refused(answer, 429, "too_many_uploads")
    assert answer.headers["tus-resumable"] == "1.0.0"
    refused(put(client, auth, work_id, payload(1000)), 429, "too_many_uploads")
    # Finishing (or ending) one makes room.
    assert patch(client, auth, first, 0, payload(1000)).status_code == 204
    assert tus_create(client, auth, 1000, work_id=str(work_id)).status_code == 201


def test_partials_not_joined_per_account(client: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "max_orphan_partials_per_account", 2)
    urls = [tus_partial(client, auth, 10).headers["location"] for _ in range(2)]
    refused(tus_partial(client, auth, 10), 429, "too_many_partials")
    for url in urls:
        upload_id = url.rsplit("/", 1)[-1]
        assert patch(client, auth, upload_id, 0, b"0123456789").status_code == 204
    work_id = new_work(client, auth)
    joined = client.post(ENDPOINT, headers={**auth, **TUS, "Upload-Concat": "final;" + " ".join(urls),
                                            "Upload-Metadata": meta(work_id=str(work_id))})
    assert joined.status_code == 201, joined.text
    assert tus_partial(client, auth, 10).status_code == 201  # joined pieces no longer count


def test_bytes_per_day_per_account(client: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "max_upload_bytes_per_day", 3 * MIB)
    work_id = new_work(client, auth)
    started = create(client, auth, work_id, 2 * MIB)
    refused(tus_create(client, auth, 2 * MIB, work_id=str(work_id)), 429, "daily_upload_quota")
    refused(put(client, auth, work_id, payload(2 * MIB)), 429, "daily_upload_quota")
    assert tus_create(client, auth, MIB, work_id=str(work_id)).status_code == 201
    # What was started more than a day ago no longer counts.
    with session_scope() as session:
        session.execute(update(Upload).where(col(Upload.id) == started)
                        .values(created_at=utcnow() - timedelta(days=1, minutes=1)))
    assert put(client, auth, work_id, payload(2 * MIB)).status_code == 202
