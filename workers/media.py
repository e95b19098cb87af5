"""Measuring and converting a stored video with ffmpeg, hardened for hostile input.

This is the only module that imports ffmpeg-python. Every ffmpeg/ffprobe run here:

- reads one LOCAL file, named ``file:<path>``, with ``-protocol_whitelist file`` (no http, no pipes,
  no nested protocols such as ``concat:`` or ``subfile,``) and with the demuxer forced to the ISO BMFF
  one (``-f mp4`` plus ``-format_whitelist mov,mp4,m4a,3gp,3g2,mj2``), so a playlist (HLS, ffconcat)
  or any other container is never interpreted even if it got past the ``ftyp`` sniff;
- keeps data references off (``-enable_drefs 0``): an MP4 cannot point ffmpeg at other files;
- runs under a wall-clock limit (``probe_timeout_s``, ``decode_timeout_s``, ``transcode_timeout_s``)
  and dies with the worker process that started it (``PR_SET_PDEATHSIG``).

Files whose first box is not ``ftyp`` never reach ffmpeg at all (``sniff``).

When the original plays in a browser as it is (``browser_playable``): ISO BMFF with an allowed major
brand, H.264 video in 8-bit 4:2:0 (``yuv420p``/``yuvj420p``; profiles Constrained Baseline, Baseline,
Main or High) and AAC, MP3 or no audio. Those are what every current desktop and phone browser decodes
in an MP4, moov at the end and fragmented MP4 included (browsers fetch the index with Range requests).
Anything else (HEVC, 10-bit, 4:2:2/4:4:4, MPEG-4 Part 2, AV1, VP9 in MP4, Opus/AC-3/PCM audio…) gets an
H.264/AAC rendition, yuv420p, ``+faststart``, at most 1280 px on its longer side.
"""

from __future__ import annotations

import ctypes
import json
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import ffmpeg

from clipjury.media.rules import Measurements, sniff_major_brand
from clipjury.settings import get_settings

log = logging.getLogger(__name__)

# The ISO BMFF demuxer's names: the only input format we ever let ffmpeg open.
FORMAT_WHITELIST = "mov,mp4,m4a,3gp,3g2,mj2"
SNIFF_BYTES = 4096
# How much of ffmpeg's error output we keep (for the record and revalidate).
ERROR_KEEP_CHARS = 2000

PLAYABLE_VIDEO_CODECS = frozenset({"h264"})
PLAYABLE_H264_PROFILES = frozenset({"Constrained Baseline", "Baseline", "Main", "High"})
PLAYABLE_PIX_FMTS = frozenset({"yuv420p", "yuvj420p"})
PLAYABLE_AUDIO_CODECS = frozenset({"aac", "mp3"})


class MediaToolError(RuntimeError):
    """ffmpeg itself could not run (missing binary, out of disk): transient, not the file's fault."""


@dataclass
class StreamInfo:
    index: int
    codec_type: str
    codec_name: str | None
    profile: str | None = None
    pix_fmt: str | None = None
    width: int | None = None
    height: int | None = None
    sample_rate: int | None = None
    channels: int | None = None


@dataclass
class MediaReport:
    """Everything measured of one file; ``measurements()`` is the part the rules decide on."""

    size_bytes: int
    major_brand: str | None
    probe_ok: bool = False
    probe_error: str = ""
    format_name: str | None = None
    header_duration_s: float | None = None
    duration_s: float | None = None
    stream_durations_s: dict[int, float] = field(default_factory=dict)
    streams: list[StreamInfo] = field(default_factory=list)
    decode_ok: bool = False
    decode_error: str = ""
    timed_out: list[str] = field(default_factory=list)
    ffmpeg_version: str = ""

    @property
    def video(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.codec_type == "video"), None)

    @property
    def audio(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.codec_type == "audio"), None)

    def measurements(self) -> Measurements:
        return Measurements(
            size_bytes=self.size_bytes,
            major_brand=self.major_brand,
            probe_ok=self.probe_ok,
            probe_error=self.probe_error,
            has_video=self.video is not None,
            duration_s=self.duration_s,
            header_duration_s=self.header_duration_s,
            decode_ok=self.decode_ok,
            decode_error=self.decode_error,
        )

    def summary(self) -> dict[str, Any]:
        """A small JSON record of the probe, stored with the version."""
        data = asdict(self)
        data["stream_durations_s"] = {str(k): v for k, v in self.stream_durations_s.items()}
        return data


# -- running the tools ----------------------------------------------------------------------------

