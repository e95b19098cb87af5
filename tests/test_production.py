"""Running it as production: the documented profile (PostgreSQL, Redis, an S3 store with its own keys, two
API processes behind Debian's nginx with docs/production's configuration, two workers) walked through an
upload with one API process killed mid-upload; and ``clipjury run-local`` bringing back an API process
that died, with the upload going on where it stood.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from clipjury import devservices
from clipjury.devservices import API_MAX_RESTARTS, RESTART_WINDOW_S, RestartPolicy
from clipjury.settings import Settings
from clipjury.uploads.tus_client import encode_metadata
from tests import media
from tests.conftest import ROOT, TEST_DB, TEST_ENV, TMP, free_port, scratch_database, wait_for_bucket

DOCS = ROOT / "docs" / "production"
MIB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
OCTET = "application/offset+octet-stream"


# -- the restart policy ---------------------------------------------------------------------------

def test_restart_policy_pauses_longer_and_gives_up_past_the_cap() -> None:
    policy = RestartPolicy(max_restarts=API_MAX_RESTARTS)
    policy.started = 1000.0
    assert policy.due(1000.5)
    now, pauses = 1000.5, []
    for _ in range(API_MAX_RESTARTS):
        assert not policy.exhausted(now) and policy.due(now)
        policy.restart(now)
        policy.started = now
        pauses.append(policy.pause)
        assert not policy.due(now)
        now += policy.pause
    assert pauses == sorted(pauses) and pauses[-1] > pauses[0]  # dying young: each pause longer
    assert now - 1000.5 < RESTART_WINDOW_S
    assert policy.exhausted(now)  # one exit too many within the window: run-local stops
    assert not policy.exhausted(now + RESTART_WINDOW_S)  # the window moved on
    # A process that ran for longer than the window starts afresh: short pause, counted anew.
    patient = RestartPolicy(max_restarts=API_MAX_RESTARTS)
    for _ in range(API_MAX_RESTARTS * 3):
        now = patient.started + RESTART_WINDOW_S + 1
        assert not patient.exhausted(now)
        patient.restart(now)
        patient.started = now
    assert patient.pause == devservices.FIRST_PAUSE_S
    # Workers have no cap.
    worker = RestartPolicy()
    for t in range(50):
        worker.restart(float(t))
    assert not worker.exhausted(50.0)


# -- the documented environment file --------------------------------------------------------------

def env_file(**values: str) -> dict[str, str]:
    """docs/production/clipjury.env as a dict, with ``values`` (CLIPJURY_ names) put in."""
    env: dict[str, str] = {}
    for line in (DOCS / "clipjury.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    return {**env, **values}


def as_settings(env: dict[str, str]) -> Settings:
    kwargs: dict[str, Any] = {key.removeprefix("CLIPJURY_").lower(): value for key, value in env.items()}
    return Settings(_env_file=None, **kwargs)  # type: ignore[call-arg]  # pydantic-settings: _env_file and the env-filled fields are not in the generated signature


FILLED_IN = {
    "CLIPJURY_SECRET_KEY": "p" * 48,
    "CLIPJURY_DATABASE_URL": "postgresql+psycopg://clipjury:a-password@db.internal:5432/clipjury",
    "CLIPJURY_REDIS_URL": "redis://:a-password@redis.internal:6379/0",
    "CLIPJURY_S3_ACCESS_KEY_ID": "clipjury-production",
    "CLIPJURY_S3_SECRET_ACCESS_KEY": "s" * 40,
    "CLIPJURY_SMS_WEBHOOK_TOKEN": "t" * 32,
    "CLIPJURY_PHONE_KEY": "k" * 40,
    "CLIPJURY_PHONE_HMAC_KEY": "h" * 40,
}


def test_the_documented_environment_file_refuses_until_filled_in() -> None:
    filled: dict[str, str] = {}
    for name in FILLED_IN:  # refused, naming each placeholder left in turn
        with pytest.raises(ValueError, match=f"{name} still holds the placeholder"):
            as_settings(env_file(**filled))
        filled[name] = FILLED_IN[name]
    settings = as_settings(env_file(**FILLED_IN))
    assert settings.env == "production" and settings.cookie_secure and settings.trusted_proxy_list == ["127.0.0.1"]
    assert set(env_file()) <= {f"CLIPJURY_{name.upper()}" for name in Settings.model_fields}


# -- the documented nginx site and systemd units -------------------------------------------------

def _documented(path: Path, replacements: dict[str, str]) -> str:
    """A documented file with its host paths pointed elsewhere; each must still be there to replace."""
    text = path.read_text()
    for old, new in replacements.items():
        assert old in text, f"{path.name} no longer mentions {old}"
        text = text.replace(old, new)
    return text


def test_the_documented_nginx_site_is_valid(tmp_path: Path) -> None:
    """`nginx -t` on docs/production/nginx/clipjury.conf as installed (TLS, redirect, the locations)."""
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=video.example.gov.cn",
                    "-days", "1", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    site = tmp_path / "clipjury"
    site.write_text(_documented(DOCS / "nginx" / "clipjury.conf", {
        "/etc/nginx/snippets/clipjury-locations.conf": str(DOCS / "nginx" / "clipjury-locations.conf"),
        "/etc/ssl/clipjury/fullchain.pem": str(cert),
        "/etc/ssl/clipjury/privkey.pem": str(key),
        "/var/log/nginx/": f"{tmp_path}/",
    }))
    config = tmp_path / "nginx.conf"
    config.write_text(f"pid {tmp_path / 'nginx.pid'};\nevents {{}}\nhttp {{ include {site}; }}\n")
    checked = subprocess.run([nginx_binary(), "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
                              "-c", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_the_documented_systemd_units_are_valid(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    units = []
    for unit in (DOCS / "systemd").iterdir():
        text = _documented(unit, {"/opt/clipjury": str(ROOT)} if unit.suffix == ".service" else {})
        (tmp_path / unit.name).write_text(text)
        # Templates are verified as the instances clipjury.target starts.
        instance = {"clipjury-api@.service": "clipjury-api@8001.service",
                    "clipjury-worker@.service": "clipjury-worker@1.service"}.get(unit.name, unit.name)
        (tmp_path / instance).write_text(text)
        units.append(str(tmp_path / instance))
    verified = subprocess.run([analyze, "verify", "--man=no", *units], capture_output=True, text=True, cwd=tmp_path)
    assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr


# -- tus over HTTP, as a client that resumes does -------------------------------------------------

def _patch(client: httpx.Client, url: str, headers: dict[str, str], offset: int, body: Any, length: int) -> int:
    response = client.patch(url, content=body, headers={
        **headers, **TUS, "Content-Type": OCTET, "Upload-Offset": str(offset), "Content-Length": str(length)})
    assert response.status_code == 204, f"PATCH at {offset}: {response.status_code} {response.text[:300]}"
    return int(response.headers["upload-offset"])


def server_offset(client: httpx.Client, url: str, headers: dict[str, str], timeout: float = 90) -> int:
    """The offset the server has, once it answers (an API process may be starting again)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = client.head(url, headers={**headers, **TUS})
            if response.status_code == 200:
                return int(response.headers["upload-offset"])
            assert response.status_code in {502, 503, 504}, response.text
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the upload's offset could not be read again"
        time.sleep(0.25)


