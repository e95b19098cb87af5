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


def test_a_stop_signal_sets_flags_and_the_loop_stops_from_plain_code() -> None:
    """The SIGTERM handler must never raise: a raise that lands in logging's at-fork callback leaves
    logging's lock held and the worker hangs at shutdown (seen in CI). The loop's next turn stops it."""
    import signal

    from rq.exceptions import StopRequested

    worker = ClipjuryWorker(all_queues(), name="test-stop-flags", connection=get_redis())
    saved = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        worker.request_stop(signal.SIGTERM, None)  # as the signal would, from wherever the worker was
        assert worker._stop_requested
        assert signal.getsignal(signal.SIGTERM) == worker.request_force_stop  # a second one is a cold stop
        with pytest.raises(StopRequested):
            worker.should_run_maintenance_tasks  # noqa: B018  # the top of rq's next loop turn
        assert worker.dequeue_timeout <= 2  # an idle wait sees the request within one short poll
    finally:
        signal.signal(signal.SIGTERM, saved[0])
        signal.signal(signal.SIGINT, saved[1])
