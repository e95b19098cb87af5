"""The ``clipjury`` command line as an operator runs it: migrate, seed-demo, the production guards, run-local."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import create_engine, func, select

from clipjury import devservices
from clipjury.settings import DEV_PHONE_HMAC_KEY, DEV_PHONE_KEY, DEV_SECRET_KEY, Settings
from tests.conftest import ROOT, TEST_ENV, TMP, free_port, scratch_database

PRODUCTION_ENV = {
    "CLIPJURY_ENV": "production",
    "CLIPJURY_SECRET_KEY": "a-real-production-secret-of-more-than-32-chars",
    "CLIPJURY_S3_ACCESS_KEY_ID": "a-real-store-key",
    "CLIPJURY_S3_SECRET_ACCESS_KEY": "a-real-store-secret",
    "CLIPJURY_COOKIE_SECURE": "true",
    "CLIPJURY_ALLOW_LOOPBACK_S3": "true",  # the suite's store is on loopback
    "CLIPJURY_SMS_SENDER": "webhook",
    "CLIPJURY_SMS_WEBHOOK_URL": "https://sms-relay.example/send",
    "CLIPJURY_SMS_WEBHOOK_TOKEN": "a-real-relay-token-of-some-length",
    "CLIPJURY_PHONE_KEY": "a-real-phone-encryption-key-of-40-chars!",
    "CLIPJURY_PHONE_HMAC_KEY": "a-real-phone-lookup-key-of-40-characters",
}


def clipjury(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clipjury_cli", *args], cwd=ROOT,
        env=devservices.child_env(**{**TEST_ENV, **(env or {})}), capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture()
def fresh_database() -> Iterator[str]:
    """An empty database of the kind the suite runs on, so migrations are tested from nothing."""
    with scratch_database("cli") as url:
        yield url


def _counts(url: str) -> dict[str, int]:
    from clipjury.accounts.models import Unit, User
    from clipjury.campaigns.models import Campaign, UnitQuota

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                model.__name__: int(conn.execute(select(func.count()).select_from(model)).scalar_one())
                for model in (Campaign, Unit, UnitQuota, User)
            }
    finally:
        engine.dispose()


def test_migrate_and_seed_demo_are_idempotent(fresh_database: str) -> None:
    env = {"CLIPJURY_DATABASE_URL": fresh_database}
    for _ in range(2):
        migrated = clipjury("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
    first = clipjury("seed-demo", env=env)
    assert first.returncode == 0, first.stderr
    counts = _counts(fresh_database)
    assert counts["Campaign"] == 1 and counts["User"] == 13 and counts["Unit"] == 25, counts
    second = clipjury("seed-demo", env=env)
    assert second.returncode == 0, second.stderr
    assert _counts(fresh_database) == counts


def test_migrations_build_the_schema_the_models_declare(fresh_database: str) -> None:
    """Every table, column, type and index of the models comes from a migration (none forgotten)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import clipjury.models  # noqa: F401  (registers every table)
    from clipjury.db import make_engine
    from clipjury.migrate import upgrade

    upgrade(fresh_database)
    engine = make_engine(fresh_database)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, SQLModel.metadata) == []
    finally:
        engine.dispose()