def send_rest(client: httpx.Client, url: str, headers: dict[str, str], data: bytes, offset: int, chunk: int) -> None:
    """The rest of the file from ``offset``; a PATCH refused because the killed request's upload lock has not
    lapsed yet (423) is sent again."""
    deadline = time.monotonic() + 120
    while offset < len(data):
        piece = data[offset: offset + chunk]
        response = client.patch(url, content=piece, headers={
            **headers, **TUS, "Content-Type": OCTET, "Upload-Offset": str(offset)})
        if response.status_code == 423:
            assert time.monotonic() < deadline, "the upload stayed locked"
            time.sleep(0.5)
            continue
        assert response.status_code == 204, f"PATCH at {offset}: {response.status_code} {response.text[:300]}"
        offset = int(response.headers["upload-offset"])


def body_that_kills(data: bytes, kill: Callable[[], None], after: int) -> Iterator[bytes]:
    """A request body that kills an API process once ``after`` bytes of it are on their way."""
    step = 256 * 1024
    for start in range(0, len(data), step):
        if start == after:
            kill()
            time.sleep(0.5)  # the process is gone before the rest is written
        yield data[start: start + step]


def kill_mid_patch(client: httpx.Client, url: str, headers: dict[str, str], data: bytes, offset: int,
                   length: int, kill: Callable[[], None]) -> None:
    """A PATCH of ``length`` bytes from ``offset`` during which an API process is SIGKILLed. Its answer
    depends on which process had it (through nginx either may); what the server kept is asked after."""
    body = body_that_kills(data[offset: offset + length], kill, after=2 * MIB)
    try:
        client.patch(url, content=body, headers={
            **headers, **TUS, "Content-Type": OCTET, "Upload-Offset": str(offset), "Content-Length": str(length)})
    except httpx.TransportError:
        pass


