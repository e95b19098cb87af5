"""A standard tus client (tuspy) works unchanged against a live server, including a resume on another process."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import httpx
from sqlmodel import select
from tusclient import client as tus_client

from clipjury.db import session_scope
from clipjury.uploads.models import Upload
from tests.conftest import LiveServer, token_for
from tests.test_uploads import MIB, assert_completed_once, head, new_work, payload


def _only_upload_id() -> str:
    with session_scope() as session:
        return session.exec(select(Upload)).one().id


def test_tuspy_uploads_in_chunks_and_resumes_on_another_process(
    two_servers: tuple[LiveServer, LiveServer], tmp_path: Path
) -> None:
    first, second = two_servers
    data = payload(13 * MIB + 17, seed=11)
    path = tmp_path / "作品.mp4"
    path.write_bytes(data)
    with httpx.Client(base_url=first.url, timeout=60) as http:
        auth = {"Authorization": f"Bearer {token_for(http, 'demo-submitter')}"}
        work_id = new_work(http, auth)

    metadata = {"work_id": str(work_id), "filename": path.name}
    uploader = tus_client.TusClient(f"{first.url}/api/v1/uploads", headers=auth).uploader(
        str(path), chunk_size=3 * MIB, metadata=metadata, store_url=False
    )
    uploader.upload(stop_at=7 * MIB)  # the office connection drops here
    assert uploader.url is not None and uploader.url.startswith(first.url)
    upload_id = uploader.url.rsplit("/", 1)[-1]

    # Another process (behind the same load balancer) takes over: tuspy asks it for the offset.
    url_on_second = f"{second.url}/api/v1/uploads/{upload_id}"
    resumed = tus_client.TusClient(f"{second.url}/api/v1/uploads", headers=auth).uploader(
        str(path), chunk_size=5 * MIB, url=url_on_second
    )
    assert resumed.offset == 7 * MIB  # tuspy stops exactly there: a full part and a 1 MiB tail
    resumed.upload()
    assert resumed.offset == len(data)
    version = assert_completed_once(upload_id, data)
    assert version.original_filename == "作品.mp4"
    with httpx.Client(base_url=second.url, timeout=60) as http:
        assert head(http, auth, upload_id).headers["upload-offset"] == str(len(data))
        work = http.get(f"/api/v1/works/{work_id}", headers=auth).json()
    assert work["status"] == "processing"


def test_tuspy_async_uploader_single_chunk(two_servers: tuple[LiveServer, LiveServer], tmp_path: Path) -> None:
    server = two_servers[0]
    data = payload(700_000, seed=12)
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        auth = {"Authorization": f"Bearer {token_for(http, 'demo-submitter')}"}
        work_id = new_work(http, auth)
    uploader = tus_client.TusClient(f"{server.url}/api/v1/uploads", headers=auth).async_uploader(
        str(path), chunk_size=8 * MIB, metadata={"work_id": str(work_id), "filename": "clip.mp4"}
    )
    asyncio.run(uploader.upload())
    upload_id = _only_upload_id()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert_completed_once(upload_id, data)