def test_seed_demo_refuses_production(fresh_database: str) -> None:
    env = {"CLIPJURY_DATABASE_URL": fresh_database, **PRODUCTION_ENV}
    migrated = clipjury("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    refused = clipjury("seed-demo", env=env)
    assert refused.returncode == 2
    assert "refuse" in refused.stderr
    assert _counts(fresh_database) == {"Campaign": 0, "Unit": 0, "UnitQuota": 0, "User": 0}


def test_production_refuses_the_development_secrets() -> None:
    dev_secret = clipjury("migrate", env={"CLIPJURY_ENV": "production"})
    assert dev_secret.returncode == 2
    assert "refusing to start" in dev_secret.stderr and "CLIPJURY_SECRET_KEY" in dev_secret.stderr
    assert "Traceback" not in dev_secret.stderr
    malformed = clipjury("migrate", env={"CLIPJURY_COOKIE_SECURE": "perhaps"})
    assert malformed.returncode == 2 and "CLIPJURY_COOKIE_SECURE: " in malformed.stderr, malformed.stderr

    good: dict[str, Any] = {"env": "production", "secret_key": PRODUCTION_ENV["CLIPJURY_SECRET_KEY"],
            "s3_access_key_id": "a-real-store-key", "s3_secret_access_key": "a-real-store-secret",
            "redis_url": "redis://r:6379/0", "s3_endpoint_url": "https://s3.example", "cookie_secure": True,
            "sms_sender": "webhook", "sms_webhook_url": PRODUCTION_ENV["CLIPJURY_SMS_WEBHOOK_URL"],
            "sms_webhook_token": PRODUCTION_ENV["CLIPJURY_SMS_WEBHOOK_TOKEN"],
            "phone_key": PRODUCTION_ENV["CLIPJURY_PHONE_KEY"],
            "phone_hmac_key": PRODUCTION_ENV["CLIPJURY_PHONE_HMAC_KEY"]}
    Settings(_env_file=None, **good)  # type: ignore[call-arg]  # pydantic-settings: _env_file and the env-filled fields are not in the generated signature
    changes: list[tuple[dict[str, Any], str]] = [
        ({"secret_key": DEV_SECRET_KEY}, "CLIPJURY_SECRET_KEY must be set"),
        ({"secret_key": "too-short"}, "at least 32"),
        ({"s3_secret_access_key": "clipjury-dev-secret"}, "CLIPJURY_S3_SECRET_ACCESS_KEY"),
        ({"s3_access_key_id": "clipjury-dev"}, "CLIPJURY_S3_ACCESS_KEY_ID"),
        ({"redis_url": ""}, "CLIPJURY_REDIS_URL"),
        ({"s3_endpoint_url": ""}, "CLIPJURY_S3_ENDPOINT_URL"),
        ({"cookie_secure": False}, "CLIPJURY_COOKIE_SECURE"),
        # Browsers would get presigned URLs on 127.0.0.1: no visitor could play anything.
        ({"s3_endpoint_url": "http://127.0.0.1:8333"}, "CLIPJURY_S3_PUBLIC_ENDPOINT_URL"),
        ({"s3_endpoint_url": "http://localhost:8333"}, "CLIPJURY_ALLOW_LOOPBACK_S3"),
        ({"s3_public_endpoint_url": "http://[::1]:8333"}, "loopback"),
        # Phone verification: the dev sender sends nothing and shows codes to anyone; the phone keys.
        ({"sms_sender": "dev"}, "CLIPJURY_SMS_SENDER=dev"),
        ({"sms_webhook_url": "http://sms-relay.example/send"}, "https://"),
        ({"sms_webhook_token": ""}, "CLIPJURY_SMS_WEBHOOK_TOKEN"),
        ({"phone_key": DEV_PHONE_KEY}, "CLIPJURY_PHONE_KEY must be set"),
        ({"phone_hmac_key": DEV_PHONE_HMAC_KEY}, "CLIPJURY_PHONE_HMAC_KEY must be set"),
        ({"phone_key": "short"}, "CLIPJURY_PHONE_KEY must be at least 32"),
        ({"phone_hmac_key": PRODUCTION_ENV["CLIPJURY_PHONE_KEY"]}, "must differ"),
    ]
    for change, complaint in changes:
        with pytest.raises(ValueError, match=complaint):
            Settings(_env_file=None, **{**good, **change})  # type: ignore[call-arg]  # pydantic-settings: _env_file and the env-filled fields are not in the generated signature
    # The store on this host is fine when browsers reach it elsewhere, or when the operator says so.
    on_this_host = {**good, "s3_endpoint_url": "http://127.0.0.1:8333"}
    Settings(_env_file=None, **on_this_host, s3_public_endpoint_url="https://video.example.gov.cn")  # type: ignore[call-arg]  # pydantic-settings: _env_file and the env-filled fields are not in the generated signature
    Settings(_env_file=None, **on_this_host, allow_loopback_s3=True)  # type: ignore[call-arg]  # pydantic-settings: _env_file and the env-filled fields are not in the generated signature


def test_the_development_secret_needs_an_explicit_development_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A deployment that forgot CLIPJURY_ENV must not run with the secret anyone can read in the repository."""
    forgot = {key: value for key, value in TEST_ENV.items() if key != "CLIPJURY_ENV"}
    refused = subprocess.run(
        [sys.executable, "-m", "clipjury_cli", "migrate"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={key: value for key, value in devservices.child_env(**forgot).items() if key != "CLIPJURY_ENV"},
    )
    assert refused.returncode == 2, refused.stderr
    assert "CLIPJURY_ENV=development" in refused.stderr and "CLIPJURY_SECRET_KEY" in refused.stderr

    monkeypatch.delenv("CLIPJURY_ENV")
    with pytest.raises(ValueError, match="CLIPJURY_ENV=development"):
        Settings(_env_file=None)  # type: ignore[call-arg]  # pydantic-settings: _env_file and the env-filled fields are not in the generated signature
    # Said explicitly, on loopback: a development machine.
    for env in ("development", "test"):
        assert Settings(_env_file=None, env=env).uses_dev_secret  # type: ignore[call-arg, arg-type]  # pydantic-settings: _env_file is not in the generated signature, and a str stands for an enum field as the environment gives it
    # A real secret needs no declaration.
    assert not Settings(_env_file=None, secret_key="s" * 40).uses_dev_secret  # type: ignore[call-arg, arg-type]  # pydantic-settings: _env_file is not in the generated signature, and a str stands for an enum field as the environment gives it


def test_the_development_secret_is_refused_off_loopback() -> None:
    for host in ("0.0.0.0", "::", "192.168.1.10", "clipjury.example"):
        with pytest.raises(ValueError, match="loopback"):
            Settings(_env_file=None, env="development", host=host)  # type: ignore[call-arg, arg-type]  # pydantic-settings: _env_file is not in the generated signature, and a str stands for an enum field as the environment gives it
    Settings(_env_file=None, env="development", host="::1")  # type: ignore[call-arg, arg-type]  # pydantic-settings: _env_file is not in the generated signature, and a str stands for an enum field as the environment gives it
    Settings(_env_file=None, env="development", host="0.0.0.0", secret_key="s" * 40)  # type: ignore[call-arg, arg-type]  # pydantic-settings: _env_file is not in the generated signature, and a str stands for an enum field as the environment gives it
    # `serve --host` decides where it listens: it must refuse before binding anything.
    port = free_port()
    refused = clipjury("serve", "--host", "0.0.0.0", "--port", str(port), timeout=60)
    assert refused.returncode == 2, refused.stderr
    assert "loopback" in refused.stderr and "0.0.0.0" in refused.stderr
    assert not devservices.port_open("127.0.0.1", port)
    refused = clipjury("run-local", "--host", "0.0.0.0", "--port", str(port), timeout=60)
    assert refused.returncode == 1 and "loopback" in refused.stderr, refused.stderr


def test_trusted_proxies_must_be_addresses() -> None:
    with pytest.raises(ValueError, match="CLIPJURY_TRUSTED_PROXIES"):
        Settings(_env_file=None, env="test", trusted_proxies="127.0.0.1, nginx.internal")  # type: ignore[call-arg, arg-type]  # pydantic-settings: _env_file is not in the generated signature, and a str stands for an enum field as the environment gives it
    settings = Settings(_env_file=None, env="test", trusted_proxies="127.0.0.1, 10.0.0.0/8")  # type: ignore[call-arg, arg-type]  # pydantic-settings: _env_file is not in the generated signature, and a str stands for an enum field as the environment gives it
    assert settings.trusted_proxy_list == ["127.0.0.1", "10.0.0.0/8"]


def _failed_login(url: str, forwarded_for: str) -> int:
    response = httpx.post(f"{url}/api/v1/auth/token", data={"username": "nobody", "password": "wrong"},
                          headers={"X-Forwarded-For": forwarded_for}, timeout=30)
    return response.status_code


@pytest.mark.parametrize("trusted", ["", "127.0.0.1"])
def test_forwarded_for_counts_only_from_trusted_proxies(trusted: str) -> None:
    """The login throttle counts failures per client address. With no trusted proxy, a client on 127.0.0.1
    that claims other addresses in X-Forwarded-For is still 127.0.0.1 (and throttled as such); when
    127.0.0.1 is the trusted proxy, the forwarded address is the client's."""
    port = free_port()
    env = devservices.child_env(**TEST_ENV, CLIPJURY_TRUSTED_PROXIES=trusted, CLIPJURY_LOGIN_MAX_FAILURES="1")
    proc = subprocess.Popen([sys.executable, "-m", "clipjury_cli", "serve", "--port", str(port)], cwd=ROOT, env=env)
    try:
        devservices.wait_for_port("127.0.0.1", port, 60, "clipjury serve")
        url = f"http://127.0.0.1:{port}"
        assert _failed_login(url, "203.0.113.7") == 401
        # The same account from "another address": refused only if that address is not believed.
        assert _failed_login(url, "198.51.100.9") == (429 if not trusted else 401)
    finally:
        devservices.stop(proc)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"run-local exited with {proc.returncode}"
        try:
            response = httpx.get(f"{url}/healthz", timeout=5)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "run-local did not become healthy"
        time.sleep(0.25)


@pytest.mark.slow
def test_run_local_serves_and_stops_cleanly() -> None:
    """Given Redis and S3 (the suite's), run-local migrates, seeds (with demo works), starts a worker and the
    API, and a SIGTERM takes everything it started down with it."""
    port = free_port()
    log_path = TMP / f"run-local-{port}.log"
    with log_path.open("wb") as log:  # a file, not a pipe: a full pipe would block the children
        proc = subprocess.Popen(
            [sys.executable, "-m", "clipjury_cli", "run-local", "--port", str(port), "--workers", "1",
             "--demo-works", "2"],
            cwd=ROOT, env=devservices.child_env(**TEST_ENV), stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        health = _wait_healthy(url, proc)
        assert health.json()["checks"] == {"database": "ok", "redis": "ok", "storage": "ok"}
        token = httpx.post(f"{url}/api/v1/auth/token", data={"username": "demo-submitter", "password": "demo"})
        assert token.status_code == 200, token.text
        # The demo works were made (and validated) before the site opened.
        works = httpx.get(f"{url}/api/v1/works", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        assert works.status_code == 200, works.text
        assert [w["status"] for w in works.json() if w["title"].startswith("演示作品001")] == ["submitted"], works.text
        login = httpx.get(f"{url}/login")
        assert login.status_code == 200 and "text/html" in login.headers["content-type"]

        children = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "serve" in names and "worker" in names, names
        # Redis and S3 were given, so run-local must not have started its own.
        assert "redis-server" not in names and "weed" not in names, names

        proc.send_signal(signal.SIGTERM)
        proc.wait(40)
        output = log_path.read_text()
        assert proc.returncode == 0, output
        assert "demo-submitter" in output and url in output
        assert "demo works: 2 new" in output, output
        _gone, alive = psutil.wait_procs(children, timeout=5)
        assert not alive, f"left behind: {[c.pid for c in alive]}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)  # its children get SIGTERM through PR_SET_PDEATHSIG


def _outside_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return str(address.address)
    return None


def test_the_development_secret_is_served_only_on_loopback_whatever_started_the_server() -> None:
    """Plain uvicorn on 0.0.0.0 gets past the settings (they cannot see where it listens): the app then
    answers only requests that arrived on a loopback address."""
    outside = _outside_address()
    if outside is None:
        pytest.skip("this machine has no address but loopback")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "0.0.0.0", "--port", str(port),
         "--log-level", "warning"], cwd=ROOT, env=devservices.child_env(**TEST_ENV),
    )
    try:
        devservices.wait_for_port("127.0.0.1", port, 60, "uvicorn")
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 200
        api = httpx.post(f"http://{outside}:{port}/api/v1/auth/token",
                         data={"username": "demo-admin", "password": "demo"}, timeout=30)
        assert api.status_code == 503 and api.json()["code"] == "dev_secret_off_loopback", api.text
        assert "CLIPJURY_SECRET_KEY" in api.json()["detail"]
        page = httpx.get(f"http://{outside}:{port}/login", timeout=30)
        assert page.status_code == 503 and "开发密钥" in page.text
    finally:
        devservices.stop(proc)
