"""Test media made at test time with the ffmpeg CLI (never committed), cached in ``.cache/test-media``.

Each generator is keyed by its recipe, so changing a recipe makes a new file instead of reusing a stale
one. These run the ffmpeg command line directly: the tests are not workers and must not share their code.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "test-media"
RECIPE_VERSION = "3"

SMALL = "160x120"


def _cached(name: str, recipe: str, make: Callable[[Path], None]) -> Path:
    """The cached file for ``recipe``; ``make(tmp)`` writes it when missing (atomically)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha1(f"{RECIPE_VERSION}|{recipe}".encode()).hexdigest()[:12]
    suffix = Path(name).suffix
    path = CACHE / f"{Path(name).stem}-{key}{suffix}"
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")
        make(tmp)
        tmp.replace(path)
    return path


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def _av_inputs(seconds: float, size: str = SMALL, rate: int = 25, audio: bool = True) -> list[str]:
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=22050:duration={seconds}"]
    return args


H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
AAC = ["-c:a", "aac", "-b:a", "48k"]


def _encode(name: str, recipe: list[str]) -> Path:
    return _cached(name, " ".join(recipe), lambda out: ffmpeg(*recipe, str(out)))


# -- valid files ----------------------------------------------------------------------------------

def valid_mp4(seconds: float = 2) -> Path:
    """160x120, h264 + aac, brand isom, moov at the end (ffmpeg's default)."""
    return _encode("valid.mp4", [*_av_inputs(seconds), *H264, *AAC, "-shortest", "-f", "mp4"])


def tagged_mp4(seconds: float = 2) -> Path:
    """A valid file carrying what a phone and an editor leave in one: a GPS ``location``, a ``comment``, an
    ``encoder``, a ``make`` and the streams' ``handler_name``s, and a second audio stream."""
    return _encode("tagged.mp4", [
        *_av_inputs(seconds), "-f", "lavfi", "-i", f"sine=frequency=880:sample_rate=8000:duration={seconds}",
        "-map", "0:v", "-map", "1:a", "-map", "2:a", *H264, *AAC, "-movflags", "use_metadata_tags",
        "-metadata", "location=+39.9042+116.4074/", "-metadata", "comment=secret-phone-comment",
        "-metadata", "encoder=SecretPhoneEditor 3.1", "-metadata", "make=SecretPhoneMaker",
        "-metadata:s:v:0", "handler_name=SecretCamHandler", "-metadata:s:a:0", "handler_name=SecretMicHandler",
        "-shortest", "-f", "mp4",
    ])


def mpeg4_mp4(seconds: float = 2) -> Path:
    """MPEG-4 Part 2 video with MP3 audio in MP4, tagged: valid, but no browser plays it as it is."""
    return _encode("mpeg4.mp4", [
        *_av_inputs(seconds), "-c:v", "mpeg4", "-c:a", "libmp3lame", "-metadata", "comment=secret-phone-comment",
        "-shortest", "-f", "mp4",
    ])


def large_mp4(seconds: float = 3) -> Path:
    """About 11 MB a second (640x360, noise at near-lossless quality): a file of several S3 parts that
    still decodes in a second."""
    return _encode("large.mp4", [
        *_av_inputs(seconds, size="640x360"), "-vf", "noise=alls=40:allf=t", *H264, "-qp", "1", *AAC,
        "-shortest", "-f", "mp4",
    ])


def faststart_mp4(seconds: float = 2) -> Path:
    return _encode("faststart.mp4", [*_av_inputs(seconds), *H264, *AAC, "-movflags", "+faststart", "-f", "mp4"])


def fragmented_mp4(seconds: float = 2) -> Path:
    """What phones' and screen recorders' streaming writers produce: an empty moov and moof fragments."""
    return _encode(
        "fragmented.mp4",
        [*_av_inputs(seconds), *H264, *AAC, "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-f", "mp4"],
    )


def long_mp4(seconds: float) -> Path:
    """A long file made cheap: tiny frames at 1 fps, no audio."""
    return _encode(
        "long.mp4",
        [*_av_inputs(seconds, size="64x48", rate=1, audio=False), *H264, "-g", "10", "-f", "mp4"],
    )


TINY = "64x64"


def timed_mp4(seconds: float, rate: int = 10) -> Path:
    """Exactly ``seconds * rate`` frames of tiny video at ``rate`` fps, no audio: its packets span exactly
    ``seconds`` (for the duration limit's boundary; 120 s at 10 fps encodes and decodes in about a second)."""
    return _encode(
        "timed.mp4", [*_av_inputs(seconds, size=TINY, rate=rate, audio=False), *H264, "-f", "mp4"]
    )


