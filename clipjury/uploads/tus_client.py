"""A small tus 1.0.0 client for scripts, the benchmark and the tests: one file over several partial uploads
sent in parallel (concatenation), or over one upload, in fixed-size PATCH chunks.

``final_first`` creates the final upload before any byte is sent (tus ``concatenation-unfinished``): the
server then writes every partial straight into the final object, the fastest way. Without it the order is
tus-js-client's (final after the partials), which the server joins by copying, unless the partials
declare their layout (``declare_layout``, what the web page does): then they too go straight into the
final object.
"""

from __future__ import annotations

import base64
import secrets
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


def declared_split(size: int, parallel: int, align: int) -> list[tuple[int, int]] | None:
    """Ranges for partials that declare their layout: each but the last a whole number of ``align``
    (the store's part size) and no two of the same length, so the server can tell each partial's place
    from its length. Fewer pieces when the file is too small for ``parallel``; None below two.
    (review_ui/assets/concat_plan.js does the same for the web page.)"""
    for count in range(parallel, 1, -1):
        # base+1, base, base-1, ... parts and the rest, for the base nearest an even split that makes the
        # rest differ from the others (a size of an exact number of parts needs another base).
        candidates = []
        for shift in (0, -1, 1, -2, 2):
            base = round(size / count / align) + shift
            lengths = [(base + 1 - i) * align for i in range(count - 1)]
            lengths.append(size - sum(lengths))
            if lengths[-2] >= align and lengths[-1] > 0 and len(set(lengths)) == count:
                candidates.append(lengths)
        if candidates:
            lengths = min(candidates, key=lambda ns: max(ns) - min(ns))
            starts = [sum(lengths[:i]) for i in range(count)]
            return [(start, start + length) for start, length in zip(starts, lengths, strict=True)]
    return None


def layout_metadata(ranges: list[tuple[int, int]]) -> dict[str, str]:
    return {"concat_group": secrets.token_urlsafe(16),
            "concat_layout": ",".join(str(end - start) for start, end in ranges)}


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
    *, parallel: int = 4, chunk_size: int = 8 * MIB, final_first: bool = True, declare_layout: bool = False,
) -> str:
    """``parallel`` partial uploads sent at once, joined by a final upload. Returns the final's URL.
    ``chunk_size`` should be the server's S3 part size (8 MiB by default)."""
    size = path.stat().st_size
    declared = declared_split(size, parallel, chunk_size) if declare_layout else None
    ranges = declared or split(size, parallel, chunk_size)
    piece_metadata = {**metadata, **layout_metadata(ranges)} if declared else None
    with ThreadPoolExecutor(len(ranges)) as pool:
        # The partials are created at once (as tus-js-client's parallel uploads do), in the file's order.
        urls = list(pool.map(lambda piece: create(
            client, endpoint, headers, length=piece[1] - piece[0], metadata=piece_metadata, concat="partial",
        ), ranges))
        final_header = "final;" + " ".join(urls)
        final = create(client, endpoint, headers, metadata=metadata, concat=final_header) if final_first else None
        done = [pool.submit(send, client, url, headers, path, start, end, chunk_size)
                for url, (start, end) in zip(urls, ranges, strict=True)]
        for future in done:
            future.result()
    return final or create(client, endpoint, headers, metadata=metadata, concat=final_header)
