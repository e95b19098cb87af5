"""How a stored file becomes a verdict: the rejection codes, their messages, and the decision.

This module is pure: the workers measure (with ffmpeg), this decides. Changing a rule here or a
campaign limit changes ``rules_version``, so ``clipjury revalidate`` can tell which verdicts to re-run.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from enum import StrEnum

# Bump when the decision logic below changes meaning. 2: a major brand is four printable ASCII characters
# (a control byte made it an unknown brand before, and a NUL one could not be stored on PostgreSQL).
RULES_CODE_VERSION = "2"

# How far the header's duration may drift from the packets' before we record a warning.
HEADER_DRIFT_TOLERANCE_S = 1.0

# M4A/M4B/M4P are MP4 audio files: refused, but with the clearer "no video" reason.
AUDIO_ONLY_BRANDS = frozenset({"M4A ", "M4B ", "M4P "})


class RejectionCode(StrEnum):
    empty = "empty"
    too_large = "too_large"
    not_mp4 = "not_mp4"
    no_video_stream = "no_video_stream"
    too_long = "too_long"
    corrupt = "corrupt"


EXPORT_HINT = (
    "手机拍摄的视频可在相册中选择“导出/存储视频”并选 MP4（H.264）格式；"
    "电脑上可用剪映、Premiere 等软件导出为 MP4（H.264 视频、AAC 音频）。"
)


def rejection_message(code: RejectionCode, *, max_size_bytes: int, max_duration_s: float, detail: str = "") -> str:
    max_mib = max_size_bytes / (1024 * 1024)
    limit = f"{max_duration_s:g} 秒（{max_duration_s / 60:g} 分钟）"
    messages = {
        RejectionCode.empty: "上传的文件是空的（0 字节）。请确认选择了正确的视频文件后重新上传。",
        RejectionCode.too_large: (
            f"文件大小{detail}超过 {max_mib:g} MB 的上限。请降低导出码率或分辨率（如 1080p、8 Mbps）"
            "后重新导出为 MP4 再上传。"
        ),
        RejectionCode.not_mp4: (
            f"文件不是 MP4 格式{detail}。仅接受 MP4 文件，改扩展名无效。" + EXPORT_HINT
        ),
        RejectionCode.no_video_stream: (
            "文件中没有视频画面（只有音频或为空轨道）。请上传包含画面的 MP4 视频。"
        ),
        RejectionCode.too_long: (
            f"视频实际时长{detail}超过 {limit} 的上限。请剪辑到 {limit} 以内后重新导出上传。"
        ),
        RejectionCode.corrupt: (
            f"视频文件已损坏或不完整{detail}，无法完整播放。请确认文件能在本机从头播放到尾，"
            "必要时重新导出，然后重新上传（上传中断时请使用“继续上传”）。"
        ),
    }
    return messages[code]


def rules_version(*, max_size_bytes: int, max_duration_s: float, allowed_brands: list[str]) -> str:
    digest = hashlib.sha256("|".join(sorted(allowed_brands)).encode()).hexdigest()[:8]
    return f"r{RULES_CODE_VERSION}-{max_size_bytes}-{max_duration_s:g}-{digest}"


def sniff_major_brand(head: bytes) -> str | None:
    """The major brand of an ISO BMFF file whose first box is ``ftyp``; ``None`` for anything else.

    Matroska, AVI, MPEG-TS, playlists, QuickTime files without ``ftyp`` and random bytes all fail
    here, before ffmpeg ever sees them.
    """
    if len(head) < 16:
        return None
    size = struct.unpack(">I", head[0:4])[0]
    if head[4:8] != b"ftyp" or not (16 <= size <= 4096 and size != 1):
        return None
    brand = head[8:12]
    # A brand is a four-character code of printable ASCII. Anything else (a NUL or another control
    # byte, which PostgreSQL text cannot even hold) is no MP4.
    text = brand.decode("latin-1")
    return text if _printable(text) else None


def _printable(brand: str) -> bool:
    return len(brand) == 4 and all(" " <= ch <= "~" for ch in brand)


@dataclass
class Measurements:
    """What the worker measured of a stored file. ``None`` where it could not be measured."""

    size_bytes: int
    major_brand: str | None = None
    probe_ok: bool = False
    probe_error: str = ""
    has_video: bool = False
    duration_s: float | None = None  # from the packets' timestamps of the longest stream
    header_duration_s: float | None = None
    decode_ok: bool = False
    decode_error: str = ""


@dataclass
class Limits:
    max_size_bytes: int
    max_duration_s: float
    allowed_brands: list[str]

    @property
    def version(self) -> str:
        return rules_version(
            max_size_bytes=self.max_size_bytes, max_duration_s=self.max_duration_s, allowed_brands=self.allowed_brands
        )


@dataclass
class Verdict:
    ok: bool
    code: RejectionCode | None = None
    message: str | None = None
    warnings: list[str] = field(default_factory=list)


def header_warnings(m: Measurements) -> list[str]:
    if m.duration_s is None or m.header_duration_s is None:
        return []
    if abs(m.header_duration_s - m.duration_s) > HEADER_DRIFT_TOLERANCE_S:
        return [
            f"header_duration_mismatch: header says {m.header_duration_s:.3f}s, "
            f"packets say {m.duration_s:.3f}s"
        ]
    return []


def needs_probe(size_bytes: int, major_brand: str | None, limits: Limits) -> Verdict | None:
    """The verdict that needs no ffmpeg at all, or ``None`` when the file must be probed."""
    return _cheap_verdict(Measurements(size_bytes=size_bytes, major_brand=major_brand), limits)


def _cheap_verdict(m: Measurements, limits: Limits) -> Verdict | None:
    def reject(code: RejectionCode, detail: str = "") -> Verdict:
        msg = rejection_message(
            code, max_size_bytes=limits.max_size_bytes, max_duration_s=limits.max_duration_s, detail=detail
        )
        return Verdict(ok=False, code=code, message=msg)

    if m.size_bytes == 0:
        return reject(RejectionCode.empty)
    if m.size_bytes > limits.max_size_bytes:
        return reject(RejectionCode.too_large, f"（{m.size_bytes / (1024 * 1024):.1f} MB）")
    if m.major_brand in AUDIO_ONLY_BRANDS:
        return reject(RejectionCode.no_video_stream)
    if m.major_brand is None or not _printable(m.major_brand):
        return reject(RejectionCode.not_mp4)
    if m.major_brand not in limits.allowed_brands:
        label = "QuickTime（MOV）" if m.major_brand == "qt  " else f"“{m.major_brand.strip()}”"
        return reject(RejectionCode.not_mp4, f"（识别为 {label}）")
    return None


def decide(m: Measurements, limits: Limits) -> Verdict:
    """The verdict, in a fixed order: the first rule a file breaks is the reason given."""
    cheap = _cheap_verdict(m, limits)
    if cheap is not None:
        return cheap

    def reject(code: RejectionCode, detail: str = "") -> Verdict:
        msg = rejection_message(
            code, max_size_bytes=limits.max_size_bytes, max_duration_s=limits.max_duration_s, detail=detail
        )
        return Verdict(ok=False, code=code, message=msg, warnings=header_warnings(m))

    if not m.probe_ok:
        return reject(RejectionCode.corrupt)
    if not m.has_video:
        return reject(RejectionCode.no_video_stream)
    if m.duration_s is not None and m.duration_s > limits.max_duration_s:
        return reject(RejectionCode.too_long, f"（{m.duration_s:.1f} 秒）")
    if not m.decode_ok or m.duration_s is None:
        return reject(RejectionCode.corrupt)
    return Verdict(ok=True, warnings=header_warnings(m))
