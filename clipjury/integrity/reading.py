"""What the screening decides from text OCR read off frames: whether the opening line is there (and
when), and which lines look like classification markings. Pure functions on strings; hints only.

A plain keyword would flag ordinary contest content ("国家秘密 人人守护"): a marking needs the marking's
shape (``机密★1年``), and "内部资料"/"涉密" count only in document-like text (several lines on one frame).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher

# The classification mark of GB/T 9704 / 保密法: level, star, term in years. OCR reads the star in
# several ways; full-width digits are folded before matching.
MARKING = re.compile(r"(绝密|机密|秘密)\s*[★☆*＊✱✶]\s*\d+\s*年")
DOCUMENT_WORDS = re.compile(r"内部资料|涉密")
DOCUMENT_MIN_LINES = 4


def normalize(text: str) -> str:
    """Letters and digits only (punctuation, spaces and ellipses dropped), full-width folded."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in folded if ch.isalnum())


def opening_core(line: str) -> str:
    """The campaign's opening line as OCR could read it: without the trailing ellipsis or punctuation."""
    return normalize(line)


def similarity(expected: str, seen: str) -> float:
    """How well ``seen`` contains ``expected``: the best ratio over windows of ``seen`` as long as
    ``expected`` (a subtitle line may carry more text around it)."""
    want, got = normalize(expected), normalize(seen)
    if not want or not got:
        return 0.0
    if len(got) <= len(want):
        return SequenceMatcher(None, want, got, autojunk=False).ratio()
    best = 0.0
    for start in range(0, len(got) - len(want) + 1):
        ratio = SequenceMatcher(None, want, got[start:start + len(want)], autojunk=False).ratio()
        best = max(best, ratio)
        if best >= 0.999:
            break
    return best


@dataclass
class FrameText:
    at_s: float
    lines: list[str]

    @property
    def joined(self) -> str:
        return "".join(self.lines)


@dataclass
class OpeningFound:
    found: bool
    text: str
    at_s: float | None
    similarity: float


def find_opening(frames: list[FrameText], expected: str, threshold: float) -> OpeningFound:
    """The first frame (or two consecutive frames, a subtitle split in two) whose text matches the
    opening line with similarity ≥ ``threshold``; otherwise the closest reading, not found."""
    best = OpeningFound(False, "", None, 0.0)
    texts = [f for f in frames if f.lines]
    for i, frame in enumerate(texts):
        readings = [frame.joined, *frame.lines]
        if i + 1 < len(texts) and texts[i + 1].joined != frame.joined:
            readings.append(frame.joined + texts[i + 1].joined)
        for reading in readings:
            score = similarity(expected, reading)
            if score >= threshold:
                return OpeningFound(True, reading[:500], frame.at_s, round(score, 3))
            if score > best.similarity:
                best = OpeningFound(False, reading[:500], frame.at_s, round(score, 3))
    return best


def markings_in(frame: FrameText) -> list[str]:
    """The lines of one frame that look like a classification marking."""
    found: list[str] = []
    for line in frame.lines:
        folded = unicodedata.normalize("NFKC", line)
        if MARKING.search(folded) or MARKING.search(line):
            found.append(line)
    if len(frame.lines) >= DOCUMENT_MIN_LINES:
        found += [line for line in frame.lines if DOCUMENT_WORDS.search(line) and line not in found]
    return found
