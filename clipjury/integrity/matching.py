"""Comparing fingerprints: pure numpy on arrays, no database and no files (the jobs and the benchmark
call the same functions).

A work's picture is its frames at 1 fps, 64x64 grey, each a 64-bit pHash (and the pHash of the mirrored
frame); two frames match within Hamming distance ``max_distance``. Two works are compared by the
best-aligned fraction of the shorter one's frames that find their match in the other at the aligned
second (±1 s), over speeds 0.85–1.2 and with or without the flip. Frames that match many works (an
opening card, a shared template) weigh less. The sound is chromaprint's raw items, compared by the bit
error rate at the best offset over at least ``min_overlap_s``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]
F64 = npt.NDArray[np.float64]

# Nearest to real time first: among equal scores the plainest explanation wins.
SPEEDS = (1.0, 0.95, 1.05, 0.9, 1.1, 0.85, 1.15, 1.2)
# chromaprint's item step: 4096/3 samples at 11025 Hz.
AUDIO_ITEM_S = 4096 / 3 / 11025
# The most moments a pair keeps for the side-by-side view.
MOMENTS_KEPT = 5


@dataclass
class Print:
    """One version's fingerprint as arrays."""

    times: npt.NDArray[np.uint16]
    hashes: U64
    mirrored: U64
    audio: U32
    duration_s: float = 0.0

    @classmethod
    def from_bytes(cls, times: bytes, hashes: bytes, mirrored: bytes, audio: bytes, duration_s: float = 0.0) -> Print:
        return cls(
            np.frombuffer(times, dtype="<u2"), np.frombuffer(hashes, dtype="<u8"),
            np.frombuffer(mirrored, dtype="<u8"), np.frombuffer(audio, dtype="<u4"), duration_s,
        )


def popcount(values: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    counts: npt.NDArray[np.uint8] = np.bitwise_count(values)
    return counts


def hamming_matrix(a: U64, b: U64) -> npt.NDArray[np.uint8]:
    """Hamming distances between every hash of ``a`` (rows) and of ``b`` (columns)."""
    return popcount(a[:, None] ^ b[None, :])


@dataclass
class Index:
    """Every candidate work's frame hashes in one array, for the first (coarse) pass of a query."""

    work_ids: list[int]
    hashes: U64
    owners: npt.NDArray[np.int32]  # position in work_ids of each hash

    @classmethod
    def build(cls, prints: dict[int, U64]) -> Index:
        ids = list(prints)
        arrays = [prints[i] for i in ids]
        hashes = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.uint64)
        owners = np.repeat(np.arange(len(ids), dtype=np.int32), [len(a) for a in arrays])
        return cls(ids, hashes, owners)


@dataclass
class Candidates:
    # work id -> how many of the query's frames (normal or mirrored) have a match in it
    hits: dict[int, int]
    # per query frame: how many works it matches (the weight divides by it past ``common_works``)
    works_per_frame: npt.NDArray[np.int32]


def candidates(query: Print, index: Index, *, max_distance: int, min_hits: int) -> Candidates:
    """Works sharing at least ``min_hits`` of the query's frames (normal or mirrored), by brute popcount."""
    n_works = len(index.work_ids)
    hit_frames = np.zeros((len(query.hashes), n_works), dtype=bool)
    # One pass over the index per query hash, in preallocated buffers (no temporary arrays per pass).
    xored = np.empty_like(index.hashes)
    counts = np.empty(len(index.hashes), dtype=np.uint8)
    close = np.empty(len(index.hashes), dtype=bool)
    for i in range(len(query.hashes)):
        for value in (query.hashes[i], query.mirrored[i]):
            np.bitwise_xor(index.hashes, value, out=xored)
            np.bitwise_count(xored, out=counts)
            np.less_equal(counts, max_distance, out=close)
            where = np.flatnonzero(close)
            if len(where):
                hit_frames[i, index.owners[where]] = True
    per_work = hit_frames.sum(axis=0)
    hits = {index.work_ids[k]: int(per_work[k]) for k in np.nonzero(per_work >= min_hits)[0]}
    return Candidates(hits, hit_frames.sum(axis=1).astype(np.int32))


def frame_weights(works_per_frame: npt.NDArray[np.int32], common_works: int) -> F64:
    """1 for a frame matching at most ``common_works`` works, less the more works it matches."""
    counts = np.maximum(works_per_frame.astype(np.float64), 1.0)
    return np.where(counts <= common_works, 1.0, common_works / counts)


@dataclass
class VideoMatch:
    score: float = 0.0
    matched_s: float = 0.0
    speed: float = 1.0
    flipped: bool = False
    # [query second, other second] of matched frames (a few, in order)
    moments: list[list[float]] = field(default_factory=list)