def probe_major_brand(path: Path) -> str | None:
    """The major brand as ffprobe reads it (spaces kept: ``"M4V "``)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format_tags=major_brand", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout
    tags = (json.loads(out).get("format") or {}).get("tags") or {}
    brand = tags.get("major_brand")
    return None if brand is None else str(brand)


def branded_mp4(brand: str) -> Path:
    """A tiny valid H.264 MP4 (64x64, 10 fps, 1 s, no audio) whose ``ftyp`` major brand is ``brand``.

    Written with the mp4 muxer's ``-brand``; if ffprobe does not then read ``brand`` back, the four bytes
    of the major brand are patched in place (the rest of the file stays as ffmpeg wrote it).
    """
    assert len(brand) == 4 and brand.isascii(), brand
    recipe = [*_av_inputs(1, size=TINY, rate=10, audio=False), *H264, "-brand", brand, "-f", "mp4"]

    def make(out: Path) -> None:
        ffmpeg(*recipe, str(out))
        if probe_major_brand(out) != brand:
            data = bytearray(out.read_bytes())
            assert data[4:8] == b"ftyp", "ffmpeg's mp4 muxer writes ftyp first"
            data[8:12] = brand.encode("ascii")
            out.write_bytes(bytes(data))
        assert probe_major_brand(out) == brand, (brand, probe_major_brand(out))

    slug = brand.replace(" ", "_")
    return _cached(f"brand-{slug}.mp4", " ".join(recipe), make)


def hevc_mp4(seconds: float = 2) -> Path | None:
    """HEVC plays in too few browsers: exercises the rendition path. ``None`` without libx265."""
    if not has_encoder("libx265"):
        return None
    return _encode(
        "hevc.mp4",
        [*_av_inputs(seconds), "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error",
         "-pix_fmt", "yuv420p", "-tag:v", "hvc1", *AAC, "-f", "mp4"],
    )


def slow_mp4(seconds: float = 60) -> Path:
    """A larger file whose full decode takes a few seconds: for killing a worker mid-job."""
    return _encode(
        "slow.mp4",
        [*_av_inputs(seconds, size="1280x720", rate=30), *H264, "-crf", "18", *AAC, "-f", "mp4"],
    )


def has_encoder(name: str) -> bool:
    out = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    return any(line.split()[1:2] == [name] for line in out.splitlines() if line.strip())


# -- other containers -----------------------------------------------------------------------------

def quicktime_mov() -> Path:
    return _encode("quicktime.mov", [*_av_inputs(2), *H264, *AAC, "-f", "mov"])


def matroska() -> Path:
    return _encode("matroska.mkv", [*_av_inputs(2), *H264, *AAC, "-f", "matroska"])


def webm() -> Path:
    return _encode(
        "clip.webm",
        [*_av_inputs(2), "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus", "-f", "webm"],
    )


def avi() -> Path:
    return _encode("clip.avi", [*_av_inputs(2), "-c:v", "mpeg4", "-c:a", "libmp3lame", "-f", "avi"])


def mpegts() -> Path:
    return _encode("clip.ts", [*_av_inputs(2), *H264, *AAC, "-f", "mpegts"])


def threegp() -> Path:
    """A 3GP file (brand 3gp*), to be uploaded under a ``.mp4`` name."""
    return _encode("clip.3gp", [*_av_inputs(2, size="176x144"), *H264, "-c:a", "aac", "-ar", "22050", "-f", "3gp"])


def audio_only_mp4() -> Path:
    """An MP4 (brand isom) with only an AAC stream."""
    return _encode("audio-only.mp4", ["-f", "lavfi", "-i", "sine=duration=2", *AAC, "-f", "mp4"])


def m4a() -> Path:
    """Brand ``M4A ``: the iTunes audio flavour of MP4."""
    return _encode("audio.m4a", ["-f", "lavfi", "-i", "sine=duration=2", *AAC, "-f", "ipod"])


# -- broken and hostile files ---------------------------------------------------------------------

def truncated_mp4(fraction: float = 0.6, *, faststart: bool = False) -> Path:
    """A file cut off at ``fraction`` of its size, as a dropped upload would leave it."""
    source = faststart_mp4(4) if faststart else valid_mp4(4)

    def make(out: Path) -> None:
        data = source.read_bytes()
        out.write_bytes(data[: int(len(data) * fraction)])

    return _cached("truncated.mp4", f"truncated {source.name} {fraction}", make)


def damaged_middle_mp4() -> Path:
    """Index intact, but bytes in the middle of ``mdat`` overwritten: only a full decode notices."""
    source = faststart_mp4(4)

    def make(out: Path) -> None:
        data = bytearray(source.read_bytes())
        start, end = _box_payload(bytes(data), b"mdat")
        middle = start + (end - start) // 2
        rng = random.Random(7)
        for offset in range(middle - 3000, middle + 3000):
            data[offset] = rng.randrange(256)
        out.write_bytes(bytes(data))

    return _cached("damaged.mp4", f"damaged {source.name}", make)


def understated_mp4(real_s: float = 130, claimed_s: float = 60) -> Path:
    """A ``real_s`` file whose mvhd/tkhd/mdhd durations are edited to claim ``claimed_s``."""
    source = long_mp4(real_s)

    def make(out: Path) -> None:
        out.write_bytes(patch_header_duration(source.read_bytes(), claimed_s))

    return _cached("understated.mp4", f"understated {source.name} {claimed_s}", make)


def hls_playlist(local_target: Path, remote_url: str) -> bytes:
    """An HLS playlist (to be stored as ``.mp4``) pointing at a local file and at a URL."""
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:2.0,\n{remote_url}\n#EXTINF:2.0,\nfile://{local_target}\n"
        f"#EXTINF:2.0,\n{local_target}\n#EXT-X-ENDLIST\n"
    ).encode()


def ffconcat_playlist(local_target: Path, remote_url: str) -> bytes:
    return f"ffconcat version 1.0\nfile '{remote_url}'\nfile '{local_target}'\n".encode()


def random_bytes(size: int = 64 * 1024) -> bytes:
    return random.Random(42).randbytes(size)


# -- ISO BMFF editing -----------------------------------------------------------------------------

_CONTAINERS = {b"moov", b"trak", b"mdia"}


def _iter_boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int, int]]:
    """(type, box start, payload start, box end) of the boxes in ``data[start:end]``."""
    boxes = []
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        boxes.append((kind, pos, pos + header, pos + size))
        pos += size
    return boxes


def _box_payload(data: bytes, kind: bytes) -> tuple[int, int]:
    for box_kind, _start, payload, end in _iter_boxes(data, 0, len(data)):
        if box_kind == kind:
            return payload, end
    raise ValueError(f"no {kind!r} box")


def patch_header_duration(data: bytes, claimed_s: float) -> bytes:
    """Rewrite the movie, track and media header durations to claim ``claimed_s`` seconds."""
    out = bytearray(data)
    movie_timescale = 1000

    def walk(start: int, end: int) -> None:
        nonlocal movie_timescale
        for kind, _box, payload, box_end in _iter_boxes(data, start, end):
            if kind in _CONTAINERS:
                walk(payload, box_end)
            elif kind in (b"mvhd", b"mdhd"):
                version = data[payload]
                ts_off = payload + (20 if version == 1 else 12)
                timescale = struct.unpack(">I", data[ts_off : ts_off + 4])[0]
                if kind == b"mvhd":
                    movie_timescale = timescale
                _write_duration(out, ts_off + 4, version, round(claimed_s * timescale))
            elif kind == b"tkhd":
                version = data[payload]
                dur_off = payload + (28 if version == 1 else 20)
                _write_duration(out, dur_off, version, round(claimed_s * movie_timescale))

    walk(0, len(data))
    return bytes(out)


def _write_duration(out: bytearray, offset: int, version: int, value: int) -> None:
    if version == 1:
        out[offset : offset + 8] = struct.pack(">Q", value)
    else:
        out[offset : offset + 4] = struct.pack(">I", value)


def copy_to(path: Path, target: Path) -> Path:
    shutil.copyfile(path, target)
    return target


# -- hostile sample tables ------------------------------------------------------------------------

_STBL_PATH = [b"moov", b"trak", b"mdia", b"minf", b"stbl"]


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _rebuild(data: bytes, start: int, end: int, depth: int, tables: dict[bytes, bytes]) -> bytes:
    """The boxes of ``data[start:end]`` again, with the sample table's boxes replaced by ``tables``,
    edit lists dropped (every sample is presented) and every parent's size recomputed."""
    out = b""
    for kind, _box_start, payload, box_end in _iter_boxes(data, start, end):
        if kind == b"edts":
            continue
        if depth < len(_STBL_PATH) and kind == _STBL_PATH[depth]:
            out += _box(kind, _rebuild(data, payload, box_end, depth + 1, tables))
        elif depth == len(_STBL_PATH) and kind in (b"stts", b"stsc", b"stsz", b"stco", b"co64", b"stss", b"ctts"):
            if kind in tables:
                out += _box(kind, tables[kind])
        else:
            out += data[_box_start:box_end]
    return out


