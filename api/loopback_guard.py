"""With the built-in development secret, the app answers only connections made to a loopback address.

Settings and ``clipjury serve`` already refuse a non-loopback listen address with that secret; this covers a
server started some other way (plain ``uvicorn --host 0.0.0.0``), whose address the app cannot see at
start-up but sees on every connection (the ASGI ``server`` is the address the connection arrived at).
"""

from __future__ import annotations

import ipaddress
import logging

from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.problems import problem
from clipjury.settings import is_loopback

log = logging.getLogger(__name__)

CODE = "dev_secret_off_loopback"
MESSAGE = "本站点仍在使用开发密钥运行，只接受本机访问。请管理员设置正式密钥（CLIPJURY_SECRET_KEY）后再对外提供服务。"


def _from_outside(server: tuple[str, int | None] | None) -> bool:
    """Whether the connection came to a network address other than loopback. A socket's local address is
    an IP; a Unix socket's "server" is (path, None) and an in-process client's (TestClient) a name: neither
    is reachable from another machine."""
    if not server or server[1] is None:
        return False
    try:
        ipaddress.ip_address(server[0])
    except ValueError:
        return False
    return not is_loopback(server[0])


class LoopbackOnly:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _from_outside(scope.get("server")):
            server = scope["server"]
            log.error("refused a request to %s: the development secret is only served on loopback", server[0])
            response: Response
            if scope["path"].startswith("/api"):
                response = problem(503, CODE, MESSAGE)
            else:
                response = HTMLResponse(
                    f"<!doctype html><meta charset=utf-8><title>暂不可用</title><p>{MESSAGE}</p>", status_code=503
                )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
