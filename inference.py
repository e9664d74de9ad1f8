"""Remove the background of a video: `convert_video` and its command line.

    python inference.py --input-source input.mp4 --output-composition com.mp4 --output-alpha pha.mp4

A reader thread decodes the chunks of frames and each output has a writer thread that encodes
what the network produced. With a GPU they run at once with the network; with a network on the
CPU, which keeps every core busy, they run while it waits (`inference_utils.Turns`), in parallel
with each other. Queues between them are short, so memory stays flat for any length. See
documentation/conversion.md for the formats, backgrounds, audio and the benchmark.
"""
import argparse
import contextlib
import functools
import itertools
import os
import sys
import warnings
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from inference_utils import (GREEN, TRANSPARENT_VIDEO_EXTENSIONS, VIDEO_EXTENSIONS, Background, ConversionError, Frame,
                             ImageSequenceWriter, ThreadedWriter, Turns, VideoWriter, Writer, check_writable,
                             open_reader, prefetch, video_codec)
from model import CheckpointError, create_model
from streaming.device import Placement

OUTPUT_TYPES = ('video', 'png_sequence')
READ_AHEAD_CHUNKS = 2
WRITE_AHEAD_CHUNKS = 2


def auto_downsample_ratio(h: int, w: int) -> float:
    """The downsample ratio that brings the longer side to 512 px (never upsampling)."""
    return min(512 / max(h, w), 1)


def infer_output_type(paths: Iterable[str]) -> str:
    """'video' when the output paths have video extensions, 'png_sequence' when none has."""
    paths = list(paths)
    kinds = {os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS for path in paths}
    if len(kinds) != 1:
        raise ConversionError(f'outputs {", ".join(paths)} mix video files and image-sequence directories; '
                              f'use one kind (or give --output-type)')
    return 'video' if kinds.pop() else 'png_sequence'


def resolve_transparency(output_composition: Optional[str], output_type: str,
                         background: Optional[object], transparent: Optional[bool]) -> bool:
    """Whether the composition is RGBA: by default when its format holds alpha and no background is given."""
    if output_composition is None:
        return False
    if transparent is None:
        holds_alpha = (output_type == 'png_sequence'
                       or os.path.splitext(output_composition)[1].lower() in TRANSPARENT_VIDEO_EXTENSIONS)
        return holds_alpha and background is None
    if transparent and background is not None:
        raise ConversionError('a transparent composition has no background: give transparent or background, not both')
    return transparent


def named_outputs(composition: Optional[str], alpha: Optional[str], foreground: Optional[str]) -> Dict[str, str]:
    """The outputs asked for, by kind."""
    paths = {'composition': composition, 'alpha': alpha, 'foreground': foreground}
    return {kind: os.fspath(path) for kind, path in paths.items() if path is not None}


def check_outputs(input_source: str, outputs: Dict[str, str], output_type: str, transparent: bool = False) -> None:
    """Check the input exists and every output can be written, before any work.

    Refuses an output that is the input or another output; creates the output folders.
    """
    if not os.path.exists(input_source):
        raise ConversionError(f'input {input_source} does not exist')
    if not outputs:
        raise ConversionError('no output: give at least one of output_composition, output_alpha, output_foreground')
    if output_type not in OUTPUT_TYPES:
        raise ConversionError(f'unknown output type {output_type!r}: expected one of {OUTPUT_TYPES}')
    seen = {os.path.realpath(input_source): 'the input'}
    for kind, path in outputs.items():
        real = os.path.realpath(path)
        if real in seen:
            raise ConversionError(f'output {kind} {path} is the same path as {seen[real]}; refusing to overwrite it')
        seen[real] = f'output {kind}'
        if output_type == 'video':
            video_codec(path, transparent and kind == 'composition')
        check_writable(path, directory=output_type == 'png_sequence')


