"""``clipjury worker``: an rq worker on the validate, notify, media, maintenance and integrity queues (in
that order, so neither a verdict nor a message waits behind a transcode, and fingerprints and OCR wait for
all of them) that also runs ``sweep`` at start-up and every ``worker_maintenance_interval_s``.

Each job runs in a forked work horse (rq's default), so a file that crashes or hangs ffmpeg takes
down only that horse. Every process the worker forks (the horse, rq's scheduler) dies with it, even when
the worker is SIGKILLed, and the horse's ffmpeg children die with the horse: nothing runs on unowned.
SIGTERM is a warm shutdown bounded by ``worker_shutdown_grace_s``: the current job may finish within it,
then the horse (and its ffmpeg) is killed and the worker exits; the job is sent again later.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import threading
from types import FrameType

from rq import Queue, Worker
from rq.exceptions import StopRequested
from rq.executions import Execution
from rq.job import Job
from rq.utils import now
from rq.worker.base import BaseWorker

from clipjury.db import get_engine
from clipjury.jobs import all_queues, get_redis
from clipjury.settings import get_settings
from workers.media import die_with_parent
from workers.sweeps import SWEEPS, Sweep
from workers.tasks import clean_scratch

log = logging.getLogger(__name__)
# The scheduler sleeps one interval (1 s) between rounds, then releases its Redis locks.
SCHEDULER_STOP_S = 10
# How long the pubsub thread waits per poll: it bounds how long a warm shutdown waits for that thread.
PUBSUB_POLL_S = 1.0
# How long an idle worker's blocking dequeue waits before its loop turns (and sees a stop request).
IDLE_POLL_S = 2


class ClipjuryWorker(Worker):
    """rq's forking worker plus our sweep in its maintenance tasks and a bounded warm shutdown."""

    _shutdown_timer: threading.Timer | None = None
    _in_maintenance = False
    # The domains' periodic sweeps (workers/sweeps.py); a worker built for a test may run others.
    sweeps: tuple[Sweep, ...] = SWEEPS

    def run_maintenance_tasks(self) -> None:
        self._in_maintenance = True
        try:
            self._maintain()
        finally:
            self._in_maintenance = False
        if self._stop_requested:
            raise StopRequested()  # ends rq's work loop, from plain code

    def _maintain(self) -> None:
        super().run_maintenance_tasks()  # type: ignore[no-untyped-call]  # rq does not annotate it
        run_sweeps(self.sweeps, self.log)

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM/SIGINT: a warm shutdown that touches nothing but this process's own flags, and never raises.

        rq's handler raises ``StopRequested`` wherever the worker is. Raised from inside a database call
        or a Redis read, that leaves the driver mid-protocol; raised inside logging's at-fork callback
        (the worker forking its horse or scheduler), the exception is swallowed with logging's module
        lock still held, and the next log call in any thread waits for ever (CI saw exactly that: the
        pubsub thread stuck on the lock, the worker joining it). So the handler only sets flags, and the
        worker stops from plain code: a running job gets the grace, a running sweep finishes, and an idle
        wait ends at its next turn, at most ``IDLE_POLL_S`` later (``should_run_maintenance_tasks``)."""
        self._shutdown_requested_date = now()
        signal.signal(signal.SIGINT, self.request_force_stop)
        signal.signal(signal.SIGTERM, self.request_force_stop)
        self._stop_requested = True
        if self.horse_pid:
            self._start_grace(self.horse_pid)

    @property
    def dequeue_timeout(self) -> int:
        """How long one blocking dequeue waits: short, so that a stop request is seen within it. rq's
        default (worker_ttl - 15 s) would hold a warm shutdown that long."""
        return min(IDLE_POLL_S, max(1, self.worker_ttl - 15))

    @property
    def should_run_maintenance_tasks(self) -> bool:
        """Asked at the top of every turn of rq's loops (the work loop and each idle dequeue): the one
        place a requested stop is turned into ``StopRequested``, from plain code, between two Redis
        commands, never with a job dequeued and not yet run."""
        if self._stop_requested and not self._in_maintenance:
            self.log.info("Worker %s: warm shut down requested", self.name)
            raise StopRequested()
        return bool(super().should_run_maintenance_tasks)

    def _start_grace(self, horse_pid: int) -> None:
        if self._shutdown_timer is None:
            grace = get_settings().worker_shutdown_grace_s
            self._shutdown_timer = threading.Timer(grace, self._end_overdue_horse, args=(horse_pid,))
            self._shutdown_timer.daemon = True
            self._shutdown_timer.start()

    def monitor_work_horse(self, job: Job, queue: Queue, execution: Execution) -> None:
        """rq's wait for the horse, after a SIGTERM that landed while the horse was being forked: the flag
        was set but no horse was known to bound, so the grace starts now. Otherwise the job ran to its end
        (an OCR job on the integrity queue, tens of seconds) however short the grace."""
        if self._stop_requested and self.horse_pid:
            self._start_grace(self.horse_pid)
        super().monitor_work_horse(job, queue, execution)

    def subscribe(self) -> None:
        """rq's pubsub thread for worker commands, polling every PUBSUB_POLL_S instead of rq's 60 s.

        At shutdown rq unsubscribes and then joins that thread without a bound (redis-py 8's ``stop()``);
        once unsubscribed, the thread's poll waits out its whole timeout for a subscription that never
        comes, so a warm shutdown took up to a minute (and a supervisor's 10 s grace ended in SIGKILL)."""
        subscribe_polling(self, PUBSUB_POLL_S)

    def stop_scheduler(self) -> None:
        """rq's scheduler process is asked to stop, then joined; rq waits for it for ever. Forked from a
        worker with threads, it can hang before it ever handles the signal: past a few seconds it is killed."""
        process = self.scheduler._process if self.scheduler else None
        if process is None or not process.pid:
            return
        try:
            os.kill(process.pid, signal.SIGTERM)
        except OSError:
            pass
        process.join(SCHEDULER_STOP_S)
        if process.is_alive():
            self.log.warning("rq scheduler %s did not stop within %ss: killing it", process.pid, SCHEDULER_STOP_S)
            process.kill()
            process.join()

    def _end_overdue_horse(self, horse_pid: int) -> None:
        # rq's warm shutdown waits for the job however long it runs (up to the job timeout): a deploy or a
        # `systemctl stop` must not. The horse's process group holds its ffmpeg children too.
        if self.horse_pid == horse_pid:
            self.log.warning("shutdown grace over: killing work horse %s and its ffmpeg", horse_pid)
            self.kill_horse(signal.SIGKILL)


def subscribe_polling(worker: BaseWorker, poll_s: float) -> None:
    """rq's worker-command subscription with a pubsub thread that polls every ``poll_s`` (rq's own waits 60 s,
    and its teardown joins that thread: up to a minute for every worker that stops, a burst worker too)."""
    worker.log.info("Worker %s: subscribing to channel %s", worker.name, worker.pubsub_channel_name)
    worker.pubsub = worker.connection.pubsub()
    worker.pubsub.subscribe(**{worker.pubsub_channel_name: worker.handle_payload})
    worker.pubsub_thread = worker.pubsub.run_in_thread(  # type: ignore[assignment]  # redis-py annotates the thread as PubSubWorkerThread, rq's attribute as Thread
        sleep_time=poll_s, daemon=True, exception_handler=worker._pubsub_exception_handler
    )


def run_sweeps(sweeps: tuple[Sweep, ...], logger: logging.Logger) -> None:
    """Run each sweep on its own: one that fails must not stop the others or the worker (the next round
    tries it again)."""
    for item in sweeps:
        try:
            result = item.run()
        except Exception:
            logger.exception("sweep %s failed", item.name)
            continue
        line = item.describe(result)
        if line:
            logger.warning("sweep %s: %s", item.name, line)


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
    # `kill -USR1 <pid>` prints every thread's stack to stderr: how to see where a stuck worker waits.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    clean_scratch()  # what jobs killed with an earlier worker on this machine left behind
    worker = ClipjuryWorker(
        all_queues(),
        name=name,
        connection=get_redis(),
        maintenance_interval=settings.worker_maintenance_interval_s,
        # rq's worker key lives this long past each heartbeat (sent every idle turn, IDLE_POLL_S).
        worker_ttl=settings.worker_maintenance_interval_s + 15,
    )
    # The scheduler moves rq's delayed retries back onto their queues.
    worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
    return 0
