"""Stage slots shared by the runners of several folders, granted in rank order.

Why not a semaphore: `make bench-demo` runs one runner per seed folder, each in a thread, and the
runners poll for a free slot. With a semaphore a freed slot went to whichever thread polled first,
so the seeds trained in an order nobody chose (the controls of seeds 3-4 before those of seeds
1-2): an interrupted bench left every seed part-done and its log read out of order. Here a free
slot goes to the best-ranked stage waiting for one (rank: the folder's, then the stage's place in
its pipeline file), so the first seeds finish first and the file's order holds within each.
"""
from __future__ import annotations

import threading
from typing import Hashable


class SharedSlots:
    """`size` slots; `try_acquire(owner, rank)` takes one unless every free slot is due to a
    waiter of a better (lower) rank, and otherwise records `owner` as waiting at `rank` (one
    entry per owner: its best ready stage). A runner that stops waiting calls `withdraw`."""

    def __init__(self, size: int):
        if size < 1:
            raise ValueError(f"SharedSlots: expected at least one slot, got {size}")
        self.size = size
        self._free = size
        self._waiting: dict[Hashable, tuple] = {}
        self._lock = threading.Lock()

    def try_acquire(self, owner: Hashable, rank: tuple) -> bool:
        with self._lock:
            self._waiting.pop(owner, None)
            ahead = sum(1 for other in self._waiting.values() if other < rank)
            if self._free > ahead:
                self._free -= 1
                return True
            self._waiting[owner] = rank
            return False

    def withdraw(self, owner: Hashable) -> None:
        with self._lock:
            self._waiting.pop(owner, None)

    def release(self) -> None:
        with self._lock:
            if self._free >= self.size:
                raise RuntimeError("SharedSlots: a slot was released that was not taken")
            self._free += 1

    @property
    def held(self) -> int:
        with self._lock:
            return self.size - self._free

    @property
    def waiting(self) -> int:
        """How many owners wait for a slot now."""
        with self._lock:
            return len(self._waiting)
