"""A conversion, start to end: read -> `Matter` -> write, for every entry point.

    convert_video(model, 'in.mp4', output_composition='com.mp4', background='white')   # the API
    plan = ConversionPlan.resolve('in.mp4', options); convert(plan, make_matter(model, options))

A reader thread decodes chunks of frames, the `Matter` (`make_matter`: one that resets at scene
cuts unless the options say not to) mattes them, and each output has a writer thread that encodes
what it rendered. With a GPU they run at once with the network; with a network on the CPU, which
keeps every core busy, they run while it waits (`threads.Turns`). Queues between them are short,
so memory stays flat for any length. The command line (`inference.py`), `convert_videos` (its
parts), the web app and the benchmarks all run `convert`; documentation/architecture.md follows a
frame through it.
"""
import contextlib
import functools
import itertools
import warnings
from typing import Any, Callable, Iterator, List, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .formats import ConversionError
from .matter import Matter
from .options import ConversionOptions, from_keywords
from .plan import ConversionPlan
from .readers import Frame, open_reader
from .scenes import SceneCutMatter
from .selection import NotFound
from .threads import prefetch

READ_AHEAD_CHUNKS = 2


def make_matter(model: nn.Module, options: ConversionOptions) -> Matter:
    """The Matter a conversion runs through: on the options' device and dtype, or their engine and
    precision on the CPU (`engines.build_engine`, which builds its files once and caches them), at
    their ratio, resetting at hard cuts unless `reset_on_scene_cut` is off, keeping the people chosen."""
    kind = SceneCutMatter if options.reset_on_scene_cut else Matter
    if options.engine != 'pytorch':
        from engines import build_engine
        from engines.runtimes import EngineMissing
        try:
            network = build_engine(model, options.engine, options.precision)
        except EngineMissing as e:  # a ConversionError, which every entry point reports in one line
            raise ConversionError(str(e)) from None
        return kind(network, 'cpu', torch.float32, options.downsample_ratio, keep=options.keep, drop=options.drop)
    return kind(model, options.device, options.dtype, options.downsample_ratio, bfloat16=options.bfloat16,
                keep=options.keep, drop=options.drop)


def _chunks(frames: Iterator[Frame], size: int, matter: Matter) -> Iterator[Tuple[Tensor, List[int]]]:
    """`(staged images, pts [T])` chunks of `size` frames (the last may be shorter), made on the reader thread."""
    while chunk := list(itertools.islice(frames, size)):
        yield matter.stage(np.stack([frame.image for frame in chunk])), [frame.pts for frame in chunk]


def _packed(plan: ConversionPlan, writer: Any, kind: str, fgr: Tensor, pha: Tensor, bgr: Optional[Tensor]) -> Tensor:
    """Output `kind` of a chunk (see `ConversionPlan.render`) as the data `writer.write_packed` takes."""
    return writer.pack(plan.render(kind, fgr, pha, bgr))


