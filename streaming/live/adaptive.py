"""Adaptive quality for `--target-fps`: the downsample ratio steps down a ladder when the network
cannot hold the target and back up when it has room, with hysteresis so that it does not flap.

The recurrent states have the downsampled frame's size, so a new ratio must resize or reset them:
`Matter.set_ratio` does what documentation/live.md measured best (resize going down, reset going up).
"""
import statistics
import time
from collections import deque
from typing import Deque, Dict, List

STEP = 0.8           # each rung's ratio is this much of the one above: ~0.64x the pixels, ~0.7x the time
WINDOW = 15          # frames per measurement...
MEASURE_SECONDS = 1  # ...or fewer (2 at least) when they took this long: a slow network is seen at once
RAISE_MARGIN = 1.3   # raise only when the network could run this much faster than the target
BACKOFF = 5.0        # seconds before retrying a ratio that could not hold the target; doubles each time


def ladder(high: float, low: float) -> List[float]:
    """The ratios from `high` down to `low` (both included), each `STEP` times the one before."""
    rungs = [high]
    while rungs[-1] * STEP > low * 1.001:
        rungs.append(rungs[-1] * STEP)
    if rungs[-1] > low:
        rungs.append(low)
    return rungs


class RatioController:
    """Chooses the downsample ratio that holds `target_fps`.

    `update(busy)` takes the seconds the last frame kept the network's thread busy (matting and
    the sinks: what decides the most frames a second, whatever the source's rate) and returns the
    ratio for the next frame. After a change it waits for `WINDOW` frames at the new ratio (or
    a second of them). It lowers the ratio when the median of those frames is slower than the target, and
    raises it when they are `RAISE_MARGIN` times faster; a ratio it had to leave is retried only
    after `BACKOFF` seconds, doubling each time it fails again.
    """

    def __init__(self, target_fps: float, high: float, low: float):
        self.target = target_fps
        self.rungs = ladder(high, low)
        self.rung = 0
        self.busy: Deque[float] = deque(maxlen=WINDOW)
        self.blocked_until: Dict[int, float] = {}
        self.backoff: Dict[int, float] = {}

    @property
    def ratio(self) -> float:
        return self.rungs[self.rung]

    def update(self, busy: float) -> float:
        self.busy.append(busy)
        if len(self.busy) < WINDOW and (len(self.busy) < 2 or sum(self.busy) < MEASURE_SECONDS):
            return self.ratio
        capacity = 1 / max(statistics.median(self.busy), 1e-9)
        now = time.monotonic()
        if capacity < self.target and self.rung + 1 < len(self.rungs):
            self.backoff[self.rung] = self.backoff.get(self.rung, BACKOFF / 2) * 2
            self.blocked_until[self.rung] = now + self.backoff[self.rung]
            self._move(+1)
        elif (capacity > self.target * RAISE_MARGIN and self.rung > 0
              and self.blocked_until.get(self.rung - 1, 0) <= now):
            self._move(-1)
        return self.ratio

    def _move(self, step: int) -> None:
        self.rung += step
        self.busy.clear()
