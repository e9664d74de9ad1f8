"""Remove the background of a video: `convert_video` and its command line.

    python inference.py --input-source input.mp4 --output-composition com.mp4 --output-alpha pha.mp4
    python inference.py --input-source footage/ --output-dir mattes/ --output-alpha pha.mp4   # a batch

A conversion is read -> core -> write: a reader thread decodes chunks of frames, `streaming.Matter`
mattes them, and each output has a writer thread that encodes what it rendered. With a GPU they
run at once with the network; with a network on the CPU, which keeps every core busy, they run
while it waits (`streaming.threads.Turns`). Queues between them are short, so memory stays flat
for any length. See documentation/architecture.md for the modules, and documentation/conversion.md
for the formats, backgrounds, audio and the benchmark. Folders, globs, --resume, segments and --ray
go to `convert_videos` and `streaming.batch` (documentation/batch.md).
"""
import argparse
import contextlib
import functools
import itertools
import os
import signal
import sys
import warnings
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from model import CheckpointError, create_model
from streaming import ConversionError, ConversionPlan, Matter
from streaming.matter import auto_downsample_ratio  # noqa: F401 (the original API's name)
from streaming.device import default_device
from streaming.formats import CODECS
from streaming.plan import OUTPUT_TYPES
from streaming.readers import Frame
from streaming.threads import prefetch
from streaming.batch import Input, Job, Report, Settings, is_batch_source, make_jobs, run_batch
from streaming.batch.job import CHECKPOINT_SECONDS, WARMUP_FRAMES
from streaming.batch.scenes import SceneCutMatter

READ_AHEAD_CHUNKS = 2


def _chunks(frames: Iterator[Frame], size: int, matter: Matter) -> Iterator[Tuple[Tensor, List[int]]]:
    """`(staged images, pts [T])` chunks of `size` frames (the last may be shorter), made on the reader thread."""
    while chunk := list(itertools.islice(frames, size)):
        yield matter.stage(np.stack([frame.image for frame in chunk])), [frame.pts for frame in chunk]


def _packed(plan: ConversionPlan, writer, kind: str, fgr: Tensor, pha: Tensor, bgr: Optional[Tensor]) -> Tensor:
    """Output `kind` of a chunk (see `ConversionPlan.render`) as the data `writer.write_packed` takes."""
    return writer.pack(plan.render(kind, fgr, pha, bgr))