def identify(plan: ConversionPlan, matter: Matter, progress: bool = True) -> None:
    """Before any output: find whom the selections point at, in a first pass over the input up to the
    last selection's frame (whole chunks, as the conversion will cut them, so that it sees the same
    alpha); a selection on nobody is a ConversionError naming it."""
    last = matter.waits_for
    if last is None:
        return
    options = plan.options
    count = -(-(last + 1) // options.seq_chunk) * options.seq_chunk
    decoded = open_reader(plan.source.path).frames(options.input_resize, options.num_workers)
    frames = itertools.islice(decoded, count)
    with contextlib.closing(decoded), tqdm(total=last + 1, disable=not progress, dynamic_ncols=True, unit='frame',
                                          desc='finding the people chosen', leave=False) as bar:
        def chunks() -> Iterator[Tensor]:
            for images, pts in _chunks(frames, options.seq_chunk, matter):
                yield images
                bar.update(min(len(pts), bar.total - bar.n))
        try:
            matter.identify(chunks())
        except NotFound as e:
            raise ConversionError(f'{plan.name("keep" if e.keep else "drop")} {e}') from None


def convert(plan: ConversionPlan, matter: Matter, progress: bool = True,
            callback: Optional[Callable[[int, int], None]] = None) -> int:
    """Run a resolved conversion: read, matte, write. Returns the number of frames written.

    `callback(written, total)` is called after each chunk (for a progress display; an exception
    it raises stops the conversion, e.g. to cancel it). Stopping midway (an error, Ctrl-C)
    closes every output with the frames written so far. With people chosen (`keep`, `drop`),
    `identify` runs first, and a warning names the frames where who is who was a guess.
    """
    options = plan.options
    identify(plan, matter, progress)
    with contextlib.ExitStack() as stack:
        bgr = None
        if options.background is not None:
            bgr = matter.background(options.background, plan.size)
            stack.callback(bgr.close)
        writers = {}
        for kind in plan.outputs:
            writers[kind] = plan.writer(kind, matter.turns)
            stack.callback(writers[kind].close)
        frames = plan.source.frames(options.input_resize, options.num_workers)
        chunks = stack.enter_context(contextlib.closing(
            prefetch(_chunks(frames, options.seq_chunk, matter), READ_AHEAD_CHUNKS, matter.turns)))
        bar = stack.enter_context(tqdm(total=len(plan.source), disable=not progress, dynamic_ncols=True, unit='frame'))
        written = 0
        for images, pts in chunks:
            fgr, pha = matter(images)
            bgr_frames = bgr.next(len(pts)) if bgr is not None else None
            for kind, writer in writers.items():
                make_packed, ready = matter.hand_off(
                    functools.partial(_packed, plan, writer.writer, kind, fgr, pha, bgr_frames))
                writer.write(make_packed, pts, ready)
            written += len(pts)
            bar.update(len(pts))
            if callback is not None:
                callback(written, len(plan.source))
    for note in matter.selection_notes():
        warnings.warn(f'{plan.source.path}: {note}', RuntimeWarning, stacklevel=2)
    return written


def convert_video(model: nn.Module,
                  input_source: str,
                  input_resize: Optional[Tuple[int, int]] = None,
                  downsample_ratio: Optional[float] = None,
                  output_type: Optional[str] = None,
                  output_composition: Optional[str] = None,
                  output_alpha: Optional[str] = None,
                  output_foreground: Optional[str] = None,
                  output_video_mbps: Optional[float] = None,
                  seq_chunk: int = 1,
                  num_workers: int = 0,
                  progress: bool = True,
                  device: Optional[Union[str, torch.device]] = None,
                  dtype: Optional[torch.dtype] = None,
                  **options: Any) -> int:
    """Matte a video or image sequence and write the composition, alpha and/or foreground.

    The parameters are the original RVM API's, in its order; every other option of
    `streaming.ConversionOptions` is keyword-only in `options` (its fields say what each means).

    Args:
        model: a MattingNetwork (see `model.create_model`), or any module with its forward
            signature, e.g. a frozen TorchScript module (then give device and dtype).
        input_source: a video file, or a directory of images (natural order, 30 fps).
        input_resize: `(W, H)` to resize the input to before matting.
        downsample_ratio: the network's downsample ratio; None brings the longer side to 512 px.
        output_type: 'video' (one file per output), or 'png_sequence', 'tiff_sequence' or
            'exr_sequence' (one directory of images per output; EXR for the alpha only);
            None: from the paths (video extensions, or directories without one: png_sequence).
        output_composition: the foreground over `background` (green by default), or RGBA with the
            foreground zeroed where alpha is 0 when transparent (by default when the format holds
            alpha: image sequences, .mov, .webm, .mkv, .avi, and no background is given).
        output_alpha: the alpha matte (gray).
        output_foreground: the predicted foreground colors (RGB).
        output_video_mbps: video bit rate in Mbps; default: constant quality (`video_quality`).
        seq_chunk: frames per network call; larger chunks use the hardware better.
        num_workers: threads decoding the input (image files in parallel, or the video decoder's);
            0 lets the decoder choose.
        progress: show a progress bar.
        device, dtype: where and in what precision to run; default: the model's device when it
            was moved off the CPU, else CUDA when available; the model's dtype.
        options: background, transparent, video_codec, video_quality, bit_depth, premultiplied,
            reset_on_scene_cut (default on: the recurrent states are forgotten at hard cuts),
            bfloat16, engine and precision (the CPU engine: 'pytorch', 'onnxruntime', 'openvino' or
            'auto'; 'float32' or 'int8'), keep and drop (the people to keep or drop, `'x,y@frame'`
            each: every other person gets alpha 0, or those; documentation/selection.md); see
            `streaming.ConversionOptions`.

    Every option is checked before any frame (`streaming.ConversionPlan`). Video outputs keep the
    input's frame rate and timestamps and carry its audio. Stopping midway (an error, Ctrl-C)
    closes every output with the frames written so far.

    Returns the number of frames written.
    """
    record = from_keywords(ConversionOptions, 'convert_video', options, input_resize=input_resize,
                           downsample_ratio=downsample_ratio, output_type=output_type,
                           output_composition=output_composition, output_alpha=output_alpha,
                           output_foreground=output_foreground, output_video_mbps=output_video_mbps,
                           seq_chunk=seq_chunk, num_workers=num_workers, device=device, dtype=dtype)
    plan = ConversionPlan.resolve(input_source, record)
    return convert(plan, make_matter(model, record), progress)
