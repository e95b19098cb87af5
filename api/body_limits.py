"""Form bodies bounded before anything reads them.

FastAPI parses a route's form fields (and a page route checks its CSRF field) before the route's
dependencies decide who is asking, so without a bound anyone could make the server read and spool an
arbitrarily large body. Every urlencoded or multipart body gets ``form_max_bytes``; a route that declares a
``File()`` gets ``form_file_max_bytes``; a multipart body sent to a route that takes no file is refused if
it carries a file part. The upload routes (tus, PUT) stream video bodies by design and are not forms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, params
from fastapi.routing import iter_route_contexts
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import HtmlErrorRenderer, problem, wants_html
from clipjury.settings import get_settings

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# Video bodies: the tus protocol and the single-request PUT (api/routes/uploads.py).
UPLOAD_PATHS = re.compile(r"^/api/v1/(?:uploads(?:/.*)?|works/[^/]+/video)$")


def _too_large(limit: int) -> tuple[str, str]:
    shown = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
    return "form_too_large", f"提交的内容超过上限（{shown}），请删减内容或附件后重新提交。"


class BodyTooLarge(HTTPException):
    """A body without Content-Length that turned out larger than its bound while the route read it
    (an HTTPException: FastAPI turns anything else raised in body parsing into a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413)
        self.problem = _too_large(limit)


def file_routes(app: FastAPI) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    """(path pattern, methods) of every route that declares a ``File()`` parameter."""
    found = []
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context.original_route, "dependant", None)
        if dependant is None or context.path is None:
            continue
        if any(isinstance(f.field_info, params.File) for f in _body_params(dependant)):
            found.append((compile_path(context.path)[0], frozenset(context.methods or ())))
    return found


def _body_params(dependant: Any) -> Iterable[Any]:
    yield from dependant.body_params
    for sub in dependant.dependencies:
        yield from _body_params(sub)


class FormBodyLimit:
    def __init__(self, app: ASGIApp, *, fastapi_app: FastAPI) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self._file_routes: list[tuple[re.Pattern[str], frozenset[str]]] | None = None
        settings = get_settings()
        self.form_max = settings.form_max_bytes
        self.file_max = settings.form_file_max_bytes

    def _takes_files(self, method: str, path: str) -> bool:
        if self._file_routes is None:  # the routes are all registered by the first request
            self._file_routes = file_routes(self.fastapi_app)
        return any(method in methods and pattern.match(path) for pattern, methods in self._file_routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        content_type = headers.get("content-type", "").strip().lower()
        path: str = scope.get("path", "")
        if not content_type.startswith(FORM_TYPES) or UPLOAD_PATHS.match(path):
            await self.app(scope, receive, send)
            return
        takes_files = self._takes_files(scope["method"], path)
        limit = self.file_max if takes_files else self.form_max
        length = headers.get("content-length", "")
        if length.strip().isdigit() and int(length) > limit:
            await self._refuse_size(scope, receive, send, limit)
            return
        if takes_files:
            # Not buffered (up to form_file_max_bytes): counted as it streams into the form parser.
            await self.app(scope, _counting(receive, limit), send)
            return
        body = await _read_at_most(receive, limit)
        if body is None:
            await self._refuse_size(scope, receive, send, limit)
            return
        if content_type.startswith("multipart/") and await _has_file_part(scope, body):
            await self._refuse(scope, receive, send, 415, "file_not_accepted",
                               "此处不接受上传文件，请去掉附件后重新提交。")
            return
        await self.app(scope, _replay(body, receive), send)

    async def _refuse_size(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        await self._refuse(scope, receive, send, 413, *_too_large(limit))

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str) -> None:
        request = Request(scope, receive)
        renderer: HtmlErrorRenderer | None = getattr(self.fastapi_app.state, "html_error_renderer", None)
        response: Response
        if renderer is not None and wants_html(request):
            response = renderer(request, status, code, message)
        else:
            response = problem(status, code, message)
        # The rest of the body is not read: the connection is not reused for another request.
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


async def _read_at_most(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it is longer than ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away: the app sees an empty body and its own disconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the disconnect, when it comes

    return replay


def _counting(receive: Receive, limit: int) -> Receive:
    size = 0

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise BodyTooLarge(limit)
        return message

    return counted


async def _has_file_part(scope: Scope, body: bytes) -> bool:
    """Whether a (bounded, already read) multipart body carries a file; a malformed one is left to the route."""
    request = Request(scope, _replay(body, _nothing))
    try:
        form = await request.form()
    except Exception:  # the route's own parser answers a malformed body as it always has
        return False
    try:
        return any(isinstance(value, UploadFile) for _key, value in form.multi_items())
    finally:
        await form.close()


async def _nothing() -> Message:
    return {"type": "http.disconnect"}
