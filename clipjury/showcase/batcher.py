"""Group commit for likes: the like route hands its request to this process's batcher and awaits the answer;
one thread takes every request waiting, checks their limits in one Redis round trip, adds their likes in one
``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING`` (``likes.like_many``), commits once and bumps the
display counts in one more round trip. A durable commit (PostgreSQL's WAL flush, SQLite's fsync) is the
slowest step of a like; here it is shared by all the likes that arrived while the previous batch was being
written. Nothing waits on purpose: alone, a like is a batch of one; under load the batches grow by
themselves. Exactly once still rests on the primary key, and every request gets its own answer (201, 200,
or its own refusal).

The batch's transaction is all or nothing: when it fails (the database is down, the window closed under
it), every request of the batch gets that error, and none of their likes was counted.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass

from sqlalchemy import Connection
from sqlmodel import Session

from clipjury.campaigns.service import active_campaign
from clipjury.db import get_engine
from clipjury.errors import DomainError
from clipjury.showcase import likes

log = logging.getLogger(__name__)

# At most this many requests per batch (bounds the statement and one transaction's work).
MAX_BATCH = 256


@dataclass(frozen=True)
class Answer:
    created: bool
    likes: int


_Item = tuple[likes.LikeRequest, "Future[Answer]"]


class LikeBatcher:
    def __init__(self, max_batch: int = MAX_BATCH) -> None:
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._connection: Connection | None = None

    def submit(self, request: likes.LikeRequest) -> Future[Answer]:
        self._ensure_thread()
        future: Future[Answer] = Future()
        self._queue.put((request, future))
        return future

    async def like(self, voter_id: int, work_id: int, address: str) -> Answer:
        """The like of one request: ``Answer`` or the refusal raised (as ``likes.like`` would)."""
        return await asyncio.wrap_future(self.submit(likes.LikeRequest(voter_id, work_id, address)))

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                if self._pid != os.getpid():
                    self._queue = queue.SimpleQueue()  # a forked child does not inherit the parent's requests
                    self._connection = None  # nor use the parent's connection
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="like-batcher", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self.flush(batch)
            except BaseException as exc:  # never leave a request waiting, never let the thread die
                log.exception("like batch of %d failed", len(batch))
                for _request, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            if self._queue.empty():
                # Idle: the connection goes back to the pool (an idle SQLite connection would keep an exclusive
                # locker such as a migration out, and the engine's dispose() could not close it).
                self._drop_connection()

    def _session(self) -> Session:
        """A session on the batcher's own connection, kept from batch to batch while requests keep coming: the
        pool's check-out (and its pre-ping round trip) would otherwise come with every batch. It goes back to
        the pool when no request is waiting; a connection that failed is dropped and the next batch opens
        another."""
        engine = get_engine()
        if (self._connection is None or self._connection.closed or self._connection.invalidated
                or self._connection.engine is not engine):  # a new engine: settings reloaded (tests)
            self._drop_connection()
            self._connection = engine.connect()
        return Session(bind=self._connection, expire_on_commit=False)

    def _drop_connection(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:  # already broken: nothing to give back
                log.debug("like batcher connection close failed", exc_info=True)
            self._connection = None

    def flush(self, batch: list[_Item]) -> None:
        requests = [request for request, _future in batch]
        try:
            with self._session() as session:
                try:
                    outcomes = likes.like_many(session, active_campaign(session), requests)
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
                results = [o for o in outcomes if isinstance(o, likes.LikeResult)]
                shown = iter(likes.displayed_counts(session, results))
                session.commit()  # ends the read transaction of the display step, if it read anything
        except DomainError as refusal:  # the whole batch: the window closed under it, no active campaign
            for _request, future in batch:
                future.set_exception(refusal)
            return
        except BaseException:
            self._drop_connection()
            raise
        for (_request, future), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, DomainError):
                future.set_exception(outcome)
            else:
                future.set_result(Answer(created=outcome.created, likes=next(shown)))


_batcher = LikeBatcher()


async def like(voter_id: int, work_id: int, address: str) -> Answer:
    """This process's batcher: what the like route calls."""
    return await _batcher.like(voter_id, work_id, address)
