"""Form bodies are bounded before anyone is authenticated (issue 12, item 6), on a live server with raw
requests: a declared Content-Length over the bound is refused before a byte of the body is read, a chunked
body as soon as it passes the bound, and a file part where the route takes none is refused too."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator

import pytest

from tests.conftest import LiveServer, start_server

FORM_MAX = 8 * 1024
FILE_MAX = 1024 * 1024
BOUNDARY = "clipjuryboundary"


@pytest.fixture()
def server(demo: dict[str, int]) -> Iterator[LiveServer]:
    from clipjury import devservices

    live = start_server({"CLIPJURY_FORM_MAX_BYTES": str(FORM_MAX), "CLIPJURY_FORM_FILE_MAX_BYTES": str(FILE_MAX)})
    try:
        yield live
    finally:
        devservices.stop(live.proc)


def raw(
    port: int, head: str, body: bytes = b"", *, chunked_body: list[bytes] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request as bytes on a socket; the response's status, headers and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        try:
            if chunked_body is not None:
                for chunk in chunked_body:
                    sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sock.sendall(b"0\r\n\r\n")
            elif body:
                sock.sendall(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed without reading everything: the answer is what counts
        data = b""
        while True:
            try:
                part = sock.recv(65536)
            except ConnectionResetError:
                break
            if not part:
                break
            data += part
            if b"\r\n\r\n" in data:
                head_bytes, _, rest = data.partition(b"\r\n\r\n")
                headers = _headers(head_bytes)
                if "content-length" in headers and len(rest) >= int(headers["content-length"]):
                    break
    head_bytes, _, rest = data.partition(b"\r\n\r\n")
    status = int(head_bytes.split(b" ", 2)[1])
    return status, _headers(head_bytes), rest


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}


def _request(method: str, path: str, content_type: str, *, length: int | None, accept: str = "*/*") -> str:
    head = f"{method} {path} HTTP/1.1\nHost: 127.0.0.1\nContent-Type: {content_type}\nAccept: {accept}\n"
    head += f"Content-Length: {length}\n" if length is not None else "Transfer-Encoding: chunked\n"
    return head


def _problem(status: int, headers: dict[str, str], body: bytes, expected: int, code: str) -> dict[str, object]:
    assert status == expected, (status, body[:300])
    assert headers["content-type"].startswith("application/problem+json"), headers
    problem = json.loads(body)
    assert problem["code"] == code and problem["status"] == expected, problem
    return dict(problem)


def test_a_declared_length_over_the_bound_is_refused_unread(server: LiveServer) -> None:
    # A gigabyte announced and never sent: the answer comes at once, before any body.
    for path in ("/api/v1/auth/token", "/login", "/works/new", "/review/works/1/verdict"):
        status, headers, body = raw(server.port, _request("POST", path, "application/x-www-form-urlencoded",
                                                          length=10**9))
        problem = _problem(status, headers, body, 413, "form_too_large")
        assert "8 KB" in str(problem["detail"]), problem
    # A page asked for by a browser gets the Chinese error page.
    status, headers, body = raw(server.port, _request("POST", "/login", "application/x-www-form-urlencoded",
                                                      length=10**9, accept="text/html"))
    assert status == 413 and headers["content-type"].startswith("text/html")
    page = body.decode()
    assert "提交的内容超过上限" in page and "form_too_large" in page


def test_a_chunked_body_is_refused_once_past_the_bound(server: LiveServer) -> None:
    chunks = [b"username=" + b"a" * 4000, b"b" * 4000, b"c" * 4000]  # no Content-Length, > 8 KB in all
    for path in ("/api/v1/auth/token", "/login"):
        status, headers, body = raw(server.port, _request("POST", path, "application/x-www-form-urlencoded",
                                                          length=None), chunked_body=chunks)
        _problem(status, headers, body, 413, "form_too_large")
    # Under the bound the route answers as it always did (here: bad credentials, not a size refusal).
    small = b"username=nobody&password=wrong"
    status, headers, body = raw(server.port, _request("POST", "/api/v1/auth/token",
                                                      "application/x-www-form-urlencoded", length=len(small)), small)
    assert status == 401 and json.loads(body)["code"] == "bad_credentials", body


def _multipart(fields: dict[str, str], files: dict[str, bytes]) -> bytes:
    out = b""
    for name, value in fields.items():
        out += (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").encode()
    for name, content in files.items():
        out += (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"x.pdf\"\r\n"
                "Content-Type: application/pdf\r\n\r\n").encode() + content + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def test_a_file_part_is_refused_where_the_route_takes_none(server: LiveServer) -> None:
    content_type = f"multipart/form-data; boundary={BOUNDARY}"
    body = _multipart({"username": "demo-submitter", "password": "demo"}, {"attachment": b"%PDF-1.4 x"})
    for path in ("/api/v1/auth/token", "/login", "/works/new"):
        status, headers, answer = raw(server.port, _request("POST", path, content_type, length=len(body)), body)
        _problem(status, headers, answer, 415, "file_not_accepted")
    # The same fields without the file are read as before.
    plain = _multipart({"username": "nobody", "password": "wrong"}, {})
    status, _, answer = raw(server.port, _request("POST", "/api/v1/auth/token", content_type,
                                                          length=len(plain)), plain)
    assert status == 401 and json.loads(answer)["code"] == "bad_credentials", answer


def _visitor(port: int) -> str:
    """Headers of a signed-out browser session with its CSRF token: the route then reads the form body
    (the token in the header spares the CSRF check the form) before it finds nobody signed in."""
    status, headers, body = raw(port, "GET /login HTTP/1.1\nHost: 127.0.0.1\nContent-Length: 0\n")
    assert status == 200
    cookie = headers["set-cookie"].split(";", 1)[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', body.decode())
    assert token
    return f"Cookie: {cookie}\nX-CSRF-Token: {token.group(1)}\n"


def test_a_route_that_takes_a_file_has_the_larger_bound(server: LiveServer) -> None:
    content_type = f"multipart/form-data; boundary={BOUNDARY}"
    path = "/review/works/1/disqualify"
    visitor = _visitor(server.port)
    # Over the form bound, under the file bound: read, and then the route sends the visitor to log in.
    body = _multipart({"reason": "版权"}, {"document": b"%PDF-1.4 " + b"x" * (64 * 1024)})
    status, headers, answer = raw(server.port, _request("POST", path, content_type, length=len(body)) + visitor,
                                  body)
    assert status == 303 and headers["location"].startswith("/login"), (status, answer[:300])
    # Over the file bound: refused, announced or found while streaming.
    status, headers, answer = raw(server.port, _request("POST", path, content_type, length=FILE_MAX + 1) + visitor)
    assert "1 MB" in str(_problem(status, headers, answer, 413, "form_too_large")["detail"])
    big = _multipart({"reason": "版权"}, {"document": b"x" * (FILE_MAX + 1024)})
    chunks = [big[i:i + 65536] for i in range(0, len(big), 65536)]
    status, headers, answer = raw(server.port, _request("POST", path, content_type, length=None) + visitor,
                                  chunked_body=chunks)
    problem = _problem(status, headers, answer, 413, "form_too_large")
    assert "1 MB" in str(problem["detail"])