def serve_children(pid: int) -> list[psutil.Process]:
    return [child for child in psutil.Process(pid).children(recursive=True)
            if "serve" in child.cmdline() and "clipjury_cli" in " ".join(child.cmdline())]


# -- run-local brings the API back ----------------------------------------------------------------

def _start_upload(client: httpx.Client, title: str, filename: str, length: int) -> tuple[dict[str, str], int, str]:
    """As demo-submitter: a token, a new work and a tus upload of ``length`` bytes for it (auth, work id, URL)."""
    token = client.post("/api/v1/auth/token", data={"username": "demo-submitter", "password": "demo"})
    assert token.status_code == 200, token.text
    auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
    work = client.post("/api/v1/works", json={"title": title}, headers=auth)
    assert work.status_code == 201, work.text
    work_id = int(work.json()["id"])
    created = client.post("/api/v1/uploads", headers={
        **auth, **TUS, "Upload-Length": str(length),
        "Upload-Metadata": encode_metadata({"work_id": str(work_id), "filename": filename})})
    assert created.status_code == 201, created.text
    return auth, work_id, created.headers["location"]


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"exited with {proc.returncode}"
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} did not become healthy"
        time.sleep(0.25)


@pytest.mark.slow
def test_run_local_restarts_a_killed_api_and_the_upload_resumes_at_its_offset() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = TMP / f"run-local-restart-{port}.log"
    # A short upload lock lease, so the request that dies with the process frees its upload soon.
    env = devservices.child_env(**TEST_ENV, CLIPJURY_UPLOAD_LOCK_TTL_S="5")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "clipjury_cli", "run-local", "--port", str(port), "--workers", "1"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(url, proc)
        [first] = serve_children(proc.pid)
        data = random.Random(12).randbytes(20 * MIB + 4321)
        with httpx.Client(base_url=url, timeout=60) as client:
            auth, work_id, upload = _start_upload(client, "重启续传", "续传.mp4", len(data))
            stood = _patch(client, upload, auth, 0, data[: 8 * MIB + 1234], 8 * MIB + 1234)  # a part and a tail
            assert stood == 8 * MIB + 1234

            kill_mid_patch(client, upload, auth, data, stood, 6 * MIB, lambda: first.send_signal(signal.SIGKILL))
            first.wait(10)
            # Back on the same port, as a new process; the upload stands where the last stored request left it.
            assert server_offset(client, upload, auth) == stood
            [second] = serve_children(proc.pid)
            assert second.pid != first.pid
            send_rest(client, upload, auth, data, stood, 8 * MIB)
        assert proc.poll() is None
        from sqlmodel import select

        from clipjury.db import session_scope
        from clipjury.works.models import WorkVersion

        with session_scope() as session:
            [version] = session.exec(select(WorkVersion).where(WorkVersion.work_id == work_id)).all()
        from storage import get_store

        digest = hashlib.sha256()
        for chunk in get_store().iter_chunks(version.object_key):
            digest.update(chunk)
        assert version.size_bytes == len(data)
        assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
        proc.send_signal(signal.SIGTERM)
        proc.wait(40)
        output = log_path.read_text()
        assert "the API server exited with code -9" in output and "restarting it" in output, output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.mark.slow
def test_run_local_stops_everything_when_the_api_cannot_stay_up() -> None:
    """An API that keeps failing (here: its port taken by someone else) is restarted a few times, then
    run-local gives up, says why, and takes the workers down with it."""
    port = free_port()
    log_path = TMP / f"run-local-give-up-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "clipjury_cli", "run-local", "--port", str(port), "--workers", "1"],
            cwd=ROOT, env=devservices.child_env(**TEST_ENV), stdout=log, stderr=subprocess.STDOUT,
        )
    holder = socket.socket()
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
        children = psutil.Process(proc.pid).children(recursive=True)
        [api] = serve_children(proc.pid)
        api.send_signal(signal.SIGKILL)
        api.wait(10)
        # Taken before run-local's first restart (it looks every 0.5 s, and a new process needs longer to bind).
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen()
        proc.wait(120)
        output = log_path.read_text()
        assert proc.returncode == 1, output
        assert f"the API server exited {API_MAX_RESTARTS + 1} times within" in output, output
        assert "stopping everything" in output
        _gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"left behind: {[c.cmdline() for c in alive]}"
    finally:
        holder.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


