"""The worker runs the domains' registered sweeps each maintenance round, each on its own: one that fails is
logged and the others still run (as the hand-written calls did before the registry)."""

from __future__ import annotations

import logging

import pytest

from clipjury.accounts.tasks import sweep_inactive_accounts
from clipjury.jobs import all_queues, get_redis
from clipjury.notifications.tasks import sweep_lost_notifications
from clipjury.showcase.maintenance import sweep_likes, sweep_voter_retention
from workers.integrity import sweep_integrity
from workers.sweeps import SWEEPS, Sweep
from workers.tasks import sweep, sweep_public_copies
from workers.worker import ClipjuryWorker


def test_every_domain_sweep_is_registered() -> None:
    assert [(s.name, s.run) for s in SWEEPS] == [
        ("versions", sweep), ("notifications", sweep_lost_notifications),
        ("inactive_accounts", sweep_inactive_accounts), ("likes", sweep_likes),
        ("voter-retention", sweep_voter_retention), ("public-copies", sweep_public_copies),
        ("integrity", sweep_integrity),
    ]


def test_a_failing_sweep_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    def broken() -> object:
        ran.append("broken")
        raise RuntimeError("the database went away")

    def counting() -> object:
        ran.append("counting")
        return 3

    worker = ClipjuryWorker(all_queues(), name="test-sweeps", connection=get_redis())
    worker.sweeps = (
        Sweep("broken", broken),
        Sweep("counting", counting, lambda n: f"did {n} things"),
    )
    with caplog.at_level(logging.INFO):
        worker.run_maintenance_tasks()  # what rq calls at start-up and each maintenance interval
        worker.run_maintenance_tasks()
    assert ran == ["broken", "counting", "broken", "counting"]
    failures = [r for r in caplog.records if r.getMessage() == "sweep broken failed"]
    assert len(failures) == 2 and all(r.exc_info for r in failures)
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("sweep counting")] == [
        "sweep counting: did 3 things"
    ] * 2


def test_job_ids_did_not_move_with_their_helpers() -> None:
    """Running deployments have jobs queued under these ids: a re-send must find them, not add a second."""
    from clipjury.notifications.tasks import notification_job_id
    from clipjury.works.tasks import media_job_id, validation_job_id

    assert (validation_job_id(7), media_job_id(7), notification_job_id(7)) == ("validate-7", "media-7", "notify-7")
    from clipjury.integrity.tasks import fingerprint_job_id, screen_job_id

    assert (fingerprint_job_id(7), screen_job_id(7)) == ("fingerprint-7", "screen-7")
