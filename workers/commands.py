"""``clipjury revalidate``, ``clipjury sweep`` and ``clipjury retry-version``: re-run verdicts after a rule,
limit or ffmpeg change, run the stuck-job sweep by hand, and send a held version (or a playback job that
gave up) through the workers again."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from clipjury.db import session_scope
from clipjury.works.models import VersionStatus, WorkVersion
from clipjury.works.service import reapply_verdict

COMPARED = ("status", "rejection_code", "duration_s", "width", "height", "video_codec", "audio_codec",
            "major_brand", "sha256")
# Durations are measured to the millisecond: any change of that size is a measurement that moved (edit
# lists applied turned 120.046 s into 120.000 s), even when the verdict stays.
DURATION_TOLERANCE_S = 0.0005


@dataclass
class Move:
    version_id: int
    work_id: int
    old: dict[str, Any]
    new: dict[str, Any]
    values: dict[str, Any]

    def changed(self) -> list[str]:
        out = []
        for name in COMPARED:
            a, b = self.old.get(name), self.new.get(name)
            if name == "duration_s" and a is not None and b is not None:
                if abs(float(a) - float(b)) > DURATION_TOLERANCE_S:
                    out.append(name)
            elif a != b:
                out.append(name)
        return out

    def describe(self) -> str:
        def verdict(d: dict[str, Any]) -> str:
            return str(d["status"]) + (f"/{d['rejection_code']}" if d.get("rejection_code") else "")

        def duration(d: dict[str, Any]) -> str:
            return "-" if d.get("duration_s") is None else f"{float(d['duration_s']):.3f}s"

        parts = [f"version {self.version_id} (work {self.work_id}): {verdict(self.old)} -> {verdict(self.new)}",
                 f"duration {duration(self.old)} -> {duration(self.new)}",
                 f"rules {self.old.get('rules_version') or '-'} -> {self.new.get('rules_version') or '-'}"]
        for name in self.changed():
            if name not in ("status", "rejection_code", "duration_s"):
                parts.append(f"{name} {self.old.get(name)} -> {self.new.get(name)}")
        return "; ".join(parts)


def _facts(version: WorkVersion) -> dict[str, Any]:
    # rules_version is shown, not compared: a new rules version alone does not move a verdict.
    return {name: getattr(version, name) for name in (*COMPARED, "rules_version")}


def revalidate_version(session: Session, version: WorkVersion) -> Move:
    """Measure and decide again with today's rules, ffmpeg and campaign limits; changes nothing."""
    from workers.tasks import _limits_for, _workdir, evaluate

    limits = _limits_for(session, version)
    with _workdir() as workdir:
        outcome = evaluate(version.object_key, limits, workdir)
    verdict, measured = outcome.verdict, outcome.measured
    values: dict[str, Any] = {
        "status": VersionStatus.ready if verdict.ok else VersionStatus.rejected,
        "rejection_code": None if verdict.ok else str(verdict.code),
        "rejection_message": None if verdict.ok else verdict.message,
        "warnings": list(verdict.warnings),
    }
    values.update({k: v for k, v in vars(measured).items() if v is not None})
    new = {name: values.get(name, getattr(version, name)) for name in (*COMPARED, "rules_version")}
    new["status"] = str(new["status"])
    old = _facts(version)
    old["status"] = str(old["status"])
    return Move(version.id or 0, version.work_id, old, new, values)


def apply_move(session: Session, move: Move) -> None:
    """Record a re-run verdict; the works service keeps the work's submittable version consistent."""
    reapply_verdict(
        session, move.version_id, move.values,
        reason=move.new.get("rejection_code") or "ready",
        data={"version_id": move.version_id, "old": _jsonable(move.old), "new": _jsonable(move.new),
              "warnings": move.values.get("warnings", [])},
    )


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if v is not None and not isinstance(v, int | float | str) else v) for k, v in d.items()}


def cmd_revalidate(args: argparse.Namespace) -> int:
    with session_scope() as session:
        # A held version has no verdict to compare; `clipjury retry-version` is its way forward.
        query = select(WorkVersion).where(
            col(WorkVersion.status).not_in([VersionStatus.processing, VersionStatus.held])
        ).order_by(
            col(WorkVersion.id)
        )
        if args.work is not None:
            query = query.where(WorkVersion.work_id == args.work)
        versions = list(session.exec(query))
    moved = 0
    for version in versions:
        # One unit of work per version: a failure on one file does not undo the others.
        with session_scope() as session:
            move = revalidate_version(session, version)
            if not move.changed():
                continue
            moved += 1
            print(("applied " if args.apply else "would move ") + move.describe())
            if args.apply:
                apply_move(session, move)
    mode = "applied" if args.apply else "dry run, nothing changed"
    print(f"revalidated {len(versions)} version(s): {moved} moved ({mode})")
    return 0


def cmd_sweep(_args: argparse.Namespace) -> int:
    from workers.tasks import sweep

    report = sweep()
    if report.skipped:
        print("another sweep is running; skipped")
        return 0
    print(f"resent validations: {report.resent}; held: {report.gave_up}; resent playback: {report.media_resent}; "
          f"playback gave up: {report.media_gave_up}; scratch removed: {len(report.scratch_removed)}")
    return 0


def cmd_retry_version(args: argparse.Namespace) -> int:
    from clipjury.errors import DomainError
    from clipjury.works.service import retry_version

    try:
        with session_scope() as session:
            what = retry_version(session, args.version_id)
    except DomainError as exc:
        print(f"refused: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    print(f"version {args.version_id}: {what} sent to the workers again (attempts reset)")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    revalidate = subparsers.add_parser(
        "revalidate", help="re-run every stored verdict with today's rules and ffmpeg; report what moved"
    )
    revalidate.add_argument("--work", type=int, help="only this work's versions")
    revalidate.add_argument("--apply", action="store_true", help="record the changes (default: dry run)")
    revalidate.set_defaults(func=cmd_revalidate)
    subparsers.add_parser("sweep", help="re-send stuck validation jobs and clean expired uploads").set_defaults(
        func=cmd_sweep
    )
    retry = subparsers.add_parser(
        "retry-version",
        help="send a held version (worker_gave_up) or a failed poster/rendition through the workers again",
    )
    retry.add_argument("version_id", type=int)
    retry.set_defaults(func=cmd_retry_version)
