"""Bytes received but not stored yet, held in part-sized blocks that are reused between requests."""

from __future__ import annotations

import threading


class _BlockPool:
    """A few part-sized blocks kept for the next request: a fresh 8 MiB block costs 2,048 page faults
    (and zeroing) before the first byte lands in it, more than the copy into it. Bounded: at most
    ``keep`` blocks stay allocated while the process is idle."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._free: list[bytearray] = []
        self._lock = threading.Lock()

    def get(self, size: int) -> bytearray:
        with self._lock:
            while self._free:
                block = self._free.pop()
                if len(block) == size:
                    return block
        return bytearray(size)

    def put(self, block: bytearray) -> None:
        with self._lock:
            if len(self._free) < self.keep:
                self._free.append(block)


BLOCK_POOL = _BlockPool(keep=4)


# Parts of one raw PUT sent to the store at once: one stream keeps the store busy only while it waits on
# several parts (tus gets the same from its parallel partials). Each is a part-sized block of memory.
PUT_PARTS_IN_FLIGHT = 4


class PartBuffer:
    """Bytes received but not stored yet, in blocks of one S3 part each.

    Each block is allocated once at its final size (or taken from ``BLOCK_POOL``) and filled in place,
    and a full block goes to the store as it is. (Growing one ``bytearray`` with ``+=`` reallocates it
    again and again: the heap copies an 8 MiB part about eight times over while it fills, which was most
    of the API's CPU per byte.) ``expected`` is how many bytes are still coming, when the request says
    so (Content-Length): a small request then gets a small block, not a whole part.
    """

    def __init__(self, part_size: int, expected: int | None = None) -> None:
        self.part_size = part_size
        self.expected = expected
        self.blocks: list[bytearray] = []
        self.fill = 0  # bytes used in the last block
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def _new_block(self) -> None:
        capacity = self.part_size
        if self.expected is not None:
            capacity = max(1, min(capacity, self.expected))
        self.blocks.append(BLOCK_POOL.get(capacity) if capacity == self.part_size else bytearray(capacity))
        self.fill = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            if not self.blocks or self.fill == self.part_size:
                self._new_block()
            block = self.blocks[-1]
            if self.fill == len(block):  # more than the request announced: grow this block up to a part
                block.extend(bytes(min(self.part_size, self.fill + len(view)) - self.fill))
            n = min(len(view), len(block) - self.fill)
            block[self.fill:self.fill + n] = view[:n]
            self.fill += n
            self.size += n
            if self.expected is not None:
                self.expected = max(0, self.expected - n)
            view = view[n:]

    def pop_part(self) -> bytearray:
        """The first ``part_size`` bytes, without copying them (the caller checked there are that many)."""
        block = self.blocks.pop(0)
        if not self.blocks:
            self.fill = 0
        self.size -= len(block)
        return block

    def recycle(self, block: bytearray) -> None:
        """Give a block back once the store has it (never while a request may still send it)."""
        if len(block) == self.part_size:
            BLOCK_POOL.put(block)

    def take_all(self) -> bytearray:
        """Everything buffered, as one bytearray (one copy only when it spans several blocks)."""
        if not self.blocks:
            return bytearray()
        del self.blocks[-1][self.fill:]
        data = self.blocks[0] if len(self.blocks) == 1 else bytearray().join(self.blocks)
        self.blocks, self.fill, self.size = [], 0, 0
        return data
