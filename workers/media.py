"""Measuring and converting a stored video with ffmpeg, hardened for hostile input.

This is the only module that imports ffmpeg-python. Every ffmpeg/ffprobe run here:

- reads one LOCAL file, named ``file:<path>``, with ``-protocol_whitelist file`` (no http, no pipes,
  no nested protocols such as ``concat:`` or ``subfile,``) and with the demuxer forced to the ISO BMFF
  one (``-f mp4`` plus ``-format_whitelist mov,mp4,m4a,3gp,3g2,mj2``), so a playlist (HLS, ffconcat)
  or any other container is never interpreted even if it got past the ``ftyp`` sniff;
- keeps data references off (``-enable_drefs 0``): an MP4 cannot point ffmpeg at other files;
- runs under a wall-clock limit (``probe_timeout_s``, ``decode_timeout_s``, ``transcode_timeout_s``)
  and dies with the worker process that started it (``PR_SET_PDEATHSIG``);
- runs under an address-space limit (``RLIMIT_AS``, ``media_memory_limit_mib``) with ``-threads``
  (``media_threads``): a file declaring millions of samples makes the child fail, not the machine swap.

Measuring never holds the packet list: ffprobe's output is read a line at a time and folded per stream,
and stops at a packet cap derived from the duration limit. The duration is what a player presents (edit
lists applied); samples stored outside the edit lists are reported apart (``hidden_s``).

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
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import ffmpeg

from clipjury.media.rules import Limits, Measurements, sniff_major_brand
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
    # What a player presents: edit lists applied, from the packets' timestamps (never the header).
    duration_s: float | None = None
    stream_durations_s: dict[int, float] = field(default_factory=dict)
    # Samples stored outside the edit list (the longest stretch of any stream), in seconds.
    hidden_s: float = 0.0
    packets: int = 0
    packets_capped: bool = False
    streams: list[StreamInfo] = field(default_factory=list)
    decode_ok: bool = False
    decode_error: str = ""
    # Why the full decode was not run to the end ("" when it was): the verdict was known without it.
    decode_stopped: str = ""
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
            hidden_s=self.hidden_s,
            packets_capped=self.packets_capped,
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


def _child_setup(memory_limit_bytes: int) -> Callable[[], None]:
    """What every ffmpeg/ffprobe child does between fork and exec (values computed before the fork)."""

    def setup() -> None:
        die_with_parent()
        # A sample table of millions of entries is a few bytes in the file and gigabytes in the demuxer's
        # index: past the limit ffmpeg's allocations fail and it exits with an error.
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))

    return setup


@dataclass
class ToolResult:
    returncode: int
    stdout: bytes
    stderr: str
    timed_out: bool
    # Killed by us because its answer was no longer needed.
    stopped: bool = False


def _spawn(args: Sequence[str], stdout: int) -> subprocess.Popen[bytes]:
    limit = get_settings().media_memory_limit_mib * 1024 * 1024
    try:
        return subprocess.Popen(
            list(args), stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE,
            preexec_fn=_child_setup(limit),
        )
    except OSError as exc:
        raise MediaToolError(f"cannot run {args[0]}: {exc}") from exc


# How often a run waiting for its child looks whether it was told to stop.
STOP_POLL_S = 0.2


def _run(args: Sequence[str], timeout_s: float, *, stop: threading.Event | None = None) -> ToolResult:
    """Run a tool to its end, its deadline, or until ``stop`` is set (then it is killed)."""
    proc = _spawn(args, subprocess.PIPE)
    deadline = time.monotonic() + timeout_s
    timed_out = stopped = False
    while True:
        left = deadline - time.monotonic()
        try:
            out, err = proc.communicate(timeout=max(min(left, STOP_POLL_S) if stop is not None else left, 0))
            break
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                timed_out = True
            elif stop is not None and stop.is_set():
                stopped = True
            else:
                continue
            proc.kill()
            out, err = proc.communicate()
            break
    if timed_out:
        return ToolResult(-1, b"", err.decode("utf-8", "replace"), True)
    return ToolResult(proc.returncode, out, err.decode("utf-8", "replace"), False, stopped)


class _LineReader:
    """A child whose stdout is read line by line as it comes, never whole: memory stays O(1) in the
    output's length. Its stderr is drained by a thread (keeping the start), and a timer kills it at the
    deadline."""

    def __init__(self, args: Sequence[str], timeout_s: float) -> None:
        self.proc = _spawn(args, subprocess.PIPE)
        self.killed_by_us = False
        self.timed_out = False
        self._stderr = bytearray()
        self._drain = threading.Thread(target=self._drain_stderr, name="ffprobe-stderr", daemon=True)
        self._drain.start()
        self._timer = threading.Timer(timeout_s, self._time_out)
        self._timer.start()

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for chunk in iter(lambda: self.proc.stderr.read(65536), b""):  # type: ignore[union-attr]  # the process is started with stderr=PIPE
            if len(self._stderr) < ERROR_KEEP_CHARS:
                self._stderr += chunk[: ERROR_KEEP_CHARS - len(self._stderr)]

    def _time_out(self) -> None:
        self.timed_out = True
        self.proc.kill()

    def lines(self) -> Iterator[bytes]:
        assert self.proc.stdout is not None
        while line := self.proc.stdout.readline(MAX_LINE_BYTES):
            yield line

    def stop(self) -> None:
        self.killed_by_us = True
        self.proc.kill()

    def finish(self) -> ToolResult:
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        returncode = self.proc.wait()
        self._timer.cancel()
        self._drain.join()
        stderr = bytes(self._stderr).decode("utf-8", "replace")
        return ToolResult(returncode, b"", stderr, self.timed_out, self.killed_by_us and not self.timed_out)


# A packet line is under 100 bytes; anything longer is cut, not buffered.
MAX_LINE_BYTES = 4096
# The header probe's JSON grows with the number of streams only; a file declaring more streams than
# this holds is refused rather than parsed.
HEADER_MAX_BYTES = 4 * 1024 * 1024


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


def _ffprobe(path: Path, *args: str) -> list[str]:
    settings = get_settings()
    return [
        settings.ffprobe_path, "-hide_banner", "-v", "error", *_input_args(), "-threads", str(settings.media_threads),
        *args, _file_url(path),
    ]


def _header_args(path: Path) -> list[str]:
    # The header's facts only: what the streams are and what the header claims. No packet is listed.
    entries = (
        "format=format_name,duration:"
        "stream=index,codec_type,codec_name,profile,pix_fmt,width,height,sample_rate,channels"
    )
    return _ffprobe(path, "-show_entries", entries, "-of", "json")


def _packets_args(path: Path, *, apply_editlist: bool) -> list[str]:
    # One compact line per packet, read as it comes. With edit lists applied the timestamps are what a
    # player presents (the AAC encoder's priming comes flagged D, discard); ignoring them shows every
    # stored sample, so the two together tell what an edit list hides.
    return _ffprobe(
        path, "-ignore_editlist", "0" if apply_editlist else "1",
        "-show_entries", "packet=stream_index,pts_time,duration_time,flags", "-of", "compact",
    )


def _decode_args(path: Path) -> list[str]:
    # -xerror stops at the first decoding error; any error output at all counts as damage.
    stream = ffmpeg.input(_file_url(path), threads=get_settings().media_threads, **_input_options()).output(
        "-", f="null"
    )
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


class PacketFold:
    """Per stream, the first presentation time and the end of the last packet, folded one packet at a
    time: memory is O(streams) whatever the packet count."""

    def __init__(self, streams: Collection[int]) -> None:
        self.streams = frozenset(streams)
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.count = 0

    def add(self, index: int, pts: float, duration: float) -> None:
        if index not in self.streams:
            return
        end = pts + duration
        first = self.first.get(index)
        if first is None or pts < first:
            self.first[index] = pts
        last = self.last.get(index)
        if last is None or end > last:
            self.last[index] = end

    def durations(self) -> dict[int, float]:
        return {index: round(self.last[index] - self.first[index], 3) for index in self.first}

    def longest(self) -> float | None:
        durations = self.durations()
        return max(durations.values()) if durations else None


def parse_packet_line(line: bytes) -> tuple[int, float, float, str] | None:
    """``packet|stream_index=1|pts_time=-0.046440|duration_time=0.046440|flags=KD`` → its four values."""
    if not line.startswith(b"packet|"):
        return None
    fields: dict[str, str] = {}
    for part in line.decode("ascii", "replace").strip().split("|")[1:]:
        key, _, value = part.partition("=")
        fields[key] = value
    index, pts = _int(fields.get("stream_index")), _float(fields.get("pts_time"))
    if index is None or pts is None:
        return None
    return index, pts, _float(fields.get("duration_time")) or 0.0, fields.get("flags", "")


@dataclass
class PacketScan:
    fold: PacketFold
    result: ToolResult
    capped: bool = False


def scan_packets(
    path: Path, streams: Collection[int], *, apply_editlist: bool, max_packets: int, timeout_s: float,
    on_progress: Callable[[PacketFold], None] | None = None,
) -> PacketScan:
    """Stream ffprobe's packet list and fold it; stop (and say so) after ``max_packets`` packets."""
    fold = PacketFold(streams)
    reader = _LineReader(_packets_args(path, apply_editlist=apply_editlist), timeout_s)
    capped = False
    try:
        for line in reader.lines():
            parsed = parse_packet_line(line)
            if parsed is None:
                continue
            fold.count += 1
            if fold.count > max_packets:
                capped = True
                reader.stop()
                break
            index, pts, duration, flags = parsed
            # Discarded packets (encoder priming, frames needed only to decode the first shown one)
            # are stored but never presented.
            if apply_editlist and "D" in flags:
                continue
            fold.add(index, pts, duration)
            if on_progress is not None and fold.count % PROGRESS_EVERY == 0:
                on_progress(fold)
    finally:
        result = reader.finish()
    if on_progress is not None:
        on_progress(fold)
    return PacketScan(fold, result, capped)


