"""Generated media for the integrity tests (cached like tests/media.py, never committed): one work, its
re-encoded, trimmed and mirrored copies, an unrelated work, and a clip with the opening line as a
subtitle and a filmed "机密★1年" page. Small and short: OCR costs ~0.3 s a frame."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

from tests.media import AAC, H264, _cached, ffmpeg

SECONDS = 16
# A tune that changes every third of a second: chromaprint needs sound that varies.
TUNE = "0.4*sin(2*PI*(220+110*mod(floor(t*3)*7\\,11))*t)"
OTHER_TUNE = "0.4*sin(2*PI*(300+90*mod(floor(t*5)*3\\,13))*t)"


@lru_cache(maxsize=1)
def cjk_font() -> str:
    out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, check=True).stdout
    fonts = sorted(line.split(":")[0].strip() for line in out.splitlines() if line.strip())
    sans = [f for f in fonts if "Sans" in f]
    return (sans or fonts)[0]


def _av(video: str, tune: str, seconds: float = SECONDS) -> list[str]:
    return ["-f", "lavfi", "-i", video, "-f", "lavfi", "-i", f"aevalsrc={tune}:s=22050:d={seconds}",
            "-t", str(seconds)]


def original() -> Path:
    recipe = [*_av("mandelbrot=size=320x240:rate=10", TUNE), *H264, *AAC, "-shortest"]
    return _cached("integ-original.mp4", " ".join(recipe), lambda out: ffmpeg(*recipe, str(out)))


def unrelated() -> Path:
    recipe = [*_av("testsrc2=size=320x240:rate=10", OTHER_TUNE), *H264, *AAC, "-shortest"]
    return _cached("integ-unrelated.mp4", " ".join(recipe), lambda out: ffmpeg(*recipe, str(out)))


def _variant(name: str, *args: str) -> Path:
    source = original()
    recipe = ["-i", str(source), *args]
    return _cached(f"integ-{name}.mp4", f"{source.name} {' '.join(recipe)}", lambda out: ffmpeg(*recipe, str(out)))


def reencoded() -> Path:
    """Smaller and at a low bit rate, as a second upload of the same film might be."""
    return _variant("reencoded", "-vf", "scale=240:180", *H264, "-b:v", "120k", *AAC)


def trimmed() -> Path:
    return _variant("trimmed", "-ss", "2", *H264, *AAC)


def mirrored() -> Path:
    return _variant("mirrored", "-vf", "hflip", *H264, *AAC)


def screened(province: str = "河北省") -> Path:
    """6 s at 640x360: the opening line as a subtitle for 2 s, then a filmed page marked 机密★1年."""
    font = cjk_font()
    line = f"我在{province}话保密，今天我要讲的是"
    page = (
        f"drawbox=x=120:y=40:w=400:h=300:color=white:t=fill:enable='gte(t,3)',"
        f"drawtext=fontfile={font}:text='机密★1年':fontsize=36:fontcolor=red:x=150:y=60:enable='gte(t,3)',"
        f"drawtext=fontfile={font}:text='关于年度工作的通知':fontsize=28:fontcolor=black:x=150:y=140:enable='gte(t,3)'"
    )
    sub = (f"drawtext=fontfile={font}:text='{line}':fontsize=30:fontcolor=white:box=1:boxcolor=black:x=40:y=300:"
           "enable='lt(t,2.2)'")
    recipe = [*_av("color=c=0x336699:size=640x360:rate=10", TUNE, 6), "-vf", f"{sub},{page}", *H264, *AAC, "-shortest"]
    return _cached(f"integ-screened-{province}.mp4", " ".join(recipe), lambda out: ffmpeg(*recipe, str(out)))


def screened_mirrored() -> Path:
    """The screened clip mirrored (its text reads backwards): another province's copy of it."""
    source = screened()
    recipe = ["-i", str(source), "-vf", "hflip", *H264, *AAC]
    return _cached("integ-screened-mirrored.mp4", f"{source.name} {' '.join(recipe)}",
                   lambda out: ffmpeg(*recipe, str(out)))
