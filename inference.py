"""Remove the background of a video: the command line, and the original RVM API's `convert_video`.

    python inference.py --input-source input.mp4 --output-composition com.mp4 --output-alpha pha.mp4
    python inference.py --input-source footage/ --output-dir mattes/ --output-alpha pha.mp4   # a batch

This file parses flags into the options records (`streaming.ConversionOptions`, and
`streaming.batch.BatchOptions` for folders, globs, --resume, segments and --ray) and runs the
library: `streaming.conversion` (documentation/architecture.md follows a frame through it) or
`streaming.batch` (documentation/batch.md). Every conversion flag is a field of the record, with
its help; `python inference.py --help` lists them. `convert_video` and `convert_videos` are the
library's, re-exported here for the original API (`from inference import convert_video`).
"""
import argparse
import signal
import sys
import warnings
from typing import Optional, Sequence

from tqdm.auto import tqdm

from model import CheckpointError
from model.factory import add_model_arguments, model_from_arguments
from streaming import ConversionError, ConversionOptions, ConversionPlan, auto_downsample_ratio, convert, make_matter
from streaming.batch import BatchOptions, convert_videos, is_batch_source, run_batch_of
from streaming.conversion import convert_video
from streaming.options import add_arguments, from_arguments

__all__ = ['auto_downsample_ratio', 'convert_video', 'convert_videos', 'main']


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: every output closed and playable."""


def _terminate(signum, frame) -> None:
    raise Terminated()


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog='inference.py', description='Remove the background of a video or image sequence with Robust Video Matting.')
    add_model_arguments(result, refiner=False)
    result.add_argument('--input-source', required=True, help='a video file, a directory of images, or for a batch '
                                                             'a folder of them or a quoted glob')
    add_arguments(result, ConversionOptions)
    result.add_argument('--disable-progress', action='store_true')
    batch = result.add_argument_group('batches and long videos (documentation/batch.md)')
    batch.add_argument('--output-dir', help='convert every video and image folder of --input-source (a folder or a '
                                            'quoted glob); the output flags are then file names inside each '
                                            "input's folder here")
    add_arguments(batch, BatchOptions)
    return result


def main(argv: Optional[Sequence[str]] = None) -> None:
    cli = parser()
    args = cli.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    progress = not args.disable_progress
    conversion = from_arguments(ConversionOptions, args)
    batch = from_arguments(BatchOptions, args, conversion=conversion)
    is_batch = (args.output_dir or batch.resume or batch.segment_seconds or batch.ray
                or is_batch_source(args.input_source))
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *_, **__: tqdm.write(f'{cli.prog}: warning: {message}', file=sys.stderr)
        try:
            if is_batch:
                batch.check(cli=True)
            else:  # every option and path checked, the input opened, before the model is built
                plan = ConversionPlan.resolve(args.input_source, conversion, cli=True)
            model = model_from_arguments(args, progress=progress)
            if is_batch:
                report = run_batch_of(model, args.input_source, args.output_dir, batch, progress)
            else:
                count = convert(plan, make_matter(model, conversion), progress)
        except (ConversionError, CheckpointError, OSError) as e:
            cli.exit(1, f'{cli.prog}: error: {e}\n')
        except KeyboardInterrupt as e:
            cli.exit(143 if isinstance(e, Terminated) else 130, f'{cli.prog}: interrupted; ' + (
                'complete outputs are under their final names, the others are not (rerun to finish them; --resume '
                'continues them from their last checkpoint)\n' if is_batch else
                'the outputs are closed and hold the frames written so far\n'))
    if is_batch:
        print(report.summary(), file=sys.stderr)
        if report.totals()['failed']:
            sys.exit(1)
    else:
        print(f'wrote {count} frames to {", ".join(plan.outputs.values())}', file=sys.stderr)


if __name__ == '__main__':
    main()
