"""Frame samplers: which frame offsets a training or validation sequence reads."""
import random
from typing import List, Sequence


class TrainFrameSampler:
    """Random playback of `seq_length` frames: a random speed, a random start shift, reversed half the time.

    Returns offsets from the sequence's first frame, e.g. speed 2, shift 1: `[1, 3, 5, 7]`. Datasets
    wrap them around the clip length.
    """

    def __init__(self, speed: Sequence[float] = (0.5, 1, 2, 3, 4, 5)):
        self.speed = list(speed)

    def __call__(self, seq_length: int) -> List[int]:
        speed = random.choice(self.speed)
        shift = random.choice(range(seq_length))
        frames = [int(f * speed) + shift for f in range(seq_length)]
        if random.random() < 0.5:
            frames = frames[::-1]
        return frames


class ValidFrameSampler:
    """Consecutive frames `0 .. seq_length - 1`, always the same."""

    def __call__(self, seq_length: int) -> List[int]:
        return list(range(seq_length))
