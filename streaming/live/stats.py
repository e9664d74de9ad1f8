"""What a live run measures: input and output frame rates, frames dropped, the latency from
capture to output, and the downsample ratio in use; a line a second and a summary at the end."""
import json
import statistics
import time
from collections import deque
from typing import Any, Deque, Dict, List, Optional


def percentile(values: List[float], q: float) -> Optional[float]:
    """The `q` quantile (0..1) of `values` by the nearest rank, or None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class LiveStats:
    """Counts and latencies of a live run (times are `time.monotonic()` seconds).

    `latencies` keeps every output's capture-to-output latency (a float per frame: 8 bytes, 30 fps
    for a day is ~20 MB); the per-second line uses the last second's.
    """

    def __init__(self):
        self.start = time.monotonic()
        self.frames_in = 0
        self.frames_out = 0
        self.dropped = 0
        self.resets = 0
        self.unsure = 0  # frames where the people kept were not surely told from the others
        self.unsure_now = False
        self.latencies: List[float] = []
        self.ratios: List[float] = []  # each ratio the network used, in order of use
        self.ratio: Optional[float] = None
        self.first_in: Optional[float] = None
        self.last_in: Optional[float] = None
        self.first_out: Optional[float] = None
        self.last_out: Optional[float] = None
        self._recent_in: Deque[float] = deque()
        self._recent_out: Deque[Any] = deque()  # (time, latency)

    def arrived(self, when: float) -> None:
        self.frames_in += 1
        self.first_in = self.first_in or when
        self.last_in = when
        self._recent_in.append(when)

    def output(self, captured: float, when: float, ratio: float, unsure: bool = False) -> None:
        self.frames_out += 1
        self.unsure += unsure
        self.unsure_now = unsure
        self.first_out = self.first_out or when
        self.last_out = when
        self.latencies.append(when - captured)
        self._recent_out.append((when, when - captured))
        if ratio != self.ratio:
            self.ratio = ratio
            self.ratios.append(ratio)

    def line(self) -> str:
        """The last second: `in 30.0 fps | out 29.0 fps | dropped 3 | latency 41/55 ms | ratio 0.50`."""
        now = time.monotonic()
        while self._recent_in and self._recent_in[0] < now - 1:
            self._recent_in.popleft()
        while self._recent_out and self._recent_out[0][0] < now - 1:
            self._recent_out.popleft()
        latencies = [latency for _, latency in self._recent_out]
        median = f'{statistics.median(latencies) * 1000:.0f}' if latencies else '-'
        p95 = f'{percentile(latencies, 0.95) * 1000:.0f}' if latencies else '-'
        ratio = f'{self.ratio:.3g}' if self.ratio is not None else '-'
        unsure = ' | selection unsure' if self.unsure_now else ''
        return (f'in {len(self._recent_in):.0f} fps | out {len(latencies):.0f} fps | dropped {self.dropped} | '
                f'latency {median}/{p95} ms (median/p95) | ratio {ratio}{unsure}')

    def summary(self) -> Dict[str, Any]:
        """The whole run, for `--stats FILE.json`; the rates are between the first and the last frame."""
        def rate(count: int, first: Optional[float], last: Optional[float]) -> Optional[float]:
            return round((count - 1) / (last - first), 2) if count > 1 and last > first else None

        def ms(value: Optional[float]) -> Optional[float]:
            return None if value is None else round(value * 1000, 2)
        return {
            'seconds': round(time.monotonic() - self.start, 3),
            'frames_in': self.frames_in, 'frames_out': self.frames_out, 'dropped': self.dropped,
            'input_fps': rate(self.frames_in, self.first_in, self.last_in),
            'output_fps': rate(self.frames_out, self.first_out, self.last_out),
            'latency_median_ms': ms(statistics.median(self.latencies) if self.latencies else None),
            'latency_p95_ms': ms(percentile(self.latencies, 0.95)),
            'downsample_ratio': self.ratio, 'downsample_ratios_used': self.ratios, 'resets': self.resets,
            'unsure_frames': self.unsure,
        }

    def write(self, path: str) -> None:
        with open(path, 'w') as file:
            json.dump(self.summary(), file, indent=2)
            file.write('\n')
