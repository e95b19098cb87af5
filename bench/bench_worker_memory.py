"""Worker memory benchmark: the peak memory of validating one file (``workers.media.measure`` and the
rules' decision), for the ~285 MiB reference file of the verdict bench and for hostile files.

Each validation runs in a fresh Python process, so its figures are its own. The process tree (the Python
process plus its ffmpeg/ffprobe children, which run side by side) is sampled every 20 ms from ``/proc``:
``tree_peak_mib`` is the largest sum of their RSS seen. ``ru_maxrss`` of the process and of its largest
child are recorded too (those cannot miss a short peak; their sum bounds one tool at a time).

Target (issue 12): ``tree_peak_mib`` <= 512 for every file. For comparison the hostile sample table is also
read the way validation did before (ffprobe's whole packet list as one JSON document, parsed at once).
Writes ``bench/out/worker_memory.json`` and prints a table.

    .venv/bin/python -m bench.bench_worker_memory
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "worker_memory.json"
TARGET_MIB = 512
PAGE = os.sysconf("SC_PAGE_SIZE")

# Run in the child: validate one file with the campaign defaults and print what it cost.
CHILD = """
import json, resource, sys, time
from pathlib import Path
from clipjury.campaigns.models import DEFAULT_ALLOWED_BRANDS, DEFAULT_MAX_DURATION_S, DEFAULT_MAX_SIZE_BYTES
from clipjury.media.rules import Limits, decide
from workers import media
path = Path(sys.argv[1])
limits = Limits(DEFAULT_MAX_SIZE_BYTES, DEFAULT_MAX_DURATION_S, list(DEFAULT_ALLOWED_BRANDS))
started = time.perf_counter()
if sys.argv[2] == "json":
    import subprocess
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "packet=stream_index,pts_time,duration_time",
                          "-of", "json", str(path)], capture_output=True).stdout
    packets = json.loads(out).get("packets", [])
    verdict = f"{len(packets)} packets parsed"
    report = None
else:
    report = media.measure(path, limits=limits)
    v = decide(report.measurements(), limits)
    verdict = "ready" if v.ok else str(v.code)
elapsed = time.perf_counter() - started
print(json.dumps({
    "verdict": verdict, "seconds": elapsed,
    "self_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "children_maxrss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    "duration_s": report.duration_s if report else None, "packets": report.packets if report else None,
    "packets_capped": report.packets_capped if report else None,
    "decode_stopped": report.decode_stopped if report else None,
    "probe_error": (report.probe_error[:120] if report else ""),
}))
"""


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as fh:
                    todo.extend(int(p) for p in fh.read().split())
        except OSError:
            continue
    return pids


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def validate(path: Path, mode: str = "measure") -> dict[str, Any]:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), mode], cwd=ROOT, stdout=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, sum(_rss_bytes(p) for p in _tree(proc.pid)))
        time.sleep(0.02)
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"validation of {path.name} failed (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(out)
    result["tree_peak_mib"] = round(peak / 2**20, 1)
    result["ok"] = result["tree_peak_mib"] <= TARGET_MIB
    return result


def files() -> dict[str, Path]:
    from bench.bench_verdict import bench_file
    from tests import media

    return {
        "reference 285 MiB, 119 s, 1080p (ready)": bench_file(),
        "3,000,000 samples of 4 bytes (12 MiB)": media.many_samples_mp4(3_000_000),
        "a table of 50,000,000 samples, 1 MiB stored": media.many_samples_mp4(50_000_000, stored=250_000),
        "10 minutes, 160x120 (too_long)": media.ten_minutes_mp4(),
        "130 s, 70 s hidden by an edit list": media.hidden_tail_mp4(130, 60),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args(argv)
    rows: dict[str, dict[str, Any]] = {}
    for name, path in files().items():
        rows[name] = {"size_mib": round(path.stat().st_size / 2**20, 1), **validate(path)}
    hostile = files()["3,000,000 samples of 4 bytes (12 MiB)"]
    before = {"size_mib": round(hostile.stat().st_size / 2**20, 1), **validate(hostile, "json")}
    result = {
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "target": f"tree_peak_mib <= {TARGET_MIB} per validation",
        "rows": rows,
        "before_whole_json_3m_samples": before,
        "ok": all(r["ok"] for r in rows.values()),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, ensure_ascii=False))

    print(f"{'file':<46} {'MiB':>6} {'verdict':<16} {'tree peak':>10} {'python':>8} {'tool':>8} {'time':>7}")
    for name, r in {**rows, "before: whole JSON packet list, 3M samples": before}.items():
        print(f"{name:<46} {r['size_mib']:>6} {str(r['verdict'])[:16]:<16} {r['tree_peak_mib']:>9.1f}M "
              f"{r['self_maxrss_mib']:>7.1f}M {r['children_maxrss_mib']:>7.1f}M {r['seconds']:>6.1f}s")
    print(f"target: every validation's tree peak <= {TARGET_MIB} MiB: {'yes' if result['ok'] else 'NO'}; "
          f"written to {OUT.relative_to(ROOT)}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
