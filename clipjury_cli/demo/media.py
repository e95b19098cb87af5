"""The demo's videos, generated with the ffmpeg command line into a scratch directory (never the repo).

Small and short so ``make run`` stays quick on two cores: 320x180, a few seconds, ultrafast x264. The
campaign's opening line is burned in when ffmpeg has ``drawtext`` and a CJK font is installed; otherwise
the test pattern alone (the file is just as valid).
"""

from __future__ import annotations

import shutil
import subprocess
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

SIZE = "320x180"
SECONDS = 4
H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
AAC = ["-c:a", "aac", "-b:a", "48k"]


class Kind(StrEnum):
    """What a demo file is, named by what the validator will make of it."""

    good = "good"  # H.264/AAC MP4 that browsers play as it is
    silent = "silent"  # valid, no audio track
    needs_rendition = "needs_rendition"  # valid MP4, but MPEG-4 Part 2 video: the worker makes a rendition
    empty = "empty"
    not_mp4 = "not_mp4"  # a Matroska file named .mp4
    no_video_stream = "no_video_stream"  # an MP4 with only a sine tone
    too_long = "too_long"  # 121 s (tiny frames at 1 fps, so it is cheap to make and to check)
    corrupt = "corrupt"  # an MP4 cut in half: its index (moov, written last) is gone


class MediaUnavailable(RuntimeError):
    pass


def _ffmpeg(*args: str) -> None:
    if shutil.which("ffmpeg") is None:
        raise MediaUnavailable("ffmpeg is not installed; `make setup` installs it")
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        check=True, capture_output=True, timeout=120,
    )


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """A font file with Chinese glyphs for drawtext, or ``None`` (then no text is burned in)."""
    if shutil.which("fc-match") is None:
        return None
    try:
        out = subprocess.run(
            ["fc-match", "-f", "%{file}", ":lang=zh-cn"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (subprocess.SubprocessError, OSError):
        return None
    return out if out and Path(out).is_file() else None


@lru_cache(maxsize=1)
def has_drawtext() -> bool:
    try:
        out = subprocess.run(
            ["ffmpeg", "-hide_banner", "-filters"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return False
    return " drawtext " in out


def _escape(text: str) -> str:
    # drawtext's own escaping inside a filtergraph: backslash, colon and quote are special.
    return text.replace("\\", "\\\\").replace(":", "\\:").replace("'", "\u2019").replace("%", "\\%")


def _text_filter(lines: list[str]) -> list[str]:
    font = cjk_font()
    if not lines or font is None or not has_drawtext():
        return []
    parts = [
        f"drawtext=fontfile='{font}':text='{_escape(line)}':fontsize=14:fontcolor=white:"
        f"box=1:boxcolor=black@0.6:boxborderw=4:x=(w-text_w)/2:y={24 + 26 * i}"
        for i, line in enumerate(lines)
    ]
    return ["-vf", ",".join(parts)]


def _av(seconds: float, *, size: str = SIZE, rate: int = 25, audio: bool = True) -> list[str]:
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=22050:duration={seconds}"]
    return args


def make(kind: Kind, out: Path, lines: list[str]) -> Path:
    """Write a file of ``kind`` to ``out``; ``lines`` (the opening line, the title) go on the picture."""
    text = _text_filter(lines)
    if kind == Kind.good:
        _ffmpeg(*_av(SECONDS), *text, *H264, *AAC, "-movflags", "+faststart", "-shortest", "-f", "mp4", str(out))
    elif kind == Kind.silent:
        _ffmpeg(*_av(SECONDS, audio=False), *text, *H264, "-movflags", "+faststart", "-f", "mp4", str(out))
    elif kind == Kind.needs_rendition:
        _ffmpeg(*_av(SECONDS), *text, "-c:v", "mpeg4", "-q:v", "8", *AAC, "-shortest", "-f", "mp4", str(out))
    elif kind == Kind.empty:
        out.write_bytes(b"")
    elif kind == Kind.not_mp4:
        _ffmpeg(*_av(SECONDS), *text, *H264, *AAC, "-shortest", "-f", "matroska", str(out))
    elif kind == Kind.no_video_stream:
        _ffmpeg("-f", "lavfi", "-i", f"sine=frequency=660:sample_rate=22050:duration={SECONDS}", *AAC,
                "-f", "mp4", str(out))
    elif kind == Kind.too_long:
        _ffmpeg(*_av(121, size="64x48", rate=1, audio=False), *H264, "-g", "10", "-f", "mp4", str(out))
    elif kind == Kind.corrupt:
        whole = out.with_name(out.stem + "-whole.mp4")
        _ffmpeg(*_av(SECONDS), *text, *H264, *AAC, "-shortest", "-f", "mp4", str(whole))
        data = whole.read_bytes()
        out.write_bytes(data[: len(data) // 2])
        whole.unlink()
    else:  # pragma: no cover - the enum is closed
        raise ValueError(kind)
    return out
