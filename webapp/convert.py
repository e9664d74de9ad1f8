"""One conversion job on the streaming core: its options record and plan (`ConversionPlan.resolve`),
a preview of the first matted frame, and the run (`streaming.convert`) with progress and cancelling.

Cancelling works through convert's callback: it raises `Cancelled`, and convert closes every
output with the frames written so far (they stay playable and are offered for download).
"""
import dataclasses
import os
import time
import zipfile
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import numpy as np

from streaming import ConversionError, ConversionOptions, ConversionPlan, convert
from streaming.formats import list_images

from .jobs import Job
from .models import Models

# What the page offers -> the extension of each output ('' is a PNG sequence, zipped for download).
FORMATS = {'MP4 (H.264)': '.mp4', 'ProRes 4444 (.mov)': '.mov', 'VP9 (.webm)': '.webm',
           'PNG sequence (.zip)': ''}
KINDS = ('composition', 'alpha', 'foreground')


@dataclass
class Request:
    """What the user asked for. `background`: a colour, or the path of an image or video; None: transparent."""
    source: str
    model: str
    downsample_ratio: Optional[float]
    background: Optional[str]
    format: str
    kinds: Sequence[str]


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
        downsample_ratio=request.downsample_ratio).with_outputs(
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
    """The first frame matted as the run will show it: `[H, W, 3]` (over the background) or
    `[H, W, 4]` (transparent) uint8."""
    matter = models.matter(model, plan.options)
    frames = plan.source.frames(plan.options.input_resize)
    try:
        image = next(frames).image
    finally:
        frames.close()
    with models.lock:
        fgr, pha = matter(image[None])
        if plan.options.background is None:
            return matter.images('composition', fgr, pha)[0]
        background = matter.background(plan.options.background, plan.size)
        try:
            return matter.images('composition', fgr, pha, background.next(1))[0]
        finally:
            background.close()


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


def run(job: Job, models: Models, report: Callable[[int, int, float], None]) -> int:
    """Convert the job's plan, calling `report(written, total, seconds_left)` after each chunk.
    Raises `Cancelled` (after closing the outputs) when the job is cancelled. Returns the frames written."""
    job.check_cancelled()
    matter = models.matter(job.model_name, job.plan.options)
    start = time.monotonic()

    def callback(written: int, total: int) -> None:
        job.check_cancelled()
        elapsed = time.monotonic() - start
        report(written, total, elapsed / written * (total - written))

    with models.lock:
        return convert(job.plan, matter, progress=False, callback=callback)
