"""One writer per upload across every API process: a Redis lock per upload (SET NX PX with a token),
refreshed while a request streams, and a thread that keeps it through long server-side work."""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Iterator

from clipjury.jobs import get_redis
from clipjury.settings import get_settings
from clipjury.uploads.tus import UploadBusy

log = logging.getLogger(__name__)


def lock_key(upload_id: str) -> str:
    return f"{get_settings().queue_prefix}:upload-lock:{upload_id}"


_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


_REFRESH = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)


class UploadLock:
    """One writer per upload across every API process (SET NX PX with a token, refreshed while streaming)."""

    def __init__(self, upload_id: str) -> None:
        self.upload_id = upload_id
        self.key = lock_key(upload_id)
        self.token = secrets.token_hex(16)
        self.ttl_ms = get_settings().upload_lock_ttl_s * 1000
        self.refreshed_at = 0.0

    def acquire(self) -> bool:
        ok = bool(get_redis().set(self.key, self.token, nx=True, px=self.ttl_ms))
        self.refreshed_at = time.monotonic()
        return ok

    def acquire_wait(self, timeout_s: float) -> bool:
        """Acquire, waiting up to ``timeout_s`` for a short holder (e.g. the completion of a final upload)."""
        deadline = time.monotonic() + timeout_s
        while not self.acquire():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def due(self) -> bool:
        return time.monotonic() - self.refreshed_at > self.ttl_ms / 3000

    def refresh(self) -> bool:
        self.refreshed_at = time.monotonic()
        return bool(get_redis().eval(_REFRESH, 1, self.key, self.token, self.ttl_ms))

    def release(self) -> None:
        try:
            get_redis().eval(_RELEASE, 1, self.key, self.token)
        except Exception:  # the TTL frees it anyway
            log.warning("could not release %s", self.key, exc_info=True)

    @contextlib.contextmanager
    def kept(self) -> Iterator[LockKeeper]:
        """Renew the held lock from a thread while the block runs (work that makes no progress a caller
        can see, such as server-side copies on a slow store, would otherwise outlive the TTL and let a
        second caller take the lock and undo it). The block checks ``keeper.check()`` before it commits."""
        keeper = LockKeeper(self)
        keeper.start()
        try:
            yield keeper
        finally:
            keeper.stop()


class LockKeeper(threading.Thread):
    def __init__(self, lock: UploadLock) -> None:
        super().__init__(name=f"keep-{lock.key}", daemon=True)
        self.lock = lock
        self.lost = False
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.lock.ttl_ms / 3000):
            try:
                held = self.lock.refresh()
            except Exception:  # Redis away for a moment: try again at the next beat, the TTL still runs
                log.warning("could not renew %s", self.lock.key, exc_info=True)
                continue
            if not held:
                self.lost = True
                return

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def check(self) -> None:
        """Raise if the lock was lost (expired and maybe taken): what was done under it must not be committed."""
        if self.lost:
            raise UploadBusy("上传锁已失效，请刷新进度后继续。")
