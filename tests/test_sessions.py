"""Sessions and tokens end when they should (logout, sign out everywhere, a new password, deactivation),
logins are throttled per account across addresses and refused while the throttle cannot be read, and
the cookie API's CSRF check holds behind a ``root_path``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from clipjury import devservices
from tests.conftest import ROOT, TEST_ENV, TMP, LiveServer, free_port
from tests.test_ui import csrf_of, login


def clipjury(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """The command line as an operator runs it, in its own process, on the test database."""
    return subprocess.run(
        [sys.executable, "-m", "clipjury_cli", *args], cwd=ROOT, env=devservices.child_env(**TEST_ENV),
        input=input, capture_output=True, text=True, timeout=120,
    )


def api_token(client: Any, username: str = "demo-submitter", password: str = "demo") -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"access_token", "token_type"}  # the token route's contract is unchanged
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def signed_in(client: Any) -> bool:
    response = client.get("/works", follow_redirects=False)
    assert response.status_code in (200, 303), response.status_code
    return bool(response.status_code == 200)


def assert_token_refused(client: Any, headers: dict[str, str]) -> None:
    response = client.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "invalid_token"


@pytest.fixture()
def app() -> Any:
    from api.app import create_app

    return create_app()


def browser(app: Any, address: str = "testclient") -> TestClient:
    return TestClient(app, client=(address, 50000))


# -- logout, sign out everywhere ---------------------------------------------------------------------

def test_logout_ends_the_session_for_a_copied_cookie_too(app: Any, demo: dict[str, int]) -> None:
    mine = browser(app)
    assert login(mine).status_code == 303
    token = csrf_of(mine.get("/works").text)
    stolen = browser(app, "203.0.113.9")
    stolen.cookies.update(dict(mine.cookies.items()))
    assert signed_in(stolen)

    out = mine.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert not signed_in(mine)
    # The copy taken before the logout is refused everywhere: pages, and the API by cookie.
    assert not signed_in(stolen)
    stolen.cookies.update(dict(mine.cookies.items()))  # not even the cookie the server sent back last
    refused = stolen.get("/api/v1/auth/me")
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"


def test_sign_out_everywhere_ends_other_browsers_and_api_tokens(app: Any, demo: dict[str, int]) -> None:
    office, home, colleague = browser(app), browser(app, "198.51.100.20"), browser(app)
    for client, name in ((office, "demo-submitter"), (home, "demo-submitter"), (colleague, "demo-coordinator")):
        assert login(client, name).status_code == 303
    script = api_token(office)
    colleague_script = api_token(office, "demo-coordinator")
    assert office.get("/api/v1/auth/me", headers=script).status_code == 200

    page = home.get("/works").text
    assert 'action="/logout/all"' in page and "退出所有设备" in page
    out = home.post("/logout/all", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert "您已在所有设备上退出" in home.get("/login").text

    assert not signed_in(home) and not signed_in(office)
    assert_token_refused(office, script)
    # Nobody else is touched.
    assert signed_in(colleague)
    assert office.get("/api/v1/auth/me", headers=colleague_script).status_code == 200
    # Logging in again works as before, with a new token.
    assert login(office).status_code == 303 and signed_in(office)
    assert office.get("/api/v1/auth/me", headers=api_token(office)).status_code == 200


def test_sign_out_everywhere_needs_the_pages_token(app: Any, demo: dict[str, int]) -> None:
    client = browser(app)
    assert login(client).status_code == 303
    forged = client.post("/logout/all", data={}, follow_redirects=False)
    assert forged.status_code == 403
    assert signed_in(client)


def test_a_session_past_its_server_side_expiry_is_refused(app: Any, demo: dict[str, int]) -> None:
    """The server decides how long a session lives, not the cookie's own max-age (which a copy can ignore)."""
    from datetime import timedelta

    from clipjury.accounts.models import AuthSession
    from clipjury.db import session_scope
    from clipjury.timeutil import utcnow

    client = browser(app)
    assert login(client).status_code == 303 and signed_in(client)
    with session_scope() as session:
        session.execute(update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert not signed_in(client)


def test_a_token_without_a_generation_is_refused(app: Any, demo: dict[str, int]) -> None:
    """Tokens issued before sessions became revocable cannot be ended, so they are not accepted."""
    from datetime import timedelta

    import jwt

    from clipjury.settings import get_settings
    from clipjury.timeutil import utcnow

    now = utcnow()
    old = jwt.encode(
        {"sub": str(demo["demo-submitter"]), "iat": now, "exp": now + timedelta(hours=1), "typ": "access"},
        get_settings().secret_key.get_secret_value(), algorithm="HS256",
    )
    assert_token_refused(browser(app), {"Authorization": f"Bearer {old}"})


# -- password change and deactivation (the operator's commands and the domain functions) --------------

def test_set_password_ends_every_session_and_token(app: Any, demo: dict[str, int]) -> None:
    client = browser(app)
    assert login(client).status_code == 303
    token = api_token(client)

    weak = clipjury("set-password", "demo-submitter", "--password-stdin", input="short\n")
    assert weak.returncode == 2 and "password_too_short" in weak.stderr
    assert signed_in(client) and client.get("/api/v1/auth/me", headers=token).status_code == 200

    done = clipjury("set-password", "demo-submitter", "--password-stdin", input="a new long password\n")
    assert done.returncode == 0, done.stderr
    assert not signed_in(client)
    assert_token_refused(client, token)
    assert login(client).status_code == 401  # the old password
    assert login(client, password="a new long password").status_code == 303

    unknown = clipjury("set-password", "nobody-here", "--password-stdin", input="a new long password\n")
    assert unknown.returncode == 2 and "unknown_user" in unknown.stderr


def test_deactivate_ends_everything_at_once(app: Any, demo: dict[str, int]) -> None:
    client, api = browser(app), browser(app)
    assert login(client).status_code == 303
    token = api_token(api)

    done = clipjury("deactivate", "demo-submitter")
    assert done.returncode == 0 and "deactivated" in done.stdout, done.stderr
    assert_token_refused(api, token)
    redirect = client.get("/works", follow_redirects=False)
    assert redirect.status_code == 303 and redirect.headers["location"].startswith("/login")
    refused = api.post("/api/v1/auth/token", data={"username": "demo-submitter", "password": "demo"})
    assert refused.status_code == 401 and refused.json()["code"] == "bad_credentials"
    again = clipjury("deactivate", "demo-submitter")
    assert again.returncode == 0 and "already inactive" in again.stdout
    # Others are untouched.
    assert api.get("/api/v1/auth/me", headers=api_token(api, "demo-coordinator")).status_code == 200


def test_sign_out_command_and_domain_functions(app: Any, demo: dict[str, int]) -> None:
    from clipjury.accounts.models import User
    from clipjury.accounts.service import change_password, deactivate
    from clipjury.accounts.sessions import end_all_sessions
    from clipjury.db import session_scope

    client = browser(app)
    token = api_token(client, "demo-reviewer")
    done = clipjury("sign-out", "demo-reviewer")
    assert done.returncode == 0, done.stderr
    assert_token_refused(client, token)

    token = api_token(client, "demo-reviewer")
    with session_scope() as session:
        end_all_sessions(session, session.get(User, demo["demo-reviewer"]))  # type: ignore[arg-type]  # the row exists: the test made it
    assert_token_refused(client, token)

    token = api_token(client, "demo-reviewer")
    with session_scope() as session:
        change_password(session, session.get(User, demo["demo-reviewer"]), "another long one")  # type: ignore[arg-type]  # the row exists: the test made it
    assert_token_refused(client, token)

    token = api_token(client, "demo-reviewer", "another long one")
    with session_scope() as session:
        user = session.get(User, demo["demo-reviewer"])
        assert user is not None
        assert deactivate(session, user) is True
        assert deactivate(session, user) is False
    assert_token_refused(client, token)


# -- throttling ----------------------------------------------------------------------------------------

def test_one_password_from_many_addresses_is_throttled_per_account(app: Any, demo: dict[str, int]) -> None:
    """A guesser spreading tries over many addresses, each under the per-address limits, is stopped by
    the account-wide count; the account's owner then waits too, other accounts do not."""
    from clipjury.settings import get_settings

    settings = get_settings()
    per_pair, per_account = settings.login_max_failures, settings.login_max_failures_per_account
    assert per_account > per_pair  # the test spreads the tries so no single address reaches its limit
    spread = per_pair - 1
    for n in range(per_account):
        guesser = browser(app, f"198.51.100.{n // spread + 1}")
        tried = guesser.post("/api/v1/auth/token", data={"username": "demo-submitter", "password": f"guess{n}"})
        assert tried.status_code == 401, (n, tried.text)

    elsewhere = browser(app, "192.0.2.77")  # never failed here
    refused = elsewhere.post("/api/v1/auth/token", data={"username": "DEMO-submitter ", "password": "demo"})
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_login_attempts", refused.text
    form = login(elsewhere)
    assert form.status_code == 429 and "登录失败次数过多" in form.text
    assert login(elsewhere, "demo-coordinator").status_code == 303


# -- Redis down: fail closed ---------------------------------------------------------------------------

@pytest.fixture()
def private_redis() -> Iterator[tuple[int, Path]]:
    port, run_dir = free_port(), TMP / f"redis-{free_port()}"
    proc = devservices.start_redis(port, run_dir, run_dir.with_suffix(".log"))
    yield port, run_dir
    devservices.stop(proc)


@pytest.fixture()
def server_on_private_redis(private_redis: tuple[int, Path], demo: dict[str, int]) -> Iterator[LiveServer]:
    redis_port, _run_dir = private_redis
    port = free_port()
    env = devservices.child_env(**{**TEST_ENV, "CLIPJURY_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    devservices.wait_for_port("127.0.0.1", port, 30, "test API server")
    server = LiveServer(port, proc)
    yield server
    devservices.stop(server.proc)


def test_logins_are_refused_while_the_throttle_cannot_be_read(
    private_redis: tuple[int, Path], server_on_private_redis: LiveServer,
) -> None:
    import redis

    port, run_dir = private_redis
    with httpx.Client(base_url=server_on_private_redis.url, timeout=60) as client:
        assert client.post("/api/v1/auth/token", data={"username": "demo-submitter", "password": "demo"}
                           ).status_code == 200
        form_token = csrf_of(client.get("/login").text)
        redis.Redis(port=port).shutdown(nosave=True)

        api = client.post("/api/v1/auth/token", data={"username": "demo-submitter", "password": "demo"})
        assert api.status_code == 503, api.text
        assert api.headers["content-type"].startswith("application/problem+json")
        assert api.json()["code"] == "service_unavailable" and "登录服务暂时不可用" in api.json()["detail"]
        form = client.post("/login", data={"username": "demo-submitter", "password": "demo",
                                           "csrf_token": form_token}, follow_redirects=False)
        assert form.status_code == 503 and "登录服务暂时不可用" in form.text
        assert client.get("/works", follow_redirects=False).status_code == 303  # not signed in

        # Redis is back: logins work again.
        restarted = devservices.start_redis(port, run_dir, run_dir.with_suffix(".log"))
        try:
            assert client.post("/api/v1/auth/token", data={"username": "demo-submitter", "password": "demo"}
                               ).status_code == 200
        finally:
            devservices.stop(restarted)


# -- CSRF behind a root_path ---------------------------------------------------------------------------

def test_the_cookie_api_checks_csrf_behind_a_root_path(app: Any, demo: dict[str, int]) -> None:
    """Behind a proxy that serves the app under /clipjury, the API is at /clipjury/api/…: the CSRF check
    of cookie-authenticated state changes still applies (it is decided by the route, not the path)."""
    client = TestClient(app, root_path="/clipjury")
    page_token = csrf_of(client.get("/clipjury/login").text)
    signed = client.post("/clipjury/login", follow_redirects=False,
                         data={"username": "demo-submitter", "password": "demo", "csrf_token": page_token})
    assert signed.status_code == 303
    token = csrf_of(client.get("/clipjury/works").text)

    forged = client.post("/clipjury/api/v1/works", json={"title": "代理后的跨站伪造", "description": ""})
    assert forged.status_code == 403 and forged.json()["code"] == "csrf_failed", forged.text
    made = client.post("/clipjury/api/v1/works", json={"title": "代理后的页面脚本", "description": ""},
                       headers={"X-CSRF-Token": token})
    assert made.status_code == 201, made.text
    titles = [w["title"] for w in client.get("/clipjury/api/v1/works").json()]
    assert "代理后的页面脚本" in titles and "代理后的跨站伪造" not in titles
    # Page forms keep working with their own field.
    out = client.post("/clipjury/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303


def test_the_account_wide_limit_is_not_below_the_per_address_one() -> None:
    from clipjury.settings import Settings

    with pytest.raises(ValueError, match="CLIPJURY_LOGIN_MAX_FAILURES_PER_ACCOUNT"):
        Settings(_env_file=None, login_max_failures=10, login_max_failures_per_account=5)  # type: ignore[call-arg]  # pydantic-settings: _env_file and the env-filled fields are not in the generated signature
    assert Settings(_env_file=None, login_max_failures=10, login_max_failures_per_account=10)  # type: ignore[call-arg]  # pydantic-settings: _env_file and the env-filled fields are not in the generated signature