def convert(plan: ConversionPlan, matter: Matter, progress: bool = True,
            callback: Optional[Callable[[int, int], None]] = None) -> int:
    """Run a resolved conversion: read, matte, write. Returns the number of frames written.

    `callback(written, total)` is called after each chunk (for a progress display; an exception
    it raises stops the conversion, e.g. to cancel it). Stopping midway (an error, Ctrl-C)
    closes every output with the frames written so far.
    """
    with contextlib.ExitStack() as stack:
        bgr = None
        if plan.background is not None:
            bgr = matter.background(plan.background, plan.size)
            stack.callback(bgr.close)
        writers = {}
        for kind in plan.outputs:
            writers[kind] = plan.writer(kind, matter.turns)
            stack.callback(writers[kind].close)
        frames = plan.source.frames(plan.input_resize, plan.num_workers)
        chunks = stack.enter_context(contextlib.closing(
            prefetch(_chunks(frames, plan.seq_chunk, matter), READ_AHEAD_CHUNKS, matter.turns)))
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
                  background: Optional[Union[str, Sequence[float], os.PathLike]] = None,
                  transparent: Optional[bool] = None,
                  video_codec: Optional[str] = None,
                  video_quality: Optional[float] = None,
                  bit_depth: Optional[int] = None,
                  premultiplied: bool = False) -> int:
    """Matte a video or image sequence and write the composition, alpha and/or foreground.

    Args:
        model: a MattingNetwork (see `model.create_model`), or any module with its forward
            signature, e.g. a frozen TorchScript module (then give device and dtype).
        input_source: a video file, or a directory of images (natural order, 30 fps).
        input_resize: `(W, H)` to resize the input to before matting.
        downsample_ratio: the network's downsample ratio; None brings the longer side to 512 px.
        output_type: 'video' (one file per output), or 'png_sequence', 'tiff_sequence' or
            'exr_sequence' (one directory of images per output; EXR for the alpha only);
            None: from the paths (video extensions, or directories without one: png_sequence).
        output_composition: the foreground over `background` (green by default); RGBA with the
            foreground zeroed where alpha is 0 when transparent.
        output_alpha: the alpha matte (gray).
        output_foreground: the predicted foreground colors (RGB).
        output_video_mbps: video bit rate in Mbps; default: constant quality (`video_quality`).
        seq_chunk: frames per network call; larger chunks use the hardware better.
        num_workers: threads decoding the input (image files in parallel, or the video decoder's);
            0 lets the decoder choose.
        progress: show a progress bar.
        device, dtype: where and in what precision to run; default: the model's parameters'.
        background: the composition background: a color ((r, g, b) in 0..255, 'r,g,b', '#rrggbb'
            or a name), an image, or a video (looped). Scaled to cover the frame.
        transparent: write the composition with alpha. Default: when the format holds alpha
            (image sequences, .mov as ProRes 4444, .webm as VP9, .mkv as FFV1) and no background is given.
        video_codec: 'h264', 'h265', 'av1', 'vp9', 'prores' (422 HQ), 'prores4444' or 'ffv1'
            (lossless); default: from the extension (H.265 for more than 8-bit input in .mp4/.mov/.mkv).
        video_quality: the codec's constant quality (CRF: lower is better and larger); default:
            visually transparent (H.264 18, H.265 17, AV1 20, VP9 20).
        bit_depth: video 8, 10 or 16 (FFV1); png/tiff 8 or 16; exr 16 (half) or 32 (float).
            Default: the input's, as far as the codec goes (H.264 and VP9: 8), 8 for png/tiff.
        premultiplied: the transparent composition's and the foreground's colours multiplied by
            alpha (default straight: unmultiplied).

    Every option is checked before any frame (`streaming.ConversionPlan`). Video outputs keep the
    input's frame rate and timestamps and carry its audio. Stopping midway (an error, Ctrl-C)
    closes every output with the frames written so far.

    Returns the number of frames written.
    """
    plan = ConversionPlan.resolve(input_source, output_composition, output_alpha, output_foreground, output_type,
                                  transparent, background, input_resize, downsample_ratio, seq_chunk, num_workers,
                                  output_video_mbps, video_codec=video_codec, video_quality=video_quality,
                                  bit_depth=bit_depth, premultiplied=premultiplied)
    return convert(plan, Matter(model, device, dtype, plan.downsample_ratio), progress)