# -- the production profile -----------------------------------------------------------------------

# Every port `weed mini` opens, each given a free one (its defaults are the shared store's).
STORE_PORTS = ("s3.port", "s3.port.grpc", "s3.port.iceberg", "s3.port.lance", "master.port", "master.port.grpc",
               "filer.port", "filer.port.grpc", "volume.port", "volume.port.grpc", "admin.port", "admin.port.grpc")


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    assert found, "nginx is missing: `make setup` installs it (scripts/setup_system.sh)"
    return found


def start_store(root: Path, access_key: str, secret_key: str, ports: dict[str, int]) -> subprocess.Popen[bytes]:
    """A SeaweedFS of its own (the suite's shared one knows only the development keys, which production
    refuses), every port it opens chosen free."""
    identity = devservices.write_s3_identity(root / "s3.json", access_key, secret_key)
    (root / "data").mkdir(parents=True)
    with (root / "weed.log").open("wb") as log:
        proc = subprocess.Popen(
            [devservices.weed_binary(), "mini", f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             "-master.telemetry=false", "-admin.ui=false", "-webdav=false", f"-s3.config={identity}",
             *(f"-{name}={port}" for name, port in ports.items())],
            stdout=log, stderr=subprocess.STDOUT, cwd=str(root), start_new_session=True,
        )
    devservices.wait_for_port("127.0.0.1", ports["s3.port"], 60, "SeaweedFS S3")
    return proc


