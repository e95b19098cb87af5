"""The periodic sweeps every worker runs at start-up and each ``worker_maintenance_interval_s``.

A domain with something to sweep (jobs lost on the way to Redis, uploads abandoned, ...) writes the sweep
next to its jobs and is listed here; the worker runs them in this order, each on its own, so one that
fails (a database or Redis hiccup) is logged and the others still run. Each must be safe on several
workers at once: it takes a lock or is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from clipjury.accounts.tasks import sweep_inactive_accounts
from clipjury.notifications.tasks import sweep_lost_notifications
from clipjury.showcase.maintenance import sweep_likes, sweep_voter_retention
from workers.integrity import sweep_integrity
from workers.tasks import SweepReport, sweep, sweep_public_copies


@dataclass(frozen=True)
class Sweep:
    name: str
    run: Callable[[], object]
    # What the worker logs (as a warning) about a run's result; None when there is nothing to say.
    describe: Callable[[object], str | None] = lambda _result: None


def _describe_versions(report: object) -> str | None:
    assert isinstance(report, SweepReport)
    if report.resent or report.gave_up or report.media_resent or report.media_gave_up:
        return (f"resent {report.resent}, held {report.gave_up}, media resent {report.media_resent}, "
                f"media gave up on {report.media_gave_up}")
    return None


SWEEPS: tuple[Sweep, ...] = (
    # Validations and playback jobs whose worker died or whose job never reached Redis, killed jobs'
    # scratch directories, expired uploads, superseded versions' files.
    Sweep("versions", sweep, _describe_versions),
    # Notifications whose job was lost (Redis down at commit time) are sent again; it logs its own count.
    Sweep("notifications", sweep_lost_notifications),
    # Submitter accounts unused for CLIPJURY_INACTIVE_ACCOUNT_RETENTION_DAYS are deleted (PIPL).
    Sweep("inactive_accounts", sweep_inactive_accounts),
    # Like counts: the display cache rebuilt from the database, the snapshot frozen once the window closed.
    Sweep("likes", sweep_likes),
    # Voters anonymised and likes' client addresses blanked after their retention (settings).
    Sweep("voter-retention", sweep_voter_retention),
    # Public copies of showcase works whose job was lost or whose worker died are asked for again.
    Sweep("public-copies", sweep_public_copies,
          lambda resent: f"re-sent public copies of works {resent}" if resent else None),
    # Fingerprint and screening jobs lost on the way to Redis or with their worker; it logs its own count.
    Sweep("integrity", sweep_integrity),
)