def convert_videos(model: nn.Module,
                   input_source: str,
                   output_dir: Optional[str] = None,
                   output_composition: Optional[str] = None,
                   output_alpha: Optional[str] = None,
                   output_foreground: Optional[str] = None,
                   force: bool = False,
                   resume: bool = False,
                   reset_on_scene_cut: bool = True,
                   warmup_frames: int = WARMUP_FRAMES,
                   segment_seconds: Optional[float] = None,
                   checkpoint_seconds: float = CHECKPOINT_SECONDS,
                   ray: Union[bool, str] = False,
                   ray_cpus: Optional[int] = None,
                   progress: bool = True,
                   device: Optional[Union[str, torch.device]] = None,
                   dtype: Optional[torch.dtype] = None,
                   **options) -> Report:
    """Convert every video and image folder of `input_source` (a folder, searched at any depth, or a glob).

    With `output_dir`, each output argument is a name inside the input's own folder there:
    `in/a/b.mp4` gives `output_dir/a/b/com.mp4`; without it, `input_source` is one input and the
    output arguments are its paths (for `resume` and segments on a single file). Outputs appear
    under their final names only when complete; inputs whose outputs all exist are skipped unless
    `force`. A failing input is reported and the others go on: see the returned Report
    (`.outcomes`, `.summary()`, also `output_dir/report.json`).

    Args:
        resume: continue conversions interrupted midway from their last checkpoint (taken about
            every `checkpoint_seconds`) instead of starting them over.
        reset_on_scene_cut: forget the recurrent states at each hard cut (`streaming.batch.scenes`).
        segment_seconds: split inputs longer than this into segments converted independently
            (in parallel with Ray), each starting `warmup_frames` early, joined without re-encoding.
        ray: False (in this process), True (Ray on this machine) or a Ray cluster's address.
        ray_cpus: cores per Ray task on machines without a GPU (default min(4, all)).
        options: convert_video's (output_type, downsample_ratio, seq_chunk, background, ...).

    See documentation/batch.md.
    """
    settings = Settings(reset_on_scene_cut=reset_on_scene_cut, warmup_frames=warmup_frames,
                        segment_seconds=segment_seconds, checkpoint_seconds=checkpoint_seconds, resume=resume, **options)
    names = {'composition': output_composition, 'alpha': output_alpha, 'foreground': output_foreground}
    if output_dir is not None:
        jobs = make_jobs(os.fspath(input_source), os.fspath(output_dir), names)
        report_path = os.path.join(output_dir, 'report.json')
    elif is_batch_source(os.fspath(input_source)):
        raise ConversionError(f'input {input_source} holds several inputs: give output_dir (--output-dir) '
                              f'for their outputs')
    else:
        path = os.fspath(input_source)
        jobs = [Job(Input(path, os.path.basename(path)), {k: os.fspath(v) for k, v in names.items() if v is not None})]
        report_path = None
    if not jobs[0].outputs:
        raise ConversionError('no output: give at least one of output_composition, output_alpha, output_foreground')
    if output_dir is not None:
        os.makedirs(output_dir, exist_ok=True)
    if ray:
        from streaming.batch.ray_runner import run_batch_ray  # Ray is optional: requirements/ray.txt
        return run_batch_ray(jobs, settings, model, None if ray is True else ray, ray_cpus, force, progress,
                             report_path)
    return run_batch(jobs, settings, model, device, dtype, force, progress, report_path)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: every output closed and playable."""


def _terminate(signum, frame) -> None:
    raise Terminated()


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
                        help='default: video for video extensions, png_sequence for paths without an extension')
    parser.add_argument('--output-composition', help='the foreground over --background (or transparent)')
    parser.add_argument('--output-alpha', help='the alpha matte')
    parser.add_argument('--output-foreground', help='the foreground colors')
    parser.add_argument('--output-video-mbps', type=float,
                        help='video bit rate (default: constant quality, see --video-quality)')
    parser.add_argument('--video-codec', choices=tuple(CODECS),
                        help='default: from the extension (h264; vp9 for .webm; prores4444 for transparent .mov, '
                             'ffv1 for transparent .mkv; h265 for more than 8-bit input)')
    parser.add_argument('--video-quality', type=float,
                        help="the codec's CRF, lower is better (default: visually transparent: "
                             'h264 18, h265 17, av1 20, vp9 20)')
    parser.add_argument('--bit-depth', type=int, choices=(8, 10, 16, 32),
                        help="default: the input's as far as the codec goes (h264, vp9: 8); png/tiff: 8 or 16, "
                             'exr: 16 (half) or 32 (float)')
    parser.add_argument('--premultiplied', action='store_true',
                        help='colours of the transparent composition and the foreground multiplied by alpha '
                             '(default: straight)')
    parser.add_argument('--seq-chunk', type=int, default=1, help='frames per network call (default 1)')
    parser.add_argument('--num-workers', type=int, default=0, help='input decoding threads (default: automatic)')
    parser.add_argument('--disable-progress', action='store_true')
    parser.add_argument('--background', help="composition background: a color ('120,255,155', '#78ff9b', 'white'), "
                                             'an image or a video (looped); default green')
    parser.add_argument('--transparent', action=argparse.BooleanOptionalAction,
                        help='write the composition with alpha (default: for png_sequence, .mov and .webm '
                             'when no --background is given)')
    batch = parser.add_argument_group('batches and long videos (documentation/batch.md)')
    batch.add_argument('--output-dir', help='convert every video and image folder of --input-source (a folder or a '
                                            'quoted glob); the output flags are then file names inside each '
                                            "input's folder here")
    batch.add_argument('--force', action='store_true', help='redo inputs whose outputs exist (default: skip them)')
    batch.add_argument('--resume', action='store_true', help='continue interrupted conversions from their last '
                                                             'checkpoint instead of starting them over')
    batch.add_argument('--checkpoint-seconds', type=float, default=CHECKPOINT_SECONDS,
                       help=f'work between checkpoints (default {CHECKPOINT_SECONDS:g})')
    batch.add_argument('--reset-on-scene-cut', action=argparse.BooleanOptionalAction, default=True,
                       help='forget the recurrent state at hard cuts (default: on; documentation/batch.md)')
    batch.add_argument('--segment-seconds', type=float, help='split longer inputs into segments converted '
                                                             'independently (in parallel with --ray)')
    batch.add_argument('--warmup-frames', type=int, default=WARMUP_FRAMES,
                       help=f'frames matted before each segment to warm up the state (default {WARMUP_FRAMES})')
    batch.add_argument('--ray', nargs='?', const=True, default=False, metavar='ADDRESS',
                       help='run as Ray tasks: on this machine, or on the Ray cluster at ADDRESS')
    batch.add_argument('--ray-cpus', type=int, help='cores per Ray task without GPUs (default: min(4, all))')
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    if (args.output_dir or args.resume or args.segment_seconds or args.ray or is_batch_source(args.input_source)):
        _main_batch(parser, args)
        return
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *_, **__: tqdm.write(f'{parser.prog}: warning: {message}', file=sys.stderr)
        try:
            plan = ConversionPlan.resolve(
                args.input_source, args.output_composition, args.output_alpha, args.output_foreground,
                args.output_type, args.transparent, args.background, args.input_resize, args.downsample_ratio,
                args.seq_chunk, args.num_workers, args.output_video_mbps, cli=True, video_codec=args.video_codec,
                video_quality=args.video_quality, bit_depth=args.bit_depth, premultiplied=args.premultiplied)
            model = create_model(args.variant, pretrained=args.checkpoint is None, checkpoint=args.checkpoint,
                                 progress=not args.disable_progress)
            kind = SceneCutMatter if args.reset_on_scene_cut else Matter
            matter = kind(model, args.device or default_device(), torch.float32, plan.downsample_ratio)
            count = convert(plan, matter, progress=not args.disable_progress)
        except (ConversionError, CheckpointError, OSError) as e:
            parser.exit(1, f'{parser.prog}: error: {e}\n')
        except KeyboardInterrupt as e:
            parser.exit(143 if isinstance(e, Terminated) else 130,
                        f'{parser.prog}: interrupted; the outputs are closed and hold the frames written so far\n')
    print(f'wrote {count} frames to {", ".join(plan.outputs.values())}', file=sys.stderr)


def _main_batch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """`main` for folders, globs, --resume, segments and Ray: a summary, and exit code 1 if any input failed."""
    if args.warmup_frames < 0:
        parser.error(f'--warmup-frames must be 0 or more, got {args.warmup_frames}')
    if args.segment_seconds is not None and not args.segment_seconds > 0:
        parser.error(f'--segment-seconds must be above 0, got {args.segment_seconds:g}')
    try:
        model = create_model(args.variant, pretrained=args.checkpoint is None, checkpoint=args.checkpoint,
                             progress=not args.disable_progress)
        report = convert_videos(
            model, args.input_source, args.output_dir, args.output_composition, args.output_alpha,
            args.output_foreground, args.force, args.resume, args.reset_on_scene_cut, args.warmup_frames,
            args.segment_seconds, args.checkpoint_seconds, args.ray, args.ray_cpus, not args.disable_progress,
            args.device or default_device(), torch.float32, output_type=args.output_type,
            transparent=args.transparent, background=args.background,
            input_resize=args.input_resize and tuple(args.input_resize), downsample_ratio=args.downsample_ratio,
            seq_chunk=args.seq_chunk, num_workers=args.num_workers, output_video_mbps=args.output_video_mbps,
            video_codec=args.video_codec, video_quality=args.video_quality, bit_depth=args.bit_depth,
            premultiplied=args.premultiplied)
    except (ConversionError, CheckpointError, OSError) as e:
        parser.exit(1, f'{parser.prog}: error: {e}\n')
    except KeyboardInterrupt as e:
        parser.exit(143 if isinstance(e, Terminated) else 130,
                    f'{parser.prog}: interrupted; complete outputs are under their final names, the others are '
                    f'not (rerun to finish them; --resume continues them from their last checkpoint)\n')
    print(report.summary(), file=sys.stderr)
    if report.totals()['failed']:
        sys.exit(1)


if __name__ == '__main__':
    main()
