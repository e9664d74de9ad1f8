"""One conversion job on the streaming core: its options record and plan (`ConversionPlan.resolve`),
a preview of a matted frame (the people clicked on it kept or dropped), and the run
(`streaming.convert`) with progress, cancelling and what the selection was unsure of.

Cancelling works through convert's callback: it raises `Cancelled`, and convert closes every
output with the frames written so far (they stay playable and are offered for download).
"""
import dataclasses
import itertools
import os
import time
import warnings
import zipfile
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from streaming import ConversionError, ConversionOptions, ConversionPlan, convert, open_reader
from streaming.formats import list_images
from streaming.selection import NotFound, Selection

from .jobs import Job
from .models import Models

# What the page offers -> the extension of each output ('' is a PNG sequence, zipped for download).
FORMATS = {'MP4 (H.264)': '.mp4', 'ProRes 4444 (.mov)': '.mov', 'VP9 (.webm)': '.webm',
           'PNG sequence (.zip)': ''}
KINDS = ('composition', 'alpha', 'foreground')


@dataclass
class Request:
    """What the user asked for. `background`: a colour, or the path of an image or video; None:
    transparent. `keep`, `drop`: the people clicked on the preview, as `x,y@frame`."""
    source: str
    model: str
    downsample_ratio: Optional[float]
    background: Optional[str]
    format: str
    kinds: Sequence[str]
    keep: Sequence[str] = ()
    drop: Sequence[str] = ()


def plan_job(job: Job, request: Request, max_seconds: float,
             base: ConversionOptions = ConversionOptions()) -> ConversionPlan:
    """Resolve the job's conversion (every option checked, no frame read), within the duration limit.
    `base`: the server's options (device...), which the request's fill in."""
    if not request.kinds:
        raise ConversionError('choose at least one output (composition, alpha or foreground)')
    ext = FORMATS[request.format]
    options = dataclasses.replace(
        base, output_type='video' if ext else 'png_sequence',
        transparent=True if request.background is None else None, background=request.background,
        downsample_ratio=request.downsample_ratio, keep=request.keep, drop=request.drop).with_outputs(
        {kind: str(job.folder / 'out' / (kind + ext)) for kind in request.kinds})
    plan = ConversionPlan.resolve(request.source, options)
    seconds = len(plan.source) / float(plan.source.frame_rate)
    if seconds > max_seconds:
        raise ConversionError(f'the input is {seconds:.0f} s long ({len(plan.source)} frames), over the limit of '
                              f'{max_seconds:g} s (--max-seconds)')
    if len(plan.source) == 0:
        raise ConversionError('the input holds no frames')
    return plan


def preview(plan: ConversionPlan, models: Models, model: str) -> np.ndarray:
    """The frame the people were chosen on (else the first) matted as the run will show it."""
    options = plan.options
    frame = min((selection.frame for selection in options.keep + options.drop), default=0)
    return matte_frame(plan.source.path, options, models, model, frame)


def matte_frame(source: str, options: ConversionOptions, models: Models, model: str, frame: int) -> np.ndarray:
    """Frame `frame` of `source` matted with `options`, the people chosen on that frame kept or
    dropped: `[H, W, 3]` over the background, or `[H, W, 4]` (transparent) uint8. A click on
    nobody, or a frame past the end, is a ConversionError."""
    reader = open_reader(source)
    if not 0 <= frame < len(reader):
        raise ConversionError(f'frame {frame} is past the end: the input has frames 0..{len(reader) - 1}')
    chosen = {kind: tuple(dataclasses.replace(s, frame=0) for s in getattr(options, kind) if s.frame == frame)
              for kind in ('keep', 'drop')}
    matter = models.matter(model, dataclasses.replace(options, **chosen))  # the frame alone: its selections on 0
    frames = reader.frames(options.input_resize)
    try:
        image = next(itertools.islice(frames, frame, None)).image
    finally:
        frames.close()
    with models.lock:
        try:
            matter.identify([image[None]])
        except NotFound as e:
            raise ConversionError(f'no person at {e.selection.x0},{e.selection.y0} on frame {frame}: '
                                  f'click on a person') from None
        fgr, pha = matter(image[None])
        if options.background is None:
            return matter.images('composition', fgr, pha)[0]
        size = (image.shape[1], image.shape[0])
        background = matter.background(options.background, size)
        try:
            return matter.images('composition', fgr, pha, background.next(1))[0]
        finally:
            background.close()


def picks_text(picks: Sequence[Tuple[int, int, int, bool]]) -> str:
    """What the clicks on the preview chose, for the page."""
    if not picks:
        return 'Everyone is kept. Click a person on the preview to keep only them (or, with Drop, to remove them).'
    keep = [f'{x},{y} on frame {frame}' for x, y, frame, kept in picks if kept]
    drop = [f'{x},{y} on frame {frame}' for x, y, frame, kept in picks if not kept]
    return ' '.join(text for text in (
        f'Keeping only the people at {"; ".join(keep)}.' if keep else '',
        f'Dropping the people at {"; ".join(drop)}.' if drop else '') if text)


def selections(picks: Sequence[Tuple[int, int, int, bool]], keep: bool) -> Tuple[str, ...]:
    """The picks kept (or dropped) as `ConversionOptions.keep` (`drop`) takes them."""
    return tuple(str(Selection(x, y, x, y, frame)) for x, y, frame, kept in picks if kept == keep)


def zip_sequence(directory: str) -> str:
    """A PNG-sequence output as `directory.zip` (its frames)."""
    archive = directory + '.zip'
    with zipfile.ZipFile(archive, 'w', zipfile.ZIP_STORED) as zf:  # PNGs are compressed already
        for name in list_images(directory):
            zf.write(os.path.join(directory, name), name)
    return archive


def results(plan: ConversionPlan) -> List[str]:
    """The files to download: the videos, or each PNG sequence zipped."""
    if plan.options.output_type == 'video':
        return [path for path in plan.outputs.values() if os.path.exists(path)]
    return [zip_sequence(path) for path in plan.outputs.values() if os.path.isdir(path)]


def run(job: Job, models: Models, report: Callable[[int, int, float], None]) -> Tuple[int, List[str]]:
    """Convert the job's plan, calling `report(written, total, seconds_left)` after each chunk.
    Raises `Cancelled` (after closing the outputs) when the job is cancelled. Returns the frames
    written, and the conversion's warnings (the frames where the people kept were a guess)."""
    job.check_cancelled()
    matter = models.matter(job.model_name, job.plan.options)
    start = time.monotonic()

    def callback(written: int, total: int) -> None:
        job.check_cancelled()
        elapsed = time.monotonic() - start
        report(written, total, elapsed / written * (total - written))

    with models.lock, warnings.catch_warnings(record=True) as caught:  # one conversion at a time: its warnings
        warnings.simplefilter('always')
        written = convert(job.plan, matter, progress=False, callback=callback)
    path = job.plan.source.path + ': '
    return written, [str(w.message)[len(path):] for w in caught if str(w.message).startswith(path)]
