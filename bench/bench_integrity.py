"""Integrity aids benchmark (issue 17): what the two jobs cost per minute of video, their memory, and the
time of one similar-works query against the fingerprints of 12,400 and 124,000 works.

- fingerprint: ``workers.media.grey_frames`` (one decode at 1 fps, 64x64 grey) + pHash of each frame and
  its mirror + ``workers.media.audio_fingerprint`` (ffmpeg's chromaprint muxer) on a generated 720p clip;
- screening: ``workers.integrity.screen_file`` (OCR of the first 10 s at 2 fps, then a frame every 2 s
  when it changed) on the same clip, whose picture changes all the time (the worst case: every frame read);
- query: ``clipjury.integrity.matching.candidates`` for one 2-minute work (120 frames, normal and mirrored)
  against N works x 120 random 64-bit hashes, then the re-scoring of a true copy among them.

Each part runs in a fresh Python process so its ``ru_maxrss`` (and its children's: ffmpeg) are its own.
The machine is shared: compare the figures of one run with each other (seconds per minute of video, the
124,000/12,400 ratio), not with another day's. Writes ``bench/out/integrity.json`` and prints a table.

    .venv/bin/python -m bench.bench_integrity [--seconds 60] [--works 12400,124000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "integrity.json"
CACHE = ROOT / ".cache" / "bench"

MEDIA_CHILD = """
import json, resource, sys, tempfile, time
from pathlib import Path
from workers import media
from workers.integrity import hash_frames, screen_file
path, part = Path(sys.argv[1]), sys.argv[2]
started = time.perf_counter()
out = {}
if part == "fingerprint":
    raw = media.grey_frames(path)
    decoded = time.perf_counter()
    frames = hash_frames(raw, 4.0)
    hashed = time.perf_counter()
    audio = media.audio_fingerprint(path)
    out = {"decode_s": decoded - started, "hash_s": hashed - decoded, "audio_s": time.perf_counter() - hashed,
           "frames": int(len(frames.hashes)), "audio_items": len(audio) // 4}
else:
    with tempfile.TemporaryDirectory() as tmp:
        result = screen_file(path, Path(tmp), "我在河北省话保密，今天我要讲的是……")
    out = {"frames_read": result.frames_read, "opening_found": result.opening.found,
           "markings": len(result.markings)}
out["seconds"] = time.perf_counter() - started
own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
out["cpu_s"] = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
out["self_maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out["children_maxrss_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps(out))
"""

QUERY_CHILD = """
import json, resource, sys, time
import numpy as np
from clipjury.integrity import matching
n = int(sys.argv[1])
rng = np.random.default_rng(17)
hashes = rng.integers(0, 2**64 - 1, size=(n, 120), dtype=np.uint64)
copy = 1234
started = time.perf_counter()
index = matching.Index.build({i: hashes[i] for i in range(n)})
built = time.perf_counter()
noise = np.uint64(0b1011)  # 3 bits off: a re-encode
query = matching.Print(np.arange(120, dtype=np.uint16), hashes[copy] ^ noise,
                       rng.integers(0, 2**64 - 1, size=120, dtype=np.uint64), np.zeros(0, np.uint32))
cpu = time.process_time()
coarse = matching.candidates(query, index, max_distance=10, min_hits=5)
searched = time.perf_counter()
query_cpu = time.process_time() - cpu
other = matching.Print(np.arange(120, dtype=np.uint16), hashes[copy], hashes[copy], np.zeros(0, np.uint32))
found = matching.compare_video(query, other, max_distance=10, min_frames=5)
scored = time.perf_counter()
print(json.dumps({
    "works": n, "hashes": int(len(index.hashes)), "index_mib": index.hashes.nbytes / 2**20,
    "build_s": built - started, "query_s": searched - built, "query_cpu_s": query_cpu, "rescore_s": scored - searched,
    "candidates": len(coarse.hits), "copy_found": copy in coarse.hits, "copy_score": found.score,
    "self_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def clip(seconds: int) -> Path:
    """A 720p clip whose picture changes every frame (mandelbrot zoom) with a changing tone."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"integrity-{seconds}s-720p.mp4"
    if not path.exists():
        tune = "0.4*sin(2*PI*(220+110*mod(floor(t*3)*7\\,11))*t)"
        subprocess.run([
            "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "mandelbrot=size=1280x720:rate=25",
            "-f", "lavfi", "-i", f"aevalsrc={tune}:s=44100:d={seconds}", "-t", str(seconds),
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
            str(path),
        ], check=True)
    return path


def child(code: str, *args: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLIPJURY_ENV": os.environ.get("CLIPJURY_ENV", "test")}
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=60, help="length of the generated clip")
    parser.add_argument("--works", default="12400,124000", help="comma-separated index sizes")
    args = parser.parse_args()
    path = clip(args.seconds)
    minutes = args.seconds / 60
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load": os.getloadavg()},
        "clip": {"seconds": args.seconds, "size": "1280x720"},
    }
    fingerprint = child(MEDIA_CHILD, str(path), "fingerprint")
    fingerprint["seconds_per_minute"] = fingerprint["seconds"] / minutes
    fingerprint["cpu_s_per_minute"] = fingerprint["cpu_s"] / minutes
    screening = child(MEDIA_CHILD, str(path), "screening")
    screening["seconds_per_minute"] = screening["seconds"] / minutes
    screening["cpu_s_per_minute"] = screening["cpu_s"] / minutes
    results["fingerprint"], results["screening"] = fingerprint, screening
    results["query"] = [child(QUERY_CHILD, n) for n in args.works.split(",")]
    if len(results["query"]) >= 2:
        first, last = results["query"][0], results["query"][-1]
        results["query_ratio"] = last["query_cpu_s"] / first["query_cpu_s"]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"load average at start: {results['machine']['load']}")
    print(f"fingerprint: {fingerprint['seconds_per_minute']:.1f} s ({fingerprint['cpu_s_per_minute']:.1f} CPU-s) "
          f"per minute of 720p "
          f"(decode {fingerprint['decode_s']:.1f} s, hash {fingerprint['hash_s']:.2f} s, audio "
          f"{fingerprint['audio_s']:.1f} s), peak RSS {fingerprint['self_maxrss_mib']:.0f} MiB + ffmpeg "
          f"{fingerprint['children_maxrss_mib']:.0f} MiB")
    print(f"screening:   {screening['seconds_per_minute']:.1f} s ({screening['cpu_s_per_minute']:.1f} CPU-s) "
          "per minute "
          f"({screening['frames_read']} frames read), "
          f"peak RSS {screening['self_maxrss_mib']:.0f} MiB + ffmpeg {screening['children_maxrss_mib']:.0f} MiB")
    for q in results["query"]:
        print(f"query vs {q['works']:>7,} works ({q['index_mib']:.0f} MiB of hashes): {q['query_s']:.2f} s "
              f"({q['query_cpu_s']:.2f} CPU-s), "
              f"re-score {q['rescore_s'] * 1000:.1f} ms, copy found {q['copy_found']} (score {q['copy_score']}), "
              f"peak RSS {q['self_maxrss_mib']:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