# How often (in packets) the scan tells the caller how far it got: often enough to stop a decode
# within a second of clip, rarely enough to cost nothing.
PROGRESS_EVERY = 64


def _read_header(report: MediaReport, path: Path, timeout_s: float) -> None:
    reader = _LineReader(_header_args(path), timeout_s)
    buffer = bytearray()
    too_big = False
    for line in reader.lines():
        buffer += line
        if len(buffer) > HEADER_MAX_BYTES:
            too_big = True
            reader.stop()
            break
    result = reader.finish()
    if result.timed_out:
        report.timed_out.append("probe")
        report.probe_error = "probe timed out"
        return
    if too_big:
        report.probe_error = f"probe output over {HEADER_MAX_BYTES} bytes (too many streams)"
        return
    try:
        data = json.loads(bytes(buffer) or b"{}")
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


def _failed_scan(report: MediaReport, scan: PacketScan) -> bool:
    """Record a packet scan that did not get through the file; ``True`` if it did not."""
    result = scan.result
    if result.timed_out:
        report.timed_out.append("probe")
        report.probe_ok = False
        report.probe_error = "probe timed out"
        return True
    if scan.capped or result.returncode == 0:
        return False
    report.probe_ok = False
    report.probe_error = (result.stderr.strip() or f"ffprobe exit {result.returncode}")[:ERROR_KEEP_CHARS]
    return True


