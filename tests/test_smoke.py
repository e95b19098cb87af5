"""The foundation: migrations, demo seed, login, works, health."""

from __future__ import annotations

from typing import Any

from tests.conftest import token_for


def test_seed_is_idempotent(demo: dict[str, int], demo_hash: str) -> None:
    from sqlmodel import func, select

    from clipjury.accounts.models import Unit, User
    from clipjury.campaigns.models import Campaign, UnitQuota
    from clipjury.db import session_scope
    from clipjury.seed import seed_demo

    with session_scope() as session:
        seed_demo(session, password_hash=demo_hash)
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(Campaign)).one() == 1
        assert session.exec(select(func.count()).select_from(Unit)).one() == 25
        assert session.exec(select(func.count()).select_from(User)).one() == 13
        quotas = {q.required for q in session.exec(select(UnitQuota))}
        assert quotas == {10, 2, 1}


def test_login_and_create_work(client: Any, demo: Any) -> None:
    bad = client.post("/api/v1/auth/token", data={"username": "demo-submitter", "password": "nope"})
    assert bad.status_code == 401
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["code"] == "bad_credentials"
    headers = {"Authorization": f"Bearer {token_for(client, 'demo-submitter')}"}
    created = client.post("/api/v1/works", json={"title": "我在河北省话保密", "description": "测试"}, headers=headers)
    assert created.status_code == 201, created.text
    work = created.json()
    assert work["status"] == "draft" and work["rejection"] is None and work["media"] is None
    assert work["submitted_at"] is None
    got = client.get(f"/api/v1/works/{work['id']}", headers=headers)
    assert got.status_code == 200 and got.json()["id"] == work["id"]
    other = {"Authorization": f"Bearer {token_for(client, 'demo-coordinator')}"}
    assert client.get(f"/api/v1/works/{work['id']}", headers=other).status_code == 404
    assert client.get("/api/v1/works/999999", headers=headers).json()["code"] == "work_not_found"


def test_submit_draft_is_refused(client: Any, auth: Any) -> None:
    work = client.post("/api/v1/works", json={"title": "t"}, headers=auth).json()
    response = client.post(f"/api/v1/works/{work['id']}/submit", headers=auth)
    assert response.status_code == 409 and response.json()["code"] == "not_ready"


def test_healthz(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "storage": "ok"}


def test_work_events_record_the_lifecycle(client: Any, auth: Any) -> None:
    work = client.post("/api/v1/works", json={"title": "审计"}, headers=auth).json()
    events = client.get(f"/api/v1/works/{work['id']}/events", headers=auth).json()
    assert [(e["action"], e["by"], e["to_status"]) for e in events] == [("create", "demo-submitter", "draft")]


def test_every_setting_is_documented_in_the_readme() -> None:
    """The README's configuration table names every setting (a new one without a row fails here)."""
    from pathlib import Path

    from clipjury.settings import Settings

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    names = list(Settings.model_fields)
    assert len(names) > 30 and "s3_sign_payload" in names
    missing = [name for name in names if f"`CLIPJURY_{name.upper()}`" not in readme]
    assert missing == []