def _load_libc() -> Any:
    # Loaded once here: dlopen in a freshly forked child of a threaded process could deadlock.
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when the thread that forked it dies (Linux)."""
    # A worker killed with SIGKILL must not leave a decode running on its own.
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class ToolResult:
    returncode: int
    stdout: bytes
    stderr: str
    timed_out: bool


def _run(args: Sequence[str], timeout_s: float) -> ToolResult:
    try:
        proc = subprocess.run(
            list(args), stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s,
            preexec_fn=die_with_parent, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = (exc.stderr or b"").decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else ""
        return ToolResult(-1, b"", stderr, True)
    except OSError as exc:
        raise MediaToolError(f"cannot run {args[0]}: {exc}") from exc
    return ToolResult(proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace"), False)


def _input_options() -> dict[str, Any]:
    """Demuxer options for every input we open (see the module docstring)."""
    return {
        "protocol_whitelist": "file",
        "format_whitelist": FORMAT_WHITELIST,
        "f": "mp4",
        "enable_drefs": 0,
    }


def _input_args() -> list[str]:
    args: list[str] = []
    for key, value in _input_options().items():
        args += [f"-{key}", str(value)]
    return args


def _file_url(path: Path) -> str:
    # The explicit protocol keeps names like "http:x.mp4" or "concat:a|b" from meaning anything.
    return f"file:{path.resolve()}"


def _ffmpeg_args(stream: Any, *global_args: str) -> list[str]:
    settings = get_settings()
    return [settings.ffmpeg_path, "-hide_banner", "-nostdin", "-v", "error", *global_args, *ffmpeg.get_args(stream)]


@lru_cache(maxsize=1)
def ffmpeg_version() -> str:
    """The ffmpeg build, e.g. ``5.1.6-0+deb12u1`` (stored with every verdict)."""
    result = _run([get_settings().ffmpeg_path, "-hide_banner", "-version"], 30)
    first = result.stdout.decode("utf-8", "replace").splitlines()[:1]
    words = first[0].split() if first else []
    return words[2][:64] if len(words) > 2 and words[:2] == ["ffmpeg", "version"] else "unknown"


# -- measuring ------------------------------------------------------------------------------------

def sniff(path: Path) -> str | None:
    """The major brand from the ``ftyp`` box, read before any ffmpeg runs; ``None`` if not ISO BMFF."""
    with path.open("rb") as fh:
        return sniff_major_brand(fh.read(SNIFF_BYTES))


def _probe_args(path: Path) -> list[str]:
    # One demux pass gives the header facts and every packet's timestamps; no frame is decoded.
    # Edit lists are ignored for the packets so a file cannot hide samples behind an edit list.
    entries = (
        "format=format_name,duration:"
        "stream=index,codec_type,codec_name,profile,pix_fmt,width,height,sample_rate,channels:"
        "packet=stream_index,pts_time,duration_time"
    )
    return [
        get_settings().ffprobe_path, "-hide_banner", "-v", "error", *_input_args(), "-ignore_editlist", "1",
        "-show_entries", entries, "-of", "json", _file_url(path),
    ]


def _decode_args(path: Path) -> list[str]:
    # -xerror stops at the first decoding error; any error output at all counts as damage.
    stream = ffmpeg.input(_file_url(path), **_input_options()).output("-", f="null")
    return _ffmpeg_args(stream, "-xerror")


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def packet_durations(packets: list[dict[str, Any]]) -> dict[int, float]:
    """Per stream: from its first presentation time to the end of its last packet."""
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    for packet in packets:
        index = _int(packet.get("stream_index"))
        pts = _float(packet.get("pts_time"))
        if index is None or pts is None:
            continue
        end = pts + (_float(packet.get("duration_time")) or 0.0)
        first[index] = min(first.get(index, pts), pts)
        last[index] = max(last.get(index, end), end)
    return {index: round(last[index] - first[index], 3) for index in first}


def _apply_probe(report: MediaReport, result: ToolResult) -> None:
    if result.timed_out:
        report.timed_out.append("probe")
        report.probe_error = "probe timed out"
        return
    try:
        data = json.loads(result.stdout or b"{}")
    except json.JSONDecodeError:
        data = {}
    fmt = data.get("format") or {}
    streams = data.get("streams") or []
    if result.returncode != 0 or not fmt or not streams:
        report.probe_error = (result.stderr.strip() or f"ffprobe exit {result.returncode}")[:ERROR_KEEP_CHARS]
        return
    report.probe_ok = True
    report.format_name = fmt.get("format_name")
    report.header_duration_s = _float(fmt.get("duration"))
    for s in streams:
        report.streams.append(
            StreamInfo(
                index=_int(s.get("index")) or 0,
                codec_type=str(s.get("codec_type") or ""),
                codec_name=s.get("codec_name"),
                profile=s.get("profile"),
                pix_fmt=s.get("pix_fmt"),
                width=_int(s.get("width")),
                height=_int(s.get("height")),
                sample_rate=_int(s.get("sample_rate")),
                channels=_int(s.get("channels")),
            )
        )
    report.stream_durations_s = packet_durations(data.get("packets") or [])
    media_streams = {s.index for s in report.streams if s.codec_type in ("video", "audio")}
    durations = [d for i, d in report.stream_durations_s.items() if i in media_streams]
    report.duration_s = max(durations) if durations else None


def _apply_decode(report: MediaReport, result: ToolResult) -> None:
    if result.timed_out:
        report.timed_out.append("decode")
        report.decode_error = "decode timed out"
        return
    error = result.stderr.strip()
    report.decode_ok = result.returncode == 0 and not error
    if not report.decode_ok:
        report.decode_error = (error or f"ffmpeg exit {result.returncode}")[:ERROR_KEEP_CHARS]


def measure(path: Path, *, size_bytes: int | None = None, major_brand: str | None = None) -> MediaReport:
    """Probe (header, streams, packet timestamps) and fully decode ``path``, the two in parallel.

    Call only for files whose ``ftyp`` sniff passed; the caller decides on the cheap verdicts first.
    """
    settings = get_settings()
    size = path.stat().st_size if size_bytes is None else size_bytes
    brand = major_brand if major_brand is not None else sniff(path)
    report = MediaReport(size_bytes=size, major_brand=brand, ffmpeg_version=ffmpeg_version())
    if brand is None:
        report.probe_error = "not an ISO BMFF file (no ftyp box)"
        return report

    results: dict[str, ToolResult] = {}
    errors: list[BaseException] = []

    def decode() -> None:
        try:
            results["decode"] = _run(_decode_args(path), settings.decode_timeout_s)
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)

    # The decode is the long part and the probe only demuxes: running them side by side costs the
    # verdict about the decode's time alone.
    thread = threading.Thread(target=decode, name="ffmpeg-decode", daemon=True)
    thread.start()
    probe = _run(_probe_args(path), settings.probe_timeout_s)
    thread.join()
    if errors:
        raise errors[0]
    _apply_probe(report, probe)
    _apply_decode(report, results["decode"])
    return report


# -- playback -------------------------------------------------------------------------------------

def browser_playable(report: MediaReport, allowed_brands: Sequence[str]) -> bool:
    """Whether the original plays in current browsers as it is (see the module docstring)."""
    video, audio = report.video, report.audio
    if report.major_brand not in allowed_brands or video is None:
        return False
    if video.codec_name not in PLAYABLE_VIDEO_CODECS or video.pix_fmt not in PLAYABLE_PIX_FMTS:
        return False
    if video.profile not in PLAYABLE_H264_PROFILES:
        return False
    return audio is None or audio.codec_name in PLAYABLE_AUDIO_CODECS


def make_poster(path: Path, out: Path, *, at_s: float = 1.0) -> None:
    """A JPEG of one frame near ``at_s`` (earlier for very short clips), at most 1280 px wide."""
    stream = (
        ffmpeg.input(_file_url(path), ss=f"{max(at_s, 0.0):.3f}", **_input_options())
        .video.filter("scale", w="min(1280,iw)", h=-2)
        .output(str(out), vframes=1, f="image2", vcodec="mjpeg", **{"q:v": 3})
    )
    result = _run(_ffmpeg_args(stream, "-y"), get_settings().probe_timeout_s)
    if result.timed_out or result.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        raise MediaToolError(f"poster failed: {result.stderr.strip()[:500]}")


def make_rendition(path: Path, out: Path, *, has_audio: bool) -> None:
    """An H.264/AAC MP4 every browser plays: yuv420p, at most 1280 px on the longer side, faststart."""
    source = ffmpeg.input(_file_url(path), **_input_options())
    video = source.video.filter(
        "scale", w="min(1280,iw)", h="min(1280,ih)", force_original_aspect_ratio="decrease", force_divisible_by=2
    )
    streams = [video, source.audio] if has_audio else [video]
    options: dict[str, Any] = {
        "vcodec": "libx264", "preset": "veryfast", "crf": 23, "pix_fmt": "yuv420p", "profile:v": "high",
        "movflags": "+faststart", "f": "mp4",
    }
    if has_audio:
        options.update({"acodec": "aac", "b:a": "128k", "ac": 2})
    stream = ffmpeg.output(*streams, str(out), **options)
    result = _run(_ffmpeg_args(stream, "-y"), get_settings().transcode_timeout_s)
    if result.timed_out or result.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        raise MediaToolError(f"rendition failed: {result.stderr.strip()[:500]}")