def _apply_decode(report: MediaReport, result: ToolResult, stop_reason: str) -> None:
    if result.stopped:
        report.decode_stopped = stop_reason
        report.decode_error = f"decode stopped: {stop_reason}"
        return
    if result.timed_out:
        report.timed_out.append("decode")
        report.decode_error = "decode timed out"
        return
    error = result.stderr.strip()
    report.decode_ok = result.returncode == 0 and not error
    if not report.decode_ok:
        report.decode_error = (error or f"ffmpeg exit {result.returncode}")[:ERROR_KEEP_CHARS]


# Without a limit (a rendition checked in tests, a tool run by hand) the packet cap assumes two hours.
UNLIMITED_DURATION_S = 7200.0
# Headroom over the duration limit before the packet cap: a clip just over the limit is measured whole.
PACKET_CAP_HEADROOM_S = 10.0


def packet_cap(max_duration_s: float | None) -> int:
    """How many packets a clip may hold before its packet list stops being read."""
    seconds = (UNLIMITED_DURATION_S if max_duration_s is None else max_duration_s) + PACKET_CAP_HEADROOM_S
    return int(get_settings().probe_max_packets_per_s * seconds)


def measure(
    path: Path, *, size_bytes: int | None = None, major_brand: str | None = None, limits: Limits | None = None,
) -> MediaReport:
    """Probe the header, stream the packet list (edit lists applied, then ignored) and decode ``path``
    fully, the decode beside the probes. The decode is stopped as soon as the verdict is known without it:
    the presented duration is over ``limits`` or the packet list passed its cap.

    Call only for files whose ``ftyp`` sniff passed; the caller decides on the cheap verdicts first.
    """
    settings = get_settings()
    size = path.stat().st_size if size_bytes is None else size_bytes
    brand = major_brand if major_brand is not None else sniff(path)
    report = MediaReport(size_bytes=size, major_brand=brand, ffmpeg_version=ffmpeg_version())
    if brand is None:
        report.probe_error = "not an ISO BMFF file (no ftyp box)"
        return report
    _read_header(report, path, settings.probe_timeout_s)
    if not report.probe_ok:
        return report  # corrupt whatever a decode would say

    stop = threading.Event()
    stop_reason = ""
    results: dict[str, ToolResult] = {}
    errors: list[BaseException] = []

    def decode() -> None:
        try:
            results["decode"] = _run(_decode_args(path), settings.decode_timeout_s, stop=stop)
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)

    def stop_decode(reason: str) -> None:
        nonlocal stop_reason
        if not stop.is_set():
            stop_reason = reason
            stop.set()

    def watch(fold: PacketFold) -> None:
        longest = fold.longest()
        if limits is not None and longest is not None and limits.too_long(longest):
            stop_decode("too_long")

    media_streams = [s.index for s in report.streams if s.codec_type in ("video", "audio")]
    cap = packet_cap(limits.max_duration_s if limits is not None else None)
    # The decode is the long part and the probes only demux: running them side by side costs the
    # verdict about the decode's time alone.
    thread = threading.Thread(target=decode, name="ffmpeg-decode", daemon=True)
    thread.start()
    try:
        shown = scan_packets(
            path, media_streams, apply_editlist=True, max_packets=cap, timeout_s=settings.probe_timeout_s,
            on_progress=watch,
        )
        report.packets = shown.fold.count
        report.packets_capped = shown.capped
        report.stream_durations_s = shown.fold.durations()
        report.duration_s = shown.fold.longest()
        if _failed_scan(report, shown):
            stop_decode("probe_failed")
        elif shown.capped:
            stop_decode("packets_capped")
        elif not stop.is_set():
            stored = scan_packets(
                path, media_streams, apply_editlist=False, max_packets=cap, timeout_s=settings.probe_timeout_s,
            )
            if _failed_scan(report, stored):
                stop_decode("probe_failed")
            else:
                stored_durations = stored.fold.durations()
                hidden = [
                    stored_durations[i] - d for i, d in report.stream_durations_s.items() if i in stored_durations
                ]
                report.hidden_s = round(max([0.0, *hidden]), 3)
    except BaseException:
        stop_decode("error")  # no verdict will be made of this run: the decode's answer is not needed
        raise
    finally:
        thread.join()
    if errors:
        raise errors[0]
    _apply_decode(report, results["decode"], stop_reason)
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