def nginx_config(root: Path, port: int, upstreams: list[int]) -> Path:
    """A private nginx (prefix, pid, logs and temp files in ``root``) with the documented locations."""
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;" for p in upstreams)
    temp = " ".join(f"{kind}_temp_path {root / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    config = root / "nginx.conf"
    config.write_text(f"""
pid {root / 'nginx.pid'};
error_log {root / 'error.log'} info;
events {{ worker_connections 256; }}
http {{
    access_log {root / 'access.log'};
    {temp}
    upstream clipjury_api {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        include {DOCS / 'nginx' / 'clipjury-locations.conf'};
    }}
}}
""")
    return config


@pytest.fixture()
def production_database() -> Iterator[str]:
    with scratch_database("production", "postgres") as url:
        yield url


@pytest.mark.slow
@pytest.mark.skipif(TEST_DB != "postgres", reason="the production profile runs on PostgreSQL")
def test_production_profile_behind_nginx_survives_a_killed_api_process(
    production_database: str, demo_hash: str, tmp_path: Path
) -> None:
    procs: list[subprocess.Popen[bytes]] = []
    store_ports = {name: free_port() for name in STORE_PORTS}
    s3_port = store_ports["s3.port"]
    try:
        procs.append(start_store(tmp_path / "store", FILLED_IN["CLIPJURY_S3_ACCESS_KEY_ID"],
                                 FILLED_IN["CLIPJURY_S3_SECRET_ACCESS_KEY"], store_ports))
        redis_port = free_port()
        procs.append(devservices.start_redis(redis_port, tmp_path / "redis", tmp_path / "redis.log"))
        env = env_file(**{
            **FILLED_IN,
            "CLIPJURY_DATABASE_URL": production_database,
            "CLIPJURY_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "CLIPJURY_S3_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
            "CLIPJURY_S3_PUBLIC_ENDPOINT_URL": "",
            # Everything on one machine, the "browser" (this test) too.
            "CLIPJURY_ALLOW_LOOPBACK_S3": "true",
            "CLIPJURY_S3_BUCKET": "clipjury-production",
            "CLIPJURY_DATA_DIR": str(tmp_path / "data"),
            "CLIPJURY_LOG_LEVEL": "WARNING",
            # The request that dies with its process holds the upload's lock until this lease ends.
            "CLIPJURY_UPLOAD_LOCK_TTL_S": "5",
        })
        # The child processes get this environment only, like systemd's EnvironmentFile.
        base = {key: value for key, value in os.environ.items() if not key.startswith("CLIPJURY_")}
        child_env = {**base, **env}
        settings = as_settings(env)
        from storage.s3 import ObjectStore

        wait_for_bucket(ObjectStore(settings))

        migrated = subprocess.run([sys.executable, "-m", "clipjury_cli", "migrate"], cwd=ROOT, env=child_env,
                                  capture_output=True, text=True, timeout=120)
        assert migrated.returncode == 0, migrated.stderr
        # seed-demo refuses production: the accounts come from here, straight into the database.
        from sqlmodel import Session

        from clipjury.db import make_engine
        from clipjury.seed import seed_demo

        engine = make_engine(production_database)
        with Session(engine) as session:
            seed_demo(session, password_hash=demo_hash)
            session.commit()
        engine.dispose()

        api_ports = [free_port(), free_port()]
        apis = [subprocess.Popen([sys.executable, "-m", "clipjury_cli", "serve", "--port", str(p)], cwd=ROOT,
                                 env=child_env) for p in api_ports]
        procs += apis
        procs += [subprocess.Popen([sys.executable, "-m", "clipjury_cli", "worker", "--name", f"production-{i}"],
                                   cwd=ROOT, env=child_env) for i in (1, 2)]
        for p in api_ports:
            devservices.wait_for_port("127.0.0.1", p, 60, "an API process")
        nginx_port = free_port()
        config = nginx_config(tmp_path, nginx_port, api_ports)
        nginx = subprocess.Popen([nginx_binary(), "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
                                  "-c", str(config), "-g", "daemon off; master_process off;"])
        procs.append(nginx)
        devservices.wait_for_port("127.0.0.1", nginx_port, 30, "nginx")
        site = f"http://127.0.0.1:{nginx_port}"

        video = media.large_mp4()
        data = video.read_bytes()
        assert len(data) > 3 * 8 * MIB
        with httpx.Client(base_url=site, timeout=120) as client:
            health = client.get("/healthz")
            assert health.status_code == 200 and health.json()["checks"] == {
                "database": "ok", "redis": "ok", "storage": "ok"}, health.text
            auth, work_id, upload = _start_upload(client, "我在河北省话保密：生产演练", "演练.mp4", len(data))
            # nginx passed the Host with its port: the client comes back through nginx.
            assert upload.startswith(f"{site}/api/v1/uploads/"), upload

            stood = _patch(client, upload, auth, 0, data[: 8 * MIB], 8 * MIB)
            # Kill the process this PATCH went to (the one reading its body), in the middle of the body.
            before = {api.pid: psutil.Process(api.pid).io_counters().read_chars for api in apis}
            killed: list[subprocess.Popen[bytes]] = []

            def kill_the_receiver() -> None:
                deadline = time.monotonic() + 30
                while True:  # until one of them has read what was sent so far
                    grew = {api: psutil.Process(api.pid).io_counters().read_chars - before[api.pid] for api in apis}
                    victim = max(apis, key=lambda api: grew[api])
                    if grew[victim] >= 2 * MIB:
                        break
                    assert time.monotonic() < deadline, grew
                    time.sleep(0.1)
                victim.send_signal(signal.SIGKILL)
                killed.append(victim)

            kill_mid_patch(client, upload, auth, data, stood, 8 * MIB, kill_the_receiver)
            [victim] = killed
            victim.wait(10)
            # nginx sends everything to the process left; the upload goes on from what the server stored, the
            # first part: the killed request's bytes were less than a part and never stored.
            offset = server_offset(client, upload, auth)
            assert offset == stood
            send_rest(client, upload, auth, data, offset, 8 * MIB)
            assert server_offset(client, upload, auth) == len(data)

            deadline = time.monotonic() + 300
            while (status := client.get(f"/api/v1/works/{work_id}", headers=auth).json()["status"]) == "processing":
                assert time.monotonic() < deadline, "no verdict"
                time.sleep(0.5)
            assert status == "ready", client.get(f"/api/v1/works/{work_id}", headers=auth).text
            submitted = client.post(f"/api/v1/works/{work_id}/submit", headers=auth)
            assert submitted.status_code == 200 and submitted.json()["status"] == "submitted", submitted.text

            playback = client.get(f"/api/v1/works/{work_id}/playback", headers=auth)
            assert playback.status_code == 200, playback.text
            assert playback.json()["source"] == "original"
            stored = httpx.get(playback.json()["video_url"], timeout=120)
            assert stored.status_code == 200
            assert hashlib.sha256(stored.content).hexdigest() == hashlib.sha256(data).hexdigest()
        assert victim.returncode == -signal.SIGKILL
        assert [api.poll() for api in apis if api is not victim] == [None]
    finally:
        devservices.stop_all(procs)
        # weed leaves a socket per port in /tmp: remove this store's only.
        for port in store_ports.values():
            for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                sock.unlink(missing_ok=True)