def _placement(model: nn.Module, device: Optional[Union[str, torch.device]],
               dtype: Optional[torch.dtype]) -> Tuple[torch.device, torch.dtype]:
    param = next(model.parameters(), None)
    if param is None and (device is None or dtype is None):
        raise ConversionError('give device and dtype for a model without parameters (e.g. a frozen TorchScript module)')
    return torch.device(device) if device is not None else param.device, dtype or param.dtype


def _network_input(images: Tensor, device: torch.device, dtype: torch.dtype) -> Tensor:
    """`[T, H, W, 3]` uint8 -> `[T, 3, H, W]` in 0..1 on `device` (the uint8 crosses: 4x less to copy)."""
    return images.to(device, non_blocking=True).permute(0, 3, 1, 2).to(dtype).div_(255)


def _chunks(frames: Iterator[Frame], size: int, device: torch.device,
            dtype: torch.dtype) -> Iterator[Tuple[Tensor, List[int]]]:
    """Group frames into `(images, pts [T])` chunks of `size` frames (the last may be shorter), on the reader thread.

    On CUDA, images are pinned `[T, H, W, 3]` uint8, converted on the GPU; elsewhere they are
    converted here (see `background_thread_setup`), off the network's thread, to its input `[T, 3, H, W]`.
    """
    while chunk := list(itertools.islice(frames, size)):
        images = torch.from_numpy(np.stack([frame.image for frame in chunk]))
        yield (images.pin_memory() if device.type == 'cuda' else _network_input(images, device, dtype)), \
            [frame.pts for frame in chunk]


def render(kind: str, fgr: Tensor, pha: Tensor, bgr: Optional[Tensor]) -> Tensor:
    """Output `kind` of a chunk as `[T, C, H, W]` frames in 0..1, from fgr `[T, 3, H, W]` and pha `[T, 1, H, W]`.

    'alpha': C = 1. 'foreground': C = 3. 'composition': `fgr * pha + bgr * (1 - pha)` (C = 3) over
    `bgr` (`[T or 1, 3, H or 1, W or 1]`), or, when `bgr` is None, RGBA with fgr zeroed where pha is 0.
    """
    if kind == 'alpha':
        return pha
    if kind == 'foreground':
        return fgr
    if bgr is None:
        return torch.cat([fgr * pha.gt(0), pha], dim=1)
    return torch.lerp(bgr, fgr, pha)


def _render_packed(writer: Writer, kind: str, fgr: Tensor, pha: Tensor, bgr: Optional[Tensor]) -> Tensor:
    """Output `kind` of a chunk (see `render`) as the uint8 data `writer.write_packed` takes."""
    return writer.pack(render(kind, fgr, pha, bgr))


def _stage(make_packed: Callable[[], Tensor], device: torch.device) -> Tuple[Callable[[], Tensor], Any]:
    """Decide where an output's packed uint8 data is made: `(make_packed, ready event)` for its writer thread.

    On CUDA it is made now on the GPU and copied into pinned memory without blocking; the event
    marks the copy done. Elsewhere the writer thread makes it, after the network call (so the
    model must return new tensors on each call, as MattingNetwork and TorchScript do).
    """
    if device.type != 'cuda':
        return make_packed, None
    packed = make_packed()
    host = torch.empty(packed.shape, dtype=packed.dtype, pin_memory=True)
    host.copy_(packed, non_blocking=True)
    ready = torch.cuda.Event()
    ready.record()

    def copied() -> Tensor:
        return host
    return copied, ready


