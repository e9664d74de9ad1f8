"""A segment converted in checkpointed parts: what makes a long conversion resumable.

A segment is written as consecutive parts (each a complete, playable output per kind) of about
`checkpoint_seconds` of work each. After each part, a checkpoint records where the next part
starts, every part's frame count and the recurrent states (`Matter` states, downsample ratio,
scene-cut detector), written atomically. `resume` continues from the last checkpoint: the
states are the ones an uninterrupted run has at that frame, so the parts joined are that run's
output (documentation/batch.md, "Resume"). A crash loses at most the part in flight.
"""
import contextlib
import dataclasses
import itertools
import os
import shutil
import time
from typing import Any, Callable, Dict, Iterator, Optional

import numpy as np
import torch

from ..conversion import convert
from ..matter import Matter
from ..plan import ConversionPlan
from ..readers import Frame
from .job import BatchOptions, Job
from .outputs import work_dir
from .segments import MIN_PART_FRAMES, Segment

FIRST_PART_FRAMES = 16  # the first part is short: it measures the speed that sizes the others


class Window:
    """`count` frames of an opened reader, taken from one shared frame iterator: the source of a part.

    It has the reader's timing and size, and no audio (the join copies the input's audio once).
    `first_pts` is its first frame's pts once read: the join restores the part's exact start
    from it (MP4 edit lists round a start to milliseconds).
    """
    has_audio = False

    def __init__(self, reader: Any, frames: Iterator[Frame], count: int):
        self.reader, self._frames, self.count = reader, frames, count
        self.path, self.frame_rate, self.time_base = reader.path, reader.frame_rate, reader.time_base
        self.width, self.height = reader.width, reader.height
        self.first_pts: Optional[int] = None

    def __len__(self) -> int:
        return self.count

    def frames(self, size=None, num_workers: int = 0) -> Iterator[Frame]:
        for frame in itertools.islice(self._frames, self.count):
            if self.first_pts is None:
                self.first_pts = frame.pts
            yield frame


def segment_key(job: Job, options: BatchOptions, segment: Segment) -> str:
    """What the segment's checkpoint must match: the input, the options that change frames, the segment."""
    return f'{options.key(job.input.path)}/{segment}'


def segment_dir(job: Job, segment: Segment) -> str:
    return os.path.join(work_dir(job.outputs), f'segment-{segment.index:05d}')


def part_outputs(job: Job, folder: str, part: int) -> Dict[str, str]:
    """Part `part`'s output paths: `part-00000/alpha.mp4`, or `part-00000/alpha/` for image sequences."""
    return {kind: os.path.join(folder, f'part-{part:05d}', kind + os.path.splitext(path)[1])
            for kind, path in job.outputs.items()}


def load_checkpoint(folder: str, key: str) -> Optional[Dict[str, Any]]:
    """The segment's checkpoint, if there is one for this input and these settings."""
    path = os.path.join(folder, 'checkpoint.pt')
    if not os.path.isfile(path):
        return None
    checkpoint = torch.load(path, weights_only=True)
    return checkpoint if checkpoint.get('key') == key else None


def save_checkpoint(folder: str, checkpoint: Dict[str, Any]) -> None:
    path = os.path.join(folder, 'checkpoint.pt')
    torch.save(checkpoint, path + '.tmp')
    os.replace(path + '.tmp', path)


def _warm_up(matter: Matter, frames: Iterator[Frame], count: int, seq_chunk: int) -> None:
    """Matte `count` frames without writing them: the state a segment starts from."""
    while count > 0 and (chunk := list(itertools.islice(frames, min(seq_chunk, count)))):
        matter.warm_up(np.stack([frame.image for frame in chunk]))
        count -= len(chunk)


def convert_segment(job: Job, options: BatchOptions, segment: Segment, matter: Matter,
                    on_frames: Optional[Callable[[int], None]] = None) -> Dict[str, Any]:
    """Convert `segment` of `job` into parts (continuing a checkpoint when `options.resume`).

    Returns its checkpoint: `{'parts': [[frames, first pts] of each part], 'done': True, ...}`. `on_frames(n)`
    is called as frames are written (for progress bars).
    """
    folder = segment_dir(job, segment)
    key = segment_key(job, options, segment)
    checkpoint = load_checkpoint(folder, key) if options.resume else None
    if checkpoint is None:
        shutil.rmtree(folder, ignore_errors=True)
        checkpoint = {'key': key, 'next': segment.start, 'parts': [], 'done': False}
    if checkpoint['done']:
        return checkpoint
    plan = ConversionPlan.resolve(job.input.path, options.conversion.with_outputs(part_outputs(job, folder, 0)))
    with contextlib.closing(plan.source.frames(plan.options.input_resize, plan.options.num_workers)) as frames:
        _start(matter, frames, segment, checkpoint, plan.options.seq_chunk)
        _convert_parts(job, options, segment, matter, plan, frames, folder, checkpoint, on_frames)
    return checkpoint


def _start(matter: Matter, frames: Iterator[Frame], segment: Segment, checkpoint: Dict[str, Any],
           seq_chunk: int) -> None:
    """Bring `frames` and `matter` to where the segment's next part starts: the checkpoint's frame and
    states, or (first part) the segment's start, after its warm-up frames."""
    matter.reset()
    if checkpoint['parts']:
        matter.restore(checkpoint['matter'])
        _skip(frames, checkpoint['next'])
    else:
        _skip(frames, segment.start - segment.warmup)
        _warm_up(matter, frames, segment.warmup, seq_chunk)


def _convert_parts(job: Job, options: BatchOptions, segment: Segment, matter: Matter, plan: ConversionPlan,
                   frames: Iterator[Frame], folder: str, checkpoint: Dict[str, Any],
                   on_frames: Optional[Callable[[int], None]]) -> None:
    """Convert the rest of the segment part by part, saving `checkpoint` after each."""
    seq_chunk = plan.options.seq_chunk
    count = _round_up(FIRST_PART_FRAMES, seq_chunk)
    while segment.stop is None or checkpoint['next'] < segment.stop:
        if segment.stop is not None and segment.stop - checkpoint['next'] - count < MIN_PART_FRAMES:
            count = segment.stop - checkpoint['next']
        part = len(checkpoint['parts'])
        part_plan = dataclasses.replace(plan, options=plan.options.with_outputs(part_outputs(job, folder, part)))
        for path in part_plan.outputs.values():
            os.makedirs(os.path.dirname(path), exist_ok=True)
        began, reported = time.perf_counter(), [0]

        def report(written: int, total: int) -> None:
            if on_frames is not None:
                on_frames(written - reported[0])
            reported[0] = written

        window = Window(plan.source, frames, count)
        written = convert(dataclasses.replace(part_plan, source=window), matter, progress=False, callback=report)
        checkpoint['parts'].append([written, window.first_pts])
        checkpoint['next'] += written
        checkpoint['matter'] = matter.snapshot()
        checkpoint['done'] = written < count or checkpoint['next'] == segment.stop
        save_checkpoint(folder, checkpoint)
        if checkpoint['done']:
            break
        speed = written / max(time.perf_counter() - began, 1e-3)
        count = _round_up(max(MIN_PART_FRAMES, round(options.checkpoint_seconds * speed)), seq_chunk)


def _round_up(frames: int, seq_chunk: int) -> int:
    """`frames` rounded up to whole chunks, so parts keep a sequential run's chunk boundaries."""
    return -(-frames // seq_chunk) * seq_chunk


def _skip(frames: Iterator[Frame], count: int) -> None:
    """Decode and drop `count` frames (decoding is fast next to the network)."""
    for _ in itertools.islice(frames, count):
        pass