def many_samples_mp4(samples: int, *, stored: int | None = None) -> Path:
    """A valid MP4 (brand isom) of one 2x2 grey raw-video track holding ``samples`` samples of 4 bytes, all
    10,000 a second: a sample table a few dozen bytes long that a demuxer turns into ``samples`` packets.
    Made from a 10-frame file written by ffmpeg, its sample table rewritten (cheap at any count).
    ``stored``: only that many samples' bytes are really in the file (a table that claims far more)."""
    recipe = ["-f", "lavfi", "-i", "color=c=gray:size=2x2:rate=10000", "-frames:v", "10", "-c:v", "rawvideo",
              "-pix_fmt", "gray", "-f", "mov"]
    template = _encode("rawgray.mov", recipe)

    def make(out: Path) -> None:
        data = template.read_bytes()
        ftyp = _box(b"ftyp", b"isom" + b"\0\0\2\0" + b"isomiso2")
        moov_start, moov_end = _box_payload(data, b"moov")
        sample_size = 4
        tables = {
            b"stts": struct.pack(">IIII", 0, 1, samples, 1),
            b"stsc": struct.pack(">IIIII", 0, 1, 1, samples, 1),
            b"stsz": struct.pack(">III", 0, sample_size, samples),
            b"stco": struct.pack(">III", 0, 1, 0),
        }
        moov = _box(b"moov", _rebuild(data, moov_start, moov_end, 1, tables))
        offset = len(ftyp) + len(moov) + 8
        tables[b"stco"] = struct.pack(">III", 0, 1, offset)
        moov = _box(b"moov", _rebuild(data, moov_start, moov_end, 1, tables))
        assert len(ftyp) + len(moov) + 8 == offset
        data_bytes = (samples if stored is None else stored) * sample_size
        body = ftyp + moov + struct.pack(">I4s", 8 + data_bytes, b"mdat") + bytes(data_bytes)
        out.write_bytes(patch_header_duration(body, samples / 10000))

    return _cached("many-samples.mp4", f"many samples {template.name} {samples} {stored}", make)