def compare_video(
    query: Print, other: Print, *, max_distance: int, min_frames: int, weights: F64 | None = None,
    tolerance_s: float = 1.0,
) -> VideoMatch:
    """The best-aligned weighted fraction of the shorter work's frames matched in the other one."""
    if len(query.hashes) < min_frames or len(other.hashes) < min_frames:
        return VideoMatch()  # too little evidence: a clip of a few seconds matches too easily
    w_query = weights if weights is not None else np.ones(len(query.hashes))
    query_is_a = len(query.hashes) <= len(other.hashes)
    best = VideoMatch()
    for flipped in (False, True):
        if query_is_a:
            ta, tb = query.times.astype(np.float64), other.times.astype(np.float64)
            close = hamming_matrix(query.hashes, other.mirrored if flipped else other.hashes) <= max_distance
            wa = w_query
        else:
            ta, tb = other.times.astype(np.float64), query.times.astype(np.float64)
            close = hamming_matrix(other.hashes, query.mirrored if flipped else query.hashes) <= max_distance
            wa = np.ones(len(other.hashes))
        rows, cols = np.nonzero(close)
        if len(rows) == 0:
            continue
        total = float(wa.sum()) or 1.0
        for speed in SPEEDS:
            offsets = np.round(tb[cols] - speed * ta[rows]).astype(np.int64)
            values, counts = np.unique(offsets, return_counts=True)
            for offset in values[np.argsort(-counts)[:3]]:
                expected = speed * ta[rows] + offset
                ok = np.abs(tb[cols] - expected) <= tolerance_s + 1e-9
                matched_rows = np.unique(rows[ok])
                score = float(wa[matched_rows].sum()) / total
                if score > best.score + 1e-9:
                    pairs = [(float(ta[r]), float(tb[c])) for r, c in zip(rows[ok], cols[ok], strict=True)]
                    pairs.sort()
                    moments = _spread([[a, b] if query_is_a else [b, a] for a, b in pairs])
                    best = VideoMatch(round(score, 3), float(len(matched_rows)), speed, flipped, moments)
    return best


def _spread(pairs: list[list[float]]) -> list[list[float]]:
    """At most MOMENTS_KEPT moments, the first of each run of consecutive seconds first."""
    kept: list[list[float]] = []
    last = -10.0
    for pair in pairs:
        if pair[0] - last > 3.0:
            kept.append(pair)
        last = pair[0]
        if len(kept) >= MOMENTS_KEPT:
            break
    return kept


@dataclass
class AudioMatch:
    ber: float = 1.0
    overlap_s: float = 0.0
    query_at_s: float = 0.0
    other_at_s: float = 0.0


def compare_audio(query: U32, other: U32, *, min_overlap_s: float) -> AudioMatch:
    """The lowest bit error rate over every offset with at least ``min_overlap_s`` of overlap."""
    min_items = int(np.ceil(min_overlap_s / AUDIO_ITEM_S))
    na, nb = len(query), len(other)
    if na < min_items or nb < min_items:
        return AudioMatch()
    best = AudioMatch()
    # offset k: query[i] is compared with other[i - k]
    for k in range(-(nb - min_items), na - min_items + 1):
        a0, b0 = max(k, 0), max(-k, 0)
        length = min(na - a0, nb - b0)
        if length < min_items:
            continue
        errors = int(popcount(query[a0:a0 + length] ^ other[b0:b0 + length]).sum())
        ber = errors / (32 * length)
        if ber < best.ber:
            best = AudioMatch(round(ber, 4), round(length * AUDIO_ITEM_S, 1), round(a0 * AUDIO_ITEM_S, 1),
                              round(b0 * AUDIO_ITEM_S, 1))
    return best


def audio_candidates(query: U32, prints: dict[int, U32], *, min_hits: int) -> dict[int, int]:
    """Works sharing at least ``min_hits`` exact chromaprint items with the query (repeated items, such
    as silence, are left out: they are in every work)."""
    values, counts = np.unique(query, return_counts=True)
    distinct = values[counts <= 3]
    if len(distinct) == 0:
        return {}
    ids = [work_id for work_id, items in prints.items() if len(items)]
    if not ids:
        return {}
    # One pass over every stored item (not one per work): at 12,400 works a loop was ~0.6 s of overhead.
    items = np.concatenate([prints[work_id] for work_id in ids])
    owners = np.repeat(np.arange(len(ids)), [len(prints[work_id]) for work_id in ids])
    hits = np.bincount(owners[np.isin(items, distinct)], minlength=len(ids))
    return {ids[k]: int(hits[k]) for k in np.flatnonzero(hits >= min_hits)}
