"""``clipjury worker``: an rq worker on the validate, notify, media and maintenance queues (in that order,
so neither a verdict nor a message waits behind a transcode) that also runs ``sweep`` at start-up and every
``worker_maintenance_interval_s``.

Each job runs in a forked work horse (rq's default), so a file that crashes or hangs ffmpeg takes
down only that horse. Every process the worker forks (the horse, rq's scheduler) dies with it, even when
the worker is SIGKILLed, and the horse's ffmpeg children die with the horse: nothing runs on unowned.
SIGTERM is a warm shutdown bounded by ``worker_shutdown_grace_s``: the current job may finish within it,
then the horse (and its ffmpeg) is killed and the worker exits; the job is sent again later.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType

from rq import Worker
from rq.exceptions import StopRequested

from clipjury.db import get_engine
from clipjury.jobs import all_queues, get_redis
from clipjury.settings import get_settings
from workers.media import die_with_parent

log = logging.getLogger(__name__)


class ClipjuryWorker(Worker):
    """rq's forking worker plus our sweep in its maintenance tasks and a bounded warm shutdown."""

    _shutdown_timer: threading.Timer | None = None

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        from clipjury.notifications.tasks import sweep_lost_notifications
        from workers.tasks import sweep

        try:
            report = sweep()
        except StopRequested:
            # SIGTERM while sweeping: rq's handler raises this to end the work loop. Swallowed with the
            # sweep's own failures it would leave the worker running until it is SIGKILLed.
            raise
        except Exception:  # a failed sweep must not stop the worker; the next one tries again
            self.log.exception("sweep failed")
        else:
            if report.resent or report.gave_up or report.media_resent or report.media_gave_up:
                self.log.warning(
                    "sweep: resent %s, held %s, media resent %s, media gave up on %s",
                    report.resent, report.gave_up, report.media_resent, report.media_gave_up,
                )
        # Notifications whose job was lost (Redis down at commit time) are sent again.
        try:
            sweep_lost_notifications()
        except StopRequested:
            raise
        except Exception:
            self.log.exception("notification sweep failed")

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        grace = get_settings().worker_shutdown_grace_s
        if self.horse_pid and self._shutdown_timer is None:
            self._shutdown_timer = threading.Timer(grace, self._end_overdue_horse, args=(self.horse_pid,))
            self._shutdown_timer.daemon = True
            self._shutdown_timer.start()
        super().request_stop(signum, frame)

    def _end_overdue_horse(self, horse_pid: int) -> None:
        # rq's warm shutdown waits for the job however long it runs (up to the job timeout): a deploy or a
        # `systemctl stop` must not. The horse's process group holds its ffmpeg children too.
        if self.horse_pid == horse_pid:
            self.log.warning("shutdown grace over: killing work horse %s and its ffmpeg", horse_pid)
            self.kill_horse(signal.SIGKILL)


_fork_parent_pid = 0


def _remember_fork_parent() -> None:
    global _fork_parent_pid
    _fork_parent_pid = os.getpid()


def _after_fork_in_child() -> None:
    # Database connections must not be shared between the worker and its forked horse.
    get_engine().dispose(close=False)
    # rq's horse calls setpgrp and is not a session leader's child: when the worker is SIGKILLed (OOM,
    # a crash) nothing would stop it, and it would finish the job, ffmpeg and all, with no parent.
    die_with_parent()
    if os.getppid() != _fork_parent_pid:
        os._exit(1)  # the parent died before we asked to die with it


_at_fork_registered = False


def run_worker(burst: bool = False, name: str | None = None) -> int:
    global _at_fork_registered
    settings = get_settings()
    if not _at_fork_registered:
        os.register_at_fork(before=_remember_fork_parent, after_in_child=_after_fork_in_child)
        _at_fork_registered = True
    from workers.tasks import clean_scratch

    clean_scratch()  # what jobs killed with an earlier worker on this machine left behind
    worker = ClipjuryWorker(
        all_queues(),
        name=name,
        connection=get_redis(),
        maintenance_interval=settings.worker_maintenance_interval_s,
        # rq checks for maintenance between blocking dequeues, which wait worker_ttl - 15 s: this makes
        # an idle worker wake up (and sweep) every maintenance interval.
        worker_ttl=settings.worker_maintenance_interval_s + 15,
    )
    # The scheduler moves rq's delayed retries back onto their queues.
    worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
    return 0
