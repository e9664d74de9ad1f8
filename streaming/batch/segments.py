"""Splitting a long input into segments that convert independently (in parallel on Ray) and join exactly.

A segment after the first starts `warmup_frames` early: those frames are matted but not written,
so the recurrent state at its first written frame is close to a sequential run's
(documentation/batch.md, "Segments", measures how close by warm-up length). With
`reset_on_scene_cut`, a boundary moves to a hard cut near it when there is one: the state resets
there in a sequential run too, so that segment needs no warm-up and joins exactly.
"""
import itertools
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np
import torch

from ..color import from_images
from ..readers import open_reader
from ..scenes import CutDetector
from .job import BatchOptions, Job

# Parts joined without re-encoding must each hold the encoder's full frame reordering (H.264
# B-frames), else a part's first decode times fall before the previous part's last ones: no part
# that another follows is shorter than this (parts.py), and no segment shorter than two of them.
MIN_PART_FRAMES = 16


@dataclass(frozen=True)
class Segment:
    index: int
    start: int            # its first written frame
    stop: Optional[int]   # the frame after its last; None: to the end of the input
    warmup: int           # frames before `start` matted first, not written


def find_cuts(path: str, size: Optional[Tuple[int, int]] = None, num_workers: int = 0) -> List[int]:
    """The frames of input `path` (resized to `size`, as the network sees them) that start a new shot:
    the cuts `SceneCutMatter` resets at, found in a pass that decodes without matting."""
    detector, cuts, seen = CutDetector(), [], 0
    frames = open_reader(path).frames(size, num_workers)
    while chunk := list(itertools.islice(frames, 16)):
        cuts += [seen + i for i in detector(from_images(torch.from_numpy(np.stack([f.image for f in chunk]))))]
        seen += len(chunk)
    return cuts


def boundaries(length: int, per_segment: int, cuts: List[int]) -> List[int]:
    """Segment starts after 0: every `per_segment` frames, moved to a cut within a quarter segment."""
    starts, nominal = [], per_segment
    while nominal < length:
        near = [c for c in cuts if abs(c - nominal) <= per_segment // 4 and c > (starts[-1] if starts else 0)]
        starts.append(min(near, key=lambda c: abs(c - nominal)) if near else nominal)
        nominal = starts[-1] + per_segment
    return starts


def plan_segments(job: Job, options: BatchOptions) -> List[Segment]:
    """The segments of `job`: one unless `options.segment_seconds` is shorter than the input."""
    if options.segment_seconds is None:
        return [Segment(0, 0, None, 0)]
    conversion = options.conversion
    reader = open_reader(job.input.path)
    per_segment = max(conversion.seq_chunk, 2 * MIN_PART_FRAMES, round(options.segment_seconds * float(reader.frame_rate)))
    cuts = find_cuts(job.input.path, conversion.input_resize, conversion.num_workers) \
        if conversion.reset_on_scene_cut else []
    starts = boundaries(len(reader), per_segment, cuts)
    segments = []
    for index, (start, stop) in enumerate(zip([0] + starts, starts + [None])):
        warmup = 0 if start == 0 or start in cuts else min(options.warmup_frames, start)
        segments.append(Segment(index, start, stop, warmup))
    return segments
