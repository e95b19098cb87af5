"""``GET /healthz``: 200 when the database, Redis and the object store answer, 503 naming exactly what is down."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import free_port


def test_all_up(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ok", "checks": {"database": "ok", "redis": "ok", "storage": "ok"}, "down": [],
    }


def _clear_cached_clients() -> None:
    from clipjury.settings import get_settings
    from storage import get_store

    get_settings.cache_clear()
    get_store.cache_clear()  # the Redis client and the engine are cached per URL, so a new URL is a new one


@pytest.fixture()
def point_at(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Re-point the settings at other endpoints for one test; everything is restored afterwards."""

    def apply(**env: str) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        _clear_cached_clients()

    yield apply
    monkeypatch.undo()
    _clear_cached_clients()


# Nothing listens on a port we just bound and released, so connecting to it is refused at once.
DOWN = {
    "database": lambda port: {"CLIPJURY_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{port}/nothing"},
    "redis": lambda port: {"CLIPJURY_REDIS_URL": f"redis://127.0.0.1:{port}/0"},
    "storage": lambda port: {"CLIPJURY_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}"},
}


@pytest.mark.parametrize("down", [["redis"], ["storage"], ["database"], ["redis", "storage"],
                                  ["database", "redis", "storage"]])
def test_names_what_is_down(point_at: Any, down: list[str]) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    env: dict[str, str] = {}
    for name in down:
        env.update(DOWN[name](free_port()))
    point_at(**env)
    with TestClient(create_app()) as client:
        started = time.monotonic()
        response = client.get("/healthz")
        elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["status"] == "down"
    assert body["down"] == down
    assert body["checks"] == {name: ("down" if name in down else "ok") for name in ("database", "redis", "storage")}
    # A load balancer polls this: a dead dependency must not make the check itself hang.
    assert elapsed < 10, f"/healthz took {elapsed:.1f}s"


def test_recovers_when_the_service_is_back(point_at: Any) -> None:
    """The check asks anew each time: a failure is not cached, so the same process turns healthy again."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.conftest import REDIS_URL

    point_at(CLIPJURY_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    with TestClient(create_app()) as client:
        assert client.get("/healthz").json()["down"] == ["redis"]
        point_at(CLIPJURY_REDIS_URL=REDIS_URL)
        response = client.get("/healthz")
        assert response.status_code == 200, response.text