def _patch_edit_lists(data: bytes, shown_s: float) -> bytes:
    """Every track's first edit made to present ``shown_s`` seconds (in the movie's timescale)."""
    out = bytearray(data)
    moov, moov_end = _box_payload(data, b"moov")
    timescale = 1000
    for kind, _start, payload, _end in _iter_boxes(data, moov, moov_end):
        if kind == b"mvhd":
            version = data[payload]
            ts_off = payload + (20 if version == 1 else 12)
            timescale = struct.unpack(">I", data[ts_off : ts_off + 4])[0]
    found = 0

    def walk(start: int, end: int) -> None:
        nonlocal found
        for kind, _box_start, payload, box_end in _iter_boxes(data, start, end):
            if kind in (b"trak", b"edts"):
                walk(payload, box_end)
            elif kind == b"elst":
                version = data[payload]
                _write_duration(out, payload + 8, version, round(shown_s * timescale))
                found += 1

    walk(moov, moov_end)
    assert found, "no edit list to patch"
    return bytes(out)


def hidden_tail_mp4(real_s: float = 130, shown_s: float = 60) -> Path:
    """``real_s`` seconds of H.264 + AAC whose edit lists (and header) present only the first ``shown_s``:
    every player stops at ``shown_s``, the rest stays in the file."""
    source = _encode("editlist.mp4", [
        *_av_inputs(real_s, size=TINY, rate=10), *H264, *AAC, "-use_editlist", "1", "-f", "mp4",
    ])

    def make(out: Path) -> None:
        out.write_bytes(patch_header_duration(_patch_edit_lists(source.read_bytes(), shown_s), shown_s))

    return _cached("hidden-tail.mp4", f"hidden tail {source.name} {shown_s}", make)


def editor_cut_mp4(seconds: float) -> Path:
    """What an editor exports for a clip cut to ``seconds``: H.264 + AAC with ``-t`` (the AAC encoder adds
    priming and padding that an edit list hides), made cheap: 64x64 at 10 fps."""
    return _encode("editor-cut.mp4", [
        *_av_inputs(seconds + 1, size=TINY, rate=10), "-t", f"{seconds:g}", *H264, *AAC, "-f", "mp4",
    ])


def ten_minutes_mp4() -> Path:
    """Ten minutes whose full decode takes far longer than reading its packet list (160x120, 25 fps)."""
    return _encode("ten-minutes.mp4", [*_av_inputs(600, audio=False), *H264, "-f", "mp4"])
def short_video_long_audio_mp4(video_s: float = 0.2, audio_s: float = 5) -> Path:
    """A few frames of video under a much longer audio track: the file lasts ``audio_s``, the picture
    only ``video_s`` (a phone's clip cut wrong, a slide with a voice-over)."""
    recipe = [
        "-f", "lavfi", "-i", f"testsrc2=size={SMALL}:rate=25:duration={video_s}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=22050:duration={audio_s}",
        *H264, *AAC, "-f", "mp4",
    ]
    return _encode("short-video-long-audio.mp4", recipe)
