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
# 3: the duration is what a player presents (edit lists applied), rounded to the campaign's step before
# it is compared, and a packet count past the cap decides the file.
RULES_CODE_VERSION = "3"

# How far the header's duration may drift from the packets' before we record a warning.
HEADER_DRIFT_TOLERANCE_S = 1.0
# Samples stored outside the edit list up to this long are an encoder's priming and padding (AAC: 1024
# samples each side, at most 0.26 s at 8 kHz), not content someone hid: no warning for those.
HIDDEN_SAMPLES_TOLERANCE_S = 0.5
DEFAULT_DURATION_STEP_S = 0.1

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


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def shown_duration(seconds: float, step_s: float = DEFAULT_DURATION_STEP_S) -> float:
    """A measured duration as it is compared with the limit and shown everywhere: rounded half up to
    ``step_s`` (0.1 s: 120.049 is 120.0, 120.05 is 120.1). Integer milliseconds, so no float drift
    turns 120.0 into 120.00000001."""
    step = max(_ms(step_s), 1)
    return (_ms(seconds) + step // 2) // step * step / 1000


def format_seconds(seconds: float, step_s: float = DEFAULT_DURATION_STEP_S) -> str:
    """``shown_duration`` with exactly the decimals the step has (0.1 s: "120.1", 1 s: "121")."""
    step = max(_ms(step_s), 1)
    decimals = 3
    while decimals > 0 and step % 10 == 0:
        step //= 10
        decimals -= 1
    return f"{shown_duration(seconds, step_s):.{decimals}f}"


def exceeds(seconds: float, max_duration_s: float, step_s: float = DEFAULT_DURATION_STEP_S) -> bool:
    """Whether a measured duration is over the limit. Because the rounded value is what is compared and
    what a message states, a refusal never cites a value that does not exceed the limit."""
    return _ms(shown_duration(seconds, step_s)) > _ms(max_duration_s)


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
            f"视频实际时长{detail}超过 {limit}的上限。请剪辑到 {limit}以内后重新导出上传。"
        ),
        RejectionCode.corrupt: (
            f"视频文件已损坏或不完整{detail}，无法完整播放。请确认文件能在本机从头播放到尾，"
            "必要时重新导出，然后重新上传（上传中断时请使用“继续上传”）。"
        ),
    }
    return messages[code]


def rules_version(
    *, max_size_bytes: int, max_duration_s: float, allowed_brands: list[str],
    duration_step_s: float = DEFAULT_DURATION_STEP_S,
) -> str:
    digest = hashlib.sha256("|".join(sorted(allowed_brands)).encode()).hexdigest()[:8]
    return f"r{RULES_CODE_VERSION}-{max_size_bytes}-{max_duration_s:g}-{duration_step_s:g}-{digest}"


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
    # What a player presents: the packets' timestamps with edit lists applied, of the longest stream.
    duration_s: float | None = None
    header_duration_s: float | None = None
    decode_ok: bool = False
    decode_error: str = ""
    # Stored samples outside the edit list (no player shows them), in seconds.
    hidden_s: float = 0.0
    # The packet list ended at the cap derived from the duration limit: ``duration_s`` is a lower bound.
    packets_capped: bool = False


@dataclass
class Limits:
    max_size_bytes: int
    max_duration_s: float
    allowed_brands: list[str]
    duration_step_s: float = DEFAULT_DURATION_STEP_S

    @property
    def version(self) -> str:
        return rules_version(
            max_size_bytes=self.max_size_bytes, max_duration_s=self.max_duration_s, allowed_brands=self.allowed_brands,
            duration_step_s=self.duration_step_s,
        )

    def too_long(self, seconds: float) -> bool:
        return exceeds(seconds, self.max_duration_s, self.duration_step_s)


@dataclass
class Verdict:
    ok: bool
    code: RejectionCode | None = None
    message: str | None = None
    warnings: list[str] = field(default_factory=list)


def header_warnings(m: Measurements) -> list[str]:
    """What reviewers should know about a file's timing; none of it changes the verdict."""
    warnings = []
    # A capped packet list gives only a lower bound: no mismatch can be claimed from it.
    if m.duration_s is not None and m.header_duration_s is not None and not m.packets_capped:
        if abs(m.header_duration_s - m.duration_s) > HEADER_DRIFT_TOLERANCE_S:
            warnings.append(
                f"header_duration_mismatch: header says {m.header_duration_s:.3f}s, "
                f"packets say {m.duration_s:.3f}s"
            )
    if m.hidden_s > HIDDEN_SAMPLES_TOLERANCE_S:
        warnings.append(f"hidden_samples: {m.hidden_s:.3f} s")
    return warnings


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
    if m.duration_s is not None and limits.too_long(m.duration_s):
        at_least = "至少 " if m.packets_capped else ""
        shown = format_seconds(m.duration_s, limits.duration_step_s)
        return reject(RejectionCode.too_long, f"（{at_least}{shown} 秒）")
    if m.packets_capped:
        # More packets than any real clip within the limit holds: the file is built to exhaust us.
        return reject(RejectionCode.corrupt)
    if not m.decode_ok or m.duration_s is None:
        return reject(RejectionCode.corrupt)
    return Verdict(ok=True, warnings=header_warnings(m))
