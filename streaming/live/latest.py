"""The latest-frame queue between a live source and the network: it never holds more than a
frame or two, and when the network falls behind it drops the oldest frame and counts it."""
import threading
from collections import deque
from typing import Any, Deque, Optional


class Stalled(Exception):
    """No frame arrived within the timeout."""


class Closed(Exception):
    """The producer ended (its error, if any, is the `__cause__`)."""


class LatestFrames:
    """A bounded queue that keeps the newest items.

    Args:
        capacity: the most items held; 1 gives the lowest latency, 2 smooths jitter.
        drop: when full, `put` drops the oldest item (a live source); False: `put` waits (a file
            read as fast as the network goes, where every frame counts).
    """

    def __init__(self, capacity: int = 1, drop: bool = True):
        self.capacity = capacity
        self.drop = drop
        self.dropped = 0
        self._items: Deque[Any] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._error: Optional[BaseException] = None

    def put(self, item: Any) -> bool:
        """Add `item`; False once the queue is closed (the producer should stop)."""
        with self._ready:
            while not self.drop and len(self._items) >= self.capacity and not self._closed:
                self._ready.wait()
            if self._closed:
                return False
            if len(self._items) >= self.capacity:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._ready.notify_all()
            return True

    def get(self, timeout: float) -> Any:
        """The oldest item held; Stalled after `timeout` seconds without one, Closed once the
        producer ended and every item was taken."""
        with self._ready:
            if not self._ready.wait_for(lambda: self._items or self._closed, timeout):
                raise Stalled()
            if self._items:
                item = self._items.popleft()
                self._ready.notify_all()
                return item
            raise Closed() from self._error

    def discard(self) -> int:
        """Drop what is held (counted in `dropped`); returns how many."""
        with self._ready:
            count = len(self._items)
            self.dropped += count
            self._items.clear()
            self._ready.notify_all()
            return count

    def close(self, error: Optional[BaseException] = None) -> None:
        """End the queue: from the producer (with its error) or the consumer (the producer's next `put` is False)."""
        with self._ready:
            self._closed = True
            self._error = self._error or error
            self._ready.notify_all()
