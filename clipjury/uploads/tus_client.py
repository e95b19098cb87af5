"""A small tus 1.0.0 client for scripts, the benchmark and the tests: one file over several partial uploads
sent in parallel (concatenation), or over one upload, in fixed-size PATCH chunks.

``final_first`` creates the final upload before any byte is sent (tus ``concatenation-unfinished``): the
server then writes every partial straight into the final object, the fastest way. Without it the order is
tus-js-client's (final after the partials), which the server has to join by copying.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import httpx

MIB = 1024 * 1024
PIECE = 256 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
OCTET = "application/offset+octet-stream"


class TusClientError(Exception):
    def __init__(self, what: str, response: httpx.Response) -> None:
        super().__init__(f"{what}: {response.status_code} {response.text[:300]}")
        self.response = response


def encode_metadata(metadata: dict[str, str]) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in metadata.items())


def split(size: int, parallel: int, align: int) -> list[tuple[int, int]]:
    """``parallel`` ranges covering ``size`` bytes, each but the last a multiple of ``align`` (so every
    chunk of every partial is a whole S3 part and no inner part is short)."""
    step = max(align, -(-size // parallel // align) * align)
    ranges = [(start, min(size, start + step)) for start in range(0, size, step)]
    return ranges or [(0, 0)]


def create(
    client: httpx.Client, endpoint: str, headers: dict[str, str], *, length: int | None = None,
    metadata: dict[str, str] | None = None, concat: str | None = None,
) -> str:
    request_headers = {**headers, **TUS}
    if length is not None:
        request_headers["Upload-Length"] = str(length)
    if metadata:
        request_headers["Upload-Metadata"] = encode_metadata(metadata)
    if concat is not None:
        request_headers["Upload-Concat"] = concat
    response = client.post(endpoint, headers=request_headers)
    if response.status_code != 201:
        raise TusClientError("creating an upload", response)
    return str(response.headers["location"])


def _pieces(source: BinaryIO, length: int) -> Iterator[bytes]:
    """A request body read from the file a little at a time. (Given one large ``bytes``, httpx's
    synchronous writer re-slices, and so copies, what is left of it after every ``send``: quadratic in
    the body's size, seconds of client CPU for a 285 MiB body.)"""
    left = length
    while left:
        piece = source.read(min(PIECE, left))
        if not piece:
            raise EOFError(f"the file ended {left} bytes early")
        left -= len(piece)
        yield piece


def send(
    client: httpx.Client, url: str, headers: dict[str, str], path: Path, start: int, end: int, chunk_size: int
) -> None:
    """PATCH bytes ``start..end`` of the file to the upload at ``url``, ``chunk_size`` at a time."""
    offset = 0
    with path.open("rb") as source:
        while start + offset < end:
            size = min(chunk_size, end - start - offset)
            source.seek(start + offset)  # where the server says the upload stands
            response = client.patch(url, content=_pieces(source, size), headers={
                **headers, **TUS, "Content-Type": OCTET, "Upload-Offset": str(offset), "Content-Length": str(size)})
            if response.status_code != 204:
                raise TusClientError(f"PATCH at {offset}", response)
            offset = int(response.headers["upload-offset"])


def upload(
    client: httpx.Client, endpoint: str, headers: dict[str, str], path: Path, metadata: dict[str, str],
    *, chunk_size: int = 8 * MIB,
) -> str:
    """One upload, chunk after chunk. Returns its URL."""
    size = path.stat().st_size
    url = create(client, endpoint, headers, length=size, metadata=metadata)
    send(client, url, headers, path, 0, size, chunk_size)
    return url


def upload_parallel(
    client: httpx.Client, endpoint: str, headers: dict[str, str], path: Path, metadata: dict[str, str],
    *, parallel: int = 4, chunk_size: int = 8 * MIB, final_first: bool = True,
) -> str:
    """``parallel`` partial uploads sent at once, joined by a final upload. Returns the final's URL."""
    ranges = split(path.stat().st_size, parallel, chunk_size)
    with ThreadPoolExecutor(len(ranges)) as pool:
        # The partials are created at once (as tus-js-client's parallel uploads do), in the file's order.
        urls = list(pool.map(
            lambda piece: create(client, endpoint, headers, length=piece[1] - piece[0], concat="partial"), ranges))
        final_header = "final;" + " ".join(urls)
        final = create(client, endpoint, headers, metadata=metadata, concat=final_header) if final_first else None
        done = [pool.submit(send, client, url, headers, path, start, end, chunk_size)
                for url, (start, end) in zip(urls, ranges, strict=True)]
        for future in done:
            future.result()
    return final or create(client, endpoint, headers, metadata=metadata, concat=final_header)