# -- the showcase's public copy -------------------------------------------------------------------

def probe_header(path: Path) -> MediaReport:
    """The streams of a local file from its header only (no packet scan, no decode): enough to choose
    between remuxing and transcoding a file that was validated already."""
    report = MediaReport(size_bytes=path.stat().st_size, major_brand=sniff(path))
    if report.major_brand is None:
        report.probe_error = "not an ISO BMFF file (no ftyp box)"
        return report
    _read_header(report, path, get_settings().probe_timeout_s)
    return report


def remuxable(report: MediaReport) -> bool:
    """Whether the public copy can keep the streams as they are: H.264 a browser decodes, AAC or no audio."""
    video, audio = report.video, report.audio
    if video is None or video.codec_name not in PLAYABLE_VIDEO_CODECS or video.pix_fmt not in PLAYABLE_PIX_FMTS:
        return False
    if video.profile not in PLAYABLE_H264_PROFILES:
        return False
    return audio is None or audio.codec_name == "aac"


# Every tag the container or a stream carried (GPS ``location``, ``comment``, the phone's make and model,
# the editor's ``encoder`` and ``handler_name``...) is dropped; ``bitexact`` keeps ffmpeg from writing its
# own name and version in their place.
STRIP_OPTIONS: dict[str, Any] = {
    "map_metadata": -1, "map_chapters": -1, "dn": None, "sn": None,
    "fflags": "+bitexact", "flags:v": "+bitexact", "flags:a": "+bitexact",
    "metadata:s:v:0": "handler_name=", "metadata:s:a:0": "handler_name=",
    "movflags": "+faststart", "f": "mp4",
}


