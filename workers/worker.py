"""``clipjury worker``: an rq worker on the validate, notify, media and maintenance queues (in that order,
so neither a verdict nor a message waits behind a transcode) that also runs ``sweep`` at start-up and every
``worker_maintenance_interval_s``.

Each job runs in a forked work horse (rq's default), so a file that crashes or hangs ffmpeg takes
down only that horse. SIGTERM is a warm shutdown: the current job finishes, then the worker exits.
"""

from __future__ import annotations

import logging
import os

from rq import Worker

from clipjury.db import get_engine
from clipjury.jobs import all_queues, get_redis
from clipjury.settings import get_settings

log = logging.getLogger(__name__)


class ClipjuryWorker(Worker):
    """rq's forking worker plus our sweep in its maintenance tasks."""

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        from clipjury.notifications.tasks import sweep_lost_notifications
        from workers.tasks import sweep

        try:
            report = sweep()
        except Exception:  # a failed sweep must not stop the worker; the next one tries again
            self.log.exception("sweep failed")
        else:
            if report.resent or report.gave_up or report.media_resent:
                self.log.warning(
                    "sweep: resent %s, gave up on %s, media resent %s",
                    report.resent, report.gave_up, report.media_resent,
                )
        # Notifications whose job was lost (Redis down at commit time) are sent again.
        try:
            sweep_lost_notifications()
        except Exception:
            self.log.exception("notification sweep failed")


def _forget_inherited_connections() -> None:
    # Database connections must not be shared between the worker and its forked horse.
    get_engine().dispose(close=False)


_at_fork_registered = False


def run_worker(burst: bool = False, name: str | None = None) -> int:
    global _at_fork_registered
    settings = get_settings()
    if not _at_fork_registered:
        os.register_at_fork(after_in_child=_forget_inherited_connections)
        _at_fork_registered = True
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