def convert_video(model: nn.Module,
                  input_source: str,
                  input_resize: Optional[Tuple[int, int]] = None,
                  downsample_ratio: Optional[float] = None,
                  output_type: str = 'video',
                  output_composition: Optional[str] = None,
                  output_alpha: Optional[str] = None,
                  output_foreground: Optional[str] = None,
                  output_video_mbps: Optional[float] = None,
                  seq_chunk: int = 1,
                  num_workers: int = 0,
                  progress: bool = True,
                  device: Optional[Union[str, torch.device]] = None,
                  dtype: Optional[torch.dtype] = None,
                  background: Optional[Union[str, Sequence[float], os.PathLike]] = None,
                  transparent: Optional[bool] = None) -> int:
    """Matte a video or image sequence and write the composition, alpha and/or foreground.

    Args:
        model: a MattingNetwork (run through `model.deploy.prepare_for_inference`), or any module
            with its forward signature, e.g. a frozen TorchScript module (then give device and dtype).
        input_source: a video file, or a directory of images (natural order, 30 fps).
        input_resize: `(W, H)` to resize the input to before matting.
        downsample_ratio: the network's downsample ratio; None brings the longer side to 512 px.
        output_type: 'video' (one file per output) or 'png_sequence' (one directory per output).
        output_composition: the foreground over `background` (green by default); RGBA with the
            foreground zeroed where alpha is 0 when transparent.
        output_alpha: the alpha matte (gray).
        output_foreground: the predicted foreground colors (RGB).
        output_video_mbps: video bit rate in Mbps (default 1).
        seq_chunk: frames per network call; larger chunks use the hardware better.
        num_workers: threads decoding the input (image files in parallel, or the video decoder's);
            0 lets the decoder choose.
        progress: show a progress bar.
        device, dtype: where and in what precision to run; default: the model's parameters'.
        background: the composition background: a color ((r, g, b) in 0..255, 'r,g,b', '#rrggbb'
            or a name), an image, or a video (looped). Scaled to cover the frame.
        transparent: write the composition with alpha. Default: when the format holds alpha
            (png_sequence, .mov as ProRes 4444, .webm as VP9) and no background is given.

    Video outputs keep the input's frame rate and timestamps and carry its audio. Stopping
    midway (an error, Ctrl-C) closes every output with the frames written so far.

    Returns the number of frames written.
    """
    if downsample_ratio is not None and not 0 < downsample_ratio <= 1:
        raise ConversionError(f'downsample ratio must be in (0, 1], got {downsample_ratio}')
    if seq_chunk < 1 or num_workers < 0:
        raise ConversionError(f'seq_chunk must be >= 1 and num_workers >= 0, got {seq_chunk} and {num_workers}')
    outputs = named_outputs(output_composition, output_alpha, output_foreground)
    input_source = os.fspath(input_source)
    transparent = resolve_transparency(outputs.get('composition'), output_type, background, transparent)
    check_outputs(input_source, outputs, output_type, transparent)

    source = open_reader(input_source)
    width, height = input_resize or (source.width, source.height)
    device, dtype = _placement(model, device, dtype)
    model = Placement(device, dtype).prepare(model)
    bit_rate = int((output_video_mbps or 1) * 1_000_000)

    with contextlib.ExitStack() as stack:
        turns = Turns(enabled=device.type == 'cpu')
        writers: Dict[str, ThreadedWriter] = {}
        for kind, path in outputs.items():
            if output_type == 'png_sequence':
                writer: Writer = ImageSequenceWriter(path, 'png')
            else:
                writer = VideoWriter(path, source.frame_rate, bit_rate, transparent=transparent and kind == 'composition',
                                     time_base=source.time_base, audio_source=input_source if source.has_audio else None)
            writers[kind] = ThreadedWriter(writer, WRITE_AHEAD_CHUNKS, turns)
            stack.callback(writers[kind].close)
        bgr = None
        if 'composition' in outputs and not transparent:
            bgr = Background(GREEN if background is None else background, (width, height), device, dtype, turns)
            stack.callback(bgr.close)
        frames = source.frames(input_resize, num_workers)
        chunks = stack.enter_context(contextlib.closing(
            prefetch(_chunks(frames, seq_chunk, device, dtype), READ_AHEAD_CHUNKS, turns)))
        bar = stack.enter_context(tqdm(total=len(source), disable=not progress, dynamic_ncols=True, unit='frame'))
        rec: List[Optional[Tensor]] = [None] * 4
        written = 0
        with torch.inference_mode():
            for images, pts in chunks:
                src = _network_input(images, device, dtype) if device.type == 'cuda' else images  # [T, 3, H, W]
                if downsample_ratio is None:
                    downsample_ratio = auto_downsample_ratio(src.size(2), src.size(3))
                with turns.network():
                    fgr, pha, *rec = model(src.unsqueeze(0), *rec, downsample_ratio)
                bgr_frames = bgr.next(len(pts)) if bgr is not None else None
                for kind, writer in writers.items():
                    make_packed, ready = _stage(
                        functools.partial(_render_packed, writer.writer, kind, fgr[0], pha[0], bgr_frames), device)
                    writer.write(make_packed, pts, ready)
                written += len(pts)
                bar.update(len(pts))
    return written


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog='inference.py', description='Remove the background of a video or image sequence with Robust Video Matting.')
    parser.add_argument('--variant', choices=('mobilenetv3', 'resnet50'),
                        help='the encoder; default: read from --checkpoint, or mobilenetv3 for the published weights')
    parser.add_argument('--checkpoint', help='a .pth state_dict; default: the published weights of --variant, '
                                             "downloaded once into torch.hub's cache")
    parser.add_argument('--device', help='default: cuda when available, else cpu')
    parser.add_argument('--input-source', required=True, help='a video file or a directory of images')
    parser.add_argument('--input-resize', type=int, nargs=2, metavar=('W', 'H'))
    parser.add_argument('--downsample-ratio', type=float, help='default: bring the longer side to 512 px')
    parser.add_argument('--output-type', choices=OUTPUT_TYPES,
                        help='default: video when the output paths have video extensions, else png_sequence')
    parser.add_argument('--output-composition', help='the foreground over --background (or transparent)')
    parser.add_argument('--output-alpha', help='the alpha matte')
    parser.add_argument('--output-foreground', help='the foreground colors')
    parser.add_argument('--output-video-mbps', type=float, default=1, help='video bit rate (default 1)')
    parser.add_argument('--seq-chunk', type=int, default=1, help='frames per network call (default 1)')
    parser.add_argument('--num-workers', type=int, default=0, help='input decoding threads (default: automatic)')
    parser.add_argument('--disable-progress', action='store_true')
    parser.add_argument('--background', help="composition background: a color ('120,255,155', '#78ff9b', 'white'), "
                                             'an image or a video (looped); default green')
    parser.add_argument('--transparent', action=argparse.BooleanOptionalAction,
                        help='write the composition with alpha (default: for png_sequence, .mov and .webm '
                             'when no --background is given)')
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *_, **__: tqdm.write(f'{parser.prog}: warning: {message}', file=sys.stderr)
        try:
            outputs, count = _run(args)
        except (ConversionError, CheckpointError, OSError) as e:
            parser.exit(1, f'{parser.prog}: error: {e}\n')
        except KeyboardInterrupt:
            parser.exit(130, f'{parser.prog}: interrupted; the outputs are closed and hold the frames written so far\n')
    print(f'wrote {count} frames to {", ".join(outputs.values())}', file=sys.stderr)


def _run(args: argparse.Namespace) -> Tuple[Dict[str, str], int]:
    """The command line's work: check the paths, load the weights, convert. Returns the outputs and frame count."""
    outputs = named_outputs(args.output_composition, args.output_alpha, args.output_foreground)
    output_type = args.output_type or (infer_output_type(outputs.values()) if outputs else 'video')
    transparent = resolve_transparency(args.output_composition, output_type, args.background, args.transparent)
    check_outputs(args.input_source, outputs, output_type, transparent)
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    model = create_model(args.variant, pretrained=args.checkpoint is None, checkpoint=args.checkpoint,
                         progress=not args.disable_progress)
    count = convert_video(model, args.input_source, args.input_resize, args.downsample_ratio, output_type,
                          args.output_composition, args.output_alpha, args.output_foreground, args.output_video_mbps,
                          args.seq_chunk, args.num_workers, not args.disable_progress, device, torch.float32,
                          args.background, transparent)
    return outputs, count

if __name__ == '__main__':
    main()
