"""The integrity jobs' ids and how they are deferred: a fingerprint and a screening per valid version,
on the lowest-priority queue. The jobs run in ``workers.integrity``; running deployments have jobs
queued under these ids: never change them."""

from __future__ import annotations

from sqlmodel import Session

from clipjury.integrity.models import Fingerprint, JobState, Screening
from clipjury.jobs import INTEGRITY, defer
from clipjury.works.models import WorkVersion

FINGERPRINT_FUNC = "workers.integrity.fingerprint_version"
SCREEN_FUNC = "workers.integrity.screen_version"


def fingerprint_job_id(version_id: int) -> str:
    return f"fingerprint-{version_id}"


def screen_job_id(version_id: int) -> str:
    return f"screen-{version_id}"


def defer_fingerprint(session: Session, version_id: int) -> None:
    defer(session, INTEGRITY, FINGERPRINT_FUNC, fingerprint_job_id(version_id), version_id)


def defer_screening(session: Session, version_id: int) -> None:
    defer(session, INTEGRITY, SCREEN_FUNC, screen_job_id(version_id), version_id)


def on_version_ready(session: Session, version: WorkVersion, campaign_id: int) -> None:
    """A version passed validation: its fingerprint and screening are pending from now (so the API can
    answer 202), and their jobs are sent after the commit. The jobs read the campaign's switches."""
    version_id = version.id or 0
    if session.get(Fingerprint, version_id) is None:
        session.add(Fingerprint(version_id=version_id, work_id=version.work_id, campaign_id=campaign_id))
    if session.get(Screening, version_id) is None:
        session.add(Screening(version_id=version_id, work_id=version.work_id))
    session.flush()
    defer_fingerprint(session, version_id)
    defer_screening(session, version_id)


def reset_and_defer(session: Session, version: WorkVersion, campaign_id: int, *, force: bool) -> bool:
    """The backfill: rows made pending again (``force``, or when missing or not done) and jobs deferred.
    Returns whether anything was sent."""
    version_id = version.id or 0
    sent = False
    fingerprint = session.get(Fingerprint, version_id)
    if fingerprint is None:
        session.add(Fingerprint(version_id=version_id, work_id=version.work_id, campaign_id=campaign_id))
        sent = True
    elif force or fingerprint.status != JobState.done:
        fingerprint.status, fingerprint.attempts, fingerprint.error = JobState.pending.value, 0, None
        sent = True
    screening = session.get(Screening, version_id)
    if screening is None:
        session.add(Screening(version_id=version_id, work_id=version.work_id))
        sent = True
    elif force or screening.status != JobState.done:
        screening.status, screening.attempts, screening.error = JobState.pending.value, 0, None
        sent = True
    session.flush()
    if sent:
        defer_fingerprint(session, version_id)
        defer_screening(session, version_id)
    return sent