def make_public_copy(path: Path, out: Path, *, report: MediaReport) -> bool:
    """The public copy of a validated original: only its first video and first audio stream, every
    metadata tag, chapter and data track dropped, ``+faststart``; remuxed when the codecs play in browsers
    (H.264/AAC), else transcoded like a rendition first. Returns whether the original's streams were kept."""
    has_audio = report.audio is not None
    remux = remuxable(report)
    source_path = path
    if not remux:
        # An encoder names itself in the streams it writes (``encoder=Lavc libx264``) whatever the options:
        # transcode first, then the copy below, which writes no tag at all.
        source_path = out.with_name(f"{out.stem}-transcoded.mp4")
        source = ffmpeg.input(_file_url(path), **_input_options())
        video = source["v:0"].filter(
            "scale", w="min(1280,iw)", h="min(1280,ih)", force_original_aspect_ratio="decrease",
            force_divisible_by=2,
        )
        options: dict[str, Any] = {
            "map_metadata": -1, "map_chapters": -1, "vcodec": "libx264", "preset": "veryfast", "crf": 23,
            "pix_fmt": "yuv420p", "profile:v": "high", "threads": get_settings().media_threads, "f": "mp4",
        }
        if has_audio:
            options.update({"acodec": "aac", "b:a": "128k", "ac": 2})
        streams = [video, source["a:0"]] if has_audio else [video]
        _run_tool(ffmpeg.output(*streams, str(source_path), **options), get_settings().transcode_timeout_s)
    source = ffmpeg.input(_file_url(source_path), **_input_options())
    copy_options: dict[str, Any] = {**STRIP_OPTIONS, "c": "copy"}
    if not has_audio:
        copy_options.pop("metadata:s:a:0")
    streams = [source["v:0"], source["a:0"]] if has_audio else [source["v:0"]]
    _run_tool(ffmpeg.output(*streams, str(out), **copy_options), get_settings().probe_timeout_s * 4)
    if source_path != path:
        source_path.unlink(missing_ok=True)
    return remux


def _run_tool(stream: Any, timeout_s: float) -> None:
    out = Path(ffmpeg.get_args(stream)[-1])
    result = _run(_ffmpeg_args(stream, "-y"), timeout_s)
    if result.timed_out or result.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        raise MediaToolError(f"public copy failed: {result.stderr.strip()[:500]}")


# -- integrity aids (workers.integrity) -------------------------------------------------------------

FINGERPRINT_SIZE = 64  # frames are hashed from 64x64 grey


def grey_frames(path: Path, *, fps: float = 1.0) -> bytes:
    """The video at ``fps`` as raw 64x64 grey frames (4096 bytes each), frame i at second i/fps."""
    size = FINGERPRINT_SIZE
    stream = (
        ffmpeg.input(_file_url(path), threads=get_settings().media_threads, **_input_options())
        .video.filter("fps", fps=fps).filter("scale", size, size, flags="area").filter("format", "gray")
        .output("-", f="rawvideo", an=None)
    )
    result = _run(_ffmpeg_args(stream), get_settings().decode_timeout_s)
    if result.timed_out:
        raise MediaToolError("frame extraction timed out")
    if result.returncode != 0:
        raise MediaToolError(f"frame extraction failed: {result.stderr.strip()[:500]}")
    return result.stdout


def audio_fingerprint(path: Path) -> bytes:
    """Chromaprint's raw fingerprint of the sound (uint32 items), from ffmpeg's own chromaprint muxer:
    the same library as ``fpcalc -raw``, read through our hardened input."""
    stream = (
        ffmpeg.input(_file_url(path), threads=get_settings().media_threads, **_input_options())
        .audio.output("-", f="chromaprint", fp_format="raw", vn=None)
    )
    result = _run(_ffmpeg_args(stream), get_settings().decode_timeout_s)
    if result.timed_out:
        raise MediaToolError("audio fingerprint timed out")
    if result.returncode != 0:
        raise MediaToolError(f"audio fingerprint failed: {result.stderr.strip()[:500]}")
    return result.stdout[: len(result.stdout) // 4 * 4]


def still_frames(path: Path, out_dir: Path, prefix: str, *, fps: float, start_s: float = 0.0,
                 duration_s: float | None = None, max_width: int = 1280) -> list[Path]:
    """PNG frames at ``fps`` from ``start_s`` (for ``duration_s``), at most ``max_width`` wide, in order."""
    options: dict[str, Any] = dict(_input_options())
    if start_s > 0:
        options["ss"] = f"{start_s:.3f}"
    if duration_s is not None:
        options["t"] = f"{duration_s:.3f}"
    stream = (
        ffmpeg.input(_file_url(path), threads=get_settings().media_threads, **options)
        .video.filter("fps", fps=fps).filter("scale", w=f"min({max_width},iw)", h=-2)
        .output(str(out_dir / f"{prefix}-%05d.png"), f="image2", vcodec="png")
    )
    result = _run(_ffmpeg_args(stream, "-y"), get_settings().decode_timeout_s)
    if result.timed_out:
        raise MediaToolError("frame extraction timed out")
    if result.returncode != 0:
        raise MediaToolError(f"frame extraction failed: {result.stderr.strip()[:500]}")
    return sorted(out_dir.glob(f"{prefix}-*.png"))
